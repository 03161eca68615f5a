"""rasa_ext: the windowed SQL tracker store and the Rasa speed-ups, against Rasa's own classes."""
from __future__ import annotations

import asyncio
import os

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import read_endpoint_config

from conftest import ROOT
from rasa_ext import speedups
from rasa_ext.tracker_store import WindowedSQLTrackerStore

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
WINDOW = 20


def run(coroutine):
    return asyncio.run(coroutine)


def turn(n: int):
    return [
        UserUttered(f"message {n}", {"name": "thank", "confidence": 1.0}),
        ActionExecuted("action_answer"),
        BotUttered(f"answer {n}"),
        ActionExecuted("action_listen"),
    ]


def converse(store, sender: str, turns: int, first_events=()):
    """What Rasa does per message: retrieve (or create), append the turn's events, save."""
    for n in range(turns):
        tracker = run(store.retrieve(sender)) or run(store.create_tracker(sender, append_action_listen=False))
        new = list(first_events) if n == 0 else []
        for event in new + turn(n):
            tracker.update(event)
        run(store.save(tracker))


@pytest.fixture()
def store(tmp_path):
    return WindowedSQLTrackerStore(DOMAIN, window_events=WINDOW, dialect="sqlite", db=str(tmp_path / "t.db"))


def test_a_long_conversation_loads_a_window_that_starts_at_a_turn_and_keeps_the_slots(store):
    start = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
             SlotSet("topic", "aquatic")]
    converse(store, "long", 30, start)
    tracker = run(store.retrieve("long"))
    events = list(tracker.events)
    assert len(events) <= WINDOW + 1
    assert isinstance(events[0], SlotSet) and events[0].value == "aquatic"  # carried from before the window
    assert events[1] == ActionExecuted("action_listen")
    assert tracker.get_slot("topic") == "aquatic"
    assert tracker.latest_message.text == "message 29"


def test_every_slot_is_carried_when_the_domain_comes_after_the_store(tmp_path):
    """Rasa creates the store from endpoints.yml without a domain and sets it when the model is
    loaded: the slots set before the window are still all carried, not only the newest one."""
    store = WindowedSQLTrackerStore(None, window_events=WINDOW, dialect="sqlite", db=str(tmp_path / "late.db"))
    store.domain = DOMAIN
    converse(store, "late", 30, [SlotSet("topic", "aquatic"), SlotSet("answered", "aquatic/general")])
    tracker = run(store.retrieve("late"))
    assert (tracker.get_slot("topic"), tracker.get_slot("answered")) == ("aquatic", "aquatic/general")


def test_every_event_is_stored_once_and_the_full_tracker_has_them_all(store):
    converse(store, "all", 30, [SlotSet("topic", "yoga")])
    full = run(store.retrieve_full_tracker("all"))
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == [f"message {n}" for n in range(30)]
    assert len(full.events) == 1 + 30 * 4  # nothing counted twice, nothing lost
    plain = SQLTrackerStore(DOMAIN, dialect="sqlite", db=store.engine.url.database)
    assert list(run(plain.retrieve("all")).events) == list(full.events)  # Rasa's own store reads the same


def test_the_latest_value_of_a_slot_wins_and_a_new_session_starts_afresh(store):
    converse(store, "s", 10, [SlotSet("topic", "yoga")])
    tracker = run(store.retrieve("s"))
    tracker.update(SlotSet("topic", "fatigue"))
    run(store.save(tracker))
    converse(store, "s", 10)
    assert run(store.retrieve("s")).get_slot("topic") == "fatigue"

    tracker = run(store.retrieve("s"))
    for event in [ActionExecuted("action_session_start"), SessionStarted(timestamp=tracker.events[-1].timestamp + 1),
                  ActionExecuted("action_listen")]:
        tracker.update(event)
    run(store.save(tracker))
    fresh = run(store.retrieve("s"))
    assert not [e for e in fresh.events if isinstance(e, UserUttered)]


def test_endpoints_files_configure_the_windowed_store(tmp_path, monkeypatch):
    for name, value in dict(TRACKER_DIALECT="sqlite", TRACKER_HOST="", TRACKER_DB=str(tmp_path / "e.db"),
                            TRACKER_USER="", TRACKER_PASSWORD="", ACTION_SERVER_URL="http://x/webhook").items():
        monkeypatch.setenv(name, value)
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    created = TrackerStore.create(config, DOMAIN)
    assert isinstance(created, WindowedSQLTrackerStore) and created.window_events == 24
    assert created.engine.url.database == os.environ["TRACKER_DB"]
    with created.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_event_types_resolve_to_the_same_classes_as_rasa():
    assert speedups.applied()
    for cls in all_subclasses(Event):
        if cls.type_name and not getattr(cls, "__abstractmethods__", None):
            assert Event.resolve_by_type(cls.type_name) is speedups._original_resolve(cls.type_name)
    assert Event.resolve_by_type("no such event", default=BotUttered) is BotUttered
    with pytest.raises(ValueError):
        Event.resolve_by_type("no such event")


def test_action_results_are_still_validated():
    action = RemoteAction("action_answer", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "hi"}]})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": [{"event": "slot", "name": 3}], "responses": "not a list"})


def test_a_huge_old_message_is_handed_to_rasa_cut_and_kept_whole_in_the_database(store):
    from rasa_ext.tracker_store import WINDOW_TEXT_CHARS

    huge = "I have a question about yoga. " + "x" * 900_000
    tracker = run(store.create_tracker("huge", append_action_listen=False))
    for event in [UserUttered(huge, {"name": "nlu_fallback", "confidence": 1.0}, parse_data={"text": huge}),
                  ActionExecuted("action_fallback"), BotUttered("That was long."), ActionExecuted("action_listen")]:
        tracker.update(event)
    run(store.save(tracker))
    loaded = run(store.retrieve("huge"))
    [old] = [e for e in loaded.events if isinstance(e, UserUttered)]
    assert old.text == huge[:WINDOW_TEXT_CHARS] and len(old.parse_data["text"]) == WINDOW_TEXT_CHARS
    loaded.update(UserUttered("and now?", {"name": "thank", "confidence": 1.0}))
    run(store.save(loaded))
    full = run(store.retrieve_full_tracker("huge"))
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == [huge, "and now?"]
