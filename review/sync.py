"""Incremental sync from Rasa's `events` table into `review_conversations` and the search index.

`review_sync_state` holds the watermark (`events`: every event with an id at or below it has been
processed) and a purge counter (`purges`). A batch is read and redacted with no lock held; then,
in one short write transaction, the watermark moves with a compare-and-set (the watermark and
the purge counter must be as they were when the batch was read) and the batch is written. A
concurrent sync (the CLI next to the web app) or a purge in between therefore makes the batch
start again: nothing counts twice, and nothing purged comes back.

Redaction never runs inside the write transaction (on SQLite it would block Rasa's writes), and
only the first MAX_TEXT_CHARS characters of a message are redacted and indexed.

On PostgreSQL, ids come from a sequence and a transaction that took a lower id can commit after
one that took a higher id: a batch stops before a gap in the ids until the events after the gap
are GAP_WAIT_SECONDS old (a gap that old is a rolled-back insert or a purged event).

An event that cannot be read or stored (malformed data, a value the database refuses) is set
aside in `review_sync_errors` with the reason, and the sync goes on: it is reported on the
conversation list and by `python -m review.cli sync`, and never retried.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from names import FALLBACK_ACTION, RED_FLAG, SAFETY_ANSWER_SLOT, SAFETY_KEY
from review.db import events_table_exists, in_chunks, is_sqlite
from review.migrations import search_backend
from review.redact import Redactor

log = logging.getLogger("review.sync")

BATCH = 2000
GAP_WAIT_SECONDS = 30.0
# What review stores, indexes and shows of one message; the tracker store keeps all of it.
MAX_TEXT_CHARS = 4000
MAX_ENTITY_CHARS = 200
# Channel and intent names as Rasa and this project make them; anything else (a client's own
# input_channel, a typed "/<300 characters>" payload) is shown as "invalid".
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
INVALID = "invalid"
# The parse data the NLU pipeline sets on a message it flagged. A payload a user types
# ("/emergency{...}") bypasses the pipeline, so it never counts.
RED_FLAG_TIERS = ("confirmed", "suspected")
SAFETY_TIERS = RED_FLAG_TIERS + ("caution",)
RED_FLAG_EXTRACTOR = "RedFlagClassifier"
# Characters a database or a terminal must not get: NUL and the other C0/C1 controls, and lone
# surrogates (from bytes that were not UTF-8).
UNSAFE_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> Tuple[str, int]:
    """(at most `limit` characters of `text`, how many were cut off)."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def cut_note(cut: int) -> str:
    """What a cut text ends with in the pages and exports."""
    return f" [… {cut:,} more characters not shown]" if cut else ""


def safe_name(value: Any) -> Optional[str]:
    """A channel or intent name as it may be stored and shown; None when there is none."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) and NAME_PATTERN.match(value) else INVALID


def _mapping(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _confidence(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def entities_of(parse: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The entities of a parse, each value a short string (a typed payload can carry anything)."""
    entities = parse.get("entities")
    out = []
    for entity in entities if isinstance(entities, list) else []:
        if isinstance(entity, dict):
            value, _ = clip(str(entity.get("value")), MAX_ENTITY_CHARS)
            out.append({"entity": clip(str(entity.get("entity")), MAX_ENTITY_CHARS)[0], "value": value,
                        "extractor": entity.get("extractor") if isinstance(entity.get("extractor"), str) else None})
    return out


def red_flags_of(parse: Dict[str, Any], entities: List[Dict[str, Any]]) -> Set[str]:
    """The safety decisions the NLU pipeline set on a message (never a typed payload's), as
    "tier:category" labels: confirmed:chest, suspected:stroke, caution:dizziness. A model older
    than the tiers only set a red_flag entity: that is confirmed."""
    safety = _mapping(parse.get(SAFETY_KEY))
    flags = set()
    if safety.get("tier") in SAFETY_TIERS:
        flags.add(f"{safety['tier']}:{safe_name(safety.get('category')) or 'unknown'}")
    flags |= {f"confirmed:{safe_name(e['value']) or INVALID}" for e in entities
              if e["entity"] == RED_FLAG and e["extractor"] == RED_FLAG_EXTRACTOR
              and safety.get("tier") not in SAFETY_TIERS}
    return flags


def safety_of(data: Dict[str, Any]) -> Dict[str, Any]:
    """The safety decision of a user event, reduced to what review shows (values checked)."""
    safety = _mapping(_mapping(data.get("parse_data")).get(SAFETY_KEY))
    if safety.get("tier") not in SAFETY_TIERS:
        return {}
    score = _confidence(safety.get("score"))
    rule = safety.get("rule")
    return {
        "tier": safety["tier"],
        "category": safe_name(safety.get("category")) if safety.get("category") else None,
        "source": safety.get("source") if safety.get("source") in ("rules", "net", "classifier") else "rules",
        "score": score if score is not None else 0.0,
        "rule": clip(rule, MAX_ENTITY_CHARS)[0] if isinstance(rule, str) else "",
    }


