"""Reading and annotating conversations: filtered lists (keyset paged), search, transcripts,
tags, notes, reviewed flags and intent labels."""
from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from names import FALLBACK_ACTION
from review.migrations import search_backend
from review.sync import UNSAFE_CHARACTERS, check_answer_of, clip, safety_of, user_fields

SORTS = ("recent", "red_flag")
TAG_PATTERN = re.compile(r"^[\w .:-]{1,50}$")
INTENT_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,100}$")
MAX_ID = 2 ** 63 - 1  # the largest id PostgreSQL's BIGINT holds
MAX_SENDER_CHARS = 255  # Rasa's events.sender_id


def text_value(value: Optional[str], limit: int = 200) -> str:
    """A filter value as typed, without control characters or lone surrogates, at most `limit` long."""
    return UNSAFE_CHARACTERS.sub("", value or "").strip()[:limit]


def valid_sender(sender_id: str) -> bool:
    """Whether a conversation id from a URL can be one at all (else: no such conversation)."""
    return 0 < len(sender_id) <= MAX_SENDER_CHARS and not UNSAFE_CHARACTERS.search(sender_id)


def parse_id(value: object, name: str = "message id") -> int:
    """A positive id from a form or a query, or QueryError."""
    text = str(value if value is not None else "").strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_ID:
        raise QueryError(f"bad {name}")
    return int(text)


class QueryError(ValueError):
    """A filter or an annotation is malformed (shown to the user)."""


def _date(value: Optional[str], name: str) -> Optional[date]:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise QueryError(f"{name}: use a date like 2026-01-31") from error


