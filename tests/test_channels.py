"""Telegram and Slack: the credentials generator, the channel classes, and end to end.

End to end, a fake Telegram Bot API and a fake Slack Web API run on loopback and record every call;
the real action server and Rasa server are started by the launcher, as `make run` starts them, with
the credentials file written by channels/credentials.py, and the platforms' webhooks are called the
way Telegram and Slack call them. No internet is used.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import socket
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import pytest
import yaml
from aiohttp import web

import launcher
import settings
from channels import credentials as channel_credentials
from channels.conversations import SeenCache
from channels.credentials import (
    GENERATED_NAME,
    SLACK_MODULE,
    SLACK_REQUIRED,
    TELEGRAM_MODULE,
    TELEGRAM_REQUIRED,
    check_channels,
    credentials_for,
    write_credentials,
)
from conftest import ROOT, http, started
from launcher import free_port


START_TIMEOUT = 240  # seconds for the servers to come up
ANSWER_TIMEOUT = 60  # seconds for an answer to reach the fake platform API
QUIET_SECONDS = 3  # how long to watch for anything reaching the bot after a refused request

TELEGRAM_TOKEN = "123456789:TEST-telegram_token"
TELEGRAM_BOT_NAME = "ms_physio_test_bot"
TELEGRAM_SECRET = "telegram-secret_TOKEN-0123456789abcdef"
TELEGRAM_WEBHOOK_URL = "https://assistant.example/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SLACK_BOT_TOKEN = "xoxb-test-slack-bot-token"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

FOLLOW_UP_TITLES = ["How much?", "Is it safe?", "At home?"]
AMOUNT_PAYLOAD = '/ask_exercise_amount{"exercise": "aquatic"}'

SOCKETIO_MODULE = "channels.socketio.SocketIOInput"

REST_TOKEN = "rest-token-for-the-channel-tests-0123456789"

ALL_CHANNEL_VARS = {
    "RASA_REST_TOKEN": REST_TOKEN,
    "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
    "TELEGRAM_BOT_NAME": TELEGRAM_BOT_NAME,
    "TELEGRAM_WEBHOOK_URL": TELEGRAM_WEBHOOK_URL,
    "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
    "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
    "SLACK_SIGNING_SECRET": SLACK_SECRET,
}
SECRET_VALUES = [REST_TOKEN, TELEGRAM_TOKEN, TELEGRAM_SECRET, SLACK_BOT_TOKEN, SLACK_SECRET]


def only(*names: str) -> Dict[str, str]:
    return {name: ALL_CHANNEL_VARS[name] for name in names}


# --- channels/credentials.py ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def repo_credentials() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "credentials.yml").read_text())


def test_nothing_configured_gives_rest_and_socketio_as_in_credentials_yml(repo_credentials):
    report = check_channels({**settings.DEFAULTS})
    assert report.credentials == repo_credentials
    assert set(report.credentials) == {SOCKETIO_MODULE}
    assert report.live == ["socketio"]
    assert report.summary == "Channels live: socketio"
    assert report.problems == []


def test_telegram_only(repo_credentials):
    report = check_channels(only(*TELEGRAM_REQUIRED))
    assert report.summary == "Channels live: socketio, telegram"
    assert report.problems == []
    assert set(report.credentials) == {SOCKETIO_MODULE, TELEGRAM_MODULE}
    assert {SOCKETIO_MODULE: report.credentials[SOCKETIO_MODULE]} == repo_credentials
    assert report.credentials[TELEGRAM_MODULE] == {
        "access_token": "${TELEGRAM_TOKEN}",
        "verify": TELEGRAM_BOT_NAME,
        "webhook_url": TELEGRAM_WEBHOOK_URL,
        "secret_token": "${TELEGRAM_SECRET_TOKEN}",
        "api_url": "https://api.telegram.org",
    }


def test_slack_only():
    report = check_channels(only(*SLACK_REQUIRED))
    assert report.summary == "Channels live: socketio, slack"
    assert report.problems == []
    assert set(report.credentials) == {SOCKETIO_MODULE, SLACK_MODULE}
    assert report.credentials[SLACK_MODULE] == {
        "slack_token": "${SLACK_BOT_TOKEN}",
        "slack_signing_secret": "${SLACK_SIGNING_SECRET}",
        "api_url": "https://slack.com/api/",
    }


def test_both_channels_and_custom_api_urls():
    values = dict(ALL_CHANNEL_VARS, TELEGRAM_API_URL="http://127.0.0.1:1/tg", SLACK_API_URL="http://127.0.0.1:1/api/")
    report = check_channels(values)
    assert report.summary == "Channels live: socketio, rest, telegram, slack"
    assert report.problems == []
    assert report.credentials[TELEGRAM_MODULE]["api_url"] == "http://127.0.0.1:1/tg"
    assert report.credentials[SLACK_MODULE]["api_url"] == "http://127.0.0.1:1/api/"
    assert credentials_for(values) == report.credentials


def subsets(names):
    return [combo for size in range(len(names) + 1) for combo in itertools.combinations(names, size)]


@pytest.mark.parametrize(
    "title,module,required,given",
    [
        pytest.param(title, module, required, combo, id=f"{title}:{'+'.join(combo) or 'none'}")
        for title, module, required in [
            ("Telegram", TELEGRAM_MODULE, TELEGRAM_REQUIRED),
            ("Slack", SLACK_MODULE, SLACK_REQUIRED),
        ]
        for combo in subsets(required)
    ],
)
def test_every_combination_of_variables(title, module, required, given):
    report = check_channels(only(*given))
    missing = [name for name in required if name not in given]
    if not given:
        assert module not in report.credentials and report.problems == []
    elif not missing:
        assert module in report.credentials and report.problems == []
        assert report.live[-1] == title.lower()
    else:
        assert module not in report.credentials
        assert report.live == ["socketio"]
        [problem] = report.problems
        named = problem.split("(")[0]
        assert problem.startswith(f"{title} is partly configured and is left out")
        assert all(name in named for name in missing)
        assert not any(name in named for name in given)
        assert not any(value in problem for value in SECRET_VALUES)


def test_blank_values_count_as_unset():
    report = check_channels({name: "  " for name in ALL_CHANNEL_VARS})
    assert report.live == ["socketio"] and report.problems == []


@pytest.mark.parametrize(
    "override,named",
    [
        ({"TELEGRAM_SECRET_TOKEN": "has spaces and $igns"}, "TELEGRAM_SECRET_TOKEN"),
        ({"TELEGRAM_SECRET_TOKEN": "short_but_valid-chars"}, "TELEGRAM_SECRET_TOKEN"),
        ({"TELEGRAM_WEBHOOK_URL": "http://plain-http.example/webhooks/telegram/webhook"}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_TOKEN": "not-a-bot-token"}, "TELEGRAM_TOKEN"),
    ],
    ids=["bad-secret", "short-secret", "http-webhook", "bad-token"],
)
def test_invalid_telegram_values_leave_it_out_with_a_message(override, named):
    values = dict(only(*TELEGRAM_REQUIRED), **override)
    report = check_channels(values)
    assert TELEGRAM_MODULE not in report.credentials
    [problem] = report.problems
    assert problem.startswith("Telegram is misconfigured and is left out") and named in problem
    assert not any(value in problem for value in override.values())


def test_the_file_has_no_secrets_and_rasa_fills_them_in(tmp_path, monkeypatch):
    import rasa.shared.utils.io  # registers Rasa's ${VAR} resolver in this process, as in Rasa

    values = dict(ALL_CHANNEL_VARS, TELEGRAM_BOT_NAME="@" + TELEGRAM_BOT_NAME)
    path = tmp_path / "logs" / GENERATED_NAME
    report = write_credentials(values, path)
    assert report.path == path
    text = path.read_text()
    assert not any(secret in text for secret in SECRET_VALUES)
    for name in channel_credentials.SECRETS:
        assert f": ${{{name}}}\n" in text  # unquoted, so that Rasa substitutes it

    for name, value in ALL_CHANNEL_VARS.items():
        monkeypatch.setenv(name, value)
    loaded = rasa.shared.utils.io.read_config_file(str(path))
    assert loaded[TELEGRAM_MODULE]["access_token"] == TELEGRAM_TOKEN
    assert loaded[TELEGRAM_MODULE]["secret_token"] == TELEGRAM_SECRET
    assert loaded[TELEGRAM_MODULE]["verify"] == TELEGRAM_BOT_NAME
    assert loaded[SLACK_MODULE]["slack_token"] == SLACK_BOT_TOKEN
    assert loaded[SLACK_MODULE]["slack_signing_secret"] == SLACK_SECRET


def test_a_file_without_channels_loads_with_no_channel_variables_set(tmp_path, monkeypatch, repo_credentials):
    import rasa.shared.utils.io

    for name in ALL_CHANNEL_VARS:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / GENERATED_NAME
    write_credentials(only("TELEGRAM_TOKEN", "SLACK_BOT_TOKEN"), path)
    assert rasa.shared.utils.io.read_config_file(str(path)) == repo_credentials


# --- the channel classes, in process ------------------------------------------------------------


def test_telegram_channel_refuses_to_start_without_a_valid_secret():
    from rasa.shared.exceptions import InvalidConfigException

    from channels.telegram import TelegramInput

    base = {"access_token": TELEGRAM_TOKEN, "verify": TELEGRAM_BOT_NAME, "webhook_url": TELEGRAM_WEBHOOK_URL}
    for secret in (None, "", "white space", "only-21-characters-ok"):
        with pytest.raises(InvalidConfigException):
            TelegramInput.from_credentials(dict(base, secret_token=secret))
    channel = TelegramInput.from_credentials(dict(base, secret_token=TELEGRAM_SECRET, api_url="http://127.0.0.1:9/x"))
    assert channel.get_output_channel().server.api_url(TELEGRAM_TOKEN, "getMe") == (
        f"http://127.0.0.1:9/x/bot{TELEGRAM_TOKEN}/getMe"
    )


def test_slack_buttons_are_blocks_even_with_more_than_five():
    from channels.slack import SlackBot

    sent: List[Dict[str, Any]] = []

    class Recording(SlackBot):
        async def _post_message(self, channel, **kwargs):
            sent.append(dict(kwargs, channel=channel))

    buttons = [{"title": f"Choice {i}", "payload": f"/choose{{\"n\": \"{i}\"}}"} for i in range(7)]
    bot = Recording(SLACK_BOT_TOKEN, api_url="http://127.0.0.1:9/api")
    assert str(bot.client.base_url) == "http://127.0.0.1:9/api/"
    asyncio.run(bot.send_text_with_buttons("D1", "Pick one", buttons))
    [message] = sent
    assert message["channel"] == "D1" and message["text"] == "Pick one"
    section, actions = message["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "Pick one"}}
    assert actions["type"] == "actions"
    assert [(e["type"], e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        ("button", b["title"], b["payload"]) for b in buttons
    ]


ANSWER_WITH_SOURCES = (
    "Keep cool <b>& drink</b> water.\nSources: [Kalb et al. 2020](https://doi.org/10.1177/1352458520915629); "
    "[bad](javascript:alert(1)); [plain](http://example.org/x)"
)


def test_telegram_shows_the_sources_as_links_and_escapes_everything_else():
    from channels.telegram import telegram_html

    rendered = telegram_html(ANSWER_WITH_SOURCES)
    assert '<a href="https://doi.org/10.1177/1352458520915629">Kalb et al. 2020</a>' in rendered
    assert "&lt;b&gt;&amp; drink&lt;/b&gt;" in rendered
    assert rendered.count("<a ") == 1  # javascript: and http:// stay text
    assert "[bad](javascript:alert(1))" in rendered and "[plain](http://example.org/x)" in rendered


def test_telegram_sends_every_message_as_html():
    from channels.telegram import TelegramOutput

    sent: List[Dict[str, Any]] = []

    class Recording(TelegramOutput):
        async def request(self, method, data=None, *args, **kwargs):
            sent.append(dict(data or {}, method=method))
            return {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}}

    bot = Recording(TELEGRAM_TOKEN, "http://127.0.0.1:9")
    asyncio.run(bot.send_text_message("5", ANSWER_WITH_SOURCES))
    [message] = [m for m in sent if m["method"] == "sendMessage"]
    assert message["parse_mode"] == "HTML"
    assert '<a href="https://doi.org/10.1177/1352458520915629">Kalb et al. 2020</a>' in message["text"]


def test_slack_shows_the_sources_as_links_and_escapes_everything_else():
    from channels.slack import SlackBot, slack_mrkdwn

    rendered = slack_mrkdwn(ANSWER_WITH_SOURCES)
    assert "<https://doi.org/10.1177/1352458520915629|Kalb et al. 2020>" in rendered
    assert "&lt;b&gt;&amp; drink&lt;/b&gt;" in rendered
    assert rendered.count("<") == 1  # javascript: and http:// stay text
    sent: List[Dict[str, Any]] = []

    class Recording(SlackBot):
        async def _post_message(self, channel, **kwargs):
            sent.append(kwargs)

    asyncio.run(Recording(SLACK_BOT_TOKEN).send_text_with_buttons("D1", ANSWER_WITH_SOURCES, [{"title": "Yes", "payload": "/affirm"}]))
    assert sent[0]["blocks"][0]["text"] == {"type": "mrkdwn", "text": rendered}


def test_every_button_payload_fits_telegram_callback_data():
    """Telegram refuses a whole message if a button's callback_data is over 64 bytes."""
    from actions.replies import CONTENT, exercise_buttons, followup_buttons, payload, topic_button

    buttons = []
    for topic in CONTENT.topics.values():
        buttons += followup_buttons(topic) + [topic_button(topic)] + exercise_buttons(**{topic.kind: topic.id})
        buttons += [{"payload": payload(intent, exercise=topic.id)} for intent in CONTENT.followups]
    too_long = [b["payload"] for b in buttons if len(b["payload"].encode("utf-8")) > 64]
    assert not too_long


