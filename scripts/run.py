"""Start the assistant: the action server and the Rasa server (or `rasa shell`), from `.env`.

    python scripts/run.py            # action server + Rasa server + the web page with the widget
                                     # (+ the review app when REVIEW_SECRET_KEY is set)
    python scripts/run.py --shell    # action server + chat in this terminal

Ctrl-C (or SIGTERM) stops every process it started; if one process dies, the others are stopped.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import settings  # noqa: E402
from channels.credentials import GENERATED_NAME, write_credentials  # noqa: E402

MODEL = "assistant.tar.gz"


def rasa_command(config: Dict[str, str], shell: bool, credentials: str = "credentials.yml") -> List[str]:
    rasa = str(Path(sys.executable).with_name("rasa"))
    model = str(Path(config["RASA_MODEL_DIR"]) / MODEL)
    common = ["--model", model, "--endpoints", config["RASA_ENDPOINTS"]]
    if shell:
        return [rasa, "shell", *common]
    command = [
        rasa, "run", *common,
        "--credentials", str(credentials),
        "--interface", config["RASA_HOST"],
        "--port", config["RASA_PORT"],
        "--cors", config["RASA_CORS_ORIGINS"],
        "--log-file", str(Path(config["RASA_LOG_DIR"]) / "rasa.log"),
    ]
    if config["RASA_API_TOKEN"]:
        # The HTTP API (model, tracker, parse endpoints) is only ever on with a token.
        command += ["--enable-api", "--auth-token", config["RASA_API_TOKEN"]]
    return command


def action_command(config: Dict[str, str]) -> List[str]:
    rasa = str(Path(sys.executable).with_name("rasa"))
    return [rasa, "run", "actions", "--actions", "actions", "--port", config["ACTION_PORT"]]


def web_command() -> List[str]:
    return [sys.executable, "web/serve.py"]


def review_command() -> List[str]:
    return [sys.executable, "-m", "review.app"]


def stop(processes: List[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shell", action="store_true", help="chat in this terminal instead of serving channels")
    args = parser.parse_args()

    config = settings.load_env()
    Path(config["RASA_LOG_DIR"]).mkdir(parents=True, exist_ok=True)
    model = Path(config["RASA_MODEL_DIR"]) / MODEL
    if not model.is_file():
        print(f"No trained model at {model}: run `make train` first.", file=sys.stderr)
        return 1

    # Only fully configured channels go into the credentials Rasa reads (an unset ${VAR} stops it).
    channels = write_credentials(config, ROOT / config["RASA_LOG_DIR"] / GENERATED_NAME)
    for problem in channels.problems:
        print(problem, file=sys.stderr, flush=True)
    env = dict(os.environ, SANIC_HOST=config["ACTION_HOST"])
    processes = [subprocess.Popen(action_command(config), cwd=ROOT, env=env)]
    processes.append(subprocess.Popen(rasa_command(config, args.shell, channels.path), cwd=ROOT, env=env))
    if not args.shell:
        web_env = dict(env, RASA_PUBLIC_URL=config["RASA_PUBLIC_URL"] or f"http://localhost:{config['RASA_PORT']}")
        processes.append(subprocess.Popen(web_command(), cwd=ROOT, env=web_env))
        if config["REVIEW_SECRET_KEY"]:
            processes.append(subprocess.Popen(review_command(), cwd=ROOT, env=env))
            review = f"review app on http://{config['REVIEW_HOST']}:{config['REVIEW_PORT']}/"
        else:
            review = "review app off (set REVIEW_SECRET_KEY to start it)"
        print(
            f"Starting: action server on {config['ACTION_HOST']}:{config['ACTION_PORT']}, "
            f"Rasa on {config['RASA_HOST']}:{config['RASA_PORT']}, "
            f"web page on http://{config['WEB_HOST']}:{config['WEB_PORT']}/, {review}. {channels.summary}. "
            f"HTTP API {'on, token required' if config['RASA_API_TOKEN'] else 'off'}. Ctrl-C stops.",
            flush=True,
        )

    def on_signal(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt

    # Installed explicitly: a process started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        # One of them ended (a shell session closed, or a server failed): stop the rest.
        return next(p.returncode for p in processes if p.returncode is not None)
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