def _epoch(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Filters:
    """The conversation list's filters; the web form and the CLI both build one."""

    since: Optional[date] = None
    until: Optional[date] = None
    channel: str = ""
    intent: str = ""
    fell_back: bool = False
    red_flag: bool = False
    max_confidence: Optional[float] = None
    tag: str = ""
    reviewed: str = ""  # "", "yes" or "no"
    q: str = ""
    sort: str = "recent"

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> "Filters":
        """From query parameters (checkboxes count when present with any value but "", "0")."""
        def flag(name: str) -> bool:
            return (values.get(name) or "") not in ("", "0", "false")

        confidence = text_value(values.get("max_confidence"))
        try:
            max_confidence = float(confidence) if confidence else None
        except ValueError as error:
            raise QueryError("max_confidence: use a number between 0 and 1") from error
        if max_confidence is not None and not 0 <= max_confidence <= 1:
            raise QueryError("max_confidence: use a number between 0 and 1")
        reviewed = values.get("reviewed") or ""
        sort = values.get("sort") or "recent"
        if reviewed not in ("", "yes", "no") or sort not in SORTS:
            raise QueryError("reviewed must be yes or no, sort recent or red_flag")
        return cls(
            since=_date(text_value(values.get("since")), "since"), until=_date(text_value(values.get("until")), "until"),
            channel=text_value(values.get("channel")), intent=text_value(values.get("intent")),
            fell_back=flag("fell_back"), red_flag=flag("red_flag"), max_confidence=max_confidence,
            tag=text_value(values.get("tag")), reviewed=reviewed, q=text_value(values.get("q")), sort=sort,
        )

    def to_params(self) -> Dict[str, str]:
        """The non-empty filters as query parameters (for links to the next page and exports)."""
        params = {}
        for name, value in asdict(self).items():
            if value in (None, "", False) or (name == "sort" and value == "recent"):
                continue
            params[name] = "1" if value is True else str(value)
        return params


@dataclass
class Page:
    """One page of conversation rows and the cursor of the next page (None: last page)."""

    rows: List[Dict[str, Any]]
    next_cursor: Optional[str]


def encode_cursor(row: Mapping[str, Any], sort: str) -> str:
    key = [row["red_flag"]] if sort == "red_flag" else []
    key += [row["last_time"], row["sender_id"]]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str, sort: str) -> list:
    """The keyset of a page cursor: ([red_flag,] last_time, sender_id), each of its type."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, TypeError, UnicodeError) as error:
        raise QueryError("bad page cursor") from error
    if not isinstance(key, list) or len(key) != (3 if sort == "red_flag" else 2):
        raise QueryError("bad page cursor")
    *flag, last_time, sender = key
    number = isinstance(last_time, (int, float)) and not isinstance(last_time, bool) and abs(last_time) < 1e12
    if not number or not isinstance(sender, str) or not valid_sender(sender) or flag not in ([], [0], [1]):
        raise QueryError("bad page cursor")
    return key


def _fts_query(text: str) -> str:
    """User words as FTS5 phrases (quoted), so that no FTS5 syntax comes from the user."""
    words = re.findall(r"\w+", text)
    return " ".join('"' + w + '"' for w in words)


def _where(conn: Connection, filters: Filters, params: Dict[str, Any]) -> List[str]:
    clauses = []
    if filters.since:
        clauses.append("c.last_time >= :since")
        params["since"] = _epoch(filters.since)
    if filters.until:
        clauses.append("c.first_time < :until")
        params["until"] = _epoch(filters.until + timedelta(days=1))
    if filters.channel:
        clauses.append("c.channel = :channel")
        params["channel"] = filters.channel
    if filters.intent:
        clauses.append("EXISTS (SELECT 1 FROM review_conversation_intents i "
                       "WHERE i.sender_id = c.sender_id AND i.intent = :intent)")
        params["intent"] = filters.intent
    if filters.fell_back:
        clauses.append("c.fell_back = 1")
    if filters.red_flag:
        clauses.append("c.red_flag = 1")
    if filters.max_confidence is not None:
        clauses.append("c.min_confidence < :max_confidence")
        params["max_confidence"] = filters.max_confidence
    if filters.tag:
        clauses.append("EXISTS (SELECT 1 FROM review_tags t WHERE t.sender_id = c.sender_id AND t.tag = :tag)")
        params["tag"] = filters.tag
    if filters.reviewed:
        clauses.append("c.reviewed = :reviewed")
        params["reviewed"] = 1 if filters.reviewed == "yes" else 0
    if filters.q:
        backend = search_backend(conn)
        if backend == "fts5":
            clauses.append("c.sender_id IN (SELECT sender_id FROM review_messages_fts WHERE review_messages_fts MATCH :q)")
            params["q"] = _fts_query(filters.q) or '""'
        elif backend == "tsvector":
            clauses.append("EXISTS (SELECT 1 FROM review_messages m WHERE m.sender_id = c.sender_id "
                           "AND m.tsv @@ plainto_tsquery('simple', :q))")
            params["q"] = filters.q
        else:
            clauses.append("EXISTS (SELECT 1 FROM review_messages m WHERE m.sender_id = c.sender_id "
                           "AND LOWER(m.body) LIKE :q)")
            params["q"] = "%" + filters.q.lower().replace("%", "").replace("_", "") + "%"
    return clauses


def list_conversations(conn: Connection, filters: Filters, limit: int = 50, cursor: Optional[str] = None) -> Page:
    """Newest first (red flags first with sort=red_flag), keyset paged on (last_time, sender_id)."""
    params: Dict[str, Any] = {"limit": limit + 1}
    clauses = _where(conn, filters, params)
    if filters.sort == "red_flag":
        order = "c.red_flag DESC, c.last_time DESC, c.sender_id DESC"
        if cursor:
            params["k_r"], params["k_t"], params["k_s"] = decode_cursor(cursor, filters.sort)
            clauses.append("(c.red_flag, c.last_time, c.sender_id) < (:k_r, :k_t, :k_s)")
    else:
        order = "c.last_time DESC, c.sender_id DESC"
        if cursor:
            params["k_t"], params["k_s"] = decode_cursor(cursor, filters.sort)
            clauses.append("(c.last_time, c.sender_id) < (:k_t, :k_s)")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = [dict(r._mapping) for r in conn.execute(
        sa.text(f"SELECT c.* FROM review_conversations c {where} ORDER BY {order} LIMIT :limit"), params)]
    next_cursor = encode_cursor(rows[limit - 1], filters.sort) if len(rows) > limit else None
    rows = rows[:limit]
    _attach_tags(conn, rows)
    return Page(rows, next_cursor)


def iter_conversations(conn: Connection, filters: Filters, batch: int = 500) -> Iterator[Dict[str, Any]]:
    """Every matching conversation, page by page (for exports)."""
    cursor = None
    while True:
        page = list_conversations(conn, filters, batch, cursor)
        yield from page.rows
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _attach_tags(conn: Connection, rows: List[Dict[str, Any]]) -> None:
    if not rows:
        return
    tags: Dict[str, List[str]] = {}
    result = conn.execute(
        sa.text("SELECT sender_id, tag FROM review_tags WHERE sender_id IN :s ORDER BY tag").bindparams(
            sa.bindparam("s", expanding=True)), {"s": [r["sender_id"] for r in rows]})
    for sender, tag in result:
        tags.setdefault(sender, []).append(tag)
    for row in rows:
        row["tags"] = tags.get(row["sender_id"], [])


def choices(conn: Connection) -> Dict[str, List[str]]:
    """Known channels, intents and tags, for the filter form."""
    def column(sql: str) -> List[str]:
        return [r[0] for r in conn.execute(sa.text(sql)) if r[0]]

    return {
        "channels": column("SELECT DISTINCT channel FROM review_conversations ORDER BY channel"),
        "intents": column("SELECT DISTINCT intent FROM review_conversation_intents ORDER BY intent"),
        "tags": column("SELECT DISTINCT tag FROM review_tags ORDER BY tag"),
    }


@dataclass
class Turn:
    """One event of a transcript, as the pages and exports show it (text not yet redacted)."""

    event_id: int
    kind: str  # user, bot, action or the Rasa event type
    time: float
    text: str = ""
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: List[Dict[str, Any]] = field(default_factory=list)
    buttons: List[Dict[str, Any]] = field(default_factory=list)
    cut: int = 0  # characters of the text not shown (sync.MAX_TEXT_CHARS)
    action: Optional[str] = None
    channel: Optional[str] = None
    fell_back: bool = False
    # the safety decision of a user message (tier, category, source, score, rule), if any
    safety: Dict[str, Any] = field(default_factory=dict)
    # a slot event that records the user's answer to the safety check: "yes" or "no"
    check_answer: Optional[str] = None
    label: Optional[str] = None

    def misunderstood(self, threshold: float) -> bool:
        """A user message the assistant fell back on or understood with low confidence."""
        return self.kind == "user" and (self.fell_back or (self.confidence is not None and self.confidence < threshold))


SHOWN_EVENTS = ("user", "bot", "action", "session_started", "restart", "slot")


def transcript(conn: Connection, sender_id: str) -> Optional[Dict[str, Any]]:
    """The summary row, tags, notes and every turn of one conversation; None if unknown."""
    summary = conn.execute(sa.text("SELECT * FROM review_conversations WHERE sender_id = :s"),
                           {"s": sender_id}).first()
    if summary is None:
        return None
    labels = dict(conn.execute(sa.text("SELECT event_id, intent FROM review_intent_labels WHERE sender_id = :s"),
                               {"s": sender_id}).all())
    turns: List[Turn] = []
    last_user: Optional[Turn] = None
    for row in conn.execute(sa.text("SELECT id, type_name, timestamp, action_name, data FROM events "
                                    "WHERE sender_id = :s ORDER BY id"), {"s": sender_id}):
        if row.type_name not in SHOWN_EVENTS:
            continue
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            data = {}  # set aside by the sync; shown as an empty turn
        data = data if isinstance(data, dict) else {}
        turn = Turn(row.id, row.type_name, row.timestamp or 0.0)
        if row.type_name == "user":
            text, turn.intent, turn.confidence, turn.entities, turn.channel = user_fields(data)
            turn.text, turn.cut = clip(text)
            turn.label = labels.get(row.id)
            turn.safety = safety_of(data)
            last_user = turn
        elif row.type_name == "bot":
            turn.text, turn.cut = clip(data.get("text") if isinstance(data.get("text"), str) else "")
            buttons = (data.get("data") if isinstance(data.get("data"), dict) else {}).get("buttons")
            turn.buttons = [b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []
        elif row.type_name == "slot":
            answer = check_answer_of(data)
            if answer is None:
                continue  # other slots are bookkeeping
            turn.check_answer = answer.split(":", 1)[1]
        elif row.type_name == "action":
            turn.action = data.get("name") if isinstance(data.get("name"), str) else row.action_name
            if turn.action == "action_listen":
                continue
            if turn.action == FALLBACK_ACTION and last_user:
                last_user.fell_back = True
        turns.append(turn)
    row = dict(summary._mapping)
    _attach_tags(conn, [row])
    notes = [dict(n._mapping) for n in conn.execute(
        sa.text("SELECT id, author, body, created_at FROM review_notes WHERE sender_id = :s ORDER BY id"),
        {"s": sender_id})]
    return {"summary": row, "turns": turns, "notes": notes}


def _require_conversation(conn: Connection, sender_id: str) -> None:
    if not conn.execute(sa.text("SELECT 1 FROM review_conversations WHERE sender_id = :s"), {"s": sender_id}).first():
        raise QueryError("no such conversation")


def add_tag(conn: Connection, sender_id: str, tag: str, user: str) -> None:
    tag = tag.strip()
    if not TAG_PATTERN.match(tag):
        raise QueryError("tags have 1 to 50 letters, digits, spaces or . : _ -")
    _require_conversation(conn, sender_id)
    conn.execute(sa.text("INSERT INTO review_tags (sender_id, tag, created_by, created_at) "
                         "VALUES (:s, :t, :u, :at) ON CONFLICT DO NOTHING"),
                 {"s": sender_id, "t": tag, "u": user, "at": time.time()})


def remove_tag(conn: Connection, sender_id: str, tag: str) -> None:
    conn.execute(sa.text("DELETE FROM review_tags WHERE sender_id = :s AND tag = :t"), {"s": sender_id, "t": tag})


def add_note(conn: Connection, sender_id: str, body: str, user: str) -> None:
    body = UNSAFE_CHARACTERS.sub("", body).strip()
    if not body or len(body) > 5000:
        raise QueryError("a note has 1 to 5000 characters")
    _require_conversation(conn, sender_id)
    conn.execute(sa.text("INSERT INTO review_notes (sender_id, author, body, created_at) VALUES (:s, :u, :b, :t)"),
                 {"s": sender_id, "u": user, "b": body, "t": time.time()})


def set_reviewed(conn: Connection, sender_id: str, reviewed: bool, user: str) -> None:
    _require_conversation(conn, sender_id)
    conn.execute(sa.text("UPDATE review_conversations SET reviewed = :r, reviewed_by = :u, reviewed_at = :t "
                         "WHERE sender_id = :s"),
                 {"r": int(reviewed), "u": user if reviewed else None, "t": time.time() if reviewed else None,
                  "s": sender_id})


def set_label(conn: Connection, sender_id: str, event_id: int, intent: str, user: str) -> None:
    """Assign the intent a user message should have had ("" removes the label)."""
    intent = intent.strip()
    found = conn.execute(sa.text("SELECT 1 FROM events WHERE id = :i AND sender_id = :s AND type_name = 'user'"),
                         {"i": event_id, "s": sender_id}).first()
    if not found:
        raise QueryError("no such user message in this conversation")
    conn.execute(sa.text("DELETE FROM review_intent_labels WHERE event_id = :i"), {"i": event_id})
    if intent:
        if not INTENT_PATTERN.match(intent):
            raise QueryError("an intent name has letters, digits and _ only")
        conn.execute(sa.text("INSERT INTO review_intent_labels (event_id, sender_id, intent, labeled_by, labeled_at) "
                             "VALUES (:i, :s, :n, :u, :t)"),
                     {"i": event_id, "s": sender_id, "n": intent, "u": user, "t": time.time()})


def message_text(conn: Connection, sender_id: str, event_id: int) -> Optional[Tuple[str, int]]:
    """The raw text of one user or bot message (for an audited reveal), clipped like every text
    review shows: (text, characters cut off)."""
    row = conn.execute(sa.text("SELECT type_name, data FROM events WHERE id = :i AND sender_id = :s"),
                       {"i": event_id, "s": sender_id}).first()
    if row is None or row.type_name not in ("user", "bot"):
        return None
    try:
        text = json.loads(row.data or "{}").get("text")
    except (ValueError, AttributeError):
        text = None
    return clip(text if isinstance(text, str) else "")


def labelled_messages(conn: Connection) -> List[Tuple[str, str, int]]:
    """(intent, raw text, event id) of every user message with an assigned intent."""
    rows = conn.execute(sa.text(
        "SELECT l.intent, e.data, e.id FROM review_intent_labels l JOIN events e ON e.id = l.event_id "
        "ORDER BY l.intent, e.id"))
    out = []
    for intent, data, event_id in rows:
        try:
            text = json.loads(data or "{}").get("text")
        except (ValueError, AttributeError):
            continue
        if isinstance(text, str):
            out.append((intent, clip(text)[0], event_id))
    return out
