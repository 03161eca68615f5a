"""Exports of the filtered conversations (CSV, JSONL) and of relabelled messages (Rasa nlu.yml).

Every text goes through the redactor. Exports are generators of text chunks, so that large ones
can be written out as they are produced.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Dict, Iterator, List

from sqlalchemy.engine import Connection

from review.queries import Filters, Turn, iter_conversations, labelled_messages, transcript
from review.redact import Redactor
from review.sync import cut_note

FORMATS = ("csv", "jsonl", "nlu")
CSV_COLUMNS = ["sender_id", "channel", "event_id", "time", "kind", "text", "intent", "confidence", "entities",
               "action", "fell_back", "red_flags", "tags", "reviewed"]
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson", "nlu": "application/x-yaml"}
FILE_NAMES = {"csv": "conversations.csv", "jsonl": "conversations.jsonl", "nlu": "nlu.yml"}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def turn_record(turn: Turn, redactor: Redactor) -> Dict:
    """A turn as a plain dict, its text (cut at sync.MAX_TEXT_CHARS, and marked so) and entity values
    redacted."""
    return {
        "event_id": turn.event_id, "time": iso(turn.time), "kind": turn.kind,
        "text": redactor.redact(turn.text) + cut_note(turn.cut), "cut_chars": turn.cut,
        "intent": turn.intent, "confidence": turn.confidence,
        "entities": [{"entity": e.get("entity"), "value": redactor.redact(str(e.get("value")))} for e in turn.entities],
        "action": turn.action, "fell_back": turn.fell_back,
    }


def safe_cell(value: object) -> object:
    """Spreadsheets run cells that start with = + - @ as formulas: prefix those with '.

    Every CSV this project writes (web export, CLI export and list) goes through it."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "\n"):
        return "'" + value
    return value


def csv_export(conn: Connection, filters: Filters, redactor: Redactor) -> Iterator[str]:
    """One row per message or action of every matching conversation."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in iter_conversations(conn, filters):
        for turn in transcript(conn, row["sender_id"])["turns"]:
            record = turn_record(turn, redactor)
            writer.writerow([safe_cell(v) for v in [
                redactor.redact(row["sender_id"]), row["channel"], record["event_id"], record["time"], record["kind"],
                record["text"], record["intent"], record["confidence"], json.dumps(record["entities"]),
                record["action"], int(record["fell_back"]), row["red_flags"], ",".join(row["tags"]), row["reviewed"],
            ]])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def jsonl_export(conn: Connection, filters: Filters, redactor: Redactor) -> Iterator[str]:
    """One JSON object per matching conversation: its summary, tags, notes and turns."""
    for row in iter_conversations(conn, filters):
        conversation = transcript(conn, row["sender_id"])
        yield json.dumps({
            "sender_id": redactor.redact(row["sender_id"]), "channel": row["channel"],
            "first_time": iso(row["first_time"]), "last_time": iso(row["last_time"]),
            "message_count": row["message_count"], "min_confidence": row["min_confidence"],
            "fell_back": bool(row["fell_back"]), "red_flags": [f for f in row["red_flags"].split(",") if f],
            "reviewed": bool(row["reviewed"]), "tags": row["tags"],
            "notes": [{"author": n["author"], "time": iso(n["created_at"]), "text": redactor.redact(n["body"])}
                      for n in conversation["notes"]],
            "turns": [turn_record(t, redactor) for t in conversation["turns"]],
        }, ensure_ascii=False) + "\n"


def nlu_export(conn: Connection, redactor: Redactor) -> Iterator[str]:
    """Rasa 3 training data: each relabelled message under the intent a reviewer assigned."""
    by_intent: Dict[str, List[str]] = {}
    for intent, text, _event_id in labelled_messages(conn):
        example = " ".join(redactor.redact(text).split())
        if example and example not in by_intent.setdefault(intent, []):
            by_intent[intent].append(example)
    yield 'version: "3.1"\nnlu:\n'
    for intent, examples in by_intent.items():
        yield f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {e}\n" for e in examples)


def export(conn: Connection, fmt: str, filters: Filters, redactor: Redactor) -> Iterator[str]:
    """The chunks of an export in `fmt` (csv, jsonl or nlu)."""
    if fmt == "csv":
        return csv_export(conn, filters, redactor)
    if fmt == "jsonl":
        return jsonl_export(conn, filters, redactor)
    if fmt == "nlu":
        return nlu_export(conn, redactor)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
