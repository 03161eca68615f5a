"""The review web app over HTTP (`python -m review.app` on a free port, synthetic SQLite data):
sessions, roles, CSRF, login throttling, escaping, reveal and audit."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests

from conftest import ROOT
from review import db, migrations
from review.testing import action_event, bot_event, create_events_table, free_port, insert_events, user_event

SECRET = "test-secret-key-0123456789"
MARKUP = '<script>alert("x")</script><b>bold</b>'


def start_app(env):
    process = subprocess.Popen([sys.executable, "-m", "review.app"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{env['REVIEW_PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the review app exited: {process.stdout.read()}")
        try:
            requests.get(url + "/login", timeout=2)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.3)
    process.kill()
    pytest.fail("the review app did not start")


def create_user(env, name, role, password):
    result = subprocess.run([sys.executable, "-m", "review.cli", "create-user", name, "--role", role], cwd=ROOT,
                            env=env, input=password + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    work = tmp_path_factory.mktemp("review-app")
    env = dict(os.environ, TRACKER_DIALECT="sqlite", TRACKER_DB=str(work / "tracker.db"), TRACKER_HOST="",
               REVIEW_SECRET_KEY=SECRET, REVIEW_PORT=str(free_port()), REVIEW_RETENTION_DAYS="")
    engine = db.make_engine(db.tracker_url({"TRACKER_DB": env["TRACKER_DB"]}))
    migrations.migrate(engine)
    now = time.time()
    with engine.begin() as conn:
        create_events_table(conn)
        insert_events(conn, [
            user_event("markup", now - 60, MARKUP + " mail me: bob@example.com", "nlu_fallback", 0.1),
            action_event("markup", now - 59, "action_fallback"),
            bot_event("markup", now - 58, "Sorry, I did not get that."),
        ])
    engine.dispose()
    create_user(env, "rita", "reviewer", "reviewer password 1")
    create_user(env, "adam", "admin", "admin password 123")
    process, url = start_app(env)
    yield url, env
    process.terminate()
    process.wait(timeout=20)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(url, name, password, ip_session=None):
    session = ip_session or requests.Session()
    token = csrf(session.get(url + "/login").text)
    response = session.post(url + "/login", data={"name": name, "password": password, "csrf_token": token},
                            allow_redirects=False)
    return session, response


def test_refuses_to_start_without_secret_key(tmp_path):
    env = dict(os.environ, TRACKER_DB=str(tmp_path / "t.db"), REVIEW_SECRET_KEY="", REVIEW_PORT=str(free_port()))
    result = subprocess.run([sys.executable, "-m", "review.app"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "REVIEW_SECRET_KEY is not set" in result.stderr


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


def test_five_wrong_passwords_throttle_the_account(app):
    url, env = app
    create_user(env, "tess", "reviewer", "the right password")
    for _ in range(5):
        _, response = login(url, "tess", "wrong password!")
        assert response.status_code == 401
    _, response = login(url, "tess", "the right password")
    assert response.status_code == 429 and "Too many wrong passwords" in response.text