def test_slack_app_manifest():
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yml").read_text())
    assert manifest["features"]["bot_user"]["display_name"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "chat:write", "im:history", "im:read", "app_mentions:read", "channels:history"
    }
    events = manifest["settings"]["event_subscriptions"]
    assert set(events["bot_events"]) == {"message.im", "app_mention"}
    assert events["request_url"] == "https://YOUR-HOST/webhooks/slack/webhook"
    assert manifest["settings"]["interactivity"] == {
        "is_enabled": True, "request_url": "https://YOUR-HOST/webhooks/slack/webhook"
    }


# --- end to end: a fake platform API, the real servers -----------------------------------------


def wait_for(check: Callable[[], Any], timeout: float = ANSWER_TIMEOUT, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


class FakePlatform:
    """Telegram's Bot API (under /telegram) and Slack's Web API (under /slack/api/) on loopback.

    Every call is recorded as {"platform", "method", "data", "headers"}.
    """

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: Optional[web.AppRunner] = None
        self._message_ids = itertools.count(1)

    @property
    def telegram_url(self) -> str:
        return f"{self.url}/telegram"

    @property
    def slack_url(self) -> str:
        return f"{self.url}/slack/api/"

    def start(self) -> "FakePlatform":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._sock.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/telegram/bot{token}/{method}", self._telegram)
        app.router.add_post("/slack/api/{method}", self._slack)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _record(self, platform: str, request: web.Request) -> Dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
        else:
            data = dict(await request.post())
        call = {"platform": platform, "method": request.match_info["method"], "data": data, "headers": dict(request.headers)}
        if platform == "telegram":
            call["token"] = request.match_info["token"]
        with self._lock:
            self.calls.append(call)
        return call

    async def _telegram(self, request: web.Request) -> web.Response:
        call = await self._record("telegram", request)
        method, data = call["method"].lower(), call["data"]
        if method == "getme":
            result: Any = {"id": int(call["token"].split(":")[0]), "is_bot": True, "first_name": "MS physio", "username": TELEGRAM_BOT_NAME}
        elif method == "sendmessage":
            result = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(data["chat_id"]), "type": "private"},
                "text": data.get("text", ""),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def _slack(self, request: web.Request) -> web.Response:
        call = await self._record("slack", request)
        data = call["data"]
        return web.json_response(
            {"ok": True, "channel": data.get("channel"), "ts": f"{time.time():.6f}", "message": {"text": data.get("text", "")}}
        )

    def find(self, platform: str, method: Optional[str] = None, **where: Any) -> List[Dict[str, Any]]:
        with self._lock:
            calls = list(self.calls)
        return [
            c for c in calls
            if c["platform"] == platform
            and (method is None or c["method"] == method)
            and all(str(c["data"].get(key)) == str(value) for key, value in where.items())
        ]


