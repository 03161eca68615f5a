"""Incremental sync from Rasa's `events` table into `review_conversations` and the search index.

`review_sync_state.last_event_id` is the watermark: each batch reads the events after it, merges
them into the per-conversation summary, indexes the (redacted) user messages and moves the
watermark with a compare-and-set, all in one transaction. A concurrent sync (the CLI next to the
web app) therefore either waits or finds the watermark moved and stops: nothing counts twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from review.db import events_table_exists, in_chunks
from review.migrations import search_backend
from review.redact import Redactor

BATCH = 5000
FALLBACK_ACTION = "action_fallback"


@dataclass
class Summary:
    """What one conversation's events add to its row in review_conversations."""

    first_time: float
    last_time: float
    channel: Optional[str] = None
    message_count: int = 0
    event_count: int = 0
    min_confidence: Optional[float] = None
    fell_back: bool = False
    red_flags: Set[str] = field(default_factory=set)
    intents: Set[str] = field(default_factory=set)

    def merge(self, other: "Summary") -> "Summary":
        """Both summaries together (self is the older one)."""
        confidences = [c for c in (self.min_confidence, other.min_confidence) if c is not None]
        return Summary(
            first_time=min(self.first_time, other.first_time),
            last_time=max(self.last_time, other.last_time),
            channel=self.channel or other.channel,
            message_count=self.message_count + other.message_count,
            event_count=self.event_count + other.event_count,
            min_confidence=min(confidences) if confidences else None,
            fell_back=self.fell_back or other.fell_back,
            red_flags=self.red_flags | other.red_flags,
            intents=self.intents | other.intents,
        )


def user_fields(data: dict) -> tuple:
    """(text, intent, confidence, entities, channel) of a user event's data."""
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    return (data.get("text") or "", intent.get("name"), intent.get("confidence"),
            parse.get("entities") or [], data.get("input_channel"))


def summarise(rows: List[sa.engine.Row]) -> tuple:
    """Per-sender summaries and the user messages to index, from a batch of event rows."""
    summaries: Dict[str, Summary] = {}
    messages = []
    for row in rows:
        timestamp = row.timestamp or 0.0
        part = Summary(first_time=timestamp, last_time=timestamp, event_count=1)
        if row.type_name == "user":
            text, intent, confidence, entities, channel = user_fields(json.loads(row.data or "{}"))
            part.message_count, part.channel = 1, channel
            part.min_confidence = float(confidence) if confidence is not None else None
            part.intents = {intent} if intent else set()
            part.red_flags = {str(e.get("value")) for e in entities if e.get("entity") == "red_flag"}
            if text.strip():
                messages.append((row.id, row.sender_id, text))
        elif row.type_name == "action" and row.action_name == FALLBACK_ACTION:
            part.fell_back = True
        previous = summaries.get(row.sender_id)
        summaries[row.sender_id] = previous.merge(part) if previous else part
    return summaries, messages


def _load_existing(conn: Connection, senders: List[str]) -> Dict[str, Summary]:
    existing = {}
    for chunk in in_chunks(senders):
        rows = conn.execute(
            sa.text("SELECT * FROM review_conversations WHERE sender_id IN :senders").bindparams(
                sa.bindparam("senders", expanding=True)),
            {"senders": chunk},
        )
        for row in rows:
            existing[row.sender_id] = Summary(
                row.first_time, row.last_time, row.channel, row.message_count, row.event_count, row.min_confidence,
                bool(row.fell_back), set(filter(None, row.red_flags.split(","))), set(filter(None, row.intents.split(","))),
            )
    return existing


def _write(conn: Connection, summaries: Dict[str, Summary], existing: Dict[str, Summary]) -> None:
    params = []
    for sender, new in summaries.items():
        merged = existing[sender].merge(new) if sender in existing else new
        params.append({
            "s": sender, "f": merged.first_time, "l": merged.last_time, "c": merged.channel,
            "m": merged.message_count, "e": merged.event_count, "mc": merged.min_confidence,
            "fb": int(merged.fell_back), "rf": int(bool(merged.red_flags)), "rfs": ",".join(sorted(merged.red_flags)),
            "i": ",".join(sorted(merged.intents)),
        })
    updates = [p for p in params if p["s"] in existing]
    inserts = [p for p in params if p["s"] not in existing]
    if updates:
        conn.execute(sa.text(
            "UPDATE review_conversations SET first_time = :f, last_time = :l, channel = :c, message_count = :m, "
            "event_count = :e, min_confidence = :mc, fell_back = :fb, red_flag = :rf, red_flags = :rfs, intents = :i "
            "WHERE sender_id = :s"), updates)
    if inserts:
        conn.execute(sa.text(
            "INSERT INTO review_conversations (sender_id, first_time, last_time, channel, message_count, event_count, "
            "min_confidence, fell_back, red_flag, red_flags, intents) "
            "VALUES (:s, :f, :l, :c, :m, :e, :mc, :fb, :rf, :rfs, :i)"), inserts)
    intents = [{"s": s, "i": i} for s, summary in summaries.items() for i in summary.intents]
    if intents:
        conn.execute(sa.text(
            "INSERT INTO review_conversation_intents (sender_id, intent) VALUES (:s, :i) ON CONFLICT DO NOTHING"), intents)


def _index(conn: Connection, messages: list, redactor: Redactor) -> None:
    if not messages:
        return
    rows = [{"id": event_id, "s": sender, "b": redactor.redact(text)} for event_id, sender, text in messages]
    if search_backend(conn) == "fts5":
        statement = "INSERT INTO review_messages_fts (rowid, body, sender_id) VALUES (:id, :b, :s)"
    else:
        statement = "INSERT INTO review_messages (event_id, sender_id, body) VALUES (:id, :s, :b)"
    conn.execute(sa.text(statement), rows)


class _Raced(Exception):
    """Another sync moved the watermark first: this batch is rolled back."""


def sync_batch(engine: Engine, redactor: Redactor, batch: int = BATCH) -> int:
    """Process the next batch of events; the number processed (0: up to date or raced)."""
    try:
        return _sync_batch(engine, redactor, batch)
    except _Raced:
        return 0


def _sync_batch(engine: Engine, redactor: Redactor, batch: int) -> int:
    # IMMEDIATE: on SQLite take the write lock first, so that upgrading a read lock cannot fail
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        if not events_table_exists(conn):
            return 0
        watermark = conn.execute(
            sa.text("SELECT last_event_id FROM review_sync_state WHERE name = 'events'")).scalar_one()
        rows = conn.execute(
            sa.text("SELECT id, sender_id, type_name, timestamp, action_name, data FROM events "
                    "WHERE id > :w ORDER BY id LIMIT :n"),
            {"w": watermark, "n": batch},
        ).all()
        if not rows:
            return 0
        moved = conn.execute(
            sa.text("UPDATE review_sync_state SET last_event_id = :new WHERE name = 'events' AND last_event_id = :old"),
            {"new": rows[-1].id, "old": watermark},
        )
        if moved.rowcount != 1:
            raise _Raced
        summaries, messages = summarise(rows)
        _write(conn, summaries, _load_existing(conn, list(summaries)))
        _index(conn, messages, redactor)
        return len(rows)


def sync(engine: Engine, redactor: Redactor, batch: int = BATCH) -> int:
    """Catch up with the events table; the number of events processed."""
    total = 0
    while True:
        done = sync_batch(engine, redactor, batch)
        if not done:
            return total
        total += done
