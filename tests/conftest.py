"""Shared test helpers: trackers as the action server receives them, and the loaded content."""
from __future__ import annotations

import socket
import sys
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
