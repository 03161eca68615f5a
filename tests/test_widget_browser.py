"""The website chat widget (web/) in a real browser: Debian's Chromium driven by Playwright.

Uses the real assistant (the session's stack, with `web/serve.py`: tests/conftest.py), then talks to the assistant through the widget as a person would: with the mouse, with the
keyboard only, on a 320 px wide screen and at 200 % zoom. A small stand-in server built from Rasa's
own socket.io channel (`SocketIOInput`) with an echo instead of the model checks what the real
assistant cannot be made to do on demand: send markup and links, go away and come back.

Needs: Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH), the `playwright` Python package,
and `npm ci` in web/. Missing any of them is a failure, not a skip.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import yaml

import launcher
from names import SAFETY_KEY
from browser import assert_accessible, check_chromium, launch, with_axe
from conftest import API_TOKEN, ARTIFACTS, ROOT
from conftest import http as fetch
from launcher import free_port

pytestmark = pytest.mark.browser

WEB = ROOT / "web"
SOCKET_IO_BUNDLE = WEB / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
ANSWER_TIMEOUT = 30_000  # ms
LAUNCHER = "Chat with the MS physio assistant"

# A stand-in for the Rasa server: the project's socket.io input channel and Rasa's CORS set-up, answering
# every message with an echo and one quick reply (after 2 s when the message says "slowly").
FAKE_RASA = '''
import asyncio
import sys
from sanic import Sanic
from sanic_cors import CORS
from channels.socketio import SocketIOInput

app = Sanic("fake_rasa")
CORS(app, resources={r"/*": {"origins": "*"}}, automatic_options=True)
channel = SocketIOInput(session_key="fake-rasa-session-key", cors_origins="*")


async def on_new_message(message):
    if "slowly" in (message.text or ""):
        await asyncio.sleep(2)
    await message.output_channel.send_text_with_buttons(
        message.sender_id, "Echo: " + (message.text or ""), [{"title": "Again", "payload": "again"}]
    )


app.blueprint(channel.blueprint(on_new_message))
app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False, motd=False, workers=1)
'''


def get(url: str, timeout: float = 5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def raw_get(port: int, path: str):
    """GET an exact, unnormalised path (urllib would not send `..` as it is)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def start(name: str, command: List[str], env: Dict[str, str], log: Path, ready_url: str,
          timeout: float) -> launcher.Service:
    service = launcher.Service(name, command, env, log=log, ready_url=ready_url)
    try:
        launcher.wait_ready([service], timeout)
    except launcher.NotReady as problem:
        service.stop()
        pytest.fail(str(problem))
    return service


def start_web(tmp: Path, rasa_url: str) -> tuple:
    """web/serve.py as the launcher starts it, for this Rasa URL."""
    port = free_port()
    env = dict(os.environ, WEB_HOST="127.0.0.1", WEB_PORT=str(port), RASA_PUBLIC_URL=rasa_url)
    url = f"http://127.0.0.1:{port}"
    service = start(launcher.WEB, launcher.web_command(), env, tmp / f"web-{port}.log", f"{url}/", timeout=30)
    return service, url


def start_fake_rasa(tmp: Path, port: int) -> launcher.Service:
    script = tmp / "fake_rasa.py"
    script.write_text(FAKE_RASA)
    return start("stand-in Rasa server", [sys.executable, str(script), str(port)], dict(os.environ),
                 tmp / "fake-rasa.log", f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=90)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def socket_io_installed() -> None:
    if not SOCKET_IO_BUNDLE.is_file():
        pytest.fail(f"{SOCKET_IO_BUNDLE.relative_to(ROOT)} is missing: run `npm ci` in web/.", pytrace=False)


@pytest.fixture(scope="module")
def requirements_present(socket_io_installed) -> None:
    check_chromium()


@pytest.fixture(scope="module")
def browser(requirements_present):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(assistant, requirements_present) -> str:
    """The page `make run` serves, in front of the real assistant (the session's stack)."""
    return assistant.web_url


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, reduced_motion="reduce")
    context.set_default_timeout(ANSWER_TIMEOUT)
    yield context
    context.close()


