"""Scale-out deployment on loopback: PostgreSQL tracker store, Redis lock store, the action server,
N Rasa servers (default 2) and nginx in front of them. One command:

    .venv/bin/python deploy/scale_out.py up        # start everything, print the URL, return
    .venv/bin/python deploy/scale_out.py status    # what runs, on which port
    .venv/bin/python deploy/scale_out.py down      # stop everything it started, delete the state

PostgreSQL, Redis and nginx are Debian's binaries (apt-get install postgresql redis-server nginx),
run as throwaway instances in the state directory (SCALE_STATE_DIR, default
/tmp/ms-physio-scale-out) on free loopback ports, never the system services. The Rasa servers use
the repository's model, config and credentials; they differ from the embedded default only by the
environment (written to <state>/scale.env) and by deploy/endpoints.scale.yml.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import launcher
import settings
from channels.credentials import write_credentials
from launcher import ROOT, alive, free_port, http_ok

DEPLOY = ROOT / "deploy"
ENDPOINTS = DEPLOY / "endpoints.scale.yml"
NGINX_TEMPLATE = DEPLOY / "nginx.conf.template"
DEFAULT_STATE = Path(os.environ.get("SCALE_STATE_DIR", "/tmp/ms-physio-scale-out"))
START_TIMEOUT = 400
BINARIES = ("initdb", "pg_ctl", "postgres", "createdb", "redis-server", "nginx")


class MissingBinary(RuntimeError):
    pass


def find_binary(name: str) -> str:
    """A Debian binary: on PATH, else PostgreSQL's versioned directory, else /usr/sbin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True) + [f"/usr/sbin/{name}"]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise MissingBinary(
        f"`{name}` not found: the scale-out deployment needs Debian's postgresql, redis-server and nginx "
        f"(apt-get install -y postgresql redis-server nginx)"
    )