@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform().start()
    try:
        yield fake
    finally:
        fake.stop()


class Running:
    def __init__(self, url: str, tracker_db: Path, log: Path, report) -> None:
        self.url = url
        self.tracker_db = tracker_db
        self.log = log
        self.report = report

    def user_texts(self, sender: Any) -> List[str]:
        if not self.tracker_db.exists():
            return []
        with sqlite3.connect(self.tracker_db) as db:
            rows = db.execute(
                "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (str(sender),)
            ).fetchall()
        return [json.loads(data).get("text") for (data,) in rows]


@contextlib.contextmanager
def assistant_with(work: Path, channel_vars: Mapping[str, str], with_actions: bool = True) -> Iterator[Running]:
    """The action server and Rasa, from the launcher, with the credentials it writes for these
    channel variables (and none of this machine's)."""
    unset = {name: "" for name in os.environ if name.startswith(("TELEGRAM_", "SLACK_"))}
    overrides = dict(
        RASA_PORT=str(free_port()), ACTION_PORT=str(free_port()), TRACKER_DIALECT="sqlite", TRACKER_HOST="",
        TRACKER_DB=str(work / "tracker.db"), RASA_LOG_DIR=str(work / "logs"), RASA_REST_TOKEN="",
    )  # fmt: skip
    services = (launcher.ACTION, launcher.RASA) if with_actions else (launcher.RASA,)
    stack = launcher.Stack(services=services, logs=work, **{**overrides, **unset, **channel_vars})
    started(stack)
    try:
        assert stack.channels is not None
        yield Running(stack.rasa_url, work / "tracker.db", work, stack.channels)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, platform) -> Iterator[Running]:
    channel_vars = dict(ALL_CHANNEL_VARS, TELEGRAM_API_URL=platform.telegram_url, SLACK_API_URL=platform.slack_url)
    with assistant_with(tmp_path_factory.mktemp("channels"), channel_vars) as running:
        assert running.report.summary == "Channels live: socketio, rest, telegram, slack"
        yield running


