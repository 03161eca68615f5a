"""Where a message's time goes: the Rasa server under pyinstrument, driven over REST.

    .venv/bin/python bench/profile_server.py                       # the project (endpoints.yml)
    .venv/bin/python bench/profile_server.py --endpoints bench/baseline_endpoints.yml
    .venv/bin/python bench/profile_server.py --messages 500 --top 60

Starts the action server and `rasa run` (under `pyinstrument`, by the launcher) with the trained model
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
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict

import launcher
from bench.run_bench import holdout
from launcher import ROOT, free_port

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

    def key(frame) -> str:
        return f"{frame.function} {frame.file_path_short}:{frame.line_no}" if frame.file_path_short else frame.function

    def walk(frame, seen: frozenset, inside: bool) -> None:
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
    rest_only = work / "credentials.yml"  # Rasa's own REST channel: the profile is of Rasa's work
    rest_only.write_text("rest:\n")
    (work / "models").mkdir()  # the launcher loads <RASA_MODEL_DIR>/assistant.tar.gz
    os.symlink(args.model.resolve(), work / "models" / launcher.MODEL)
    stack = launcher.Stack(
        services=(launcher.ACTION, launcher.RASA), logs=work,
        RASA_PORT=str(free_port()), ACTION_PORT=str(free_port()), RASA_MODEL_DIR=str(work / "models"),
        RASA_ENDPOINTS=str(args.endpoints), RASA_LOG_DIR=str(work / "logs"), RASA_API_TOKEN="",
        TRACKER_DIALECT="sqlite", TRACKER_HOST="", TRACKER_DB=str(work / "tracker.db"),
        TRACKER_USER="", TRACKER_PASSWORD="",
    )  # fmt: skip
    runner = [str(PY.with_name("pyinstrument")), "-r", "session", "-o", str(args.out)]
    action = stack.add(launcher.ACTION, launcher.action_command(stack.config))
    rasa = stack.add(launcher.RASA, launcher.rasa_command(stack.config, credentials=str(rest_only), runner=runner))
    url = stack.rasa_url
    try:
        try:
            stack.wait_ready()
        except launcher.NotReady:
            print(f"the servers did not start; see {work}")
            return 1
        texts = [text for text, _ in holdout()]
        rasa_cpu, action_cpu = cpu_ms(rasa.pid), cpu_ms(action.pid)
        for n in range(args.messages):
            send(url, f"profile-{n // 10}", texts[n % len(texts)])
        print(f"CPU per message: Rasa server {(cpu_ms(rasa.pid) - rasa_cpu) / args.messages:.1f} ms "
              f"(under the profiler), action server {(cpu_ms(action.pid) - action_cpu) / args.messages:.1f} ms")
    finally:
        rasa.stop(grace=60, signum=signal.SIGINT)  # pyinstrument writes the session on exit
        stack.stop()
    shares(args.out, args.top)
    print(f"session: {args.out} (pyinstrument --load {args.out} -r html -o profile.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
