"""Retention: delete conversations older than N days from the tracker store and the review tables."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review import audit
from review.migrations import search_backend
from review.redact import Redactor
from review.sync import sync

REVIEW_TABLES = ("review_tags", "review_notes", "review_intent_labels", "review_conversation_intents")
BATCH = 500


@dataclass
class PurgeReport:
    """What a purge removed."""

    cutoff: float
    conversations: int = 0
    events: int = 0
    messages_indexed: int = 0
    review_rows: int = 0

    def __str__(self) -> str:
        return (f"Purged {self.conversations} conversations last active before "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(self.cutoff))} UTC: {self.events} tracker events, "
                f"{self.messages_indexed} search entries, {self.review_rows} tags, notes, labels and intents.")

    def as_dict(self) -> dict:
        return asdict(self)


def purge(engine: Engine, older_than_days: int, actor: str, redactor: Redactor,
          now: Optional[float] = None) -> PurgeReport:
    """Delete every conversation whose last event is older than the cutoff, in batches.

    Only events before the cutoff are deleted, so a conversation that resumes during the purge
    keeps its new messages (they come back as a conversation at the next sync).
    """
    if older_than_days < 1:
        raise ValueError("--older-than-days must be at least 1")
    sync(engine, redactor)
    report = PurgeReport(cutoff=(now or time.time()) - older_than_days * 86400)
    while True:
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            senders = [r[0] for r in conn.execute(
                sa.text("SELECT sender_id FROM review_conversations WHERE last_time < :c ORDER BY sender_id LIMIT :n"),
                {"c": report.cutoff, "n": BATCH})]
            if not senders:
                break
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
    with engine.begin() as conn:
        audit.record(conn, actor, "purge", f"older than {older_than_days} days", str(report))
    return report