# --- Telegram -----------------------------------------------------------------------------------


def telegram_message(chat_id: int, text: str) -> Dict[str, Any]:
    person = {"id": chat_id, "is_bot": False, "first_name": "Pat"}
    return {
        "update_id": chat_id * 10,
        "message": {"message_id": 1, "date": int(time.time()), "chat": dict(person, type="private"), "from": person, "text": text},
    }


def telegram_button_press(chat_id: int, data: str) -> Dict[str, Any]:
    person = {"id": chat_id, "is_bot": False, "first_name": "Pat"}
    return {
        "update_id": chat_id * 10 + 1,
        "callback_query": {
            "id": f"cb-{chat_id}",
            "from": person,
            "chat_instance": "1",
            "data": data,
            "message": {"message_id": 2, "date": int(time.time()), "chat": dict(person, type="private"), "text": "..."},
        },
    }


def post_telegram(assistant: Running, update: Dict[str, Any], secret: Optional[str] = TELEGRAM_SECRET):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return http(f"{assistant.url}/webhooks/telegram/webhook", json.dumps(update).encode(), headers)


def inline_keyboard(call: Dict[str, Any]) -> List[Dict[str, Any]]:
    markup = json.loads(call["data"].get("reply_markup") or "{}")
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def test_telegram_webhook_is_registered_with_the_secret_at_start_up(assistant, platform):
    [call, *_] = wait_for(lambda: platform.find("telegram", "setWebhook"), what="setWebhook")
    assert call["token"] == TELEGRAM_TOKEN
    assert call["data"] == {"url": TELEGRAM_WEBHOOK_URL, "secret_token": TELEGRAM_SECRET}


