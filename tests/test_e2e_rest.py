"""End to end: the real assistant (the session's stack, from the launcher), over REST and socket.io."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Dict

import pytest

from conftest import API_TOKEN, EMERGENCY_NUMBER, REST_HEADERS, REST_TOKEN, http

def test_a_conversation_with_follow_ups_in_context(assistant, content_data):
    first = assistant.send("patient-1", "Hello")
    assert first[0]["text"] == content_data.text("disclaimer")
    assert content_data.text("greet") in first[1]["text"]

    answer = assistant.send("patient-1", "Tell me about swimming")
    assert content_data.topics["aquatic"].facets["summary"].text in answer[0]["text"]
    assert [b["title"] for b in answer[0]["buttons"]] == ["How much?", "Is it safe?", "At home?"]
    assert "not medical advice" not in answer[0]["text"]  # only once per conversation

    safety = assistant.say("patient-1", "Is it safe for me?")
    assert content_data.topics["aquatic"].facets["precautions"].text in safety

    # a button press: the payload carries the topic
    amount = assistant.say("patient-1", '/ask_exercise_amount{"exercise": "aquatic"}')
    assert content_data.topics["aquatic"].facets["how_much"].text in amount


def test_exercise_for_symptom_pair(assistant, content_data):
    why = next(r.why for r in content_data.topics["fatigue"].recommended_exercises if r.exercise == "aquatic")
    assert why in assistant.say("patient-2", "Can swimming help my fatigue?")


def test_topic_switch_then_follow_up_uses_the_new_topic(assistant, content_data):
    assistant.say("patient-3", "what is hippotherapy?")
    assistant.say("patient-3", "I'm exhausted all the time")
    assert content_data.topics["fatigue"].facets["at_home"].text in assistant.say(
        "patient-3", "can I do it at home?"
    )


def test_medical_advice_is_referred(assistant, content_data):
    reply = assistant.say("patient-4", "How much baclofen should I take?")
    assert content_data.text("request_medical_advice") in reply


def test_emergency_answer_carries_the_configured_number(assistant):
    assistant.say("patient-5", "tell me about yoga")
    reply = assistant.say("patient-5", "I have crushing chest pain and can't breathe")
    assert EMERGENCY_NUMBER in reply
    # the next message continues normally
    assert "yoga" in assistant.say("patient-5", "what is yoga good for?").lower()


@pytest.mark.parametrize(
    "message,expected_key",
    [
        ("", "empty_message"),
        ("   ", "empty_message"),
        ("x" * 200_000, "long_message"),
    ],
    ids=["empty", "blank", "huge"],
)
def test_empty_and_huge_messages_get_a_clear_answer(assistant, content_data, message, expected_key):
    assert content_data.text(expected_key) in assistant.say(f"bad-{expected_key}-{len(message)}", message)


@pytest.mark.parametrize(
    "message",
    [
        None,  # no text at all
        "\x00\x01\x02\ufffd\x7f binary \x1b[31m",
        "<script>alert('x')</script><b>bold</b>",
        "¿Puedo nadar si tengo esclerosis múltiple? Me canso mucho.",
        "ﾟ･✿ヾ╲(｡◕‿◕｡)╱✿･ﾟ",
    ],
    ids=["no-text", "binary", "markup", "spanish", "emoji"],
)
def test_bad_input_gets_an_answer_and_loses_nothing(assistant, message):
    sender = f"bad-{abs(hash(message))}"
    replies = assistant.send(sender, message)
    assert replies and all(r.get("text") for r in replies)
    # markup is never interpreted or echoed back as markup
    assert all("<script>" not in r["text"] for r in replies)
    # the conversation goes on
    assert "aquatic" in json.dumps(assistant.send(sender, "tell me about swimming")).lower()


def test_the_tracker_store_keeps_every_message_in_order(assistant):
    sender = "patient-store"
    messages = ["hi", "tell me about tai chi", "how often should I do it?", "thanks"]
    for message in messages:
        assistant.send(sender, message)
    with sqlite3.connect(assistant.tracker_db) as db:
        rows = db.execute(
            "SELECT type_name, data FROM events WHERE sender_id = ? ORDER BY id", ("rest:" + sender,)
        ).fetchall()
    user_texts = [json.loads(data)["text"] for kind, data in rows if kind == "user"]
    assert user_texts == messages
    # every user message is followed by at least one bot answer
    kinds = [kind for kind, _ in rows if kind in ("user", "bot")]
    assert all(kinds[i + 1] == "bot" for i, kind in enumerate(kinds) if kind == "user")


def test_the_http_api_requires_the_token(assistant):
    body = json.dumps({"text": "can swimming help my fatigue?"}).encode()
    headers = {"Content-Type": "application/json"}
    assert http(f"{assistant.url}/model/parse", body, headers)[0] == 401
    status, data = http(f"{assistant.url}/model/parse?token={API_TOKEN}", body, headers)
    assert status == 200
    entities = {(e["entity"], e["value"]) for e in json.loads(data)["entities"]}
    assert entities == {("exercise", "aquatic"), ("symptom", "fatigue")}


def stored_user_events(assistant, sender):
    with sqlite3.connect(assistant.tracker_db) as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id",
                          ("rest:" + sender,))
        return [json.loads(data) for (data,) in rows.fetchall()]


@pytest.mark.parametrize(
    "before,red_flag,category",
    [
        ([], "my face is drooping on one side and my speech is slurred", "stroke"),
        (["tell me about aquatic exercise"], "I suddenly can't see out of my right eye", "vision"),
        (["what about yoga?", "is it safe?"], "i dont want to be here anymore", "suicide"),
        (["sdfkj qwe zzzt"], "I fell and hit my head and now I feel sick", "fall"),
        (["hello", "I get so tired"], "crushing pain in my chest while cycling", "chest"),
    ],
    ids=["first-message", "after-an-answer", "mid-follow-up", "mid-fallback", "after-a-symptom"],
)
def test_red_flags_get_the_emergency_answer_at_any_point(assistant, content_data, before, red_flag, category):
    sender = f"red-flag-{category}"
    for message in before:
        assistant.send(sender, message)
    reply = assistant.say(sender, red_flag)
    assert EMERGENCY_NUMBER in reply
    assert content_data.safety[category].text.split("{")[0].strip()[:40] in reply
    # no exercise advice in the same reply
    assert "Sources:" not in reply
    # the tracker store carries the red-flag marker
    flagged = stored_user_events(assistant, sender)[-1]
    assert flagged["text"] == red_flag
    assert flagged["parse_data"]["intent"] == {"name": "emergency", "confidence": 1.0}
    assert {"entity": "red_flag", "value": category} in [
        {"entity": e["entity"], "value": e["value"]} for e in flagged["parse_data"]["entities"]
    ]
    # and the conversation continues normally
    assert content_data.topics["hippotherapy"].facets["summary"].text in assistant.say(sender, "what is hippotherapy?")


# Words no rule knows, which the trained safety net reads as a sight problem (vision, score 0.97
# with the model of this commit) and DIET otherwise as a flexibility question. If a retrain moves
# either, pick another message of that kind: the test is of the check's flow.
SUSPECTED = "my eye has gone funny and everything looks strange, are yoga stretches ok?"


def test_a_suspected_red_flag_gets_the_check_and_the_answer_to_it_decides(assistant, content_data):
    check = assistant.send("suspected-yes", SUSPECTED)
    asked = [reply for reply in check if reply.get("buttons")]
    assert asked and content_data.text("safety_check") in asked[-1]["text"]
    assert [b["title"] for b in asked[-1]["buttons"]] == [content_data.text("safety_yes"), content_data.text("safety_no")]
    assert EMERGENCY_NUMBER not in "\n".join(reply.get("text", "") for reply in check)
    # the parse data carries the tier, the category and its source for staff
    safety = stored_user_events(assistant, "suspected-yes")[-1]["parse_data"]["safety"]
    assert (safety["tier"], safety["category"], safety["source"]) == ("suspected", "vision", "net")

    # "Yes": the emergency answer of the category the net named
    yes = assistant.say("suspected-yes", asked[-1]["buttons"][0]["payload"])
    assert EMERGENCY_NUMBER in yes
    assert content_data.safety["vision"].text.split("{")[0].strip()[:40] in yes

    # "No": the question the message asked, answered
    no_check = assistant.send("suspected-no", SUSPECTED)
    no = assistant.say("suspected-no", [r for r in no_check if r.get("buttons")][-1]["buttons"][1]["payload"])
    assert EMERGENCY_NUMBER not in no
    assert content_data.topics["flexibility"].facets["summary"].text in no


def test_near_misses_are_not_emergencies(assistant):
    for message in ["no chest pain, just tired after swimming", "I fell in love with yoga", "this heat is killing me"]:
        assert EMERGENCY_NUMBER not in assistant.say("near-miss", message)


def test_exercise_question_mixed_with_medication_is_referred(assistant, content_data):
    reply = assistant.say("mixed", "can I keep doing yoga while I'm taking baclofen, and should I change the dose?")
    assert content_data.text("request_medical_advice") in reply


def test_first_reply_says_not_monitored_and_no_personal_details(assistant):
    first = assistant.send("disclaimer-check", "hi there")[0]["text"]
    assert "not medical advice" in first and "real time" in first and "personal details" in first


def test_a_long_conversation_keeps_its_topic_and_its_whole_history(assistant, content_data):
    """Rasa loads only the recent events per message (rasa_ext/tracker_store.py, 24 events):
    a topic named long before, beyond that window, still drives the follow-up, the disclaimer is
    not repeated, and the store and the HTTP API keep the whole conversation."""
    sender = "patient-long"
    messages = ["tell me about swimming"] + [f"thanks, that helps ({n})" for n in range(12)] + ["is it safe?"]
    replies = [assistant.say(sender, message) for message in messages]
    assert content_data.topics["aquatic"].facets["precautions"].text in replies[-1]
    assert all(content_data.text("disclaimer") not in reply for reply in replies[1:])
    stored = [event["text"] for event in stored_user_events(assistant, sender)]
    assert stored == messages
    status, data = http(f"{assistant.url}/conversations/rest:{sender}/tracker?token={API_TOKEN}")
    assert status == 200
    history = [event["text"] for event in json.loads(data)["events"] if event["event"] == "user"]
    assert history == messages
    with sqlite3.connect(assistant.tracker_db) as db:
        (rows,) = db.execute("SELECT count(*) FROM events WHERE sender_id = ?", ("rest:" + sender,)).fetchone()
    assert rows > 2 * 24  # well beyond the window


# --- attacks on the REST channel and socket.io ------------------------------------------------


def post(assistant, body: bytes, headers: Dict[str, str]):
    return http(f"{assistant.url}/webhooks/rest/webhook", body, headers)


def test_the_rest_channel_needs_its_token(assistant):
    body = json.dumps({"sender": "intruder", "message": "tell me about yoga"}).encode()
    for headers in ({"Content-Type": "application/json"},
                    {"Content-Type": "application/json", "Authorization": "Bearer wrong"},
                    {"Content-Type": "application/json", "Authorization": REST_TOKEN}):
        assert post(assistant, body, headers)[0] == 401
    assert stored_user_events(assistant, "intruder") == []


@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", b'{"message": "no sender"}', b'{"sender": 42, "message": "x"}',
    b'{"sender": "", "message": "x"}', b'{"sender": "a\\u0000b", "message": "x"}',
    b'{"sender": "me", "message": {"text": "x"}}', b'{"sender": "me", "message": "x", "metadata": [1]}',
], ids=["not-json", "list", "no-sender", "number-sender", "empty-sender", "control-sender", "object-message",
        "list-metadata"])
def test_a_malformed_rest_body_gets_400_with_the_reason(assistant, body):
    status, data = post(assistant, body, REST_HEADERS)
    assert status == 400 and json.loads(data)["error"]


def test_the_channel_name_is_the_servers_not_the_clients(assistant):
    body = json.dumps({"sender": "long-channel", "message": "hello", "input_channel": "x" * 300}).encode()
    assert post(assistant, body, REST_HEADERS)[0] == 200
    assert stored_user_events(assistant, "long-channel")[-1]["input_channel"] == "rest"


def test_a_rest_sender_cannot_write_into_another_channels_conversation(assistant):
    assistant.send("socketio:0123456789abcdef0123456789abcdef", "hello")
    with sqlite3.connect(assistant.tracker_db) as db:
        senders = {row[0] for row in db.execute("SELECT DISTINCT sender_id FROM events")}
    assert "rest:socketio:0123456789abcdef0123456789abcdef" in senders
    assert "socketio:0123456789abcdef0123456789abcdef" not in senders


def test_a_request_body_over_the_limit_gets_413(assistant):
    body = json.dumps({"sender": "big", "message": "x" * (2 * 1024 * 1024)}).encode()
    assert post(assistant, body, REST_HEADERS)[0] == 413
    # a megabyte message is still taken (the limit is 1 MiB of body)
    assert assistant.say("big", "x" * 1_000_000)


def test_the_api_token_is_on_no_command_line(assistant):
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                assert API_TOKEN.encode() not in (entry / "cmdline").read_bytes(), entry
            except OSError:
                continue


def socket_client(url: str):
    """A socket.io client that records what it receives, like the web widget."""
    import socketio

    client = socketio.Client(reconnection=False)
    client.received, client.confirmed, client.errors = [], [], []
    client.on("bot_uttered", lambda data: client.received.append(data))
    client.on("session_confirm", lambda data: client.confirmed.append(data))
    client.on("error_message", lambda data: client.errors.append(data))
    client.connect(url, socketio_path="/socket.io", transports=["polling"], wait_timeout=30)
    return client


def wait(check, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_nobody_can_join_or_write_into_another_widget_session(assistant):
    victim = socket_client(assistant.url)
    attacker = socket_client(assistant.url)
    try:
        victim.emit("session_request", {"session_id": None})
        wait(lambda: victim.confirmed)
        signed = victim.confirmed[-1]
        session = signed.split(".")[0]
        assert len(signed) == 65
        # the attacker names the victim's session (the tracker's id, an unsigned id, a forged one)
        for guess in (session, f"socketio:{session}", session + "." + "0" * 32):
            attacker.emit("session_request", {"session_id": guess})
        wait(lambda: len(attacker.confirmed) == 3)
        assert all(not confirmed.startswith(session) for confirmed in attacker.confirmed)
        # and writes with the victim's session id in the message
        attacker.emit("user_uttered", {"message": "what is yoga?", "session_id": signed})
        wait(lambda: attacker.received)
        victim.emit("user_uttered", {"message": "I have crushing chest pain"})
        wait(lambda: victim.received)
        time.sleep(3)
        assert not any(EMERGENCY_NUMBER in (m.get("text") or "") for m in attacker.received)
        assert any(EMERGENCY_NUMBER in (m.get("text") or "") for m in victim.received)
        with sqlite3.connect(assistant.tracker_db) as db:
            texts = [json.loads(data)["text"] for (data,) in db.execute(
                "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'", (f"socketio:{session}",))]
        assert texts == ["I have crushing chest pain"]
        # the victim's browser gets its conversation back with its signed id
        again = socket_client(assistant.url)
        try:
            again.emit("session_request", {"session_id": signed})
            wait(lambda: again.confirmed)
            assert again.confirmed[-1] == signed
        finally:
            again.disconnect()
        # malformed events get an error event, not a crash
        attacker.emit("user_uttered", "just a string")
        wait(lambda: attacker.errors)
    finally:
        victim.disconnect()
        attacker.disconnect()


def test_socket_io_honours_rasa_cors_origins():
    from channels.socketio import SocketIOInput, allowed_origins

    assert allowed_origins("*") is None and allowed_origins("") is None
    channel = SocketIOInput(session_key="k", cors_origins="https://clinic.example https://www.clinic.example/")
    assert channel.origin_allowed({"HTTP_ORIGIN": "https://clinic.example"})
    assert channel.origin_allowed({"HTTP_ORIGIN": "https://www.clinic.example"})
    assert not channel.origin_allowed({"HTTP_ORIGIN": "https://evil.example"})
    assert channel.origin_allowed({})  # not a browser: CORS is a browser's matter
