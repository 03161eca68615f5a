"""Support for the review app's tests and benchmark: a throwaway PostgreSQL cluster, synthetic
events, accounts, and the app served in this process.

The events table here has the columns and index of Rasa's `SQLTrackerStore.SQLEvent`; the event
data has the shape Rasa stores (user events with parse_data, bot events with buttons, actions).
"""
from __future__ import annotations

import asyncio
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import URL, Connection

import settings
from launcher import free_port
from review import app as review_app
from review import auth, config, db, migrations


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_pg_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin that has initdb (PG_BIN overrides)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresMissing(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "apt-get install -y postgresql, or set PG_BIN"
        )
    return Path(found[-1]).parent


class PostgresCluster:
    """initdb + pg_ctl in a temp dir on a free loopback port; as user `postgres` when run as root."""

    def __init__(self, database: str = "tracker") -> None:
        self.bin = find_pg_bin()
        self.database = database
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="review-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run(prefix + list(command), check=True, capture_output=True, cwd=self.dir)

    def start(self) -> "PostgresCluster":
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "review", "-A", "trust", "--no-sync", "-E", "UTF8")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "start", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "review", self.database)
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def settings(self) -> Dict[str, str]:
        """TRACKER_* settings that point Rasa and the review app at this cluster."""
        return {"TRACKER_DIALECT": "postgresql", "TRACKER_HOST": f"127.0.0.1:{self.port}",
                "TRACKER_DB": self.database, "TRACKER_USER": "review", "TRACKER_PASSWORD": ""}

    def url(self) -> URL:
        return URL.create("postgresql", username="review", host="127.0.0.1", port=self.port, database=self.database)


def create_events_table(conn: Connection) -> None:
    """Rasa's `events` table (SQLTrackerStore.SQLEvent), if it is not there yet."""
    pk = "INTEGER PRIMARY KEY" if conn.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    conn.execute(sa.text(
        f"CREATE TABLE IF NOT EXISTS events (id {pk}, sender_id VARCHAR(255) NOT NULL, "
        "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
    ))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id)"))


def user_event(sender: str, at: float, text: str, intent: str, confidence: float,
               entities: Optional[List[Dict[str, Any]]] = None, channel: str = "rest") -> Dict[str, Any]:
    """A row for `events`: a user message as Rasa stores it."""
    data = {"event": "user", "timestamp": at, "text": text, "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": entities or [],
                           "text": text}}
    return {"sender_id": sender, "type_name": "user", "timestamp": at, "intent_name": intent,
            "action_name": None, "data": json.dumps(data)}


def bot_event(sender: str, at: float, text: str, buttons: Optional[List[Dict[str, str]]] = None) -> Dict[str, Any]:
    """A row for `events`: an answer of the bot."""
    data = {"event": "bot", "timestamp": at, "text": text, "data": {"buttons": buttons}}
    return {"sender_id": sender, "type_name": "bot", "timestamp": at, "intent_name": None,
            "action_name": None, "data": json.dumps(data)}


def slot_event(sender: str, at: float, name: str, value: Any) -> Dict[str, Any]:
    """A row for `events`: a slot an action set."""
    data = {"event": "slot", "timestamp": at, "name": name, "value": value}
    return {"sender_id": sender, "type_name": "slot", "timestamp": at, "intent_name": None,
            "action_name": None, "data": json.dumps(data)}


def action_event(sender: str, at: float, name: str) -> Dict[str, Any]:
    """A row for `events`: an action that ran."""
    data = {"event": "action", "timestamp": at, "name": name}
    return {"sender_id": sender, "type_name": "action", "timestamp": at, "intent_name": None,
            "action_name": name, "data": json.dumps(data)}


def insert_events(conn: Connection, rows: List[Dict[str, Any]]) -> None:
    """Append rows (from the builders above) to `events`, in order."""
    if rows:
        conn.execute(sa.text(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
            "VALUES (:sender_id, :type_name, :timestamp, :intent_name, :action_name, :data)"), rows)


def create_user(env: Mapping[str, str], name: str, role: str, password: str) -> None:
    """An account in the review tables of the tracker store that `env` names."""
    engine = db.make_engine(settings.tracker_url(env))
    try:
        migrations.migrate(engine)
        with db.writing(engine) as conn:
            auth.create_user(conn, name, role, password)
    finally:
        engine.dispose()


class InProcessApp:
    """The review app for the settings `env`, in this process: aiohttp's test server on a free
    loopback port, on an event loop in a thread of its own, so that any HTTP client (requests, a
    browser) can talk to it. A context manager; `url` is its address."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.config = config.load(settings.resolve(env))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: Optional[TestServer] = None
        self.url = ""

    def _call(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> "InProcessApp":
        self.thread.start()

        async def serve() -> TestServer:
            server = TestServer(review_app.create_app(self.config), host="127.0.0.1")
            await server.start_server()
            return server

        self.server = self._call(serve())
        self.url = str(self.server.make_url("")).rstrip("/")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.server is not None:
            self._call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
