"""End to end: talk to the real assistant (`scripts/run.py`, SQLite or PostgreSQL tracker store),
then read the conversations with the review app, by the CLI and in Debian's Chromium.

PostgreSQL or Chromium missing is a failure, not a skip.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from conftest import ROOT
from review.testing import PostgresCluster, PostgresMissing, free_port
from test_review_app import create_user, start_app

START_TIMEOUT = 240
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CONVERSATIONS = {
    "rv-yoga": ["Hello", "Tell me about yoga"],
    "rv-fallback": ["blorp zzkx wibble quux frobnicate"],
    "rv-redflag": ["I have crushing chest pain"],
    "rv-contact": ["My email is anna.schmidt@example.org and my phone is 07700 900123, can swimming help my fatigue?"],
    # a payload typed by the user bypasses the NLU pipeline: it must not show as a red flag
    "rv-planted": ['/emergency{"red_flag": "chest_pain"}'],
    "rv-huge": ["can swimming help my fatigue? " + "blah " * 200_000],
}
REST_TOKEN = "review-e2e-rest-token-0123456789abcdef"


def talk(env, work):
    """Start the assistant on free ports with this tracker store, hold the conversations, stop it."""
    rasa_port, action_port = free_port(), free_port()
    env = dict(env, RASA_PORT=str(rasa_port), WEB_PORT=str(free_port()), ACTION_PORT=str(action_port),
               REVIEW_PORT=str(free_port()), RASA_REST_TOKEN=REST_TOKEN, RASA_SESSION_KEY="review-e2e-session-key",
               ACTION_SERVER_URL=f"http://127.0.0.1:{action_port}/webhook", RASA_LOG_DIR=str(work / "logs"))
    with open(work / "run.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{rasa_port}"
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the assistant exited: {(work / 'run.log').read_text()[-3000:]}")
                try:
                    if requests.get(url, timeout=2).ok and requests.get(f"http://127.0.0.1:{action_port}/health", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, "the assistant did not start in time"
                time.sleep(1)
            for sender, messages in CONVERSATIONS.items():
                for message in messages:
                    reply = requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                                          headers={"Authorization": f"Bearer {REST_TOKEN}"}, timeout=60)
                    assert reply.ok, reply.text
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tracker(request, tmp_path_factory):
    """The environment of a tracker store holding real conversations with the assistant."""
    work = tmp_path_factory.mktemp(f"review-e2e-{request.param}")
    cluster = None
    if request.param == "sqlite":
        store = {"TRACKER_DIALECT": "sqlite", "TRACKER_DB": str(work / "tracker.db"), "TRACKER_HOST": "",
                 "TRACKER_USER": "", "TRACKER_PASSWORD": ""}
    else:
        try:
            cluster = PostgresCluster().start()
        except PostgresMissing as problem:
            pytest.fail(str(problem))
        store = cluster.settings()
    env = dict(os.environ, **store, REVIEW_SECRET_KEY="e2e-secret-key-0123456789", REVIEW_RETENTION_DAYS="")
    try:
        talk(env, work)
        yield env
    finally:
        if cluster:
            cluster.stop()


def cli(env, *args):
    result = subprocess.run([sys.executable, "-m", "review.cli", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def listed(env, *flags):
    return {json.loads(line)["sender_id"]: json.loads(line) for line in cli(env, "list", "--format", "jsonl", *flags).splitlines()}


def test_the_review_cli_reads_the_assistants_conversations(tracker):
    everything = listed(tracker)
    assert {f"rest:{sender}" for sender in CONVERSATIONS} <= set(everything)  # ids are prefixed by channel
    assert everything["rest:rv-yoga"]["channel"] == "rest"
    assert "rest:rv-fallback" in listed(tracker, "--fell-back")
    assert "rest:rv-yoga" not in listed(tracker, "--fell-back")
    assert set(listed(tracker, "--red-flag")) == {"rest:rv-redflag"}  # not rv-planted
    assert everything["rest:rv-redflag"]["red_flags"]
    assert "emergency" in everything["rest:rv-redflag"]["intents"]
    transcript = cli(tracker, "show", "rest:rv-contact")
    assert "[EMAIL]" in transcript and "[PHONE]" in transcript
    assert "anna.schmidt@" not in transcript and "900123" not in transcript
    assert "BOT" in transcript
    assert set(listed(tracker, "--search", "swimming")) == {"rest:rv-contact", "rest:rv-huge"}
    huge = cli(tracker, "show", "rest:rv-huge")
    assert "more characters not shown]" in huge and len(huge) < 20_000


def test_review_in_the_browser(tracker, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    env = dict(tracker, REVIEW_PORT=str(free_port()))
    create_user(env, f"admin-{env['REVIEW_PORT']}", "admin", "browser admin password")
    process, url = start_app(env)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(accept_downloads=True)
            page.goto(url + "/")
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            page.get_by_label("Name").fill(f"admin-{env['REVIEW_PORT']}")
            page.get_by_label("Password").fill("browser admin password")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
            expect(page.locator("tr.red-flag")).to_contain_text("RED FLAG")

            page.get_by_label("Fell back").check()
            page.get_by_role("button", name="Filter").click()
            rows = page.locator("table.conversations tbody tr")
            expect(rows.filter(has_text="rv-fallback")).to_have_count(1)
            expect(rows.filter(has_text="rv-yoga")).to_have_count(0)

            page.get_by_role("link", name="rv-fallback").click()
            expect(page.locator(".turn.user").first).to_contain_text("nlu_fallback")
            page.get_by_label("New tag").fill("needs-training")
            page.get_by_role("button", name="Add tag").click()
            expect(page.locator(".annotations")).to_contain_text("needs-training")

            page.goto(url + "/conversations/rest:rv-contact")
            expect(page.locator(".turn.user").first).to_contain_text("[EMAIL]")
            expect(page.locator(".turn.user").first).to_contain_text("[PHONE]")
            assert "anna.schmidt@example.org" not in page.content()

            page.goto(url + "/?tag=needs-training")
            with page.expect_download() as download:
                page.get_by_role("link", name="CSV").click()
            exported = open(download.value.path(), encoding="utf-8").read()
            assert "rv-fallback" in exported and "rv-yoga" not in exported
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
