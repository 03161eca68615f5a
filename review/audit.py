"""The audit log: who viewed, revealed, exported, purged or changed what, and when."""
from __future__ import annotations

import time
from typing import Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def record(conn: Connection, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Append one entry (committed with the caller's transaction)."""
    conn.execute(
        sa.text("INSERT INTO review_audit (at, actor, action, target, detail) VALUES (:at, :actor, :action, :target, :detail)"),
        {"at": time.time(), "actor": actor, "action": action, "target": target, "detail": detail},
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
