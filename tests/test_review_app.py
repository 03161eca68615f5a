"""The review web app over HTTP (served in this process by aiohttp's test server, synthetic
SQLite data): sessions, roles, CSRF, login throttling, escaping, reveal and audit. Its start as a
process of its own (`python -m review.app`) without a usable key is tested here too."""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

import launcher
import settings
from launcher import free_port
from names import SAFETY_KEY
from review import db, migrations
from review_support import (
    InProcessApp,
    action_event,
    bot_event,
    create_events_table,
    create_user,
    insert_events,
    slot_event,
    user_event,
)

SECRET = "test-secret-key-0123456789"
MARKUP = '<script>alert("x")</script><b>bold</b>'


def app_env(work, **overrides):
    return dict(os.environ, TRACKER_DIALECT="sqlite", TRACKER_DB=str(work / "tracker.db"), TRACKER_HOST="",
                REVIEW_SECRET_KEY=SECRET, REVIEW_PORT=str(free_port()), REVIEW_RETENTION_DAYS="", **overrides)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    work = tmp_path_factory.mktemp("review-app")
    env = app_env(work)
    engine = db.make_engine(settings.tracker_url({"TRACKER_DB": env["TRACKER_DB"]}))
    migrations.migrate(engine)
    now = time.time()
    with engine.begin() as conn:
        create_events_table(conn)
        insert_events(conn, [
            user_event("markup", now - 60, MARKUP + " mail me: bob@example.com", "nlu_fallback", 0.1),
            action_event("markup", now - 59, "action_fallback"),
            bot_event("markup", now - 58, "Sorry, I did not get that."),
        ])
        insert_events(conn, [tiered_event("suspected", now - 50, "my chest feels odd", "suspected", "chest", "net", 0.62),
                             slot_event("suspected", now - 49, "safety_answer", "yes")])
        insert_events(conn, [tiered_event("confirmed", now - 40, "crushing chest pain", "confirmed", "chest", "rules", 1.0)])
        insert_events(conn, [tiered_event("caution", now - 30, "dizzy on the bike", "caution", "dizziness", "rules", 1.0)])
    engine.dispose()
    create_user(env, "rita", "reviewer", "reviewer password 1")
    create_user(env, "adam", "admin", "admin password 123")
    with InProcessApp(env) as served:
        yield served.url, env


def tiered_event(sender, at, text, tier, category, source, score):
    """A user message the safety layer decided on, as the NLU pipeline stores it."""
    row = user_event(sender, at, text, "emergency", 1.0)
    data = json.loads(row["data"])
    data["parse_data"][SAFETY_KEY] = {"tier": tier, "category": category, "source": source, "score": score,
                                      "rule": "chest pain or pressure" if source == "rules" else ""}
    return dict(row, data=json.dumps(data))


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def send_secure_cookies(session):
    """The tests talk plain HTTP to what stands for HTTPS behind a proxy: let requests send the
    Secure cookies back."""
    for cookie in session.cookies:
        cookie.secure = False


def login(url, name, password, ip_session=None):
    session = ip_session or requests.Session()
    token = csrf(session.get(url + "/login").text)
    send_secure_cookies(session)
    response = session.post(url + "/login", data={"name": name, "password": password, "csrf_token": token},
                            allow_redirects=False)
    send_secure_cookies(session)
    return session, response


@pytest.mark.e2e  # the app as a process of its own
@pytest.mark.parametrize("key", ["", "short"], ids=["missing", "short"])
def test_a_missing_or_short_key_leaves_the_pages_off_but_retention_runs(tmp_path, key):
    database = tmp_path / "t.db"
    env = dict(os.environ, TRACKER_DB=str(database), REVIEW_SECRET_KEY=key, REVIEW_PORT=str(free_port()),
               REVIEW_RETENTION_DAYS="30", REVIEW_SYNC_SECONDS="0.5")
    engine = db.make_engine(settings.tracker_url({"TRACKER_DB": str(database)}))
    with engine.begin() as conn:
        create_events_table(conn)
        insert_events(conn, [user_event("ancient", time.time() - 90 * 86400, "hello", "greet", 0.9)])
    log = tmp_path / "review.log"
    service = launcher.Service(launcher.REVIEW, launcher.review_command(), env, log=log)
    process = service.process
    try:
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as conn:
                if conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar_one() == 0:
                    break
            assert process.poll() is None, service.log_tail()
            assert time.monotonic() < deadline, "retention did not run"
            time.sleep(0.5)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{env['REVIEW_PORT']}/login", timeout=2)
    finally:
        assert service.stop(grace=10) == 0
        engine.dispose()
    assert "REVIEW_SECRET_KEY is " + ("not set" if not key else "shorter than 16") in service.log_tail()


def test_no_session_gets_the_login_page(app):
    url, _ = app
    for path in ("/", "/conversations/markup", "/export?format=csv", "/admin/audit"):
        response = requests.get(url + path, allow_redirects=False)
        assert response.status_code == 303 and response.headers["Location"] == "/login", path
    assert "<h1>Log in</h1>" in requests.get(url + "/").text


def test_cookies_are_httponly_and_samesite(app):
    url, _ = app
    _, response = login(url, "rita", "reviewer password 1")
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


def test_post_without_csrf_token_is_refused(app):
    url, _ = app
    session, _ = login(url, "rita", "reviewer password 1")
    response = session.post(url + "/conversations/markup/tag", data={"tag": "x"}, allow_redirects=False)
    assert response.status_code == 403
    response = session.post(url + "/conversations/markup/tag", data={"tag": "x", "csrf_token": "forged"})
    assert response.status_code == 403
    fresh = requests.Session()  # a login form posted without the CSRF cookie
    response = fresh.post(url + "/login", data={"name": "rita", "password": "reviewer password 1"})
    assert response.status_code == 403


def test_reviewer_reads_tags_and_notes_but_cannot_export_purge_or_reveal(app):
    url, _ = app
    session, _ = login(url, "rita", "reviewer password 1")
    page = session.get(url + "/conversations/markup").text
    token = csrf(page)
    assert "Reveal" not in page and "Export" not in session.get(url + "/").text
    assert session.post(url + "/conversations/markup/tag", data={"tag": "check", "csrf_token": token}).status_code == 200
    assert session.post(url + "/conversations/markup/note", data={"body": "looked", "csrf_token": token}).status_code == 200
    assert session.post(url + "/conversations/markup/reviewed", data={"reviewed": "1", "csrf_token": token}).status_code == 200
    page = session.get(url + "/conversations/markup").text
    assert "check" in page and "looked" in page and "reviewed by rita" in page
    assert session.get(url + "/export?format=csv").status_code == 403
    assert session.post(url + "/admin/purge", data={"days": "1", "csrf_token": token}).status_code == 403
    event_id = re.search(r'name="event_id" value="(\d+)"', page).group(1)
    response = session.post(url + "/conversations/markup/reveal", data={"event_id": event_id, "csrf_token": token})
    assert response.status_code == 403 and "bob@example.com" not in response.text
    assert session.get(url + "/admin/audit").status_code == 403
    assert session.get(url + "/admin/users").status_code == 403


def test_user_markup_is_shown_as_text_and_redacted(app):
    url, _ = app
    session, _ = login(url, "rita", "reviewer password 1")
    page = session.get(url + "/conversations/markup").text
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "bob@example.com" not in page and "[EMAIL]" in page
    assert "default-src 'none'" in session.get(url + "/").headers["Content-Security-Policy"]


def test_the_list_and_the_transcript_show_each_safety_tier(app):
    url, _ = app
    session, _ = login(url, "rita", "reviewer password 1")
    listing = session.get(url + "/").text
    rows = {sender: listing.split(f'/conversations/{sender}"')[0].rsplit("<tr", 1)[1]
            for sender in ("suspected", "confirmed", "caution")}
    # confirmed and suspected red flags are highlighted; a caution is shown, not highlighted
    assert 'class="red-flag"' in rows["suspected"] and 'class="red-flag"' in rows["confirmed"]
    assert 'class="red-flag"' not in rows["caution"]
    assert "RED FLAG: chest" in listing and "suspected: chest" in listing and "caution: dizziness" in listing
    assert "check answered: yes" in listing
    page = session.get(url + "/conversations/suspected").text
    assert "suspected</strong>" in page and "from the net (score 0.62)" in page
    assert "Safety check answered" in page and ">yes</strong>" in page
    page = session.get(url + "/conversations/confirmed").text
    assert "confirmed</strong>" in page and "rule “chest pain or pressure”" in page
    flagged = session.get(url + "/?red_flag=1").text
    assert "/conversations/suspected" in flagged and "/conversations/confirmed" in flagged
    assert "/conversations/caution" not in flagged


def test_admin_reveals_exports_and_sees_the_audit_log(app):
    url, _ = app
    session, _ = login(url, "adam", "admin password 123")
    page = session.get(url + "/conversations/markup").text
    event_id = re.search(r'name="event_id" value="(\d+)"', page).group(1)
    revealed = session.post(url + "/conversations/markup/reveal", data={"event_id": event_id, "csrf_token": csrf(page)})
    assert revealed.status_code == 200 and "bob@example.com" in revealed.text
    assert "&lt;script&gt;" in revealed.text  # revealed text is escaped too
    exported = session.get(url + "/export?format=jsonl&fell_back=1")
    assert exported.status_code == 200 and "[EMAIL]" in exported.text and "bob@" not in exported.text
    assert exported.headers["Content-Disposition"] == 'attachment; filename="conversations.jsonl"'
    label = session.post(url + "/conversations/markup/label",
                         data={"event_id": event_id, "intent": "ask_exercise", "csrf_token": csrf(page)})
    assert label.status_code == 200
    assert "- intent: ask_exercise" in session.get(url + "/export?format=nlu").text
    audit_page = session.get(url + "/admin/audit").text
    for action in ("reveal", "export", "view", "label", "login"):
        assert f"<td>{action}</td>" in audit_page


@pytest.mark.slow  # each wrong password delays the next check more
def test_five_wrong_passwords_throttle_the_account(app):
    url, env = app
    create_user(env, "tess", "reviewer", "the right password")
    for _ in range(5):
        _, response = login(url, "tess", "wrong password!")
        assert response.status_code == 401
    _, response = login(url, "tess", "the right password")
    assert response.status_code == 429 and "Too many wrong passwords" in response.text


# --- attacks ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxied(app):
    """A second app on the same database, behind a reverse proxy on loopback (REVIEW_TRUSTED_PROXIES)."""
    _, env = app
    env = dict(env, REVIEW_TRUSTED_PROXIES="127.0.0.1/32")
    with InProcessApp(env) as served:
        yield served.url, env


def sql(env, statement, **params):
    engine = sa.create_engine(f"sqlite:///{env['TRACKER_DB']}")
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def parallel_logins(url, name, password, count, headers=None):
    def one(_):
        session = requests.Session()
        session.headers.update(headers or {})
        return login(url, name, password, session)[1].status_code
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.slow  # each wrong password delays the next check more
def test_thirty_parallel_wrong_passwords_are_throttled(app, proxied):
    url, env = app
    create_user(env, "race", "reviewer", "the race password")
    statuses = parallel_logins(url, "race", "wrong password", 30)
    assert statuses.count(401) <= 5 and statuses.count(429) >= 25, sorted(statuses)
    assert set(statuses) <= {401, 429}
    # a made-up X-Forwarded-For from a client that is not a trusted proxy changes nothing
    _, response = login(url, "race", "the race password", requests.Session())
    assert response.status_code == 429
    session = requests.Session()
    session.headers["X-Forwarded-For"] = "203.0.113.9"
    assert login(url, "race", "the race password", session)[1].status_code == 429
    # behind the configured proxy, the same account from another address still logs in: nobody
    # can lock every account by guessing
    proxied_url, _ = proxied
    session = requests.Session()
    session.headers["X-Forwarded-For"] = "203.0.113.10"
    assert login(proxied_url, "race", "the race password", session)[1].status_code == 303