def is_red_flag(labels: Set[str]) -> bool:
    """Highlighted in review: a confirmed or a suspected red flag (a caution is shown, not highlighted)."""
    return any(label.split(":", 1)[0] in RED_FLAG_TIERS for label in labels)


def check_answer_of(data: Dict[str, Any]) -> Optional[str]:
    """The label of the user's answer to the safety check, from a slot event."""
    if data.get("name") == SAFETY_ANSWER_SLOT and data.get("value") in ("yes", "no"):
        return f"check answered:{data['value']}"
    return None


def user_fields(data: dict) -> tuple:
    """(text, intent, confidence, entities, channel) of a user event's data, whatever its shape."""
    parse = _mapping(data.get("parse_data"))
    intent = _mapping(parse.get("intent"))
    text = data.get("text")
    return (text if isinstance(text, str) else "", safe_name(intent.get("name")), _confidence(intent.get("confidence")),
            entities_of(parse), safe_name(data.get("input_channel")))


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


class BadEvent(ValueError):
    """An event whose data cannot be read."""


def _event_summary(row: Any) -> Tuple[Summary, Optional[str]]:
    """One event's part of its conversation's summary, and the text of a user message."""
    timestamp = _confidence(row.timestamp) or 0.0
    part = Summary(first_time=timestamp, last_time=timestamp, event_count=1)
    text = None
    if row.type_name == "user":
        try:
            data = json.loads(row.data or "{}")
        except ValueError as problem:
            raise BadEvent(f"the event's data is not JSON ({problem})") from problem
        if not isinstance(data, dict):
            raise BadEvent("the event's data is not a JSON object")
        text, intent, confidence, entities, channel = user_fields(data)
        part.message_count, part.channel, part.min_confidence = 1, channel, confidence
        part.intents = {intent} if intent else set()
        part.red_flags = red_flags_of(_mapping(data.get("parse_data")), entities)
    elif row.type_name == "action" and row.action_name == FALLBACK_ACTION:
        part.fell_back = True
    elif row.type_name == "slot":
        try:
            data = json.loads(row.data or "{}")
        except ValueError as problem:
            raise BadEvent(f"the event's data is not JSON ({problem})") from problem
        answer = check_answer_of(data) if isinstance(data, dict) else None
        part.red_flags = {answer} if answer else set()
    return part, text


@dataclass
class Batch:
    """A batch of events, summarised and redacted, ready to be written."""

    last_id: int
    summaries: Dict[str, Summary] = field(default_factory=dict)
    messages: List[Tuple[int, str, str]] = field(default_factory=list)  # (event id, sender, redacted text)
    bad: List[Tuple[int, str, str]] = field(default_factory=list)  # (event id, sender, reason)


def prepare(rows: Sequence[Any], redactor: Redactor) -> Batch:
    """Summaries per conversation, and the clipped, redacted user messages to index."""
    batch = Batch(last_id=rows[-1].id)
    for row in rows:
        try:
            part, text = _event_summary(row)
        except BadEvent as problem:
            batch.bad.append((row.id, row.sender_id, str(problem)))
            continue
        previous = batch.summaries.get(row.sender_id)
        batch.summaries[row.sender_id] = previous.merge(part) if previous else part
        if text and text.strip():
            body, _ = clip(text)
            batch.messages.append((row.id, row.sender_id, UNSAFE_CHARACTERS.sub(" ", redactor.redact(body))))
    return batch


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