def test_telegram_set_webhook_route_needs_the_secret_and_passes_it_on(assistant, platform):
    before = len(platform.find("telegram", "setWebhook"))
    for headers in ({}, {SECRET_HEADER: "wrong"}):
        assert http(f"{assistant.url}/webhooks/telegram/set_webhook", b"", headers, timeout=30)[0] == 403
    assert len(platform.find("telegram", "setWebhook")) == before  # it is not open to anyone
    status, body = http(f"{assistant.url}/webhooks/telegram/set_webhook", b"", {SECRET_HEADER: TELEGRAM_SECRET},
                        timeout=30)
    assert (status, body) == (200, b"Webhook setup successful")
    calls = platform.find("telegram", "setWebhook")
    assert len(calls) == before + 1
    assert calls[-1]["data"] == {"url": TELEGRAM_WEBHOOK_URL, "secret_token": TELEGRAM_SECRET}


def test_telegram_message_gets_the_answer_with_an_inline_keyboard(assistant, platform, content_data):
    chat_id = 7001
    status, body = post_telegram(assistant, telegram_message(chat_id, "tell me about swimming"))
    assert status == 200, body
    summary = content_data.topics["aquatic"].facets["summary"].text
    [answer] = wait_for(
        lambda: [c for c in platform.find("telegram", "sendMessage", chat_id=chat_id) if summary in c["data"]["text"]],
        what="the aquatic answer on Telegram",
    )
    buttons = inline_keyboard(answer)
    assert [b["text"] for b in buttons] == FOLLOW_UP_TITLES
    assert all(b["callback_data"].startswith("/ask_") and "aquatic" in b["callback_data"] for b in buttons)
    assert assistant.user_texts(f"telegram:{chat_id}") == ["tell me about swimming"]


