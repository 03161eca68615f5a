"""Retention: delete conversations older than N days from the tracker store and the review tables,
and audit-log entries older than their own retention."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from review import audit, db
from review.migrations import search_backend
from review.redact import Redactor
from review.sync import sync

REVIEW_TABLES = ("review_tags", "review_notes", "review_intent_labels", "review_conversation_intents",
                 "review_sync_errors")
BATCH = 500


@dataclass
class PurgeReport:
    """What a purge removed."""

    cutoff: float
    conversations: int = 0
    events: int = 0
    messages_indexed: int = 0
    review_rows: int = 0
    audit_entries: int = 0

    def __str__(self) -> str:
        text = (f"Purged {self.conversations} conversations last active before "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(self.cutoff))} UTC: {self.events} tracker events, "
                f"{self.messages_indexed} search entries, {self.review_rows} tags, notes, labels and intents.")
        return text + (f" {self.audit_entries} audit-log entries past their retention." if self.audit_entries else "")

    def as_dict(self) -> dict:
        return asdict(self)


def _inactive_senders(conn: Connection, cutoff: float, after: str) -> List[str]:
    """The next conversations, by sender id, whose newest event is older than the cutoff.

    Chosen from the tracker's events, not from the review tables: a conversation the review has
    not seen (set aside, or never synced) is purged too.
    """
    return [r[0] for r in conn.execute(
        sa.text("SELECT sender_id FROM events WHERE sender_id > :after GROUP BY sender_id "
                "HAVING MAX(timestamp) < :c ORDER BY sender_id LIMIT :n"),
        {"after": after, "c": cutoff, "n": BATCH})]


def purge(engine: Engine, older_than_days: int, actor: str, redactor: Redactor,
          now: Optional[float] = None, audit_days: Optional[int] = None) -> PurgeReport:
    """Delete every conversation whose last event is older than the cutoff, in batches.

    Only events before the cutoff are deleted, so a conversation that resumes during the purge
    keeps its new messages (they come back as a conversation at the next sync). On SQLite,
    Rasa's `events.id` has no AUTOINCREMENT: once the newest events are deleted, new events get
    their ids again. So each batch also lowers the sync watermark to the highest id left, and
    counts a purge, which makes a sync that read its batch before the purge read it again.
    """
    if older_than_days < 1:
        raise ValueError("--older-than-days must be at least 1")
    now = now or time.time()
    sync(engine, redactor)
    report = PurgeReport(cutoff=now - older_than_days * 86400)
    after = ""
    while True:
        with engine.connect() as conn:  # choosing the candidates holds no write lock
            candidates = _inactive_senders(conn, report.cutoff, after)
        if not candidates:
            break
        after = candidates[-1]
        with db.writing(engine) as conn:
            # again inside the write transaction: a conversation may have resumed meanwhile
            senders = [r[0] for r in conn.execute(
                sa.text("SELECT sender_id FROM events WHERE sender_id IN :s GROUP BY sender_id "
                        "HAVING MAX(timestamp) < :c").bindparams(sa.bindparam("s", expanding=True)),
                {"s": candidates, "c": report.cutoff})]
            if not senders:
                continue
            params = {"s": senders, "c": report.cutoff}

            def delete(sql: str) -> int:
                return conn.execute(sa.text(sql).bindparams(sa.bindparam("s", expanding=True)), params).rowcount

            if search_backend(conn) == "fts5":
                report.messages_indexed += delete(
                    "DELETE FROM review_messages_fts WHERE rowid IN "
                    "(SELECT id FROM events WHERE sender_id IN :s AND timestamp < :c)")
            else:
                report.messages_indexed += delete("DELETE FROM review_messages WHERE sender_id IN :s")
            report.events += delete("DELETE FROM events WHERE sender_id IN :s AND timestamp < :c")
            for table in REVIEW_TABLES:
                report.review_rows += delete(f"DELETE FROM {table} WHERE sender_id IN :s")
            report.conversations += delete("DELETE FROM review_conversations WHERE sender_id IN :s")
            highest = conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM events")).scalar_one()
            conn.execute(sa.text("UPDATE review_sync_state SET last_event_id = :h "
                                 "WHERE name = 'events' AND last_event_id > :h"), {"h": highest})
            conn.execute(sa.text("UPDATE review_sync_state SET last_event_id = last_event_id + 1 WHERE name = 'purges'"))
    with db.writing(engine) as conn:
        if audit_days:
            report.audit_entries = purge_audit(conn, now - audit_days * 86400)
        audit.record(conn, actor, "purge", f"older than {older_than_days} days", str(report))
    return report


def purge_audit(conn: Connection, cutoff: float) -> int:
    """Delete the audit-log entries older than the cutoff; how many."""
    return conn.execute(sa.text("DELETE FROM review_audit WHERE at < :c"), {"c": cutoff}).rowcount
