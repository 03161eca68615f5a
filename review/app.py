"""The review web app: server-rendered pages on REVIEW_HOST:REVIEW_PORT (`python -m review.app`).

aiohttp + Jinja2 (autoescape on), no JavaScript. Every page needs a session; every POST needs the
CSRF token, which is bound to the session (a new one at each login) and before login to a signed
pre-login cookie. Admins alone export, purge, reveal and manage accounts, and only with their
password given within the last REVIEW_REAUTH_MINUTES. A session unused for REVIEW_IDLE_MINUTES
ends. Cookies are `__Host-` and Secure, except over plain HTTP on loopback (development).

Database work, redaction and page rendering run in worker threads, never on the event loop. A
background task reads new conversations every REVIEW_SYNC_SECONDS and runs retention daily,
whether or not anyone opens a page. Without a usable REVIEW_SECRET_KEY the pages stay off but
that task still runs.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, Union
from urllib.parse import urlencode

import jinja2
from aiohttp import http_exceptions, web
from markupsafe import Markup
from sqlalchemy.engine import Engine

from settings import tracker_url
from review import audit, auth, config, db, exports, migrations, queries, retention, sync
from review.redact import Redactor

HERE = Path(__file__).resolve().parent
SESSION_NAME, CSRF_NAME = "review_session", "review_csrf"
SECURE_PREFIX = "__Host-"  # Secure, Path=/, no Domain: a sibling host cannot set or read it
PUBLIC_PATHS = ("/login", "/static/")
PURGE_INTERVAL = 24 * 3600
MAX_BODY_BYTES = 64 * 1024  # the largest form (a note) is 5,000 characters
LOGIN_HASHES_AT_ONCE = 2  # scrypt takes 128 MiB per hash
LOGIN_QUEUE = 16  # more password checks waiting than this: 503
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
log = logging.getLogger("review")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", config.Config)
ENGINE = web.AppKey("engine", Engine)
REDACTOR = web.AppKey("redactor", Redactor)
SIGNER = web.AppKey("signer", auth.Signer)
THROTTLE = web.AppKey("throttle", auth.Throttle)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


class Logins:
    """Password checks: recorded by the throttle one at a time, at most LOGIN_HASHES_AT_ONCE hashing."""

    def __init__(self) -> None:
        self.record = asyncio.Lock()
        self.hashing = asyncio.Semaphore(LOGIN_HASHES_AT_ONCE)
        self.waiting = 0


LOGINS = web.AppKey("logins", Logins)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["iso"] = exports.iso
    env.filters["cut_note"] = sync.cut_note
    env.globals["urlencode"] = urlencode
    env.globals["safety_labels"] = safety_labels
    return env


def safety_labels(labels: Optional[str]) -> Markup:
    """A conversation's safety labels (review_conversations.red_flags) as badges: a confirmed or a
    suspected red flag is highlighted, a caution and the answer to the safety check are shown."""
    badges = []
    for label in filter(None, (labels or "").split(",")):
        tier, _, what = label.partition(":")
        kind = tier.replace(" ", "-")
        prefix = "RED FLAG" if tier == "confirmed" else tier
        badges.append(Markup('<strong class="safety {}">{}: {}</strong>').format(kind, prefix, what))
    return Markup(" ").join(badges)


def page(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """Render a page (call from a worker thread: redaction runs in the template)."""
    session = request.get("session")
    html = request.app[TEMPLATES].get_template(name).render(
        user=session.user if session else None, csrf_token=request.get("csrf_token", ""),
        redact=request.app[REDACTOR].redact, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


async def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    return await asyncio.to_thread(page, request, name, status, **context)


async def error(request: web.Request, status: int, message: str, title: str = "") -> web.Response:
    return await render(request, "error.html", status=status, message=message, title=title)


# ------------------------------------------------------------------ who is asking, over what

def _address(text: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _from_trusted_proxy(request: web.Request) -> bool:
    peer = _address(request.remote or "")
    return peer is not None and any(peer in network for network in request.app[CONFIG].trusted_proxies)


def client_ip(request: web.Request) -> str:
    """The peer's address; behind a configured proxy, the first address X-Forwarded-For names
    from the right that is not itself a trusted proxy. A client's own X-Forwarded-For counts for
    nothing."""
    peer = request.remote or "unknown"
    if not _from_trusted_proxy(request):
        return peer
    trusted = request.app[CONFIG].trusted_proxies
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        address = _address(hop)
        if address is None:
            break
        if not any(address in network for network in trusted):
            return str(address)
    return peer


def is_https(request: web.Request) -> bool:
    if request.secure:
        return True
    return _from_trusted_proxy(request) and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def plain_loopback(request: web.Request) -> bool:
    """Plain HTTP straight from this machine, with nothing that looks like a proxy in between."""
    peer = _address(request.remote or "")
    forwarded = any(h in request.headers for h in ("X-Forwarded-For", "X-Forwarded-Proto", "Forwarded"))
    return peer is not None and peer.is_loopback and not is_https(request) and not forwarded


def secure_cookies(request: web.Request) -> bool:
    return request.app[CONFIG].always_secure_cookies or not plain_loopback(request)


def cookie_name(request: web.Request, name: str) -> str:
    return SECURE_PREFIX + name if secure_cookies(request) else name


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: Optional[int]) -> None:
    response.set_cookie(cookie_name(request, name), value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=secure_cookies(request))


def delete_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    response.del_cookie(cookie_name(request, name), path="/")


# ------------------------------------------------------------------ the middleware

def _load_session(request: web.Request) -> Optional[auth.Session]:
    token = request.app[SIGNER].unsign(request.cookies.get(cookie_name(request, SESSION_NAME)))
    if not token:
        return None
    with request.app[ENGINE].connect() as conn:  # a read; the rare write after it, in its own transaction
        session, change = auth.session_user(conn, token, request.app[CONFIG].idle_minutes * 60)
    if change:
        with db.writing(request.app[ENGINE]) as conn:
            change(conn)
    return session


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, CSRF, a 4xx for every malformed request, and the security headers on every answer."""
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exception:
        if exception.status >= 400:
            message = {413: f"The request is too large (at most {MAX_BODY_BYTES // 1024} KiB).",
                       404: "No such page.", 405: "That is not allowed here."}.get(exception.status, exception.reason)
            response = await _safe_error(request, exception.status, message)
        else:
            response = exception
    except queries.QueryError as problem:
        response = await _safe_error(request, 400, str(problem))
    except (ValueError, UnicodeError, http_exceptions.HttpProcessingError) as problem:  # cannot be decoded
        log.info("malformed request to %s: %s", request.path, problem)
        response = await _safe_error(request, 400, "The request is malformed.")
    except Exception:  # a bug: logged, and answered with the headers still on
        log.exception("error answering %s %s", request.method, request.path)
        response = await _safe_error(request, 500, "Something went wrong. It has been logged.")
    response.headers.update(SECURITY_HEADERS)
    return response


