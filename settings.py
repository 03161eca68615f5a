"""Deployment settings: the environment, a `.env` file, then these defaults (python-dotenv).

The one source of every default and of the values derived from them (the action server's URL,
the Rasa URL for the browser, the tracker store's database URL). `.env.example` documents every
variable. Nothing secret has a default.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Mapping, Optional

from dotenv import load_dotenv

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent

DEFAULTS: Dict[str, str] = {
    # Rasa server
    "RASA_HOST": "127.0.0.1",
    "RASA_PORT": "5005",
    "RASA_API_TOKEN": "",  # set it to enable Rasa's HTTP API (token required); empty: API off
    "RASA_REST_TOKEN": "",  # set it to enable the REST channel for your servers (token required); empty: off
    "RASA_SESSION_KEY": "",  # signs the widget's socket.io session ids (make run writes one into .env)
    "RASA_MAX_REQUEST_BYTES": "1048576",  # larger request bodies get 413 from the Rasa server
    "RASA_CORS_ORIGINS": "*",
    "RASA_MODEL_DIR": "models",
    "RASA_LOG_DIR": "logs",
    "RASA_ENDPOINTS": "endpoints.yml",  # tracker store, lock store, action server (deploy/: scale-out)
    # the web page with the chat widget (web/serve.py)
    "WEB_HOST": "127.0.0.1",
    "WEB_PORT": "8080",
    "RASA_PUBLIC_URL": "",  # the Rasa server as the browser reaches it; empty: http://localhost:RASA_PORT
    # the conversation review app for staff (python -m review.app; review/config.py has the rest)
    "REVIEW_HOST": "127.0.0.1",
    "REVIEW_PORT": "8081",
    "REVIEW_SECRET_KEY": "",  # make run writes one into .env
    "REVIEW_SECURE_COOKIES": "auto",
    "REVIEW_TRUSTED_PROXIES": "",
    "REVIEW_RETENTION_DAYS": "",
    "REVIEW_AUDIT_RETENTION_DAYS": "365",
    "REVIEW_SYNC_SECONDS": "5",
    "REVIEW_LOW_CONFIDENCE": "0.5",
    "REVIEW_PAGE_SIZE": "50",
    "REVIEW_PHONE_REGION": "GB",
    "REVIEW_SESSION_HOURS": "8",
    "REVIEW_IDLE_MINUTES": "30",
    "REVIEW_REAUTH_MINUTES": "5",
    "REVIEW_LOGIN_MAX_FAILURES": "5",
    "REVIEW_LOGIN_LOCK_MINUTES": "15",
    # action server
    "ACTION_HOST": "127.0.0.1",
    "ACTION_PORT": "5055",
    # tracker store (Rasa's SQLTrackerStore: SQLite file by default, PostgreSQL by configuration)
    "TRACKER_DIALECT": "sqlite",
    "TRACKER_DB": "tracker.db",
    "TRACKER_HOST": "",  # host or host:port of the database server; empty for SQLite
    "TRACKER_USER": "",
    "TRACKER_PASSWORD": "",
    # longer messages are cut to this many characters for understanding (the tracker keeps all)
    "MAX_MESSAGE_CHARS": "2000",
    # Telegram: live only when token, bot name, webhook URL and secret token are all set
    "TELEGRAM_TOKEN": "",
    "TELEGRAM_BOT_NAME": "",
    "TELEGRAM_WEBHOOK_URL": "",
    "TELEGRAM_SECRET_TOKEN": "",
    "TELEGRAM_API_URL": "https://api.telegram.org",
    # Slack: live only when the bot token and the signing secret are set
    "SLACK_BOT_TOKEN": "",
    "SLACK_SIGNING_SECRET": "",
    "SLACK_API_URL": "https://slack.com/api/",
    # where the Slack and Telegram channels remember requests already seen: memory, or redis
    # (REDIS_*; the scale-out set-up, so that a replay to another Rasa server is refused too)
    "CHANNEL_REPLAY_STORE": "memory",
    # lock store for several Rasa servers (deploy/endpoints.scale.yml; the default is in memory)
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_DB": "0",
    # safety answers: localise for the deployment's country
    "EMERGENCY_NUMBER": "112",
    "CRISIS_LINE": "a crisis line (for example 988 in the US, or Samaritans on 116 123 in the UK and Ireland)",
}


# Values made from the settings above, never set on their own; exported with them, because
# endpoints.yml reads them as ${VAR}.
DERIVED = ("ACTION_SERVER_URL",)
# Addresses a server listens on that a client cannot connect to as they are.
WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def connect_host(host: str) -> str:
    """The host part of a URL that reaches a server listening on `host`."""
    host = WILDCARD_HOSTS.get(host.strip(), host.strip())
    return f"[{host}]" if ":" in host else host


def action_server_url(values: Mapping[str, str]) -> str:
    """How Rasa reaches the action server: its host and port."""
    return f"http://{connect_host(values['ACTION_HOST'])}:{values['ACTION_PORT']}/webhook"


def rasa_public_url(values: Mapping[str, str]) -> str:
    """The Rasa server as the visitor's browser reaches it (served to the web page)."""
    return (values.get("RASA_PUBLIC_URL") or "").strip().rstrip("/") or f"http://localhost:{values['RASA_PORT']}"


def resolve(environ: Optional[Mapping[str, str]] = None, **overrides: str) -> Dict[str, str]:
    """The effective settings of `environ` (default: this process's environment) with `overrides`:
    every setting, its default when unset, and the derived values. Changes nothing."""
    source = {**(os.environ if environ is None else environ), **overrides}
    values = {name: source.get(name, default) for name, default in DEFAULTS.items()}
    values["ACTION_SERVER_URL"] = action_server_url(values)
    return values


def tracker_url(values: Mapping[str, str]) -> "URL":
    """The SQLAlchemy URL of the tracker store for these settings, built by Rasa's own
    `SQLTrackerStore.get_db_url` from the values endpoints.yml passes it.

    A relative SQLite path is relative to the project root, where the launcher starts Rasa.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.util import deprecations

    # SQLAlchemy 2.0 deprecations in Rasa 3.6's code: silenced, as the Makefile does for Rasa
    deprecations.SILENCE_UBER_WARNING = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rasa.core.tracker_store import SQLTrackerStore

    dialect = values.get("TRACKER_DIALECT") or DEFAULTS["TRACKER_DIALECT"]
    database = values.get("TRACKER_DB") or DEFAULTS["TRACKER_DB"]
    if dialect == "sqlite" and not Path(database).is_absolute():
        database = str(ROOT / database)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        url = SQLTrackerStore.get_db_url(
            dialect,
            host=values.get("TRACKER_HOST") or None,
            db=database,
            username=values.get("TRACKER_USER") or None,
            password=values.get("TRACKER_PASSWORD") or None,
        )
    return make_url(url)


def load_env(env_file: Optional[Path] = None) -> Dict[str, str]:
    """Load `.env` (never overriding the real environment) and fill in the defaults.

    Returns the effective settings and exports them, so that `${VAR}` in endpoints.yml and
    credentials.yml always resolves for the Rasa processes started from here.
    """
    load_dotenv(env_file or ROOT / ".env", override=False)
    values = resolve()
    os.environ.update(values)
    # Rasa's telemetry and error reports would call out to the web at run time
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    return values


def get(name: str) -> str:
    """One setting: the environment (with `.env` loaded at import), else its default."""
    return os.environ.get(name, DEFAULTS.get(name, ""))


load_dotenv(ROOT / ".env", override=False)
