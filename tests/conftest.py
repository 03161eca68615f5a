"""Shared test helpers: trackers as the action server receives them, the loaded content, and
the real assistant (the launcher's, as `make run` starts it), started once for the session.

Kinds of test (pytest.ini's markers): a test that uses the `assistant` fixture is `e2e` without
saying so; every other kind is marked in its module. `make test-unit` runs what is marked with
none of them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import content
import launcher
from launcher import ROOT, free_port

ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if "assistant" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


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
REVIEW_SECRET_KEY = "e2e-test-review-key-0123456789"


class Assistant:
    """The running stack: Rasa (`url`), the web page (`web_url`), the review app (`review_url`)
    and their settings (`env`, for a command such as `review.cli` on the same tracker store)."""

    def __init__(self, stack: launcher.Stack, tracker_db: Path) -> None:
        self.stack = stack
        self.url = stack.rasa_url
        self.web_url = stack.web_url
        self.review_url = stack.review_url
        self.env = stack.env
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


def started(stack: launcher.Stack) -> launcher.Stack:
    """The stack started and ready, or the test fails with the log of what did not start."""
    try:
        return stack.start().wait_ready()
    except launcher.NotReady as problem:
        stack.stop()
        pytest.fail(str(problem), pytrace=False)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory) -> Iterator[Assistant]:
    """The whole stack `make run` starts (action server, Rasa, web page, review app), from the
    launcher on free ports, with a fresh SQLite tracker store and test tokens: one assistant for
    every test that talks to it, through REST, socket.io, the widget or the review app."""
    work = tmp_path_factory.mktemp("e2e")
    rasa_port = free_port()
    stack = launcher.Stack(
        logs=work,
        RASA_HOST="127.0.0.1", RASA_PORT=str(rasa_port), ACTION_HOST="127.0.0.1", ACTION_PORT=str(free_port()),
        WEB_HOST="127.0.0.1", WEB_PORT=str(free_port()), REVIEW_HOST="127.0.0.1", REVIEW_PORT=str(free_port()),
        RASA_PUBLIC_URL=f"http://127.0.0.1:{rasa_port}", RASA_CORS_ORIGINS="*",
        TRACKER_DIALECT="sqlite", TRACKER_HOST="", TRACKER_DB=str(work / "tracker.db"), TRACKER_USER="",
        TRACKER_PASSWORD="", RASA_LOG_DIR=str(work / "logs"), RASA_ENDPOINTS="endpoints.yml",
        RASA_API_TOKEN=API_TOKEN, RASA_REST_TOKEN=REST_TOKEN, RASA_SESSION_KEY="e2e-test-session-key-0123456789",
        REVIEW_SECRET_KEY=REVIEW_SECRET_KEY, REVIEW_SYNC_SECONDS="1", REVIEW_RETENTION_DAYS="",
        EMERGENCY_NUMBER=EMERGENCY_NUMBER,
        TELEGRAM_TOKEN="", SLACK_BOT_TOKEN="",
    )  # fmt: skip
    started(stack)
    try:
        yield Assistant(stack, work / "tracker.db")
    finally:
        stack.stop()