def test_telegram_button_press_is_understood(assistant, platform, content_data):
    chat_id = 7002
    status, _ = post_telegram(assistant, telegram_button_press(chat_id, AMOUNT_PAYLOAD))
    assert status == 200
    how_much = content_data.topics["aquatic"].facets["how_much"].text
    wait_for(
        lambda: [c for c in platform.find("telegram", "sendMessage", chat_id=chat_id) if how_much in c["data"]["text"]],
        what="the answer to a button press on Telegram",
    )


@pytest.mark.parametrize(
    "chat_id,secret",
    [(7101, None), (7102, ""), (7103, "wrong-secret"), (7104, TELEGRAM_SECRET + "x"), (7105, TELEGRAM_SECRET[:-1])],
    ids=["none", "empty", "wrong", "longer", "shorter"],
)
def test_telegram_without_the_secret_header_is_refused(assistant, platform, chat_id, secret):
    before = len(platform.find("telegram"))
    status, _ = post_telegram(assistant, telegram_message(chat_id, "tell me about swimming"), secret=secret)
    assert status == 403
    time.sleep(QUIET_SECONDS)
    assert len(platform.find("telegram")) == before  # not even getMe
    assert assistant.user_texts(f"telegram:{chat_id}") == []


# --- Slack --------------------------------------------------------------------------------------


def slack_headers(body: bytes, secret: str = SLACK_SECRET, timestamp: Optional[int] = None,
                  content_type: str = "application/json") -> Dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def slack_event(user: str, channel: str, text: str) -> bytes:
    return json.dumps(
        {
            "token": "unused-verification-token",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev-{user}-{time.time_ns()}",
            "event_time": int(time.time()),
            "authorizations": [{"user_id": "UBOT"}],
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": channel,
                "user": user,
                "text": text,
                "ts": f"{time.time():.6f}",
            },
        }
    ).encode()


