"""Shared test helpers: trackers as the action server receives them, and the loaded content."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import content  # noqa: E402


@pytest.fixture(scope="session")
def content_data() -> content.Content:
    return content.load()


def user_event(text: str, intent: str) -> Dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}}}


def bot_event(text: str) -> Dict[str, Any]:
    return {"event": "bot", "text": text}


def make_tracker(
    text: str,
    intent: str,
    entities: Optional[Dict[str, str]] = None,
    slots: Optional[Dict[str, Any]] = None,
    history: Optional[List[Dict[str, Any]]] = None,
    ranking: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    """A tracker whose latest message is `text`, after the events in `history`.

    With no history this is the first message of a session; the latest user event is appended
    to the events, as Rasa does before it calls an action.
    """
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": kind, "value": value} for kind, value in (entities or {}).items()],
        "intent_ranking": ranking or [],
    }
    events = [{"event": "session_started"}] + list(history or []) + [dict(user_event(text, intent), parse_data=latest)]
    return Tracker("test-user", slots or {}, latest, events, False, None, {}, "action_listen")


def run_action(action, tracker: Tracker):
    """Run an action; returns (messages sent, events returned)."""
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


def slot(events: List[Dict[str, Any]], name: str) -> Any:
    """The value the events last set a slot to (KeyError when they do not set it)."""
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    if not values:
        raise KeyError(f"the events set no slot {name!r}: {events}")
    return values[-1]


def texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def button_titles(messages: List[Dict[str, Any]]) -> List[str]:
    return [b["title"] for m in messages for b in m.get("buttons") or []]


def button_payloads(messages: List[Dict[str, Any]]) -> List[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


def free_port() -> int:
    """A free TCP port on loopback, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None, timeout: float = 60):
    """GET (or POST with a body); returns (status, body), also for HTTP errors."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- the real assistant, started once for the tests that talk to it ---------------------------

EMERGENCY_NUMBER = "000-TEST-112"
API_TOKEN = "e2e-test-token-for-the-http-api"
REST_TOKEN = "e2e-test-token-for-the-rest-channel-0123"
REST_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {REST_TOKEN}"}
START_TIMEOUT = 240


class Assistant:
    def __init__(self, rasa_url: str, tracker_db: Path) -> None:
        self.url = rasa_url
        self.tracker_db = tracker_db

    def send(self, sender: str, message: Any) -> List[Dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": message}).encode()
        status, data = http(f"{self.url}/webhooks/rest/webhook", body, REST_HEADERS)
        assert status == 200, data
        return json.loads(data)

    def say(self, sender: str, message: Any) -> str:
        return "\n".join(reply.get("text", "") for reply in self.send(sender, message))

    def events(self, sender: str) -> List[Dict[str, Any]]:
        """The conversation's events, from Rasa's HTTP API."""
        status, data = http(f"{self.url}/conversations/rest:{sender}/tracker?token={API_TOKEN}")
        assert status == 200, data
        return json.loads(data)["events"]


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    """`make run`'s launcher on free ports, a fresh SQLite tracker store and a test token: one
    assistant for every test that talks to it."""
    work = tmp_path_factory.mktemp("e2e")
    rasa_port, action_port = free_port(), free_port()
    env = dict(
        os.environ,
        RASA_PORT=str(rasa_port),
        WEB_PORT=str(free_port()),
        ACTION_PORT=str(action_port),
        ACTION_SERVER_URL=f"http://127.0.0.1:{action_port}/webhook",
        TRACKER_DB=str(work / "tracker.db"),
        RASA_LOG_DIR=str(work / "logs"),
        RASA_API_TOKEN=API_TOKEN,
        RASA_REST_TOKEN=REST_TOKEN,
        RASA_SESSION_KEY="e2e-test-session-key-0123456789",
        REVIEW_PORT=str(free_port()),
        REVIEW_SECRET_KEY="e2e-test-review-key-0123456789",
        EMERGENCY_NUMBER=EMERGENCY_NUMBER,
    )
    log = open(work / "run.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{rasa_port}"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the assistant exited during start-up: {(work / 'run.log').read_text()[-3000:]}")
            try:
                if http(f"{url}/", timeout=2)[0] == 200 and http(f"http://127.0.0.1:{action_port}/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the assistant did not start in time")
            time.sleep(1)
        yield Assistant(url, work / "tracker.db")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
