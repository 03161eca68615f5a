"""Database access: the tracker store's engine (its URL: settings.tracker_url, as Rasa builds it)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

READ_ONLY_LONG = "READ_ONLY_LONG"


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite it takes the write lock first (BEGIN IMMEDIATE), waiting for
    it as long as the busy timeout allows: a transaction that read first and then writes fails at
    once (database is locked) when Rasa has written in between."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        yield conn


def long_reader(engine: Engine) -> Connection:
    """A connection for long read-only work: on SQLite no transaction spans the statements."""
    return engine.connect().execution_options(sqlite_begin=READ_ONLY_LONG)


def make_engine(url: URL) -> Engine:
    """An engine in SQLAlchemy 2.0 style; SQLite waits up to 30 s for Rasa's write lock."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, future=True, pool_pre_ping=True)
    engine = sa.create_engine(url, future=True, connect_args={"timeout": 30})

    # pysqlite opens transactions late (not before DDL or SELECT); take them over so that
    # migrations are atomic and a sync reads and writes in one transaction (SQLAlchemy's recipe).
    # execution_options(sqlite_begin="IMMEDIATE") takes the write lock at the start;
    # READ_ONLY_LONG runs each statement on its own, for long reads (exports) that must not hold
    # a read lock for minutes and so block Rasa's writes.
    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "")
        if mode != READ_ONLY_LONG:
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def is_sqlite(conn: Connection) -> bool:
    """True on SQLite, False on PostgreSQL."""
    return conn.dialect.name == "sqlite"


def events_table_exists(conn: Connection) -> bool:
    """Rasa creates `events` on its first start; before that there is nothing to review."""
    return sa.inspect(conn).has_table("events")


def in_chunks(items: list, size: int = 500):
    """Successive slices of `items`, to keep IN (...) lists bounded."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
