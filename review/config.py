"""The review app's settings: the REVIEW_* and TRACKER_* values of settings.py (environment, then
`.env`, then its defaults), parsed."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple, Union

import settings

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


def load(values: Optional[Mapping[str, str]] = None) -> Config:
    """Parse the review settings of `values` (default: settings.load_env(), `.env` and the defaults)."""
    value = dict(settings.load_env() if values is None else values)
    try:
        return Config(
            tracker=value,
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