class Page:
    """A page plus what it did: dialogs it opened, errors it threw."""

    def __init__(self, page) -> None:
        self.page = page
        self.dialogs: List[str] = []
        self.errors: List[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def page(context) -> Page:
    return Page(context.new_page())


# ------------------------------------------------------------------------------------ helpers


def chat_button(page):
    return page.get_by_role("button", name=LAUNCHER)


def panel(page):
    return page.get_by_role("region", name="MS physiotherapy assistant")


def message_box(page):
    return page.get_by_role("textbox", name="Your message")


def bot_messages(page):
    return page.locator(".msp-msg--bot")


def user_messages(page):
    return page.locator(".msp-msg--user")


def open_widget(page) -> None:
    chat_button(page).click()
    message_box(page).wait_for()


def ask(page, text: str) -> None:
    count = bot_messages(page).count()
    message_box(page).fill(text)
    message_box(page).press("Enter")
    wait_for_more_bot_messages(page, count)


def wait_for_more_bot_messages(page, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('.msp-msg--bot').length > n", arg=count, timeout=ANSWER_TIMEOUT
    )
    page.wait_for_timeout(300)  # the rest of a multi-part answer


def focused(page) -> Dict[str, str]:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                tag: el.tagName.toLowerCase(),
                text: (el.textContent || '').trim(),
                id: el.id,
                className: String(el.className),
                focusVisible: String(el.matches(':focus-visible')),
                outlineWidth: style.outlineWidth,
                outlineStyle: style.outlineStyle,
            };
        }"""
    )


def press_until_focused(page, key: str, predicate, limit: int = 15) -> Dict[str, str]:
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if predicate(now):
            return now
    pytest.fail(f"{key} never reached the expected control; focus is on {focused(page)}")


def no_horizontal_scroll(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"
        " && document.body.scrollWidth <= window.innerWidth"
    )


# A contrast check of every visible piece of text (WCAG 2.1 relative luminance), against the
# first opaque background found up the tree.
CONTRAST_JS = """
(root) => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0.99) return c;
    }
    return [255, 255, 255, 1];
  };
  const results = [];
  for (const el of root.querySelectorAll('*')) {
    const hasText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!hasText) continue;
    const rect = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (rect.width < 2 || rect.height < 2 || style.visibility === 'hidden') continue;
    const fg = parse(style.color), bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    results.push({text: el.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return results;
}
"""


# ------------------------------------------------------------------------------------ web/serve.py alone


def test_serve_py_serves_only_the_public_files_with_the_right_types(tmp_path, socket_io_installed):
    service, url = start_web(tmp_path, "http://rasa.example.test:5999")
    port = int(url.rsplit(":", 1)[1])
    try:
        expected = {
            "/": "text/html; charset=utf-8",
            "/index.html": "text/html; charset=utf-8",
            "/widget.js": "text/javascript; charset=utf-8",
            "/widget.css": "text/css; charset=utf-8",
            "/page.css": "text/css; charset=utf-8",
            "/socket.io.min.js": "text/javascript; charset=utf-8",
            "/config.js": "text/javascript; charset=utf-8",
        }
        for path, content_type in expected.items():
            status, got_type, body = raw_get(port, path)
            assert (status, got_type) == (200, content_type), path
            assert body, path

        status, _, body = raw_get(port, "/config.js")
        assert b'"serverUrl": "http://rasa.example.test:5999"' in body
        assert b"Socket.IO v4." in raw_get(port, "/socket.io.min.js")[2]
        html_headers = urllib.request.urlopen(f"{url}/", timeout=5).headers
        assert "connect-src 'self' http://rasa.example.test:5999 ws://rasa.example.test:5999" in html_headers[
            "Content-Security-Policy"
        ]
        assert html_headers["X-Content-Type-Options"] == "nosniff"

        for path in [
            "/../serve.py",
            "/../../README.md",
            "/%2e%2e/serve.py",
            "/%2E%2E/%2E%2E/Makefile",
            "/..%2fserve.py",
            "/public/../serve.py",
            "/..\\serve.py",
            "//etc/passwd",
            "/%2fetc/passwd",
            "/etc/passwd",
            "/serve.py",
            "/package.json",
            "/node_modules/socket.io-client/package.json",
            "/socket.io.js",
            "/nothing-here.html",
            "/widget.js/",
            "/public/",
            "/.gitignore",
            "/%00",
            "/%ff%fe",
        ]:
            status, content_type, body = raw_get(port, path)
            assert status == 404, path
            assert body == b"Not found\n", path
    finally:
        assert service.stop(signum=signal.SIGTERM) == 0, "web/serve.py did not stop cleanly on SIGTERM"


def test_serve_py_stops_cleanly_on_sigint(tmp_path, socket_io_installed):
    service, url = start_web(tmp_path, "http://localhost:5005")
    assert get(f"{url}/config.js")[0] == 200
    assert service.stop(signum=signal.SIGINT) == 0
    assert "Traceback" not in service.log_path.read_text()


# ------------------------------------------------------------------------------------ with the real assistant


def test_a_conversation_with_buttons_survives_a_reload(site, page, content_data):
    p = page.page
    p.goto(site)
    assert p.evaluate("document.documentElement.lang") == "en"
    assert chat_button(p).get_attribute("aria-expanded") == "false"
    open_widget(p)
    assert chat_button(p).get_attribute("aria-expanded") == "true"
    assert panel(p).is_visible()

    summary = content_data.topics["aquatic"].facets["summary"].text
    precautions = content_data.topics["aquatic"].facets["precautions"].text
    ask(p, "tell me about swimming")
    p.get_by_text(summary[:60]).wait_for()
    assert user_messages(p).last.inner_text().endswith("tell me about swimming")

    p.get_by_role("button", name="Is it safe?").click()
    p.get_by_text(precautions[:60]).wait_for()
    # the button's title is shown as the user's message (its payload went to Rasa)
    assert "Is it safe?" in user_messages(p).last.inner_text()
    assert "/ask_" not in p.get_by_role("log").inner_text()
    # answered buttons are gone; the new answer's buttons are offered
    assert p.get_by_role("button", name="Is it safe?").count() == 0
    assert p.get_by_role("button", name="How much?").count() == 1
    session_id = p.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':session_id')).map(k => localStorage[k])[0]")
    assert session_id and len(session_id) == 65  # made and signed by the server (channels/socketio.py)

    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "widget.png"))

    p.reload()
    # the panel is open again and the history is back, in order
    message_box(p).wait_for()
    log_text = p.get_by_role("log").inner_text()
    assert log_text.index("tell me about swimming") < log_text.index(summary[:60]) < log_text.index(precautions[:60])
    assert p.get_by_role("button", name="How much?").count() == 1
    same_session = p.evaluate("Object.keys(localStorage).filter(k => k.endsWith(':session_id')).map(k => localStorage[k])[0]")
    assert same_session == session_id

    # Rasa continues the same conversation: the follow-up still refers to swimming
    ask(p, "how much should I do?")
    p.get_by_text(content_data.topics["aquatic"].facets["how_much"].text[:60]).wait_for()
    assert page.dialogs == [] and page.errors == []


def test_keyboard_only_conversation(site, page, content_data):
    p = page.page
    p.goto(site)
    now = press_until_focused(p, "Tab", lambda f: f["text"] == LAUNCHER)
    # a clearly visible focus outline: at least 3px
    assert now["focusVisible"] == "true"
    assert now["outlineStyle"] != "none" and float(now["outlineWidth"].rstrip("px")) >= 3

    p.keyboard.press("Enter")
    assert chat_button(p).get_attribute("aria-expanded") == "true"
    assert focused(p)["id"] == message_box(p).get_attribute("id")

    count = bot_messages(p).count()
    p.keyboard.type("tell me about swimming")
    p.keyboard.press("Enter")
    wait_for_more_bot_messages(p, count)
    p.get_by_role("button", name="Is it safe?").wait_for()

    # the suggested replies come right before the message box
    reply = press_until_focused(p, "Shift+Tab", lambda f: f["text"] == "Is it safe?")
    assert float(reply["outlineWidth"].rstrip("px")) >= 3
    count = bot_messages(p).count()
    p.keyboard.press("Enter")
    wait_for_more_bot_messages(p, count)
    p.get_by_text(content_data.topics["aquatic"].facets["precautions"].text[:60]).wait_for()
    # the pressed button is gone, so focus went back to the message box
    assert focused(p)["id"] == message_box(p).get_attribute("id")

    p.keyboard.press("Escape")
    assert not panel(p).is_visible()
    assert chat_button(p).get_attribute("aria-expanded") == "false"
    assert focused(p)["text"] == LAUNCHER
    # and open again with Enter: the conversation is still there
    p.keyboard.press("Enter")
    assert "Is it safe?" in p.get_by_role("log").inner_text()
    assert page.dialogs == [] and page.errors == []


def test_markup_typed_by_the_user_is_shown_as_text(site, page):
    p = page.page
    p.goto(site)
    open_widget(p)
    ask(p, "<script>alert(1)</script>")
    ask(p, '<img src=x onerror="alert(2)"><b>bold</b>')
    texts = user_messages(p).all_inner_texts()
    assert any(t.endswith("<script>alert(1)</script>") for t in texts)
    assert any(t.endswith('<img src=x onerror="alert(2)"><b>bold</b>') for t in texts)
    assert p.locator(".msp-root script, .msp-root img, .msp-root b").count() == 0
    p.wait_for_timeout(500)
    assert page.dialogs == [], f"a dialog fired: {page.dialogs}"
    # and after a reload (the transcript comes back from storage) still as text
    p.reload()
    message_box(p).wait_for()
    assert p.locator(".msp-root script, .msp-root img, .msp-root b").count() == 0
    assert "<script>alert(1)</script>" in p.get_by_role("log").inner_text()
    assert page.dialogs == []


def test_roles_names_targets_contrast_and_motion(site, page, browser):
    p = page.page
    p.goto(site)
    open_widget(p)
    ask(p, "tell me about swimming")

    log = p.get_by_role("log")
    assert log.count() == 1 and log.get_attribute("aria-live") == "polite"
    status = p.get_by_role("status")
    assert status.count() == 1 and status.get_attribute("aria-live") == "polite"
    assert panel(p).count() == 1
    assert chat_button(p).get_attribute("aria-controls") == panel(p).get_attribute("id")
    # labelled controls (get_by_role with a name finds only named ones)
    assert p.get_by_role("button", name="Send").count() == 1
    assert p.get_by_role("button", name="Close chat").count() == 1
    assert p.locator("label", has_text="Your message").get_attribute("for") == message_box(p).get_attribute("id")
    unnamed = p.evaluate(
        """() => [...document.querySelectorAll('.msp-root button, .msp-root input')].filter(el => {
              const label = el.id && document.querySelector(`label[for="${el.id}"]`);
              const name = el.getAttribute('aria-label') || (label && label.textContent) || el.textContent;
              return !(name && name.trim());
           }).map(el => el.outerHTML)"""
    )
    assert unnamed == []

    # every button at least 44 x 44 CSS px
    for button in p.locator(".msp-root button").all():
        if button.is_visible():
            box = button.bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, (button.inner_text(), box)

    # text contrast at least 4.5:1, on the page and in the widget (user and bot messages included)
    ratios = p.evaluate(CONTRAST_JS, p.locator("body").element_handle())
    low = [r for r in ratios if r["ratio"] < 4.5]
    assert ratios and not low, low

    # font sizes come from rem: doubling the root font size doubles the text
    before = p.evaluate("parseFloat(getComputedStyle(document.querySelector('.msp-msg-text')).fontSize)")
    p.evaluate("document.documentElement.style.fontSize = '200%'")
    after = p.evaluate("parseFloat(getComputedStyle(document.querySelector('.msp-msg-text')).fontSize)")
    assert after == pytest.approx(before * 2)
    p.evaluate("document.documentElement.style.fontSize = ''")

    # no animation when reduced motion is asked for (this context asks), animation otherwise
    dots = "getComputedStyle(document.querySelector('.msp-dots span')).animationName"
    assert p.evaluate(dots) == "none"
    moving = browser.new_context(reduced_motion="no-preference")
    try:
        other = moving.new_page()
        other.goto(site)
        chat_button(other).click()
        assert other.evaluate(dots) == "msp-blink"
    finally:
        moving.close()
    assert page.errors == []


def safety_check_message(assistant) -> str:
    """A message that the running assistant answers with the safety check ("Is this happening to
    you now?"): the first of the development sets' emergencies that its NLU pipeline only suspects
    (parse data `safety`, tier `suspected`; nlp/safety.py), asked of the assistant itself."""
    candidates = [
        turn["user"]
        for path in (ROOT / "tests" / "conversations_dev.yml", ROOT / "tests" / "conversations_former_sealed_1.yml")
        for conversation in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]
        for turn in conversation["turns"]
        if turn.get("expect") == "emergency"
    ]
    for path in sorted((ROOT / "tests" / "safety").glob("*.yml")):
        for messages in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).values():
            candidates += [m for m in messages if isinstance(m, str)] if isinstance(messages, list) else []
    for text in candidates:
        status, body = fetch(f"{assistant.url}/model/parse?token={API_TOKEN}", json.dumps({"text": text}).encode(),
                            {"Content-Type": "application/json"})
        assert status == 200, body
        if (json.loads(body).get(SAFETY_KEY) or {}).get("tier") == "suspected":
            return text
    pytest.fail(f"none of the {len(candidates)} development emergencies is only suspected by the assistant")


def test_the_widget_meets_wcag_2_1_aa_with_an_answer_buttons_and_the_safety_check(site, browser, assistant,
                                                                                   content_data):
    """axe-core on the page: closed, open and empty, with an answer and its buttons, and with the
    safety check and its Yes and No buttons (in the default and in a 320 px wide viewport)."""
    check = safety_check_message(assistant)
    for viewport in ({"width": 1280, "height": 800}, {"width": 320, "height": 640}):
        context = with_axe(browser.new_context(viewport=viewport, reduced_motion="reduce"))
        context.set_default_timeout(ANSWER_TIMEOUT)
        try:
            p = context.new_page()
            p.goto(site)
            chat_button(p).wait_for()
            assert_accessible(p, f"the page with the chat closed ({viewport['width']} px)")
            open_widget(p)
            assert_accessible(p, "the chat open, empty")
            ask(p, "tell me about swimming")
            p.get_by_role("button", name="Is it safe?").wait_for()
            assert_accessible(p, "an answer with its buttons")
            ask(p, check)
            p.get_by_text(content_data.text("safety_check")[:40]).wait_for()
            p.get_by_role("button", name=content_data.text("safety_yes")).wait_for()
            p.get_by_role("button", name=content_data.text("safety_no")).wait_for()
            assert_accessible(p, "the safety check with its Yes and No buttons")
            ARTIFACTS.mkdir(exist_ok=True)
            p.screenshot(path=str(ARTIFACTS / f"widget-safety-check-{viewport['width']}.png"))
        finally:
            context.close()


@pytest.mark.parametrize(
    "viewport,scale",
    [({"width": 320, "height": 640}, 1), ({"width": 640, "height": 360}, 2)],
    ids=["320px-wide", "200%-zoom-of-1280x720"],
)
def test_small_screens_and_zoom_need_no_horizontal_scrolling(site, browser, viewport, scale):
    context = browser.new_context(viewport=viewport, device_scale_factor=scale, reduced_motion="reduce")
    context.set_default_timeout(ANSWER_TIMEOUT)
    try:
        p = context.new_page()
        p.goto(site)
        assert no_horizontal_scroll(p)
        box = chat_button(p).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        open_widget(p)
        ask(p, "tell me about swimming")
        p.get_by_role("button", name="Is it safe?").wait_for()
        assert no_horizontal_scroll(p)
        region = panel(p).bounding_box()
        # full width, inside the viewport
        assert region["x"] == 0 and region["width"] == viewport["width"]
        assert region["y"] >= 0 and region["y"] + region["height"] <= viewport["height"] + 1
        for control in (message_box(p), p.get_by_role("button", name="Send"), p.get_by_role("button", name="Close chat")):
            b = control.bounding_box()
            assert b["x"] >= 0 and b["x"] + b["width"] <= viewport["width"]
            assert b["y"] >= 0 and b["y"] + b["height"] <= viewport["height"]
        # the answer wraps: nothing in the log is wider than the log
        assert p.evaluate("(() => { const l = document.querySelector('.msp-log'); return l.scrollWidth <= l.clientWidth; })()")
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / f"widget-{viewport['width']}x{viewport['height']}.png"))
        # Escape closes, focus is back on the launcher, which is visible again
        p.keyboard.press("Escape")
        assert chat_button(p).is_visible() and focused(p)["text"] == LAUNCHER
    finally:
        context.close()


# ------------------------------------------------------------------------------------ with a stand-in server


@pytest.fixture(scope="module")
def echo_site(tmp_path_factory, requirements_present) -> Iterator[str]:
    """web/serve.py in front of the stand-in server."""
    work = tmp_path_factory.mktemp("widget-echo")
    rasa_port = free_port()
    rasa = start_fake_rasa(work, rasa_port)
    try:
        web, url = start_web(work, f"http://127.0.0.1:{rasa_port}")
        try:
            yield url
        finally:
            web.stop()
    finally:
        rasa.stop()


def test_bot_text_is_escaped_and_links_are_safe(echo_site, page):
    p = page.page
    p.goto(echo_site)
    open_widget(p)
    ask(p, "<img src=x onerror=alert(1)> see https://example.org/exercise?x=1. or javascript:alert(2)")
    echo = bot_messages(p).last
    assert "Echo: <img src=x onerror=alert(1)> see https://example.org/exercise?x=1" in echo.inner_text()
    assert "or javascript:alert(2)" in echo.inner_text()
    assert p.locator(".msp-log img").count() == 0
    links = echo.locator("a")
    assert links.count() == 1
    assert links.get_attribute("href") == "https://example.org/exercise?x=1"
    assert links.get_attribute("target") == "_blank"
    assert set(links.get_attribute("rel").split()) == {"noopener", "noreferrer"}
    assert "opens in a new tab" in links.inner_text()
    ask(p, "[the MS Trust](https://mstrust.org.uk) and [bad](javascript:alert(3)) and [old](http://example.org/x)")
    named = bot_messages(p).last.locator("a")
    assert named.count() == 1 and named.get_attribute("href") == "https://mstrust.org.uk/"
    assert named.inner_text().startswith("the MS Trust")
    # only https links: an http:// link stays text
    assert "[old](http://example.org/x)" in bot_messages(p).last.inner_text()
    # an answer's sources line, as the actions write it
    ask(p, "Sources: [Kalb et al. 2020](https://doi.org/10.1177/1352458520915629); [Coote et al. 2020](https://www.ncbi.nlm.nih.gov/pmc/articles/PMC7780704/)")
    sources = bot_messages(p).last.locator("a")
    assert sources.count() == 2
    assert sources.nth(0).get_attribute("href") == "https://doi.org/10.1177/1352458520915629"
    assert sources.nth(0).inner_text().startswith("Kalb et al. 2020")
    p.wait_for_timeout(300)
    assert page.dialogs == [] and page.errors == []


def test_typing_indicator_is_announced_once_while_waiting(echo_site, page):
    p = page.page
    p.goto(echo_site)
    open_widget(p)
    # record every text the status region shows
    p.evaluate(
        """() => {
            const status = document.querySelector('[role=status]');
            window.statusTexts = [];
            new MutationObserver(() => window.statusTexts.push(status.textContent))
                .observe(status, {subtree: true, childList: true, characterData: true});
        }"""
    )
    count = bot_messages(p).count()
    message_box(p).fill("please answer slowly")
    message_box(p).press("Enter")
    p.wait_for_function("() => document.querySelector('[role=status]').textContent.includes('typing')")
    assert p.locator(".msp-dots").is_visible()
    wait_for_more_bot_messages(p, count)
    assert "Echo: please answer slowly" in bot_messages(p).last.inner_text()
    assert p.get_by_role("status").inner_text().strip() == ""
    assert not p.locator(".msp-dots").is_visible()
    texts = [t for t in p.evaluate("window.statusTexts") if t]
    assert texts == ["The assistant is typing\u2026"], texts


def test_unreachable_server_retries_and_loses_no_message(tmp_path, page):
    rasa_port = free_port()  # nothing listens here yet
    web, url = start_web(tmp_path, f"http://127.0.0.1:{rasa_port}")
    rasa = None
    try:
        p = page.page
        p.goto(url)
        open_widget(p)
        status = p.get_by_role("status")
        p.wait_for_function(
            "() => document.querySelector('[role=status]').textContent.includes('reach the assistant')"
        )
        assert "Retrying" in status.inner_text()

        # a message sent while offline is kept and marked as not sent yet
        message_box(p).fill("first question while offline")
        message_box(p).press("Enter")
        assert "Not sent yet" in user_messages(p).last.inner_text()
        assert "will be sent when the connection is back" in status.inner_text()
        # and a half-typed one stays in the box, also across a reload
        message_box(p).fill("a draft I have not sent")
        p.reload()
        message_box(p).wait_for()
        assert message_box(p).input_value() == "a draft I have not sent"
        assert "first question while offline" in p.get_by_role("log").inner_text()

        # the server comes: the widget reconnects by itself and sends the queued message
        rasa = start_fake_rasa(tmp_path, rasa_port)
        p.get_by_text("Echo: first question while offline").wait_for(timeout=60_000)
        assert "Not sent yet" not in user_messages(p).last.inner_text()
        assert "reach the assistant" not in status.inner_text()

        # it goes away mid-conversation and comes back
        rasa.stop()
        p.wait_for_function(
            "() => document.querySelector('[role=status]').textContent.includes('reach the assistant')",
            timeout=60_000,
        )
        message_box(p).fill("second question")
        message_box(p).press("Enter")
        rasa = start_fake_rasa(tmp_path, rasa_port)
        p.get_by_text("Echo: second question").wait_for(timeout=60_000)
        assert message_box(p).input_value() == ""
        assert page.errors == []
    finally:
        web.stop()
        if rasa is not None:
            rasa.stop()