def _write(conn: Connection, summaries: Dict[str, Summary]) -> None:
    existing = _load_existing(conn, list(summaries))
    params = []
    for sender, new in summaries.items():
        merged = existing[sender].merge(new) if sender in existing else new
        params.append({
            "s": sender, "f": merged.first_time, "l": merged.last_time, "c": merged.channel,
            "m": merged.message_count, "e": merged.event_count, "mc": merged.min_confidence,
            "fb": int(merged.fell_back), "rf": int(is_red_flag(merged.red_flags)), "rfs": ",".join(sorted(merged.red_flags)),
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


def _index(conn: Connection, messages: List[Tuple[int, str, str]]) -> None:
    if not messages:
        return
    rows = [{"id": event_id, "s": sender, "b": body} for event_id, sender, body in messages]
    if search_backend(conn) == "fts5":
        statement = "INSERT INTO review_messages_fts (rowid, body, sender_id) VALUES (:id, :b, :s)"
    else:
        statement = "INSERT INTO review_messages (event_id, sender_id, body) VALUES (:id, :s, :b)"
    conn.execute(sa.text(statement), rows)


def _set_aside(conn: Connection, bad: List[Tuple[int, str, str]]) -> None:
    if bad:
        conn.execute(sa.text("INSERT INTO review_sync_errors (event_id, sender_id, reason, at) VALUES (:i, :s, :r, :t) "
                             "ON CONFLICT DO NOTHING"),
                     [{"i": i, "s": s, "r": r[:1000], "t": time.time()} for i, s, r in bad])
        for event_id, _sender, reason in bad:
            log.error("event %s set aside, not imported into review: %s", event_id, reason)


class _Raced(Exception):
    """Another sync or a purge moved the watermark first: this batch is read again."""


def _state(conn: Connection) -> Tuple[int, int]:
    rows = dict(conn.execute(sa.text("SELECT name, last_event_id FROM review_sync_state")).all())
    return rows["events"], rows.get("purges", 0)


def _readable(rows: List[Any], watermark: int, postgres: bool, now: float) -> List[Any]:
    """The rows that may be processed now: on PostgreSQL, up to a gap in the ids that is recent."""
    if not postgres:
        return rows
    expected = watermark + 1
    for position, row in enumerate(rows):
        if row.id != expected and (_confidence(row.timestamp) or 0.0) > now - GAP_WAIT_SECONDS:
            return rows[:position]
        expected = row.id + 1
    return rows


def _store(conn: Connection, batch: Batch) -> None:
    """Write a batch; what the database refuses is set aside event by event, never retried."""
    try:
        with conn.begin_nested():
            _write(conn, batch.summaries)
            _index(conn, batch.messages)
    except sa.exc.DBAPIError:
        log.warning("a batch of events could not be written at once: writing it event by event")
        for sender, summary in batch.summaries.items():
            try:
                with conn.begin_nested():
                    _write(conn, {sender: summary})
                    _index(conn, [m for m in batch.messages if m[1] == sender])
            except sa.exc.DBAPIError as problem:
                reason = f"the database refused it: {str(problem.orig).splitlines()[0] if problem.orig else problem}"
                ids = sorted({m[0] for m in batch.messages if m[1] == sender}) or [batch.last_id]
                batch.bad += [(event_id, sender, reason) for event_id in ids]
    _set_aside(conn, batch.bad)


RETRIES = 20  # races with other syncs or purges in a row before a sync gives up until next time


def _sync_batch(engine: Engine, redactor: Redactor, size: int) -> int:
    """Process the next batch of events; the number processed (0: up to date). _Raced: read again."""
    with engine.connect() as conn, conn.begin():  # a read: it takes no lock that Rasa's writes wait for
        if not events_table_exists(conn):
            return 0
        watermark, purges = _state(conn)
        rows = conn.execute(
            sa.text("SELECT id, sender_id, type_name, timestamp, action_name, data FROM events "
                    "WHERE id > :w ORDER BY id LIMIT :n"),
            {"w": watermark, "n": size},
        ).all()
        postgres = not is_sqlite(conn)
    rows = _readable(rows, watermark, postgres, time.time())
    if not rows:
        return 0
    prepared = prepare(rows, redactor)  # the slow part, outside any transaction
    # IMMEDIATE: on SQLite take the write lock first, so that upgrading a read lock cannot fail
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        moved = conn.execute(
            sa.text("UPDATE review_sync_state SET last_event_id = :new WHERE name = 'events' AND last_event_id = :old "
                    "AND (SELECT last_event_id FROM review_sync_state WHERE name = 'purges') = :purges"),
            {"new": prepared.last_id, "old": watermark, "purges": purges},
        )
        if moved.rowcount != 1:
            raise _Raced
        _store(conn, prepared)
    return len(rows)


def sync(engine: Engine, redactor: Redactor, batch: int = BATCH) -> int:
    """Catch up with the events table; the number of events processed."""
    total, races = 0, 0
    while True:
        try:
            done = _sync_batch(engine, redactor, batch)
        except _Raced:  # another sync or a purge went first: read the batch again
            races += 1
            if races > RETRIES:
                return total
            continue
        if not done:
            return total
        total += done


def set_aside(conn: Connection, limit: int = 20) -> Tuple[int, List[Dict[str, Any]]]:
    """How many events were set aside, and the newest of them."""
    count = conn.execute(sa.text("SELECT COUNT(*) FROM review_sync_errors")).scalar_one()
    rows = conn.execute(sa.text("SELECT event_id, sender_id, reason, at FROM review_sync_errors "
                                "ORDER BY event_id DESC LIMIT :n"), {"n": limit})
    return count, [dict(r._mapping) for r in rows]