def post_slack(assistant: Running, body: bytes, headers: Dict[str, str]):
    return http(f"{assistant.url}/webhooks/slack/webhook", body, headers)


def slack_answer(platform: FakePlatform, channel: str, text: str) -> List[Dict[str, Any]]:
    return [c for c in platform.find("slack", "chat.postMessage", channel=channel) if text in c["data"].get("text", "")]


def test_slack_url_verification_needs_a_signature(assistant):
    body = json.dumps({"token": "x", "challenge": "challenge-3eZbrw1aBm2rZ", "type": "url_verification"}).encode()
    status, reply = post_slack(assistant, body, slack_headers(body))
    assert status == 200
    assert json.loads(reply) == {"challenge": "challenge-3eZbrw1aBm2rZ"}
    status, reply = post_slack(assistant, body, {"Content-Type": "application/json"})
    assert status in (401, 403) and b"challenge-3eZbrw1aBm2rZ" not in reply


def test_slack_message_gets_the_answer_with_button_blocks(assistant, platform, content_data):
    body = slack_event("U-SWIM", "D-SWIM", "tell me about swimming")
    status, _ = post_slack(assistant, body, slack_headers(body))
    assert status == 200
    summary = content_data.topics["aquatic"].facets["summary"].text
    [answer] = wait_for(lambda: slack_answer(platform, "D-SWIM", summary), what="the aquatic answer on Slack")
    assert answer["headers"]["Authorization"] == f"Bearer {SLACK_BOT_TOKEN}"
    assert "as_user" not in answer["data"]
    blocks = answer["data"]["blocks"]
    assert blocks[0]["type"] == "section" and summary in blocks[0]["text"]["text"]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["type"], b["text"]["text"]) for b in buttons] == [("button", t) for t in FOLLOW_UP_TITLES]
    assert all(b["value"].startswith("/ask_") and "aquatic" in b["value"] for b in buttons)


