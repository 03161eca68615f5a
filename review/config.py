"""The review app's settings, read like the assistant's: environment, then `.env`, then defaults."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import settings  # noqa: E402

REVIEW_DEFAULTS: Dict[str, str] = {
    "REVIEW_HOST": "127.0.0.1",
    "REVIEW_PORT": "8081",
    "REVIEW_SECRET_KEY": "",  # required by the web app; no default on purpose
    "REVIEW_SECURE_COOKIES": "0",  # 1 behind HTTPS: cookies get the Secure flag
    "REVIEW_RETENTION_DAYS": "",  # set: the web app purges older conversations daily
    "REVIEW_LOW_CONFIDENCE": "0.5",  # below this an NLU guess counts as misunderstood
    "REVIEW_PAGE_SIZE": "50",
    "REVIEW_PHONE_REGION": "GB",  # region for phone numbers written without a country code
    "REVIEW_SESSION_HOURS": "8",
    "REVIEW_LOGIN_MAX_FAILURES": "5",
    "REVIEW_LOGIN_LOCK_MINUTES": "15",
}


class ConfigError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Config:
    """Effective settings of the review app (tracker store settings come from settings.py)."""

    tracker: Dict[str, str]
    host: str
    port: int
    secret_key: str
    secure_cookies: bool
    retention_days: Optional[int]
    low_confidence: float
    page_size: int
    phone_region: str
    session_hours: float
    login_max_failures: int
    login_lock_minutes: float


def load() -> Config:
    """Load `.env` and the defaults (through settings.load_env) and parse the review settings."""
    tracker = settings.load_env()
    value = {name: os.environ.get(name, default) for name, default in REVIEW_DEFAULTS.items()}
    try:
        retention = int(value["REVIEW_RETENTION_DAYS"]) if value["REVIEW_RETENTION_DAYS"].strip() else None
        return Config(
            tracker=tracker,
            host=value["REVIEW_HOST"],
            port=int(value["REVIEW_PORT"]),
            secret_key=value["REVIEW_SECRET_KEY"],
            secure_cookies=value["REVIEW_SECURE_COOKIES"].strip().lower() in {"1", "true", "yes"},
            retention_days=retention,
            low_confidence=float(value["REVIEW_LOW_CONFIDENCE"]),
            page_size=int(value["REVIEW_PAGE_SIZE"]),
            phone_region=value["REVIEW_PHONE_REGION"].upper(),
            session_hours=float(value["REVIEW_SESSION_HOURS"]),
            login_max_failures=int(value["REVIEW_LOGIN_MAX_FAILURES"]),
            login_lock_minutes=float(value["REVIEW_LOGIN_LOCK_MINUTES"]),
        )
    except ValueError as error:
        raise ConfigError(f"A REVIEW_* setting is malformed: {error}") from error