def missing_binaries() -> List[str]:
    missing = []
    for name in BINARIES:
        try:
            find_binary(name)
        except MissingBinary:
            missing.append(name)
    return missing


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Deployment:
    def __init__(self, state_dir: Path = DEFAULT_STATE, servers: int = 2) -> None:
        self.dir = Path(state_dir)
        self.state_file = self.dir / "state.json"
        self.state: Dict[str, Any] = json.loads(self.state_file.read_text()) if self.state_file.is_file() else {}
        self.servers = self.state.get("servers", servers)
        self.as_postgres = os.geteuid() == 0

    # ------------------------------------------------------------ helpers
    def _save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=2))

    def _pg(self, args: List[str], **kwargs: Any) -> subprocess.CompletedProcess:
        command = args if not self.as_postgres else ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)

    def _spawn(self, name: str, command: List[str], env: Dict[str, str]) -> int:
        """Start `command` in a process group of its own, its output in <state>/<name>.log; it
        outlives this process (`down` stops it by its recorded pid)."""
        service = launcher.Service(name, command, env, log=self.dir / f"{name}.log")
        self.state.setdefault("pids", {})[name] = service.pid
        self._save()
        return service.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.state['ports']['nginx']}"

    def env(self) -> Dict[str, str]:
        """The deployment's variables (.env style): the only difference from the default run."""
        ports = self.state["ports"]
        return {
            "TRACKER_DIALECT": "postgresql",
            "TRACKER_HOST": f"127.0.0.1:{ports['postgres']}",
            "TRACKER_DB": "rasa",
            "TRACKER_USER": "rasa",
            "TRACKER_PASSWORD": self.state["pg_password"],
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(ports["redis"]),
            "REDIS_DB": "0",
            "ACTION_HOST": "127.0.0.1",
            "ACTION_PORT": str(ports["action"]),
            # a lock held by a server that died is released after this many seconds (Rasa: 60)
            "TICKET_LOCK_LIFETIME": os.environ.get("TICKET_LOCK_LIFETIME", "15"),
            # the REST channel for the load test, one session key for every server, and the
            # Slack/Telegram replay cache in the shared Redis
            "RASA_REST_TOKEN": self.state["rest_token"],
            "RASA_SESSION_KEY": self.state["session_key"],
            "CHANNEL_REPLAY_STORE": "redis",
        }

    def process_env(self) -> Dict[str, str]:
        """The servers' environment: .env and the defaults, as `make run` sees them, with the
        deployment's variables (and the values derived from them)."""
        settings.load_env()
        overrides = self.env()
        return launcher.server_env(settings.resolve(None, **overrides), dict(os.environ, **overrides))

    # ------------------------------------------------------------ up
    def up(self, log=print) -> str:
        missing = missing_binaries()
        if missing:
            raise MissingBinary(f"missing {', '.join(missing)}: apt-get install -y postgresql redis-server nginx")
        model = ROOT / settings.resolve()["RASA_MODEL_DIR"] / launcher.MODEL
        if not model.is_file():
            raise RuntimeError(f"no trained model at {model}: run `make train` first")
        if self.state.get("pids"):
            raise RuntimeError(f"a deployment is already recorded in {self.dir}: run `down` first")
        if self.dir.exists():
            shutil.rmtree(self.dir)  # the logs of a previous failed start
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        ports = {"postgres": free_port(), "redis": free_port(), "action": free_port(), "nginx": free_port()}
        for i in range(self.servers):
            ports[f"rasa{i + 1}"] = free_port()
        self.state = {"servers": self.servers, "ports": ports, "pg_password": secrets.token_urlsafe(16),
                      "rest_token": secrets.token_urlsafe(32), "session_key": secrets.token_urlsafe(32),
                      "pids": {}, "model": str(model)}
        self._save()
        try:
            self._up_postgres(log)
            self._up_redis(log)
            env = self.process_env()
            (self.dir / "scale.env").write_text("".join(f"{k}={v}\n" for k, v in self.env().items()))
            os.chmod(self.dir / "scale.env", 0o600)  # it holds the database password and the tokens
            self._up_action(env, log)
            self._up_rasa(env, log)
            self._up_nginx(log)
            self._wait_ready(log)
        except BaseException:
            log(f"start-up failed; logs in {self.dir}; stopping what was started")
            self.down(keep_logs=True, log=log)
            raise
        log(f"up: nginx {self.url} -> Rasa on {', '.join(str(ports[f'rasa{i + 1}']) for i in range(self.servers))}")
        return self.url

    def _up_postgres(self, log) -> None:
        pgdata, sockets = self.dir / "pgdata", self.dir / "pgsock"
        sockets.mkdir(exist_ok=True)
        pwfile = self.dir / "pgpass"
        pwfile.write_text(self.state["pg_password"] + "\n")
        if self.as_postgres:
            for path in (sockets, pwfile):
                shutil.chown(path, "postgres", "postgres")
            pgdata.mkdir(exist_ok=True)
            shutil.chown(pgdata, "postgres", "postgres")
            (self.dir / "postgres.log").touch()
            shutil.chown(self.dir / "postgres.log", "postgres", "postgres")
        self._pg([find_binary("initdb"), "-D", str(pgdata), "-U", "rasa", f"--pwfile={pwfile}", "-E", "UTF8",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
        port = self.state["ports"]["postgres"]
        self._pg([find_binary("pg_ctl"), "-D", str(pgdata), "-l", str(self.dir / "postgres.log"), "-w", "-t", "60",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}", "start"])
        self.state["pids"]["postgres"] = int((pgdata / "postmaster.pid").read_text().split()[0])
        self._save()
        self._pg([find_binary("createdb"), "-h", str(sockets), "-p", str(port), "-U", "rasa", "rasa"])
        log(f"PostgreSQL on 127.0.0.1:{port}")

    def _up_redis(self, log) -> None:
        port = self.state["ports"]["redis"]
        (self.dir / "redis").mkdir(exist_ok=True)
        self._spawn("redis", [find_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--daemonize", "no",
                              "--dir", str(self.dir / "redis")], dict(os.environ))
        deadline = time.monotonic() + 30
        while not redis_ping(port):
            if time.monotonic() > deadline:
                raise RuntimeError("Redis did not start; see redis.log")
            time.sleep(0.2)
        log(f"Redis on 127.0.0.1:{port}")

    def _up_action(self, env: Dict[str, str], log) -> None:
        port = self.state["ports"]["action"]
        self._spawn("action", launcher.action_command(env), env)
        log(f"action server starting on 127.0.0.1:{port}")

    def rasa_command(self, i: int, env: Dict[str, str], credentials: Path) -> List[str]:
        """Rasa server i, as the launcher runs it, on its own port with the scale-out endpoints."""
        config = dict(env, RASA_HOST="127.0.0.1", RASA_PORT=str(self.state["ports"][f"rasa{i}"]),
                      RASA_ENDPOINTS=str(ENDPOINTS))
        return launcher.rasa_command(config, credentials=str(credentials), log_file=str(self.dir / f"rasa{i}.rasa.log"))

    def _up_rasa(self, env: Dict[str, str], log) -> None:
        credentials = write_credentials(env, self.dir / "credentials.generated.yml").path
        for i in range(1, self.servers + 1):
            self._spawn(f"rasa{i}", self.rasa_command(i, env, credentials), env)
            log(f"Rasa server {i} starting on 127.0.0.1:{self.state['ports'][f'rasa{i}']}")

    def _up_nginx(self, log) -> None:
        prefix = self.dir / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(prefix / "tmp" / sub, 0o777)  # nginx's workers drop to `nobody` when started as root
        os.chmod(prefix / "tmp", 0o755)
        servers = "\n".join(f"        server 127.0.0.1:{self.state['ports'][f'rasa{i}']} max_fails=1 fail_timeout=10s;"
                            for i in range(1, self.servers + 1))
        text = NGINX_TEMPLATE.read_text()
        for key, value in {"STATE_DIR": str(self.dir), "RASA_SERVERS": servers, "NGINX_HOST": "127.0.0.1",
                           "NGINX_PORT": str(self.state["ports"]["nginx"])}.items():
            text = text.replace("{{" + key + "}}", value)
        conf = prefix / "nginx.conf"
        conf.write_text(text)
        nginx = find_binary("nginx")
        check = subprocess.run([nginx, "-t", "-q", "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check.returncode:
            raise RuntimeError(f"nginx -t failed: {check.stdout.decode()}")
        self._spawn("nginx", [nginx, "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")], dict(os.environ))
        log(f"nginx on 127.0.0.1:{self.state['ports']['nginx']}")

    def _wait_ready(self, log) -> None:
        ports = self.state["ports"]
        deadline = time.monotonic() + START_TIMEOUT
        pending = {"action": f"http://127.0.0.1:{ports['action']}/health", "nginx": f"{self.url}/"}
        pending.update({f"rasa{i}": f"http://127.0.0.1:{ports[f'rasa{i}']}/" for i in range(1, self.servers + 1)})
        while pending:
            for name, url in list(pending.items()):
                if not alive(self.state["pids"].get(name)):
                    raise RuntimeError(f"{name} exited during start-up; see {self.dir / (name + '.log')}")
                if http_ok(url):
                    del pending[name]
                    log(f"{name} ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {START_TIMEOUT} s: {', '.join(pending)}")
            time.sleep(1)

    # ------------------------------------------------------------ status / kill / down
    MARKERS = {"redis": "redis-server", "action": "run actions", "nginx": "nginx", "postgres": "postgres"}

    def marker(self, name: str) -> str:
        return self.MARKERS.get(name, " run --model")

    def status(self) -> Dict[str, Any]:
        out = {}
        for name, pid in self.state.get("pids", {}).items():
            out[name] = {"pid": pid, "alive": alive(pid, self.marker(name)),
                         "port": self.state["ports"].get(name)}
        return out

    def kill_rasa(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Kill Rasa server i (tests: a server dying mid-run)."""
        pid = self.state["pids"][f"rasa{i}"]
        if alive(pid, self.marker(f"rasa{i}")):
            os.killpg(pid, sig)

    def down(self, keep_logs: bool = False, log=print) -> None:
        pids = self.state.get("pids", {})
        for name in [n for n in pids if n != "postgres"]:
            pid = pids[name]
            if alive(pid, self.marker(name)):
                launcher.signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name in [n for n in pids if n != "postgres"]:
            while alive(pids[name], self.marker(name)) and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive(pids[name], self.marker(name)):
                launcher.signal_group(pids[name], signal.SIGKILL)
        if (self.dir / "pgdata" / "postmaster.pid").is_file():
            try:
                self._pg([find_binary("pg_ctl"), "-D", str(self.dir / "pgdata"), "-m", "fast", "-w", "stop"])
            except (subprocess.CalledProcessError, MissingBinary) as error:
                log(f"pg_ctl stop: {error}")
        self.state["pids"] = {}
        if self.dir.is_dir():
            self._save()
            if not keep_logs:
                shutil.rmtree(self.dir, ignore_errors=True)
        log("down")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument("--servers", type=int, default=2, help="number of Rasa servers (up)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--keep-logs", action="store_true", help="down: keep the state directory")
    args = parser.parse_args()
    deployment = Deployment(args.state_dir, args.servers)
    try:
        if args.command == "up":
            deployment.up()
        elif args.command == "down":
            deployment.down(keep_logs=args.keep_logs)
        elif args.command == "status":
            if not deployment.state.get("pids"):
                print("not running")
                return 1
            print(f"nginx: {deployment.url}")
            for name, info in deployment.status().items():
                print(f"  {name:8} pid {info['pid']:>7}  port {info['port']!s:>6}  {'up' if info['alive'] else 'DOWN'}")
        elif args.command == "env":
            print("".join(f"{k}={v}\n" for k, v in deployment.env().items()), end="")
    except (MissingBinary, RuntimeError) as error:
        print(f"scale_out: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