def test_slack_button_press_is_understood(assistant, platform, content_data):
    payload = {
        "type": "block_actions",
        "user": {"id": "U-BUTTON"},
        "channel": {"id": "D-BUTTON"},
        "message": {"ts": f"{time.time():.6f}"},
        "actions": [{"type": "button", "action_id": "a1", "block_id": "b1", "value": AMOUNT_PAYLOAD}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    status, _ = post_slack(assistant, body, slack_headers(body, content_type="application/x-www-form-urlencoded"))
    assert status == 200
    how_much = content_data.topics["aquatic"].facets["how_much"].text
    wait_for(lambda: slack_answer(platform, "D-BUTTON", how_much), what="the answer to a button press on Slack")


@pytest.mark.parametrize("kind", ["unsigned", "forged", "stale", "future"])
def test_unauthentic_slack_requests_are_refused(assistant, platform, kind):
    user, channel = f"U-{kind.upper()}", f"D-{kind.upper()}"
    body = slack_event(user, channel, "tell me about swimming")
    headers = {
        "unsigned": {"Content-Type": "application/json"},
        "forged": slack_headers(body, secret="not-the-signing-secret"),
        "stale": slack_headers(body, timestamp=int(time.time()) - 6 * 60),
        "future": slack_headers(body, timestamp=int(time.time()) + 6 * 60),
    }[kind]
    before = len(platform.find("slack"))
    status, _ = post_slack(assistant, body, headers)
    assert status in (401, 403)
    time.sleep(QUIET_SECONDS)
    assert len(platform.find("slack")) == before
    assert assistant.user_texts("slack:" + user) == []


def test_a_telegram_update_delivered_twice_is_processed_once(assistant, platform, content_data):
    chat_id = 7301
    update = telegram_message(chat_id, "tell me about swimming")
    assert post_telegram(assistant, update)[0] == 200
    summary = content_data.topics["aquatic"].facets["summary"].text
    wait_for(lambda: [c for c in platform.find("telegram", "sendMessage", chat_id=chat_id) if summary in c["data"]["text"]],
             what="the first answer")
    time.sleep(1)
    before = len(platform.find("telegram", "sendMessage", chat_id=chat_id))
    assert post_telegram(assistant, update)[0] == 200  # Telegram must not deliver it a third time
    time.sleep(QUIET_SECONDS)
    assert len(platform.find("telegram", "sendMessage", chat_id=chat_id)) == before
    assert assistant.user_texts(f"telegram:{chat_id}") == ["tell me about swimming"]


@pytest.mark.e2e  # a Redis server
def test_the_replay_cache_is_shared_through_redis(tmp_path):
    """The scale-out set-up (CHANNEL_REPLAY_STORE=redis): a request one Rasa server has taken is a
    replay for every other server too."""

    import redis.exceptions

    from deploy.scale_out import find_binary

    redis_server = find_binary("redis-server")
    port = free_port()
    server = launcher.Service("Redis", [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                        "--appendonly", "no", "--dir", str(tmp_path)], os.environ,
                              log=tmp_path / "redis.log")
    try:
        env = {"CHANNEL_REPLAY_STORE": "redis", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_DB": "0"}
        old = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            first, second = SeenCache.from_environment(), SeenCache.from_environment()
        finally:
            for name, value in old.items():
                os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
        assert first.shared and second.shared

        async def race():
            for _ in range(50):
                try:
                    return await first.first("probe", 5), await second.first("probe", 5), await first.first("other", 5)
                except redis.exceptions.ConnectionError:  # Redis still starting
                    await asyncio.sleep(0.1)
            raise AssertionError("Redis did not start")

        assert asyncio.run(race()) == (True, False, True)
        alone = SeenCache()  # without Redis: this process only
        assert not alone.shared and asyncio.run(alone.first("x", 5)) and not asyncio.run(alone.first("x", 5))
    finally:
        server.stop()


def test_a_replayed_slack_request_is_refused(assistant, platform, content_data):
    body = slack_event("U-REPLAY", "D-REPLAY", "tell me about swimming")
    headers = slack_headers(body)
    assert post_slack(assistant, body, headers)[0] == 200
    summary = content_data.topics["aquatic"].facets["summary"].text
    wait_for(lambda: slack_answer(platform, "D-REPLAY", summary), what="the first answer")
    time.sleep(1)  # let the rest of the first answer arrive
    before = len(platform.find("slack"))
    status, _ = post_slack(assistant, body, headers)  # the exact same signed request again
    assert status in (401, 403)
    time.sleep(QUIET_SECONDS)
    assert len(platform.find("slack")) == before
    assert assistant.user_texts("slack:U-REPLAY") == ["tell me about swimming"]


# --- channels that are not (fully) configured ---------------------------------------------------


@pytest.mark.e2e
def test_a_partly_configured_channel_is_left_out_and_rasa_still_starts(tmp_path):
    """Telegram partly configured (no webhook URL, no secret), Slack not at all."""
    channel_vars = only("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME")
    with assistant_with(tmp_path, channel_vars, with_actions=False) as running:
        assert running.report.summary == "Channels live: socketio"
        [problem] = running.report.problems
        assert problem.startswith("Telegram is partly configured and is left out")
        assert "TELEGRAM_WEBHOOK_URL" in problem and "TELEGRAM_SECRET_TOKEN" in problem
        assert set(yaml.safe_load(running.report.path.read_text())) == {SOCKETIO_MODULE}
        assert http(f"{running.url}/webhooks/socketio/", timeout=10)[0] == 200
        assert http(f"{running.url}/webhooks/rest/webhook", b"{}", {"Content-Type": "application/json"},
                    timeout=10)[0] == 404  # REST is off without RASA_REST_TOKEN
        update = json.dumps(telegram_message(7200, "hello")).encode()
        headers = {"Content-Type": "application/json", SECRET_HEADER: TELEGRAM_SECRET}
        assert http(f"{running.url}/webhooks/telegram/webhook", update, headers, timeout=10)[0] == 404
        assert http(f"{running.url}/webhooks/slack/webhook", b"{}", {"Content-Type": "application/json"}, timeout=10)[0] == 404
