"""Rasa's SQL tracker store (SQLite or PostgreSQL) that hands Rasa only the recent part of a long
conversation, so that the cost of a message stops growing with the conversation's length.

Rasa 3.6's SQLTrackerStore loads and deserialises every event of the current session for every
message, counts them again on save, and the policies (RulePolicy, MemoizationPolicy) and the
action-server call then walk the whole tracker (bench/README.md: turn 200 cost 4-5x turn 1).
This store:

  - retrieve: the last `window_events` events of the session, trimmed to start at a turn
    boundary (an `action_listen`), preceded by the latest `slot` event of every domain slot set
    before the window, so slot values (e.g. `topic`) survive; the older slot events are read
    newest first and only until every domain slot has its value;
  - the user messages it hands Rasa carry at most WINDOW_TEXT_CHARS characters of their text (in
    `text` and `parse_data.text`): they were understood when they came in, and the policies and
    actions read only their intents, entities and length; without this one 900 KB message made
    every later message of its conversation slow (the text went to the action server with the
    tracker each time). The message being handled is never loaded from here, so it is whole;
  - save: appends exactly the events added since retrieve (it remembers how many the tracker
    held when loaded) instead of counting the session's rows again;
  - both with SQLAlchemy Core statements built once, and on SQLite with pooled connections in
    WAL mode (see _sqlite_engine);
  - everything else is SQLTrackerStore's: the same table, every event kept forever,
    `retrieve_full_tracker` (HTTP API, `rasa export`) returns the whole history.

The window must be longer than what the policies and actions look back at: MemoizationPolicy
uses max_history 4 (actions, not turns), the rules are one or two turns long, and the actions
read the latest message, the `topic` slot, whether the session already has a bot message and
whether the previous message also fell back. A turn of this assistant is about 6 events (at most
~9), so the default of 24 events keeps at least two whole turns. A longer window costs more per
message: the policies and the action server walk all of it.

endpoints.yml:

    tracker_store:
      type: rasa_ext.tracker_store.WindowedSQLTrackerStore
      window_events: 24
      dialect: ${TRACKER_DIALECT}
      ...
"""
from __future__ import annotations

import itertools
import json
import os
from typing import Any, Dict, Optional, Set, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, DEFAULT_SLOT_NAMES
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from rasa_ext import speedups

speedups.apply()

DEFAULT_WINDOW_EVENTS = 24
MIN_WINDOW_EVENTS = 20
_LOADED = "_windowed_store_loaded_events"
# longer than MAX_MESSAGE_CHARS, so that a loaded message still shows that it was cut
WINDOW_TEXT_CHARS = max(4000, int(os.environ.get("MAX_MESSAGE_CHARS") or 2000) + 1)


def _clipped(event: Dict[Text, Any]) -> Dict[Text, Any]:
    """A loaded user event with its text cut at WINDOW_TEXT_CHARS (the database keeps all of it)."""
    if event.get("event") == "user" and len(event.get("text") or "") > WINDOW_TEXT_CHARS:
        event["text"] = event["text"][:WINDOW_TEXT_CHARS]
        parse = event.get("parse_data")
        if isinstance(parse, dict) and isinstance(parse.get("text"), str):
            parse["text"] = parse["text"][:WINDOW_TEXT_CHARS]
    return event


def _sqlite_engine(url: Any) -> Any:
    """An engine for the SQLite file that keeps its connections (SQLAlchemy's default for a
    SQLite file opens and closes one per session, i.e. several per message), in WAL mode with
    synchronous=NORMAL: a commit no longer waits for an fsync, and readers (the review app) do
    not block the writer. A power cut can lose the last commits but never corrupts the file;
    PostgreSQL is the store for deployments that need more (deploy/)."""
    # Rasa uses the store from its event loop's thread only; a pooled connection is used by
    # one session at a time.
    engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=8,
                              connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class WindowedSQLTrackerStore(SQLTrackerStore):
    engine: sa.engine.Engine

    def __init__(self, domain: Any = None, window_events: int = DEFAULT_WINDOW_EVENTS, **kwargs: Any) -> None:
        super().__init__(domain=domain, **kwargs)
        self.window_events = max(int(window_events), MIN_WINDOW_EVENTS)
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()
            self.engine = _sqlite_engine(self.engine.url)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        # SQLAlchemy Core statements built once (the ORM query Rasa builds per message costs more
        # than running it); the same "current session" condition as SQLTrackerStore._event_query.
        table = self.SQLEvent.__table__
        sender = sa.bindparam("sender")
        session_start = (
            sa.select(sa.func.max(table.c.timestamp))
            .where(table.c.sender_id == sender, table.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        in_session = sa.and_(table.c.sender_id == sender,
                             sa.or_(table.c.timestamp >= session_start, session_start.is_(None)))
        self._window_query = (
            sa.select(table.c.id, table.c.type_name, table.c.action_name, table.c.data)
            .where(in_session).order_by(table.c.id.desc()).limit(sa.bindparam("limit"))
        )
        self._slots_query = (
            sa.select(table.c.data)
            .where(in_session, table.c.type_name == SlotSet.type_name, table.c.id < sa.bindparam("before"))
            .order_by(table.c.id.desc())
        )
        self._insert = table.insert()

    def _slot_names(self) -> Set[Text]:
        """The slots whose newest value is looked up before the window; Rasa's own slots
        (session_started_metadata, ...) only if they turn up on the way. Read from the domain at
        each retrieve: Rasa creates the store before it loads the model, and sets the domain then."""
        return {slot.name for slot in self.domain.slots if slot.name not in DEFAULT_SLOT_NAMES}

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        if fetch_events_from_all_sessions or not self.domain:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.engine.connect() as connection:
            rows = connection.execute(self._window_query, {"sender": sender_id, "limit": self.window_events}).all()
            rows.reverse()
            if not rows:
                return None
            events = [row.data for row in rows]
            if len(rows) == self.window_events:
                # a longer session: start at a turn boundary, carry the slots set before the window
                start = next((i for i, row in enumerate(rows)
                              if row.type_name == ActionExecuted.type_name and row.action_name == ACTION_LISTEN_NAME), 0)
                latest: Dict[Text, Dict[Text, Any]] = {}  # newest first
                slot_names = self._slot_names()
                for (data,) in connection.execute(self._slots_query, {"sender": sender_id, "before": rows[start].id}):
                    event = json.loads(data)
                    latest.setdefault(event.get("name"), event)
                    if slot_names <= latest.keys():
                        break  # stop reading: the cost must not grow with the conversation
                events = list(reversed(latest.values())) + [_clipped(json.loads(data)) for data in events[start:]]
            else:
                events = [_clipped(json.loads(data)) for data in events]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, _LOADED, len(tracker.events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        loaded = getattr(tracker, _LOADED, None)
        if loaded is None:  # a tracker this store did not load (a new conversation): Rasa's own save
            await super().save(tracker)
        else:
            await self.stream_events(tracker)
            rows = [_row(tracker.sender_id, event) for event in itertools.islice(tracker.events, loaded, None)]
            if rows:
                with self.engine.begin() as connection:
                    connection.execute(self._insert, rows)
        setattr(tracker, _LOADED, len(tracker.events))


def _row(sender_id: Text, event: Any) -> Dict[Text, Any]:
    """The row SQLTrackerStore.save writes for an event."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }
