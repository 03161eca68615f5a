"""The review web app: server-rendered pages on REVIEW_HOST:REVIEW_PORT (`python -m review.app`).

aiohttp + Jinja2 (autoescape on), no JavaScript. Every page needs a session; every POST needs the
CSRF token bound to the visitor's signed CSRF cookie; admins alone export, purge, reveal and manage
accounts. With REVIEW_RETENTION_DAYS set, conversations older than that are purged daily.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from review import audit, auth, config, db, exports, migrations, queries, retention, sync
from review.redact import Redactor

HERE = Path(__file__).resolve().parent
SESSION_COOKIE, CSRF_COOKIE = "review_session", "review_csrf"
PUBLIC_PATHS = ("/login", "/static/")
PURGE_INTERVAL = 24 * 3600
log = logging.getLogger("review")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", config.Config)
ENGINE = web.AppKey("engine", object)
REDACTOR = web.AppKey("redactor", Redactor)
SIGNER = web.AppKey("signer", auth.Signer)
THROTTLE = web.AppKey("throttle", auth.Throttle)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["iso"] = exports.iso
    env.globals["urlencode"] = urlencode
    return env


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """A page, with the current user, the CSRF token and the redactor at hand."""
    html = request.app[TEMPLATES].get_template(name).render(
        user=request.get("user"), csrf_token=request["csrf_token"], redact=request.app[REDACTOR].redact, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def error(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status=status, message=message)


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: Optional[int]) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Strict",
                        secure=request.app[CONFIG].secure_cookies or request.secure)


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session, CSRF and security headers for every request."""
    signer = request.app[SIGNER]
    csrf_value = signer.unsign(request.cookies.get(CSRF_COOKIE))
    fresh_csrf = csrf_value is None
    if fresh_csrf:
        csrf_value = secrets.token_urlsafe(24)
    request["csrf_token"] = signer.csrf_token(csrf_value)
    token = signer.unsign(request.cookies.get(SESSION_COOKIE))
    if token:
        with request.app[ENGINE].connect() as conn:
            request["user"] = auth.session_user(conn, token)
    if request.method == "POST":
        form = await request.post()
        if fresh_csrf or not signer.csrf_ok(csrf_value, form.get("csrf_token")):
            response = error(request, 403, "The form was stale or forged (CSRF token missing or wrong). Reload and try again.")
            _cookie(request, response, CSRF_COOKIE, signer.sign(csrf_value), None)
            return response
    if not request.get("user") and not request.path.startswith(PUBLIC_PATHS):
        response = web.HTTPSeeOther("/login")
    else:
        try:
            response = await handler(request)
        except queries.QueryError as problem:
            response = error(request, 400, str(problem))
        except web.HTTPException as exception:
            response = exception
    if fresh_csrf:
        _cookie(request, response, CSRF_COOKIE, signer.sign(csrf_value), None)
    response.headers.update({
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                   "frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    })
    return response


def admin_only(handler: Handler) -> Handler:
    """403 for reviewers."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not request["user"].is_admin:
            return error(request, 403, "Only admins may do this.")
        return await handler(request)
    return wrapped


def _client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html")


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    keys = (f"user:{name.lower()}", f"ip:{_client_ip(request)}")
    throttle, engine = request.app[THROTTLE], request.app[ENGINE]
    with engine.begin() as conn:
        if throttle.blocked(conn, *keys):
            audit.record(conn, name or "-", "login-throttled", _client_ip(request))
            minutes = int(throttle.window // 60)
            return render(request, "login.html", status=429,
                          message=f"Too many wrong passwords. Try again in {minutes} minutes.")
    user = await asyncio.to_thread(_authenticate, engine, name, password)
    with engine.begin() as conn:
        if user is None:
            throttle.fail(conn, *keys)
            audit.record(conn, name or "-", "login-failed", _client_ip(request))
            return render(request, "login.html", status=401, message="Wrong name or password.")
        throttle.clear(conn, keys[0])
        token = auth.start_session(conn, user, request.app[CONFIG].session_hours)
        audit.record(conn, user.name, "login", _client_ip(request))
    response = web.HTTPSeeOther("/")
    _cookie(request, response, SESSION_COOKIE, request.app[SIGNER].sign(token),
            int(request.app[CONFIG].session_hours * 3600))
    return response


def _authenticate(engine, name: str, password: str) -> Optional[auth.User]:
    with engine.connect() as conn:
        return auth.authenticate(conn, name, password)


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.app[SIGNER].unsign(request.cookies.get(SESSION_COOKIE))
    if token:
        with request.app[ENGINE].begin() as conn:
            auth.end_session(conn, token)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def conversation_list(request: web.Request) -> web.Response:
    app = request.app
    await asyncio.to_thread(sync.sync, app[ENGINE], app[REDACTOR])
    filters = queries.Filters.from_mapping(request.query)
    with app[ENGINE].connect() as conn:
        page = queries.list_conversations(conn, filters, app[CONFIG].page_size, request.query.get("after"))
        options = queries.choices(conn)
    return render(request, "list.html", page=page, filters=filters, params=filters.to_params(), options=options,
                  low_confidence=app[CONFIG].low_confidence)


def _transcript_page(request: web.Request, sender_id: str, revealed: Optional[Dict[int, str]] = None,
                     status: int = 200, message: str = "") -> web.Response:
    with request.app[ENGINE].begin() as conn:
        conversation = queries.transcript(conn, sender_id)
        if conversation is None:
            return error(request, 404, "No such conversation.")
        audit.record(conn, request["user"].name, "view", sender_id)
        intents = queries.choices(conn)["intents"]
    return render(request, "transcript.html", status=status, sender_id=sender_id, c=conversation,
                  revealed=revealed or {}, intents=intents, threshold=request.app[CONFIG].low_confidence,
                  message=message)


async def conversation(request: web.Request) -> web.Response:
    return _transcript_page(request, request.match_info["sender_id"])


async def annotate(request: web.Request) -> web.StreamResponse:
    """Tag, untag, note, mark reviewed or relabel: then back to the transcript."""
    sender_id, what = request.match_info["sender_id"], request.match_info["what"]
    form, user = await request.post(), request["user"].name
    with request.app[ENGINE].begin() as conn:
        if what == "tag":
            queries.add_tag(conn, sender_id, str(form.get("tag", "")), user)
        elif what == "untag":
            queries.remove_tag(conn, sender_id, str(form.get("tag", "")))
        elif what == "note":
            queries.add_note(conn, sender_id, str(form.get("body", "")), user)
        elif what == "reviewed":
            queries.set_reviewed(conn, sender_id, form.get("reviewed") == "1", user)
        elif what == "label":
            event_id = _event_id(form)
            conversation = queries.transcript(conn, sender_id) or {"turns": []}
            turn = next((t for t in conversation["turns"] if t.event_id == event_id), None)
            if turn is None or not turn.misunderstood(request.app[CONFIG].low_confidence):
                raise queries.QueryError("only misunderstood user messages get an intent assigned")
            queries.set_label(conn, sender_id, event_id, str(form.get("intent", "")), user)
        else:
            raise web.HTTPNotFound()
        audit.record(conn, user, what, sender_id, str(form.get("tag", "") or form.get("intent", "")))
    raise web.HTTPSeeOther(request.app.router["conversation"].url_for(sender_id=sender_id))


def _event_id(form) -> int:  # noqa: ANN001
    try:
        return int(str(form.get("event_id", "")))
    except ValueError as problem:
        raise queries.QueryError("bad message id") from problem


@admin_only
async def reveal(request: web.Request) -> web.Response:
    """Show one message unredacted to an admin; audited."""
    sender_id, event_id = request.match_info["sender_id"], _event_id(await request.post())
    with request.app[ENGINE].begin() as conn:
        text = queries.message_text(conn, sender_id, event_id)
        if text is None:
            return error(request, 404, "No such message.")
        audit.record(conn, request["user"].name, "reveal", sender_id, f"event {event_id}")
    return _transcript_page(request, sender_id, revealed={event_id: text})


@admin_only
async def export(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "csv")
    if fmt not in exports.FORMATS:
        return error(request, 400, "Unknown export format.")
    filters = queries.Filters.from_mapping(request.query)
    engine, redactor = request.app[ENGINE], request.app[REDACTOR]

    def build() -> str:
        with db.long_reader(engine) as conn:
            body = "".join(exports.export(conn, fmt, filters, redactor))
        with engine.begin() as conn:
            audit.record(conn, request["user"].name, "export", fmt, urlencode(filters.to_params()))
        return body

    body = await asyncio.to_thread(build)
    return web.Response(text=body, content_type=exports.MEDIA_TYPES[fmt], charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{exports.FILE_NAMES[fmt]}"'})


@admin_only
async def audit_page(request: web.Request) -> web.Response:
    before = request.query.get("before")
    with request.app[ENGINE].connect() as conn:
        rows = audit.entries(conn, 100, int(before) if before and before.isdigit() else None)
    return render(request, "audit.html", entries=rows)


@admin_only
async def users_page(request: web.Request) -> web.Response:
    with request.app[ENGINE].connect() as conn:
        return render(request, "users.html", users=auth.list_users(conn), roles=auth.ROLES)


@admin_only
async def users_change(request: web.Request) -> web.Response:
    form, admin = await request.post(), request["user"].name
    try:
        with request.app[ENGINE].begin() as conn:
            if form.get("action") == "create":
                name = str(form.get("name", ""))
                auth.create_user(conn, name, str(form.get("role", "")), str(form.get("password", "")))
                audit.record(conn, admin, "create-user", name, str(form.get("role", "")))
            else:
                user_id = int(str(form.get("user_id", "0")))
                role = str(form.get("role")) if form.get("role") else None
                active = {"1": True, "0": False}.get(str(form.get("active", "")))
                auth.update_user(conn, user_id, role=role, active=active)
                audit.record(conn, admin, "update-user", str(user_id), f"role={role} active={active}")
    except (auth.AuthError, ValueError) as problem:
        with request.app[ENGINE].connect() as conn:
            return render(request, "users.html", status=400, users=auth.list_users(conn), roles=auth.ROLES,
                          message=str(problem))
    raise web.HTTPSeeOther("/admin/users")


@admin_only
async def purge_now(request: web.Request) -> web.Response:
    try:
        days = int(str((await request.post()).get("days", "")))
    except ValueError:
        return error(request, 400, "Give the number of days.")
    app = request.app
    report = await asyncio.to_thread(retention.purge, app[ENGINE], days, request["user"].name, app[REDACTOR])
    return render(request, "error.html", message=str(report), title="Purged")


async def _purge_daily(app: web.Application) -> None:
    days = app[CONFIG].retention_days
    while True:
        try:
            report = await asyncio.to_thread(retention.purge, app[ENGINE], days, "scheduler", app[REDACTOR])
            log.info("%s", report)
        except Exception:  # noqa: BLE001 - keep the schedule alive, the next day retries
            log.exception("scheduled purge failed")
        await asyncio.sleep(PURGE_INTERVAL)


async def _background(app: web.Application):
    task = asyncio.create_task(_purge_daily(app)) if app[CONFIG].retention_days else None
    yield
    if task:
        task.cancel()


def create_app(settings: config.Config) -> web.Application:
    """The application for these settings (the schema is migrated first)."""
    if not settings.secret_key or len(settings.secret_key) < 16:
        raise config.ConfigError(
            "REVIEW_SECRET_KEY is not set (or shorter than 16 characters): the review app signs its cookies "
            "with it. Set it in .env, e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
    engine = db.make_engine(db.tracker_url(settings.tracker))
    migrations.migrate(engine)
    app = web.Application(middlewares=[security], client_max_size=256 * 1024)
    app[CONFIG], app[ENGINE], app[REDACTOR] = settings, engine, Redactor(settings.phone_region)
    app[SIGNER] = auth.Signer(settings.secret_key)
    app[THROTTLE] = auth.Throttle(settings.login_max_failures, settings.login_lock_minutes * 60)
    app[TEMPLATES] = _templates()
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
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
    app.cleanup_ctx.append(_background)
    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = config.load()
        app = create_app(settings)
    except config.ConfigError as problem:
        print(f"review app: {problem}", file=sys.stderr)
        return 2
    print(f"Review app on http://{settings.host}:{settings.port}/", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
