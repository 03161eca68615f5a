"""The audit log: who viewed, revealed, exported, purged or changed what, and when.

What an entry names (a conversation id, the filters of an export, which can hold words a
reviewer searched for) is redacted before it is stored, like every text the review app shows.
The log has its own retention (REVIEW_AUDIT_RETENTION_DAYS, retention.purge_audit).
"""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from review.redact import Redactor
from review.sync import UNSAFE_CHARACTERS

MAX_TARGET_CHARS, MAX_DETAIL_CHARS = 300, 2000
UNTRUSTED_ACTORS = ("login-failed", "login-throttled")
_redactor: Optional[Redactor] = None


def _redact(text: str, limit: int) -> str:
    global _redactor
    if _redactor is None:
        _redactor = Redactor((os.environ.get("REVIEW_PHONE_REGION") or "GB").upper())
    return _redactor.redact(UNSAFE_CHARACTERS.sub(" ", text[:limit]))


def record(conn: Connection, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Append one entry (committed with the caller's transaction), target and detail redacted."""
    conn.execute(
        sa.text("INSERT INTO review_audit (at, actor, action, target, detail) VALUES (:at, :actor, :action, :target, :detail)"),
        {"at": time.time(), "action": action, "target": _redact(target, MAX_TARGET_CHARS),
         # a failed login names whatever was typed in the name field
         "actor": _redact(actor, 100) if action in UNTRUSTED_ACTORS else actor[:100],
         "detail": _redact(detail, MAX_DETAIL_CHARS)},
    )


def entries(conn: Connection, limit: int = 100, before_id: Optional[int] = None) -> List[Dict]:
    """The newest entries first, paged by id."""
    rows = conn.execute(
        sa.text(
            "SELECT id, at, actor, action, target, detail FROM review_audit "
            "WHERE (:before IS NULL OR id < :before) ORDER BY id DESC LIMIT :limit"
        ).bindparams(sa.bindparam("before", type_=sa.BigInteger)),
        {"before": before_id, "limit": limit},
    )
    return [dict(row._mapping) for row in rows]
