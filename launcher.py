"""Start, wait for and stop the assistant's servers: the one place that knows how.

    stack = Stack(RASA_PORT="6005")           # settings.py's values, with these overrides
    stack.start()                             # action server, Rasa, web page, review app
    stack.wait_ready()                        # each one answers its readiness URL
    ...
    stack.stop()                              # within STOP_SECONDS

`make run` (scripts/run.py), the scale-out set-up (deploy/scale_out.py), the benchmarks (bench/)
and the tests use it. Every server runs in a process group of its own (unless it needs the
terminal, as `rasa shell` does), gets SIGTERM to the whole group on stop, and what is still there
after the grace period gets SIGKILL: whatever a server started goes with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import IO, Dict, Iterable, List, Mapping, Optional, Sequence

import settings
from channels.credentials import GENERATED_NAME, ChannelReport, write_credentials

ROOT = settings.ROOT
MODEL = "assistant.tar.gz"
STOP_SECONDS = 6.0  # SIGTERM, then SIGKILL after this: everything is gone well within 10 s
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
START_TIMEOUT = 300.0  # seconds for a server to answer its readiness URL (Rasa loads a model)
ACTION, RASA, WEB, REVIEW = "action server", "Rasa", "web page", "review app"
SERVICES = (ACTION, RASA, WEB, REVIEW)


# ------------------------------------------------------------------ ports, URLs, processes


def free_port() -> int:
    """A free TCP port on loopback, for a server about to start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2) -> bool:
    """True when a GET of `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def cmdline(pid: int) -> str:
    """The command line of process `pid` ("" when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: Optional[int], marker: str = "") -> bool:
    """Process `pid` runs (not a zombie) and is still the one we started: its command line has `marker`."""
    if not pid:
        return False
    line = cmdline(pid)
    if not line or marker not in line:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def signal_group(pid: int, signum: int) -> None:
    """Send `signum` to the process group that `pid` leads (nothing if it is gone)."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def say(message: str) -> None:
    """Print to stderr, unless the terminal is gone (a closed terminal must not stop a shutdown)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


# ------------------------------------------------------------------ what each server runs


def rasa_command(
    config: Mapping[str, str],
    shell: bool = False,
    credentials: str = "credentials.yml",
    log_file: Optional[str] = None,
    runner: Sequence[str] = (),
) -> List[str]:
    """Rasa through rasa_ext.serve, which adds the API token from the environment (never here).

    `runner`: what runs the module instead of this Python (a profiler: bench/profile_server.py).
    """
    serve = [*(runner or [sys.executable]), "-m", "rasa_ext.serve"]
    model = str(Path(config["RASA_MODEL_DIR"]) / MODEL)
    common = [
        "--model", model, "--endpoints", config["RASA_ENDPOINTS"],
        "--interface", config["RASA_HOST"], "--port", config["RASA_PORT"],
    ]  # fmt: skip
    if shell:
        return [*serve, "shell", *common]
    return [
        *serve, "run", *common,
        "--credentials", str(credentials),
        "--cors", *(config["RASA_CORS_ORIGINS"].split() or ["*"]),
        "--log-file", log_file or str(Path(config["RASA_LOG_DIR"]) / "rasa.log"),
    ]  # fmt: skip


def action_command(config: Mapping[str, str]) -> List[str]:
    """The rasa-sdk action server (it listens on SANIC_HOST, see server_env)."""
    rasa = str(Path(sys.executable).with_name("rasa"))
    return [rasa, "run", "actions", "--actions", "actions", "--port", config["ACTION_PORT"]]


def web_command() -> List[str]:
    return [sys.executable, str(ROOT / "web" / "serve.py")]


def review_command() -> List[str]:
    return [sys.executable, "-m", "review.app"]


def ready_urls(config: Mapping[str, str]) -> Dict[str, str]:
    """The URL that answers 200 once each server is ready."""
    host = settings.connect_host
    return {
        ACTION: f"http://{host(config['ACTION_HOST'])}:{config['ACTION_PORT']}/health",
        RASA: f"http://{host(config['RASA_HOST'])}:{config['RASA_PORT']}/",
        WEB: f"http://{host(config['WEB_HOST'])}:{config['WEB_PORT']}/",
        REVIEW: f"http://{host(config['REVIEW_HOST'])}:{config['REVIEW_PORT']}/login",
    }


def server_env(config: Mapping[str, str], base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment of the servers: `base` (this process's), the settings, and what the
    action server listens on (rasa-sdk reads SANIC_HOST)."""
    env = dict(os.environ if base is None else base)
    env.update(config)
    env.update(SANIC_HOST=config["ACTION_HOST"], RASA_TELEMETRY_ENABLED="false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    return env


# ------------------------------------------------------------------ one server


class Service:
    """One process we started: in a process group of its own, unless it needs the terminal."""

    def __init__(
        self,
        name: str,
        command: List[str],
        env: Mapping[str, str],
        essential: bool = True,
        terminal: bool = False,
        log: Optional[Path] = None,
        ready_url: Optional[str] = None,
    ) -> None:
        self.name, self.essential, self.terminal, self.ready_url = name, essential, terminal, ready_url
        self.log_path = log
        out: Optional[IO[bytes]] = open(log, "ab") if log else None
        try:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=dict(env), start_new_session=not terminal,
                stdin=None if terminal else subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT if out else None,
            )  # fmt: skip
        finally:
            if out:
                out.close()  # the child has its own descriptor
        self.reported = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def send(self, signum: int) -> None:
        if self.terminal:
            if self.running():
                self.process.send_signal(signum)
        else:
            signal_group(self.process.pid, signum)  # the group: whatever the server started too

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path and self.log_path.is_file():
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, grace: float = STOP_SECONDS, signum: int = signal.SIGTERM) -> Optional[int]:
        """Stop this one; its exit code (None if it had to be killed)."""
        stop([self], grace, signum)
        return self.process.returncode


def stop(services: Iterable[Service], grace: float = STOP_SECONDS, signum: int = signal.SIGTERM) -> None:
    """`signum` (SIGTERM) to every process group, SIGKILL to what is left after `grace` seconds."""
    services = list(services)
    for service in services:
        service.send(signum)
    deadline = time.monotonic() + grace
    for service in services:
        try:
            service.process.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for service in services:
        service.send(signal.SIGKILL)
        try:
            service.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            say(f"{service.name} (pid {service.process.pid}) did not stop")


class NotReady(RuntimeError):
    """A server exited during start-up, or did not answer in time."""


def wait_ready(services: Iterable[Service], timeout: float = START_TIMEOUT) -> None:
    """Wait until every service with a ready URL answers it; NotReady (with its log) if one exits
    or the time is up."""
    pending = [service for service in services if service.ready_url]
    deadline = time.monotonic() + timeout
    while pending:
        for service in list(pending):
            if not service.running():
                raise NotReady(f"the {service.name} exited during start-up: {service.log_tail()}")
            if http_ok(service.ready_url or ""):
                pending.remove(service)
        if pending and time.monotonic() > deadline:
            names = ", ".join(service.name for service in pending)
            raise NotReady(f"not ready after {timeout:.0f} s: {names}: {pending[0].log_tail()}")
        if pending:
            time.sleep(0.5)


# ------------------------------------------------------------------ the assistant


class Stack:
    """The assistant's servers for settings.py's values with `overrides` (not this process's
    environment: several stacks can run side by side, e.g. in the tests).

    `services`: which of SERVICES to start. `logs`: a folder for each server's output (default:
    this process's stdout and stderr). `shell`: `rasa shell` in this terminal instead of `rasa run`.
    """

    def __init__(
        self,
        services: Sequence[str] = SERVICES,
        logs: Optional[Path] = None,
        shell: bool = False,
        base: Optional[Mapping[str, str]] = None,
        **overrides: str,
    ) -> None:
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown services: {', '.join(sorted(unknown))}")
        self.wanted, self.logs, self.shell = list(services), logs, shell
        self.overrides = overrides
        self.config = settings.resolve(base, **overrides)
        self.env = server_env(self.config, dict(base if base is not None else os.environ, **overrides))
        self.urls = ready_urls(self.config)
        self.channels: Optional[ChannelReport] = None
        self.services: List[Service] = []

    @property
    def rasa_url(self) -> str:
        return self.urls[RASA].rstrip("/")

    @property
    def web_url(self) -> str:
        return self.urls[WEB].rstrip("/")

    @property
    def review_url(self) -> str:
        return self.urls[REVIEW].rsplit("/", 1)[0]

    def service(self, name: str) -> Service:
        return next(service for service in self.services if service.name == name)

    def write_credentials(self) -> ChannelReport:
        """Only fully configured channels go into the credentials Rasa reads (an unset ${VAR} stops it)."""
        self.channels = write_credentials(self.config, ROOT / self.config["RASA_LOG_DIR"] / GENERATED_NAME)
        return self.channels

    def add(self, name: str, command: List[str], **kwargs: object) -> Service:
        """Start server `name` (one of SERVICES) with this command and the stack's environment."""
        log = self.logs / f"{name.replace(' ', '-')}.log" if self.logs else None
        ready = None if kwargs.get("terminal") else self.urls[name]
        service = Service(name, command, self.env, log=log, ready_url=ready, **kwargs)  # type: ignore[arg-type]
        self.services.append(service)
        return service

    def start(self) -> "Stack":
        """Start the servers (stopping the ones already started if one cannot be)."""
        (ROOT / self.config["RASA_LOG_DIR"]).mkdir(parents=True, exist_ok=True)
        if self.logs:
            self.logs.mkdir(parents=True, exist_ok=True)
        try:
            if ACTION in self.wanted:
                self.add(ACTION, action_command(self.config))
            if RASA in self.wanted:
                credentials = "credentials.yml" if self.shell else str(self.write_credentials().path)
                self.add(RASA, rasa_command(self.config, self.shell, credentials), terminal=self.shell)
            if WEB in self.wanted and not self.shell:
                self.add(WEB, web_command())
            if REVIEW in self.wanted and not self.shell:
                # not essential: when it cannot start or stops, the assistant goes on
                self.add(REVIEW, review_command(), essential=False)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Stack":
        wait_ready(self.services, timeout)
        return self

    def stop(self, grace: float = STOP_SECONDS) -> None:
        stop(self.services, grace)

    def __enter__(self) -> "Stack":
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ------------------------------------------------------------------ until Ctrl-C


class Stop(Exception):
    """A stop signal arrived, or the terminal is gone."""


def terminal_of_this_process() -> Optional[int]:
    """A file descriptor on the terminal we run in, if any."""
    return next((fd for fd in (0, 2, 1) if os.isatty(fd)), None)


def terminal_gone(fd: Optional[int]) -> bool:
    """True once a terminal we ran in has hung up (its window closed). The terminal's SIGHUP goes
    to the session leader, e.g. make, which does not pass it on: this is how we learn of it."""
    if fd is None:
        return False
    try:
        os.tcgetpgrp(fd)
        return False
    except OSError:
        return True


def raise_stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP raise Stop. Installed explicitly: a process started in the
    background inherits an ignored SIGINT."""

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        raise Stop

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)


def ignore_stop_signals() -> None:
    """A second Ctrl-C must not cut a shutdown short."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def supervise(stack: Stack, poll: float = 0.5) -> int:
    """Run until a stop signal, a closed terminal, or an essential server's exit (its exit code;
    0 on a signal). A server that is not essential may stop: it is reported, the rest goes on.
    Everything is stopped on the way out. Call raise_stop_on_signals() before stack.start()."""
    terminal = terminal_of_this_process()
    try:
        while True:
            if terminal_gone(terminal):
                raise Stop
            for service in stack.services:
                if service.running() or service.reported:
                    continue
                service.reported = True
                if service.essential:
                    # a shell session closed, or a server failed: stop the rest
                    return service.process.returncode
                say(f"The {service.name} stopped (exit code {service.process.returncode}); the assistant goes on.")
            time.sleep(poll)
    except (Stop, KeyboardInterrupt):
        return 0
    finally:
        ignore_stop_signals()
        stack.stop()
