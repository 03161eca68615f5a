"""Accounts, password hashing (scrypt), signed session cookies, CSRF tokens and login throttling."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

ROLES = ("reviewer", "admin")
MIN_PASSWORD_LENGTH = 10
# OWASP's minimum for scrypt: N=2^17, r=8, p=1 (128 MiB per hash).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 17, 8, 1


class AuthError(Exception):
    """An account cannot be created or changed as asked."""


@dataclass(frozen=True)
class User:
    """A logged-in account."""

    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(_scrypt(password, _unb64(salt), int(n), int(r), int(p)), _unb64(digest))


# Checked for unknown names too, so that the answer time does not reveal which names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def create_user(conn: Connection, name: str, role: str, password: str) -> int:
    """Add an account; names are unique, roles are reviewer or admin."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AuthError("The name must have 1 to 100 characters.")
    if role not in ROLES:
        raise AuthError(f"The role must be one of: {', '.join(ROLES)}.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if conn.execute(sa.text("SELECT 1 FROM review_users WHERE name = :n"), {"n": name}).first():
        raise AuthError(f"An account named {name!r} exists already.")
    return conn.execute(
        sa.text("INSERT INTO review_users (name, role, password_hash, active, created_at) "
                "VALUES (:n, :r, :h, 1, :t) RETURNING id"),
        {"n": name, "r": role, "h": hash_password(password), "t": time.time()},
    ).scalar_one()


def update_user(conn: Connection, user_id: int, role: Optional[str] = None, active: Optional[bool] = None) -> None:
    """Change an account's role or switch it off (its sessions end at once)."""
    if role is not None:
        if role not in ROLES:
            raise AuthError(f"The role must be one of: {', '.join(ROLES)}.")
        conn.execute(sa.text("UPDATE review_users SET role = :r WHERE id = :i"), {"r": role, "i": user_id})
    if active is not None:
        conn.execute(sa.text("UPDATE review_users SET active = :a WHERE id = :i"), {"a": int(active), "i": user_id})
        if not active:
            conn.execute(sa.text("DELETE FROM review_sessions WHERE user_id = :i"), {"i": user_id})


def list_users(conn: Connection) -> list:
    """Every account, by name."""
    rows = conn.execute(sa.text("SELECT id, name, role, active, created_at FROM review_users ORDER BY name"))
    return [dict(row._mapping) for row in rows]


class Throttle:
    """At most `max_failures` wrong passwords per user name and per IP address in `window` seconds."""

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window

    def blocked(self, conn: Connection, *keys: str) -> bool:
        since = time.time() - self.window
        for key in keys:
            count = conn.execute(
                sa.text("SELECT COUNT(*) FROM review_login_failures WHERE key = :k AND at > :s"), {"k": key, "s": since}
            ).scalar_one()
            if count >= self.max_failures:
                return True
        return False

    def fail(self, conn: Connection, *keys: str) -> None:
        now = time.time()
        conn.execute(sa.text("DELETE FROM review_login_failures WHERE at < :s"), {"s": now - self.window})
        for key in keys:
            conn.execute(sa.text("INSERT INTO review_login_failures (key, at) VALUES (:k, :t)"), {"k": key, "t": now})

    @staticmethod
    def clear(conn: Connection, key: str) -> None:
        conn.execute(sa.text("DELETE FROM review_login_failures WHERE key = :k"), {"k": key})


def authenticate(conn: Connection, name: str, password: str) -> Optional[User]:
    """The active account with this name and password, else None (same work either way)."""
    row = conn.execute(
        sa.text("SELECT id, name, role, password_hash FROM review_users WHERE name = :n AND active = 1"),
        {"n": name},
    ).first()
    if row is None:
        verify_password(password, _DUMMY_HASH)
        return None
    return User(row.id, row.name, row.role) if verify_password(password, row.password_hash) else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: Connection, user: User, hours: float) -> str:
    """A new random session token (stored hashed) for this user."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    conn.execute(sa.text("DELETE FROM review_sessions WHERE expires_at < :t"), {"t": now})
    conn.execute(
        sa.text("INSERT INTO review_sessions (token_hash, user_id, created_at, expires_at) VALUES (:h, :u, :c, :e)"),
        {"h": _token_hash(token), "u": user.id, "c": now, "e": now + hours * 3600},
    )
    return token


def session_user(conn: Connection, token: str) -> Optional[User]:
    """The active user of an unexpired session, else None."""
    row = conn.execute(
        sa.text("SELECT u.id, u.name, u.role FROM review_sessions s JOIN review_users u ON u.id = s.user_id "
                "WHERE s.token_hash = :h AND s.expires_at > :t AND u.active = 1"),
        {"h": _token_hash(token), "t": time.time()},
    ).first()
    return User(row.id, row.name, row.role) if row else None


def end_session(conn: Connection, token: str) -> None:
    conn.execute(sa.text("DELETE FROM review_sessions WHERE token_hash = :h"), {"h": _token_hash(token)})


class Signer:
    """HMAC-SHA256 signatures with REVIEW_SECRET_KEY, for cookies and CSRF tokens."""

    def __init__(self, secret: str) -> None:
        self.key = hashlib.sha256(b"review-app:" + secret.encode()).digest()

    def _mac(self, value: str, purpose: str) -> str:
        return _b64(hmac.new(self.key, f"{purpose}|{value}".encode(), hashlib.sha256).digest())

    def sign(self, value: str, purpose: str = "cookie") -> str:
        return f"{value}.{self._mac(value, purpose)}"

    def unsign(self, signed: Optional[str], purpose: str = "cookie") -> Optional[str]:
        """The value if the signature is right, else None."""
        if not signed or "." not in signed:
            return None
        value, _, mac = signed.rpartition(".")
        return value if hmac.compare_digest(mac, self._mac(value, purpose)) else None

    def csrf_token(self, csrf_cookie_value: str) -> str:
        """The token forms must carry: bound to the visitor's signed CSRF cookie."""
        return self._mac(csrf_cookie_value, "csrf")

    def csrf_ok(self, csrf_cookie_value: Optional[str], token: Optional[str]) -> bool:
        return bool(csrf_cookie_value and token) and hmac.compare_digest(token, self.csrf_token(csrf_cookie_value))
