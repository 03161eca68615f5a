"""Where a message's time goes: the Rasa server under pyinstrument, driven over REST.

    .venv/bin/python bench/profile_server.py                       # the project (endpoints.yml)
    .venv/bin/python bench/profile_server.py --endpoints bench/baseline_endpoints.yml
    .venv/bin/python bench/profile_server.py --messages 500 --top 60

Starts the action server and `rasa run` (under `pyinstrument`) with the trained model
(models/assistant.tar.gz unless --model), a temporary SQLite tracker store and the given endpoints
file, sends --messages holdout texts (a new conversation every 10), stops the server and prints
the functions with the largest share of the time spent inside the REST handler (inclusive time,
each function counted once per stack). The first messages include one-time costs (TensorFlow
tracing the prediction graph); use a few hundred messages. Also prints the CPU milliseconds per
message of the Rasa server (with the profiler's overhead) and of the action server.
The session file is kept (--out) for `pyinstrument --load FILE -r html`.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run_bench import holdout  # noqa: E402
from deploy.scale_out import free_port, http_ok  # noqa: E402

PY = Path(sys.executable)
HANDLER = "receive rasa/core/channels/rest.py"


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def send(url: str, sender: str, text: str) -> None:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(f"{url}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def shares(session_file: Path, top: int) -> None:
    from pyinstrument.session import Session

    root = Session.load(str(session_file)).root_frame()
    inclusive: Dict[str, float] = collections.Counter()
    total = [0.0]

    def key(frame) -> str:  # noqa: ANN001
        return f"{frame.function} {frame.file_path_short}:{frame.line_no}" if frame.file_path_short else frame.function

    def walk(frame, seen: frozenset, inside: bool) -> None:  # noqa: ANN001
        name = key(frame)
        if not inside and HANDLER in name:
            inside = True
            total[0] += frame.time
        if inside and name not in seen:
            inclusive[name] += frame.time
        for child in frame.children:
            walk(child, seen | {name}, inside)

    walk(root, frozenset(), False)
    print(f"time inside the REST handler: {total[0]:.2f} s")
    for name, seconds in inclusive.most_common(top):
        print(f"{seconds / total[0] * 100:5.1f} % {seconds:7.2f} s  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "assistant.tar.gz")
    parser.add_argument("--endpoints", type=Path, default=ROOT / "endpoints.yml")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rasa-profile.pyisession")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="profile-"))
    rasa_port, action_port = free_port(), free_port()
    env = dict(os.environ, TRACKER_DIALECT="sqlite", TRACKER_HOST="", TRACKER_DB=str(work / "tracker.db"),
               TRACKER_USER="", TRACKER_PASSWORD="", ACTION_SERVER_URL=f"http://127.0.0.1:{action_port}/webhook",
               TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1")
    rest_only = work / "credentials.yml"  # Rasa's own REST channel: the profile is of Rasa's work
    rest_only.write_text("rest:\n")
    with open(work / "servers.log", "wb") as log:
        action = subprocess.Popen([str(PY.with_name("rasa")), "run", "actions", "--port", str(action_port)],
                                  cwd=ROOT, env=dict(env, SANIC_HOST="127.0.0.1"), stdout=log, stderr=log)
        rasa = subprocess.Popen(
            [str(PY.with_name("pyinstrument")), "-r", "session", "-o", str(args.out), "-m", "rasa", "run",
             "--model", str(args.model), "--endpoints", str(args.endpoints), "-i", "127.0.0.1",
             "--credentials", str(rest_only),
             "--port", str(rasa_port)], cwd=ROOT, env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{rasa_port}"
        try:
            deadline = time.monotonic() + 300
            while not (http_ok(f"{url}/") and http_ok(f"http://127.0.0.1:{action_port}/health")):
                if time.monotonic() > deadline or rasa.poll() is not None:
                    print(f"the servers did not start; see {work / 'servers.log'}")
                    return 1
                time.sleep(1)
            texts = [text for text, _ in holdout()]
            rasa_cpu, action_cpu = cpu_ms(rasa.pid), cpu_ms(action.pid)
            for n in range(args.messages):
                send(url, f"profile-{n // 10}", texts[n % len(texts)])
            print(f"CPU per message: Rasa server {(cpu_ms(rasa.pid) - rasa_cpu) / args.messages:.1f} ms "
                  f"(under the profiler), action server {(cpu_ms(action.pid) - action_cpu) / args.messages:.1f} ms")
        finally:
            rasa.send_signal(signal.SIGINT)  # pyinstrument writes the session on exit
            try:
                rasa.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rasa.kill()
            action.terminate()
            action.wait(timeout=30)
    shares(args.out, args.top)
    print(f"session: {args.out} (pyinstrument --load {args.out} -r html -o profile.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