async def _safe_error(request: web.Request, status: int, message: str) -> web.Response:
    try:
        return await error(request, status, message)
    except Exception:  # the page itself failed: plain text
        log.exception("error page failed")
        return web.Response(text=message, status=status, content_type="text/plain")


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    signer = request.app[SIGNER]
    session = await asyncio.to_thread(_load_session, request)
    request["session"] = session
    pre_login = signer.unsign(request.cookies.get(cookie_name(request, CSRF_NAME)))
    fresh_pre_login = None
    if session:
        request["csrf_token"] = signer.csrf_token(session.token, "csrf-session")
    else:
        if pre_login is None:
            pre_login = fresh_pre_login = secrets.token_urlsafe(24)
        request["csrf_token"] = signer.csrf_token(pre_login)
    if request.method == "POST":
        form = await request.post()
        token = form.get("csrf_token")
        valid = (signer.csrf_ok(session.token, token, "csrf-session") if session
                 else fresh_pre_login is None and signer.csrf_ok(pre_login, token))
        if not valid:
            response: web.StreamResponse = await error(request, 403, "The form was stale or forged (CSRF token missing or wrong). "
                                                 "Reload and try again.")
            if fresh_pre_login:
                set_cookie(request, response, CSRF_NAME, signer.sign(fresh_pre_login), None)
            return response
    if not session and not request.path.startswith(PUBLIC_PATHS):
        response = web.HTTPSeeOther("/login")
    else:
        response = await handler(request)
    if fresh_pre_login:
        set_cookie(request, response, CSRF_NAME, signer.sign(fresh_pre_login), None)
    return response


