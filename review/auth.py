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


@dataclass(frozen=True)
class Attempt:
    """What the throttle decided about one password check."""

    allowed: bool
    delay: float = 0.0  # seconds to wait before checking the password
    failure_ids: tuple = ()  # the failures recorded in advance (deleted when the password is right)


class Throttle:
    """Wrong passwords, counted per account name and IP address together.

    - `max_failures` wrong passwords for one name from one address within `window` seconds
      lock that name from that address for the window; other addresses are not affected, so
      nobody can lock every account by guessing.
    - `ip_max_failures` wrong passwords from one address, whatever the names, lock the address.
    - each wrong password for a name (from any address) in the window delays the next check of a
      password for that name: 0.25 s, then doubling, at most MAX_DELAY seconds.

    An attempt is recorded as a failure before the password is hashed, in the same transaction
    as the check (SQLite's write lock, or an advisory lock on PostgreSQL), so that parallel
    requests cannot all pass the check; a right password deletes it again.
    """

    MAX_DELAY = 8.0
    LOCK_ID = 7_301_992_014  # pg_advisory_xact_lock key of the login throttle

    def __init__(self, max_failures: int, window: float, ip_max_failures: Optional[int] = None) -> None:
        self.max_failures = max_failures
        self.window = window
        self.ip_max_failures = ip_max_failures or 10 * max_failures

    @staticmethod
    def keys(name: str, ip: str) -> tuple:
        name = name.strip().lower()[:100]
        return f"pair:{name}|{ip}", f"ip:{ip}", f"user:{name}"

    def _count(self, conn: Connection, key: str, since: float) -> int:
        return conn.execute(sa.text("SELECT COUNT(*) FROM review_login_failures WHERE key = :k AND at > :s"),
                            {"k": key, "s": since}).scalar_one()

    def begin(self, conn: Connection, name: str, ip: str) -> Attempt:
        """Check and record an attempt (call inside a write transaction)."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.LOCK_ID})
        now = time.time()
        since = now - self.window
        pair, ip_key, user_key = self.keys(name, ip)
        if self._count(conn, pair, since) >= self.max_failures or self._count(conn, ip_key, since) >= self.ip_max_failures:
            return Attempt(False)
        earlier = self._count(conn, user_key, since)
        delay = min(0.25 * 2 ** (earlier - 1), self.MAX_DELAY) if earlier else 0.0
        conn.execute(sa.text("DELETE FROM review_login_failures WHERE at < :s"), {"s": since})
        ids = tuple(conn.execute(sa.text("INSERT INTO review_login_failures (key, at) VALUES (:k, :t) RETURNING id"),
                                 {"k": key, "t": now}).scalar_one() for key in (pair, ip_key, user_key))
        return Attempt(True, delay, ids)

    @staticmethod
    def cancel(conn: Connection, attempt: Attempt) -> None:
        """The password was not checked after all (the server was busy): the attempt does not count."""
        conn.execute(sa.text("DELETE FROM review_login_failures WHERE id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)), {"ids": list(attempt.failure_ids) or [-1]})

    def succeeded(self, conn: Connection, attempt: Attempt, name: str, ip: str) -> None:
        """The password was right: forget this attempt and the name's earlier failures from this address."""
        pair, _ip_key, user_key = self.keys(name, ip)
        conn.execute(sa.text("DELETE FROM review_login_failures WHERE id IN :ids OR key IN (:p, :u)").bindparams(
            sa.bindparam("ids", expanding=True)), {"ids": list(attempt.failure_ids) or [-1], "p": pair, "u": user_key})


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


@dataclass(frozen=True)
class Session:
    """The signed-in user of a request, and when they last gave their password."""

    user: User
    token: str
    reauth_at: float


def start_session(conn: Connection, user: User, hours: float) -> str:
    """A new random session token (stored hashed) for this user."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    conn.execute(sa.text("DELETE FROM review_sessions WHERE expires_at < :t"), {"t": now})
    conn.execute(
        sa.text("INSERT INTO review_sessions (token_hash, user_id, created_at, expires_at, last_seen_at, reauth_at) "
                "VALUES (:h, :u, :c, :e, :c, :c)"),
        {"h": _token_hash(token), "u": user.id, "c": now, "e": now + hours * 3600},
    )
    return token


TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute per session


def session_user(conn: Connection, token: str, idle_seconds: Optional[float] = None) -> tuple:
    """(the session of an active user, unexpired and not idle for longer than `idle_seconds`, or
    None; a write to make afterwards in a write transaction, or None). Only reads."""
    now = time.time()
    row = conn.execute(
        sa.text("SELECT u.id, u.name, u.role, s.last_seen_at, s.reauth_at FROM review_sessions s "
                "JOIN review_users u ON u.id = s.user_id "
                "WHERE s.token_hash = :h AND s.expires_at > :t AND u.active = 1"),
        {"h": _token_hash(token), "t": now},
    ).first()
    if row is None:
        return None, None
    last_seen = row.last_seen_at or 0.0
    if idle_seconds is not None and now - last_seen > idle_seconds:
        return None, lambda write: end_session(write, token)
    session = Session(User(row.id, row.name, row.role), token, row.reauth_at or 0.0)
    if now - last_seen > TOUCH_SECONDS:
        return session, lambda write: write.execute(
            sa.text("UPDATE review_sessions SET last_seen_at = :t WHERE token_hash = :h"),
            {"t": now, "h": _token_hash(token)})
    return session, None


def reauthenticated(conn: Connection, token: str) -> None:
    """The user of this session has just given their password again."""
    conn.execute(sa.text("UPDATE review_sessions SET reauth_at = :t WHERE token_hash = :h"),
                 {"t": time.time(), "h": _token_hash(token)})


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
        given = mac.encode("utf-8", "surrogatepass")
        return value if hmac.compare_digest(given, self._mac(value, purpose).encode()) else None

    def csrf_token(self, bound_to: str, purpose: str = "csrf") -> str:
        """The token forms must carry: bound to the session token once signed in (a new one at every
        login), before that to the visitor's signed pre-login cookie."""
        return self._mac(bound_to, purpose)

    def csrf_ok(self, bound_to: Optional[str], token: object, purpose: str = "csrf") -> bool:
        if not bound_to or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), self.csrf_token(bound_to, purpose).encode())
