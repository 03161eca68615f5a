"""The review app's own schema (tables prefixed review_), applied by a small versioned runner.

`review_schema_version` records each applied migration. Migrations are functions of a connection,
applied in order inside one transaction each; a migration never changes once released: add one.
"""
from __future__ import annotations

import time
from typing import Callable, List, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from review.db import is_sqlite


def _pk(conn: Connection) -> str:
    return "INTEGER PRIMARY KEY AUTOINCREMENT" if is_sqlite(conn) else "BIGSERIAL PRIMARY KEY"


def _run(conn: Connection, statements: List[str]) -> None:
    for statement in statements:
        conn.execute(sa.text(statement))


def _initial(conn: Connection) -> None:
    """Accounts, sessions, throttling, sync state, the conversation summary and review data."""
    pk = _pk(conn)
    _run(conn, [
        f"""CREATE TABLE review_users (id {pk}, name VARCHAR(100) NOT NULL UNIQUE,
            role VARCHAR(20) NOT NULL, password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
            created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE review_sessions (token_hash VARCHAR(64) PRIMARY KEY, user_id INTEGER NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)""",
        f"""CREATE TABLE review_login_failures (id {pk}, key VARCHAR(300) NOT NULL,
            at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX ix_review_login_failures ON review_login_failures (key, at)",
        """CREATE TABLE review_sync_state (name VARCHAR(50) PRIMARY KEY, last_event_id BIGINT NOT NULL)""",
        "INSERT INTO review_sync_state (name, last_event_id) VALUES ('events', 0)",
        """CREATE TABLE review_conversations (sender_id VARCHAR(255) PRIMARY KEY,
            first_time DOUBLE PRECISION NOT NULL, last_time DOUBLE PRECISION NOT NULL,
            channel VARCHAR(100), message_count INTEGER NOT NULL DEFAULT 0,
            event_count INTEGER NOT NULL DEFAULT 0, min_confidence DOUBLE PRECISION,
            fell_back INTEGER NOT NULL DEFAULT 0, red_flag INTEGER NOT NULL DEFAULT 0,
            red_flags TEXT NOT NULL DEFAULT '', intents TEXT NOT NULL DEFAULT '',
            reviewed INTEGER NOT NULL DEFAULT 0, reviewed_by VARCHAR(100), reviewed_at DOUBLE PRECISION)""",
        "CREATE INDEX ix_review_conv_recent ON review_conversations (last_time, sender_id)",
        "CREATE INDEX ix_review_conv_red_flag ON review_conversations (red_flag, last_time, sender_id)",
        "CREATE INDEX ix_review_conv_channel ON review_conversations (channel)",
        """CREATE TABLE review_conversation_intents (sender_id VARCHAR(255) NOT NULL,
            intent VARCHAR(255) NOT NULL, PRIMARY KEY (sender_id, intent))""",
        "CREATE INDEX ix_review_conv_intent ON review_conversation_intents (intent, sender_id)",
        """CREATE TABLE review_tags (sender_id VARCHAR(255) NOT NULL, tag VARCHAR(100) NOT NULL,
            created_by VARCHAR(100) NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (sender_id, tag))""",
        "CREATE INDEX ix_review_tags_tag ON review_tags (tag, sender_id)",
        f"""CREATE TABLE review_notes (id {pk}, sender_id VARCHAR(255) NOT NULL, author VARCHAR(100) NOT NULL,
            body TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX ix_review_notes_sender ON review_notes (sender_id)",
        """CREATE TABLE review_intent_labels (event_id BIGINT PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
            intent VARCHAR(255) NOT NULL, labeled_by VARCHAR(100) NOT NULL,
            labeled_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX ix_review_labels_sender ON review_intent_labels (sender_id)",
        f"""CREATE TABLE review_audit (id {pk}, at DOUBLE PRECISION NOT NULL, actor VARCHAR(100) NOT NULL,
            action VARCHAR(50) NOT NULL, target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '')""",
    ])


def _search_index(conn: Connection) -> None:
    """Full-text search over (redacted) user messages: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

    SQLite builds without FTS5 get a plain table searched with LIKE (fine for small data only).
    The FTS5 rowid is the tracker event id.
    """
    if is_sqlite(conn):
        if has_fts5(conn):
            conn.execute(sa.text(
                "CREATE VIRTUAL TABLE review_messages_fts USING fts5(body, sender_id UNINDEXED, "
                "tokenize='unicode61 remove_diacritics 2')"
            ))
        else:
            _run(conn, [
                """CREATE TABLE review_messages (event_id BIGINT PRIMARY KEY,
                    sender_id VARCHAR(255) NOT NULL, body TEXT NOT NULL)""",
                "CREATE INDEX ix_review_messages_sender ON review_messages (sender_id)",
            ])
        return
    _run(conn, [
        """CREATE TABLE review_messages (event_id BIGINT PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
            body TEXT NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED)""",
        "CREATE INDEX ix_review_messages_sender ON review_messages (sender_id)",
        "CREATE INDEX ix_review_messages_tsv ON review_messages USING GIN (tsv)",
    ])


def _channel_order_index(conn: Connection) -> None:
    """Channel filter in list order: the single-column index made SQLite sort every match."""
    _run(conn, [
        "DROP INDEX ix_review_conv_channel",
        "CREATE INDEX ix_review_conv_channel_recent ON review_conversations (channel, last_time, sender_id)",
    ])


def _hardening(conn: Connection) -> None:
    """Events set aside by the sync, the purge counter the sync checks, session activity."""
    _run(conn, [
        """CREATE TABLE review_sync_errors (event_id BIGINT PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
            reason TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
        "INSERT INTO review_sync_state (name, last_event_id) VALUES ('purges', 0)",
        "ALTER TABLE review_sessions ADD COLUMN last_seen_at DOUBLE PRECISION",
        "ALTER TABLE review_sessions ADD COLUMN reauth_at DOUBLE PRECISION",
        "UPDATE review_sessions SET last_seen_at = created_at, reauth_at = created_at",
        "CREATE INDEX ix_review_audit_at ON review_audit (at)",
    ])


def has_fts5(conn: Connection) -> bool:
    """Whether this SQLite library was built with FTS5."""
    options = {row[0] for row in conn.execute(sa.text("PRAGMA compile_options"))}
    return "ENABLE_FTS5" in options


MIGRATIONS: List[Tuple[int, str, Callable[[Connection], None]]] = [
    (1, "accounts, sessions, summary, tags, notes, labels, audit", _initial),
    (2, "full-text search over user messages", _search_index),
    (3, "channel index in list order", _channel_order_index),
    (4, "sync errors, purge counter, session activity", _hardening),
]


def current_version(conn: Connection) -> int:
    """The highest applied migration, 0 for a database the review app has never touched."""
    if not sa.inspect(conn).has_table("review_schema_version"):
        return 0
    return conn.execute(sa.text("SELECT COALESCE(MAX(version), 0) FROM review_schema_version")).scalar_one()


def migrate(engine: Engine) -> List[int]:
    """Apply every pending migration, each in its own transaction; return the versions applied."""
    with engine.begin() as conn:
        if not sa.inspect(conn).has_table("review_schema_version"):
            conn.execute(sa.text(
                "CREATE TABLE review_schema_version (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            ))
    applied = []
    for version, description, apply in MIGRATIONS:
        with engine.begin() as conn:
            if current_version(conn) >= version:
                continue
            apply(conn)
            conn.execute(
                sa.text("INSERT INTO review_schema_version (version, description, applied_at) VALUES (:v, :d, :t)"),
                {"v": version, "d": description, "t": time.time()},
            )
            applied.append(version)
    return applied


def search_backend(conn: Connection) -> str:
    """Which search structure migration 2 created: 'fts5', 'tsvector' or 'like'."""
    if not is_sqlite(conn):
        return "tsvector"
    return "fts5" if sa.inspect(conn).has_table("review_messages_fts") else "like"
