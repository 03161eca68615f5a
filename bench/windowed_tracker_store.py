"""PROTOTYPE (bench only): an SQL tracker store that hands Rasa only the recent part of a long
conversation, so that the per-message cost stops growing with the conversation's length.

Rasa 3.6's SQLTrackerStore loads and deserialises every event of the current session for every
message, and the policies (RulePolicy, MemoizationPolicy) and the action-server call then walk the
whole tracker again (see bench/README.md: at turn 200 a message costs ~3-5x turn 1). This store:

  - retrieve: the last `window_events` events of the session, trimmed to start at a turn boundary
    (an `action_listen`), preceded by the latest `slot` event of every slot set before the window
    (so slot values such as `topic` survive);
  - save: appends exactly the events added since retrieve (it remembers how many the tracker
    held when loaded), never re-counting the session in the database;
  - everything else (the table, all events kept forever, retrieve_full_tracker for the HTTP API
    and `rasa export`) is SQLTrackerStore's.

The database still holds every event; only what Rasa holds in memory per message is bounded.
Use it in endpoints.yml:

    tracker_store:
      type: <module path>.WindowedSQLTrackerStore
      window_events: 80
      dialect: ${TRACKER_DIALECT}
      ...
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Iterator, Optional, Text

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

LOADED = "_windowed_store_loaded_events"


class WindowedSQLTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Any = None, window_events: int = 80, **kwargs: Any) -> None:
        super().__init__(domain=domain, **kwargs)
        self.window_events = int(window_events)

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        if fetch_events_from_all_sessions:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            rows = (query.order_by(None).order_by(self.SQLEvent.id.desc()).limit(self.window_events).all())[::-1]
            if not rows or not self.domain:
                return None
            if len(rows) == self.window_events:
                # a longer session: start at a turn boundary, carry the slots set before the window
                start = next((i for i, row in enumerate(rows)
                              if row.type_name == "action" and row.action_name == "action_listen"), 0)
                rows = rows[start:]
                latest = {}
                for row in query.filter(self.SQLEvent.type_name == "slot", self.SQLEvent.id < rows[0].id).all():
                    latest[json.loads(row.data).get("name")] = row
                rows = sorted(latest.values(), key=lambda row: row.id) + rows
            tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(row.data) for row in rows],
                                                     self.domain.slots)
            setattr(tracker, LOADED, len(tracker.events))
            return tracker

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        loaded = getattr(tracker, LOADED, None)
        if loaded is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, loaded, len(tracker.events))

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        if getattr(tracker, LOADED, None) is not None:
            setattr(tracker, LOADED, len(tracker.events))
