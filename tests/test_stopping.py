"""`make run` and `make shell` stop every process they started within 10 s of Ctrl-C, SIGTERM or
a closed terminal (SIGHUP).

Each run gets a marker in its environment, which every process of the stack inherits; after the
signal, no process with the marker may be left. `make shell` runs in a pseudo-terminal, as in a
terminal window, and closing it is what sends SIGHUP (to the session leader, make).
"""
from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import time
import uuid
from pathlib import Path
from typing import Dict, List

import pytest

import settings
from launcher import ROOT, free_port, http_ok, ready_urls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

START_TIMEOUT = 240
STOP_LIMIT = 10.0  # the bound
MARKER = "MS_PHYSIO_STOP_TEST"


def stack_env(tmp_path: Path) -> Dict[str, str]:
    return dict(
        os.environ, RASA_PORT=str(free_port()), ACTION_PORT=str(free_port()), WEB_PORT=str(free_port()),
        REVIEW_PORT=str(free_port()), TRACKER_DB=str(tmp_path / "tracker.db"), RASA_LOG_DIR=str(tmp_path / "logs"),
        REVIEW_SECRET_KEY="stop-test-secret-key-0123456789", RASA_SESSION_KEY="stop-test-session-key-0123456789",
        **{MARKER: uuid.uuid4().hex},
    )


def marked(env: Dict[str, str]) -> List[int]:
    """The processes of this stack that are still there (zombies do not count)."""
    needle = f"{MARKER}={env[MARKER]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and \
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until_serving(env: Dict[str, str], process: subprocess.Popen) -> None:
    urls = ready_urls(settings.resolve(env)).values()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, "make run exited during start-up"
        if all(http_ok(url) for url in urls):
            return
        assert time.monotonic() < deadline, "the stack did not start in time"
        time.sleep(1)


def assert_all_gone(env: Dict[str, str], since: float) -> None:
    while marked(env):
        if time.monotonic() - since > STOP_LIMIT:
            left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:100] for pid in marked(env)}
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"still running {STOP_LIMIT} s after the signal: {left}")
        time.sleep(0.2)


@pytest.mark.parametrize("how,when", [("ctrl-c", "serving"), ("sigterm", "starting"), ("sighup", "starting")])
def test_make_run_stops_everything(tmp_path, how, when):
    env = stack_env(tmp_path)
    with open(tmp_path / "make.log", "wb") as log:
        # its own session, as a terminal's job: Ctrl-C goes to the whole process group
        process = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            if when == "serving":
                wait_until_serving(env, process)
            else:
                deadline = time.monotonic() + 60
                while len(marked(env)) < 5:  # make, run.py and its servers are there
                    assert time.monotonic() < deadline and process.poll() is None
                    time.sleep(0.2)
                time.sleep(3)
            since = time.monotonic()
            if how == "ctrl-c":
                os.killpg(process.pid, signal.SIGINT)
            elif how == "sigterm":
                process.send_signal(signal.SIGTERM)  # make passes it on to run.py
            else:
                os.killpg(process.pid, signal.SIGHUP)  # what a closed terminal sends its jobs
            assert_all_gone(env, since)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _read_until(master: int, text: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"no {text!r} from make shell: {seen[-2000:]!r}"
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    return seen


@pytest.mark.parametrize("how", ["closed-terminal", "ctrl-c"])
def test_make_shell_stops_everything(tmp_path, how):
    env = stack_env(tmp_path)
    master, slave = pty.openpty()

    def controlling_terminal() -> None:  # after setsid: the pseudo-terminal is this session's terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(["make", "-s", "shell"], cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True, preexec_fn=controlling_terminal)
    os.close(slave)
    try:
        _read_until(master, b"Bot loaded", START_TIMEOUT)
        since = time.monotonic()
        if how == "ctrl-c":
            os.write(master, b"\x03")  # the terminal sends SIGINT to its foreground process group
        else:
            # the terminal window closes: it hangs up, and the kernel sends SIGHUP to the session
            # leader (here make, which waits for its children and passes nothing on)
            os.close(master)
            master = -1
        assert_all_gone(env, since)
    finally:
        if master >= 0:
            os.close(master)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
