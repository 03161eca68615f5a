"""The review app's settings, read like the assistant's: environment, then `.env`, then defaults."""
from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import settings  # noqa: E402

REVIEW_DEFAULTS: Dict[str, str] = {
    "REVIEW_HOST": "127.0.0.1",
    "REVIEW_PORT": "8081",
    "REVIEW_SECRET_KEY": "",  # required by the web pages (make run writes one into .env); no default
    "REVIEW_SECURE_COOKIES": "auto",  # auto: Secure __Host- cookies except over plain HTTP on loopback; 1: always
    "REVIEW_TRUSTED_PROXIES": "",  # addresses of reverse proxies whose X-Forwarded-For / -Proto count
    "REVIEW_RETENTION_DAYS": "",  # set: older conversations are purged daily
    "REVIEW_AUDIT_RETENTION_DAYS": "365",  # audit-log entries older than this are deleted daily
    "REVIEW_SYNC_SECONDS": "5",  # how often new conversations are read from the tracker store
    "REVIEW_LOW_CONFIDENCE": "0.5",  # below this an NLU guess counts as misunderstood
    "REVIEW_PAGE_SIZE": "50",
    "REVIEW_PHONE_REGION": "GB",  # region for phone numbers written without a country code
    "REVIEW_SESSION_HOURS": "8",
    "REVIEW_IDLE_MINUTES": "30",  # a session unused this long ends
    "REVIEW_REAUTH_MINUTES": "5",  # export, purge, reveal and account changes need the password this recently
    "REVIEW_LOGIN_MAX_FAILURES": "5",
    "REVIEW_LOGIN_LOCK_MINUTES": "15",
}
MIN_SECRET_KEY_CHARS = 16

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class ConfigError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Config:
    """Effective settings of the review app (tracker store settings come from settings.py)."""

    tracker: Dict[str, str]
    host: str
    port: int
    secret_key: str
    always_secure_cookies: bool
    trusted_proxies: Tuple[Network, ...]
    retention_days: Optional[int]
    audit_retention_days: Optional[int]
    sync_seconds: float
    low_confidence: float
    page_size: int
    phone_region: str
    session_hours: float
    idle_minutes: float
    reauth_minutes: float
    login_max_failures: int
    login_lock_minutes: float

    def secret_key_problem(self) -> Optional[str]:
        """Why the web pages cannot start with this key, or None."""
        if not self.secret_key:
            return "REVIEW_SECRET_KEY is not set"
        if len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            return f"REVIEW_SECRET_KEY is shorter than {MIN_SECRET_KEY_CHARS} characters"
        return None


def _days(value: str, name: str) -> Optional[int]:
    if not value.strip():
        return None
    days = int(value)
    if days < 1:
        raise ConfigError(f"{name} must be at least 1 day (or empty for none)")
    return days


def _networks(value: str) -> Tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())
    except ValueError as error:
        raise ConfigError(f"REVIEW_TRUSTED_PROXIES: {error}") from error


def load() -> Config:
    """Load `.env` and the defaults (through settings.load_env) and parse the review settings."""
    tracker = settings.load_env()
    value = {name: os.environ.get(name, default) for name, default in REVIEW_DEFAULTS.items()}
    try:
        return Config(
            tracker=tracker,
            host=value["REVIEW_HOST"],
            port=int(value["REVIEW_PORT"]),
            secret_key=value["REVIEW_SECRET_KEY"].strip(),
            always_secure_cookies=value["REVIEW_SECURE_COOKIES"].strip().lower() in {"1", "true", "yes"},
            trusted_proxies=_networks(value["REVIEW_TRUSTED_PROXIES"]),
            retention_days=_days(value["REVIEW_RETENTION_DAYS"], "REVIEW_RETENTION_DAYS"),
            audit_retention_days=_days(value["REVIEW_AUDIT_RETENTION_DAYS"], "REVIEW_AUDIT_RETENTION_DAYS"),
            sync_seconds=max(0.5, float(value["REVIEW_SYNC_SECONDS"])),
            low_confidence=float(value["REVIEW_LOW_CONFIDENCE"]),
            page_size=int(value["REVIEW_PAGE_SIZE"]),
            phone_region=value["REVIEW_PHONE_REGION"].upper(),
            session_hours=float(value["REVIEW_SESSION_HOURS"]),
            idle_minutes=float(value["REVIEW_IDLE_MINUTES"]),
            reauth_minutes=float(value["REVIEW_REAUTH_MINUTES"]),
            login_max_failures=int(value["REVIEW_LOGIN_MAX_FAILURES"]),
            login_lock_minutes=float(value["REVIEW_LOGIN_LOCK_MINUTES"]),
        )
    except ValueError as error:
        raise ConfigError(f"A REVIEW_* setting is malformed: {error}") from error
