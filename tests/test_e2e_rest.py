"""End to end: start the real action server and Rasa server (`scripts/run.py`) and talk over REST."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import API_TOKEN, EMERGENCY_NUMBER, http

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
            "SELECT type_name, data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
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
        rows = db.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,))
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
    status, data = http(f"{assistant.url}/conversations/{sender}/tracker?token={API_TOKEN}")
    assert status == 200
    history = [event["text"] for event in json.loads(data)["events"] if event["event"] == "user"]
    assert history == messages
    with sqlite3.connect(assistant.tracker_db) as db:
        (rows,) = db.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()
    assert rows > 2 * 24  # well beyond the window