def test_cookies_are_host_prefixed_and_secure_except_on_plain_http_loopback(app, proxied):
    url, _ = app
    plain = requests.get(url + "/login").headers["Set-Cookie"]
    assert plain.startswith("review_csrf=") and "Secure" not in plain
    # anything that looks like a proxy in front: Secure, __Host-
    forwarded = requests.get(url + "/login", headers={"X-Forwarded-For": "203.0.113.1"}).headers["Set-Cookie"]
    assert forwarded.startswith("__Host-review_csrf=") and "Secure" in forwarded and "Path=/" in forwarded
    proxied_url, _ = proxied
    https = requests.get(proxied_url + "/login", headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    assert https.startswith("__Host-review_csrf=") and "Secure" in https and "HttpOnly" in https
    assert "Domain" not in https


def test_the_csrf_token_is_tied_to_the_session_and_rotated_at_login(app):
    url, _ = app
    session = requests.Session()
    before = csrf(session.get(url + "/login").text)
    login(url, "rita", "reviewer password 1", session)
    first = csrf(session.get(url + "/conversations/markup").text)
    assert first != before
    assert session.post(url + "/conversations/markup/tag", data={"tag": "a", "csrf_token": before}).status_code == 403
    other, _ = login(url, "adam", "admin password 123")
    theirs = csrf(other.get(url + "/conversations/markup").text)
    assert session.post(url + "/conversations/markup/tag", data={"tag": "a", "csrf_token": theirs}).status_code == 403
    session.post(url + "/logout", data={"csrf_token": first})
    login(url, "rita", "reviewer password 1", session)
    second = csrf(session.get(url + "/conversations/markup").text)
    assert second != first
    assert session.post(url + "/conversations/markup/tag", data={"tag": "a", "csrf_token": first}).status_code == 403
    assert session.post(url + "/conversations/markup/tag", data={"tag": "a", "csrf_token": second}).status_code == 200


def test_export_purge_reveal_and_account_changes_need_the_password_again(app):
    url, env = app
    session, _ = login(url, "adam", "admin password 123")
    sql(env, "UPDATE review_sessions SET reauth_at = :t", t=time.time() - 3600)
    exported = session.get(url + "/export?format=csv", allow_redirects=False)
    assert exported.status_code == 401 and "Confirm your password" in exported.text and "sender_id" not in exported.text
    token = csrf(exported.text)
    wrong = session.post(url + "/reauth", data={"csrf_token": token, "next": "/export?format=csv",
                                                "reauth_password": "not it"}, allow_redirects=False)
    assert wrong.status_code == 401, wrong.headers.get("Location")
    right = session.post(url + "/reauth", data={"csrf_token": token, "next": "/export?format=csv",
                                                "reauth_password": "admin password 123"}, allow_redirects=False)
    assert right.status_code == 303 and right.headers["Location"] == "/export?format=csv"
    assert session.get(url + "/export?format=csv").text.startswith("sender_id,")
    sql(env, "UPDATE review_sessions SET reauth_at = :t", t=time.time() - 3600)
    page = session.get(url + "/conversations/markup").text
    event_id = re.search(r'name="event_id" value="(\d+)"', page).group(1)
    for path, form in [("/conversations/markup/reveal", {"event_id": event_id}), ("/admin/purge", {"days": "3650"}),
                       ("/admin/users", {"action": "create", "name": "eve", "role": "admin", "password": "x" * 12})]:
        asked = session.post(url + path, data=dict(form, csrf_token=token))
        assert asked.status_code == 401 and "Confirm your password" in asked.text, path
        assert "bob@example.com" not in asked.text and "Purged" not in asked.text
    done = session.post(url + "/conversations/markup/reveal",
                        data={"event_id": event_id, "csrf_token": token, "reauth_password": "admin password 123"})
    assert done.status_code == 200 and "bob@example.com" in done.text
    audit_page = session.get(url + "/admin/audit").text
    assert "<td>reauthenticate</td>" in audit_page and "eve" not in session.get(url + "/admin/users").text


def test_an_idle_session_ends(app):
    url, env = app
    session, _ = login(url, "rita", "reviewer password 1")
    assert session.get(url + "/", allow_redirects=False).status_code == 200
    sql(env, "UPDATE review_sessions SET last_seen_at = :t", t=time.time() - 31 * 60)
    assert session.get(url + "/", allow_redirects=False).headers["Location"] == "/login"


def test_every_malformed_request_gets_a_4xx_with_the_security_headers(app):
    url, _ = app
    session, _ = login(url, "adam", "admin password 123")
    token = csrf(session.get(url + "/").text)
    b64 = lambda value: __import__("base64").urlsafe_b64encode(value.encode()).decode()  # noqa: E731
    requests_made = [
        (403, session.post(url + "/conversations/markup/tag", data={"tag": "x", "csrf_token": "Ünïcode-tökén"})),
        (400, session.get(url + "/?after=" + b64('["x", "y"]'))),
        (400, session.get(url + "/?after=" + b64('[1e999, {}]'))),
        (400, session.get(url + "/?after=%%%")),
        (400, session.get(url + "/?sort=red_flag&after=" + b64('["a", 1, "s"]'))),
        (400, session.post(url + "/admin/purge", data={"days": "0", "csrf_token": token})),
        (400, session.post(url + "/admin/purge", data={"days": "-3", "csrf_token": token})),
        (400, session.post(url + "/admin/purge", data={"days": "٣", "csrf_token": token})),
        (400, session.get(url + "/admin/audit?before=99999999999999999999999")),
        (400, session.post(url + "/conversations/markup/label", data={"event_id": "1e999", "csrf_token": token})),
        (400, session.post(url + "/admin/users", data={"user_id": "x", "role": "admin", "csrf_token": token})),
        (400, session.get(url + "/?max_confidence=banana")),
        (404, session.get(url + "/conversations/%00")),
        (404, session.get(url + "/no/such/page")),
        (405, session.put(url + "/login")),
        (413, session.post(url + "/login", data={"name": "x" * 1_000_000, "csrf_token": token})),
        (400, session.post(url + "/conversations/markup/note", data=b"--x\r\nbroken",
                           headers={"Content-Type": "multipart/form-data; boundary=x"})),
    ]
    for expected, response in requests_made:
        assert response.status_code == expected, (response.request.method, response.request.url[:120], response.text[:300])
        assert "default-src 'none'" in response.headers["Content-Security-Policy"], response.request.url[:120]
        assert response.headers["X-Frame-Options"] == "DENY"
    assert session.get(url + "/?q=%00%ff%fe").status_code == 200  # unsafe characters are dropped