def admin_only(handler: Handler) -> Handler:
    """403 for reviewers."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not request["session"].user.is_admin:
            return await error(request, 403, "Only admins may do this.")
        return await handler(request)
    return wrapped


# ------------------------------------------------------------------ passwords

async def check_password(request: web.Request, name: str, password: str) -> Tuple[str, Optional[auth.User]]:
    """("ok", user), ("wrong", None), ("throttled", None) or ("busy", None)."""
    app, ip = request.app, client_ip(request)
    logins: Logins = app[LOGINS]
    async with logins.record:  # check and record in one step: parallel requests cannot all pass
        attempt = await asyncio.to_thread(_begin_attempt, app, name, ip)
        if attempt.allowed and logins.waiting >= LOGIN_QUEUE:
            await asyncio.to_thread(_cancel_attempt, app, attempt)
            return "busy", None
        logins.waiting += attempt.allowed
    if not attempt.allowed:
        await asyncio.to_thread(_audit, app, name or "-", "login-throttled", ip)
        return "throttled", None
    try:
        await asyncio.sleep(attempt.delay)
        async with logins.hashing:
            user = await asyncio.to_thread(_authenticate, app[ENGINE], name, password)
    finally:
        logins.waiting -= 1
    if user is None:
        await asyncio.to_thread(_audit, app, name or "-", "login-failed", ip)
        return "wrong", None
    await asyncio.to_thread(_forget_attempt, app, attempt, name, ip)
    return "ok", user


def _begin_attempt(app: web.Application, name: str, ip: str) -> auth.Attempt:
    with db.writing(app[ENGINE]) as conn:
        return app[THROTTLE].begin(conn, name, ip)


def _cancel_attempt(app: web.Application, attempt: auth.Attempt) -> None:
    with db.writing(app[ENGINE]) as conn:
        app[THROTTLE].cancel(conn, attempt)


def _forget_attempt(app: web.Application, attempt: auth.Attempt, name: str, ip: str) -> None:
    with db.writing(app[ENGINE]) as conn:
        app[THROTTLE].succeeded(conn, attempt, name, ip)


def _authenticate(engine, name: str, password: str) -> Optional[auth.User]:
    with engine.connect() as conn:
        return auth.authenticate(conn, name, password)


def _audit(app: web.Application, actor: str, action: str, target: str = "", detail: str = "") -> None:
    with db.writing(app[ENGINE]) as conn:
        audit.record(conn, actor, action, target, detail)


THROTTLED = "Too many wrong passwords for this account from this address. Try again in {minutes} minutes."
BUSY = "Too many people are logging in at once. Try again in a few seconds."


async def login_page(request: web.Request) -> web.Response:
    return await render(request, "login.html", insecure=not is_https(request) and not plain_loopback(request))


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name", "")).strip()[:100], str(form.get("password", ""))[:1024]
    outcome, user = await check_password(request, name, password)
    if outcome != "ok":
        status, message = {
            "throttled": (429, THROTTLED.format(minutes=int(request.app[THROTTLE].window // 60))),
            "busy": (503, BUSY), "wrong": (401, "Wrong name or password.")}[outcome]
        response = await render(request, "login.html", status=status, message=message)
        if outcome == "busy":
            response.headers["Retry-After"] = "5"
        return response
    assert user is not None  # the outcome is "ok"
    token = await asyncio.to_thread(_start_session, request.app, user, client_ip(request))
    response = web.HTTPSeeOther("/")
    set_cookie(request, response, SESSION_NAME, request.app[SIGNER].sign(token),
               int(request.app[CONFIG].session_hours * 3600))
    delete_cookie(request, response, CSRF_NAME)  # the pre-login token is done with
    return response


def _start_session(app: web.Application, user: auth.User, ip: str) -> str:
    with db.writing(app[ENGINE]) as conn:
        token = auth.start_session(conn, user, app[CONFIG].session_hours)
        audit.record(conn, user.name, "login", ip)
    return token


async def logout(request: web.Request) -> web.StreamResponse:
    session = request["session"]

    def end() -> None:
        with db.writing(request.app[ENGINE]) as conn:
            auth.end_session(conn, session.token)
            audit.record(conn, session.user.name, "logout")

    await asyncio.to_thread(end)
    response = web.HTTPSeeOther("/login")
    delete_cookie(request, response, SESSION_NAME)
    return response


# ------------------------------------------------------------------ re-authentication

REAUTH_FIELD = "reauth_password"


def _fresh(request: web.Request) -> bool:
    return time.time() - request["session"].reauth_at <= request.app[CONFIG].reauth_minutes * 60


async def _reauthenticate(request: web.Request, password: str) -> Optional[web.Response]:
    """None when the password is right (the session is marked), else the page to show."""
    session = request["session"]
    outcome, user = await check_password(request, session.user.name, password)
    if outcome == "ok" and user and user.id == session.user.id:
        def mark() -> None:
            with db.writing(request.app[ENGINE]) as conn:
                auth.reauthenticated(conn, session.token)
                audit.record(conn, session.user.name, "reauthenticate", client_ip(request))
        await asyncio.to_thread(mark)
        return None
    status, message = {"throttled": (429, THROTTLED.format(minutes=int(request.app[THROTTLE].window // 60))),
                       "busy": (503, BUSY)}.get(outcome, (401, "That password is not right."))
    return await _confirm_page(request, status, message)


async def _confirm_page(request: web.Request, status: int = 401, message: str = "") -> web.Response:
    """Ask for the password again, then repeat the request (a POST with its fields)."""
    if request.method == "POST":
        form = await request.post()
        fields = [(k, str(v)) for k, v in form.items() if k not in ("csrf_token", REAUTH_FIELD)]
        action, method_next = request.path, ""
    else:
        fields, action, method_next = [], "/reauth", request.path_qs
    return await render(request, "reauth.html", status=status, fields=fields, action=action, next=method_next,
                        message=message)


def sensitive(handler: Handler) -> Handler:
    """Admins only, and only with the password given within REVIEW_REAUTH_MINUTES."""
    @admin_only
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not _fresh(request):
            password = (await request.post()).get(REAUTH_FIELD) if request.method == "POST" else None
            if not password:
                return await _confirm_page(request, 401)
            refused = await _reauthenticate(request, str(password)[:1024])
            if refused is not None:
                return refused
        return await handler(request)
    return wrapped


async def reauth(request: web.Request) -> web.StreamResponse:
    """The password again, then on to `next` (an export link)."""
    form = await request.post()
    target = str(form.get("next", "/"))
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    refused = await _reauthenticate(request, str(form.get(REAUTH_FIELD, ""))[:1024])
    if refused is not None:
        return refused
    raise web.HTTPSeeOther(target)


# ------------------------------------------------------------------ pages

async def conversation_list(request: web.Request) -> web.Response:
    app = request.app
    filters = queries.Filters.from_mapping(request.query)
    cursor = request.query.get("after")

    def build() -> web.Response:
        with app[ENGINE].connect() as conn:
            listing = queries.list_conversations(conn, filters, app[CONFIG].page_size, cursor)
            options = queries.choices(conn)
            set_aside = sync.set_aside(conn, limit=5)
        return page(request, "list.html", page=listing, filters=filters, params=filters.to_params(),
                    options=options, low_confidence=app[CONFIG].low_confidence, set_aside=set_aside)

    return await asyncio.to_thread(build)


def _transcript_page(request: web.Request, sender_id: str, revealed: Optional[Dict[int, Tuple[str, int]]] = None,
                     status: int = 200, message: str = "") -> web.Response:
    if not queries.valid_sender(sender_id):
        return page(request, "error.html", status=404, message="No such conversation.")
    with request.app[ENGINE].connect() as conn:
        conversation = queries.transcript(conn, sender_id)
        if conversation is None:
            return page(request, "error.html", status=404, message="No such conversation.")
        intents = queries.choices(conn)["intents"]
    with db.writing(request.app[ENGINE]) as conn:
        audit.record(conn, request["session"].user.name, "view", sender_id)
    return page(request, "transcript.html", status=status, sender_id=sender_id, c=conversation,
                revealed=revealed or {}, intents=intents, threshold=request.app[CONFIG].low_confidence,
                message=message)


async def conversation(request: web.Request) -> web.Response:
    return await asyncio.to_thread(_transcript_page, request, request.match_info["sender_id"])


async def annotate(request: web.Request) -> web.StreamResponse:
    """Tag, untag, note, mark reviewed or relabel: then back to the transcript."""
    sender_id, what = request.match_info["sender_id"], request.match_info["what"]
    if what not in ("tag", "untag", "note", "reviewed", "label"):
        raise web.HTTPNotFound()
    if not queries.valid_sender(sender_id):
        raise queries.QueryError("no such conversation")
    form, user = await request.post(), request["session"].user.name

    def change() -> None:
        with db.writing(request.app[ENGINE]) as conn:
            if what == "tag":
                queries.add_tag(conn, sender_id, str(form.get("tag", "")), user)
            elif what == "untag":
                queries.remove_tag(conn, sender_id, str(form.get("tag", "")))
            elif what == "note":
                queries.add_note(conn, sender_id, str(form.get("body", "")), user)
            elif what == "reviewed":
                queries.set_reviewed(conn, sender_id, form.get("reviewed") == "1", user)
            else:
                event_id = queries.parse_id(form.get("event_id"))
                conversation = queries.transcript(conn, sender_id) or {"turns": []}
                turn = next((t for t in conversation["turns"] if t.event_id == event_id), None)
                if turn is None or not turn.misunderstood(request.app[CONFIG].low_confidence):
                    raise queries.QueryError("only misunderstood user messages get an intent assigned")
                queries.set_label(conn, sender_id, event_id, str(form.get("intent", "")), user)
            audit.record(conn, user, what, sender_id, str(form.get("tag", "") or form.get("intent", "")))

    await asyncio.to_thread(change)
    raise web.HTTPSeeOther(request.app.router["conversation"].url_for(sender_id=sender_id))


@sensitive
async def reveal(request: web.Request) -> web.Response:
    """Show one message unredacted to an admin; audited."""
    sender_id, event_id = request.match_info["sender_id"], queries.parse_id((await request.post()).get("event_id"))
    if not queries.valid_sender(sender_id):
        raise queries.QueryError("no such conversation")

    def build() -> web.Response:
        with request.app[ENGINE].connect() as conn:
            text = queries.message_text(conn, sender_id, event_id)
        if text is None:
            return page(request, "error.html", status=404, message="No such message.")
        with db.writing(request.app[ENGINE]) as conn:
            audit.record(conn, request["session"].user.name, "reveal", sender_id, f"event {event_id}")
        return _transcript_page(request, sender_id, revealed={event_id: text})

    return await asyncio.to_thread(build)


@sensitive
async def export(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "csv")
    if fmt not in exports.FORMATS:
        return await error(request, 400, "Unknown export format.")
    filters = queries.Filters.from_mapping(request.query)
    engine, redactor, actor = request.app[ENGINE], request.app[REDACTOR], request["session"].user.name

    def build() -> str:
        with db.long_reader(engine) as conn:
            body = "".join(exports.export(conn, fmt, filters, redactor))
        with db.writing(engine) as conn:
            audit.record(conn, actor, "export", fmt, urlencode(filters.to_params()))
        return body

    body = await asyncio.to_thread(build)
    return web.Response(text=body, content_type=exports.MEDIA_TYPES[fmt], charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{exports.FILE_NAMES[fmt]}"'})


@admin_only
async def audit_page(request: web.Request) -> web.Response:
    before = request.query.get("before")
    before_id = queries.parse_id(before, "page") if before else None

    def build() -> web.Response:
        with request.app[ENGINE].connect() as conn:
            rows = audit.entries(conn, 100, before_id)
        return page(request, "audit.html", entries=rows)

    return await asyncio.to_thread(build)


def _users_page(request: web.Request, status: int = 200, message: str = "") -> web.Response:
    with request.app[ENGINE].connect() as conn:
        users = auth.list_users(conn)
    return page(request, "users.html", status=status, users=users, roles=auth.ROLES, message=message)


@admin_only
async def users_page(request: web.Request) -> web.Response:
    return await asyncio.to_thread(_users_page, request)


@sensitive
async def users_change(request: web.Request) -> web.Response:
    form, admin = await request.post(), request["session"].user.name

    def change() -> Optional[web.Response]:
        try:
            with db.writing(request.app[ENGINE]) as conn:
                if form.get("action") == "create":
                    name = str(form.get("name", ""))
                    auth.create_user(conn, name, str(form.get("role", "")), str(form.get("password", "")))
                    audit.record(conn, admin, "create-user", name, str(form.get("role", "")))
                else:
                    user_id = queries.parse_id(form.get("user_id"), "account")
                    role = str(form.get("role")) if form.get("role") else None
                    active = {"1": True, "0": False}.get(str(form.get("active", "")))
                    auth.update_user(conn, user_id, role=role, active=active)
                    audit.record(conn, admin, "update-user", str(user_id), f"role={role} active={active}")
        except (auth.AuthError, queries.QueryError) as problem:
            return _users_page(request, 400, str(problem))
        return None

    refused = await asyncio.to_thread(change)
    if refused is not None:
        return refused
    raise web.HTTPSeeOther("/admin/users")


@sensitive
async def purge_now(request: web.Request) -> web.Response:
    days = str((await request.post()).get("days", "")).strip()
    if not days.isascii() or not days.isdigit() or not 1 <= int(days) <= 100_000:
        return await error(request, 400, "Give the number of days: a whole number, at least 1.")
    app = request.app
    report = await asyncio.to_thread(retention.purge, app[ENGINE], int(days), request["session"].user.name,
                                     app[REDACTOR], audit_days=app[CONFIG].audit_retention_days)
    return await render(request, "error.html", message=str(report), title="Purged")


# ------------------------------------------------------------------ the background task

def sync_and_retain(engine, settings: config.Config, redactor: Redactor, last_purge: float) -> float:
    """One round: read new events; purge when a day has passed. Returns when it last purged."""
    sync.sync(engine, redactor)
    if time.time() - last_purge < PURGE_INTERVAL:
        return last_purge
    if settings.retention_days:
        log.info("%s", retention.purge(engine, settings.retention_days, "scheduler", redactor,
                                       audit_days=settings.audit_retention_days))
    elif settings.audit_retention_days:
        with db.writing(engine) as conn:
            removed = retention.purge_audit(conn, time.time() - settings.audit_retention_days * 86400)
        if removed:
            log.info("deleted %s audit-log entries past their retention", removed)
    return time.time()


async def background(engine, settings: config.Config, redactor: Redactor) -> None:
    """Sync every REVIEW_SYNC_SECONDS and retention daily, for as long as the process runs."""
    last_purge = 0.0
    while True:
        try:
            last_purge = await asyncio.to_thread(sync_and_retain, engine, settings, redactor, last_purge)
        except Exception:  # keep the schedule alive, the next round retries
            log.exception("sync or retention failed")
        await asyncio.sleep(settings.sync_seconds)


async def _first_sync(app: web.Application) -> None:
    await asyncio.to_thread(sync.sync, app[ENGINE], app[REDACTOR])


async def _background(app: web.Application):
    task = asyncio.create_task(background(app[ENGINE], app[CONFIG], app[REDACTOR]))
    yield
    task.cancel()


def create_app(settings: config.Config) -> web.Application:
    """The application for these settings (the schema is migrated first)."""
    problem = settings.secret_key_problem()
    if problem:
        raise config.ConfigError(
            f"{problem}: the review app signs its cookies with it. Set it in .env, e.g. "
            "python -c \"import secrets; print(secrets.token_urlsafe(32))\" (make run writes one)")
    engine = db.make_engine(tracker_url(settings.tracker))
    migrations.migrate(engine)
    app = web.Application(middlewares=[security], client_max_size=MAX_BODY_BYTES)
    app[CONFIG], app[ENGINE], app[REDACTOR] = settings, engine, Redactor(settings.phone_region)
    app[SIGNER] = auth.Signer(settings.secret_key)
    app[THROTTLE] = auth.Throttle(settings.login_max_failures, settings.login_lock_minutes * 60)
    app[TEMPLATES] = _templates()
    app[LOGINS] = Logins()
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/reauth", reauth)
    app.router.add_get("/", conversation_list)
    app.router.add_get("/conversations/{sender_id}", conversation, name="conversation")
    app.router.add_post("/conversations/{sender_id}/reveal", reveal)
    app.router.add_post("/conversations/{sender_id}/{what}", annotate)
    app.router.add_get("/export", export)
    app.router.add_get("/admin/audit", audit_page)
    app.router.add_get("/admin/users", users_page)
    app.router.add_post("/admin/users", users_change)
    app.router.add_post("/admin/purge", purge_now)
    app.router.add_static("/static/", HERE / "static")
    app.on_startup.append(_first_sync)  # type: ignore[arg-type]  # aiohttp 3.9's Signal typing
    app.cleanup_ctx.append(_background)
    return app


def retention_only(settings: config.Config) -> int:
    """No web pages (no usable key), but new conversations are still read and retention still runs."""
    engine = db.make_engine(tracker_url(settings.tracker))
    migrations.migrate(engine)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        task = asyncio.create_task(background(engine, settings, Redactor(settings.phone_region)))
        await stop.wait()
        task.cancel()

    asyncio.run(run())
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = config.load()
        problem = settings.secret_key_problem()
        if problem:
            print(f"review app: {problem}: the review pages are off until it is set (make run writes one into "
                  f".env). Retention {'runs daily' if settings.retention_days else 'is not configured'}.",
                  file=sys.stderr, flush=True)
            return retention_only(settings)
        app = create_app(settings)
    except config.ConfigError as problem:
        print(f"review app: {problem}", file=sys.stderr)
        return 2
    print(f"Review app on http://{settings.host}:{settings.port}/", flush=True)
    with app[ENGINE].connect() as conn:
        if not auth.list_users(conn):
            print("review app: no accounts yet. Create the first admin with: make review-user NAME=<name> ROLE=admin",
                  flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None,
                handle_signals=True, shutdown_timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
