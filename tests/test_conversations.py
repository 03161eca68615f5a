"""Multi-turn conversations through the real assistant (REST): does every turn get the right answer?

Each conversation of the development sets (tests/conversations_dev.yml, and former sealed batches)
and of the sealed set
(tests/sealed/conversations.yml) is sent turn by turn, each in its own conversation. A turn is
judged by what the assistant did, read from the tracker: the topic and facet of a content answer
(slot `answered`), or the kind of answer (emergency, safety check, caution, referral, decline,
small talk, fallback). The figures are printed with the issue's target; the test fails below the
floor the build holds each set to (scripts/gates.py).
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import yaml

import content
from conftest import ROOT
from names import ANSWERED_SLOT, FALLBACK_ACTION, SAFETY_KEY
from scripts.gates import Gate, former_sealed, may_print_items, report

# The target, and the floor the build holds each set to today (scripts/gates.py).
TARGET = 0.95
FLOORS = {"development": 0.82, "sealed": 0.835}
SETS = {
    "development": [ROOT / "tests" / "conversations_dev.yml"] + former_sealed(ROOT / "tests", "conversations_"),
    "sealed": [ROOT / "tests" / "sealed" / "conversations.yml"],
}
ANSWERS = {"action_smalltalk": "smalltalk", FALLBACK_ACTION: "fallback"}
# What else a turn may get and still be right: a safety check is how a suspected emergency is
# answered; falling back, or the medical referral, also declines an off-topic question.
ACCEPTED = {"emergency": {"emergency", "check"}, "decline": {"decline", "fallback", "referral"}}
# A caution whose advice a common question gives (content/safety.yml `common_question`): that
# question's answer is right too, as scripts/eval_safety.py counts it.
SAME_ADVICE = {answer.category: answer.common_question for answer in content.load().safety.values()
               if answer.common_question}


def turn_outcome(events: List[Dict[str, Any]]) -> Tuple[str, Optional[str]]:
    """What the assistant did after the last user message: (kind, what), e.g. ("answer",
    "aquatic/how_much"), ("emergency", "chest"), ("check", "stroke"), ("referral", None)."""
    last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
    parse = events[last_user].get("parse_data") or {}
    turn = events[last_user + 1:]
    actions = [e.get("name") for e in turn if e.get("event") == "action"]
    answered = [e.get("value") for e in turn if e.get("event") == "slot" and e.get("name") == ANSWERED_SLOT]
    if answered:
        return "answer", answered[-1]
    safety = parse.get(SAFETY_KEY) or {}
    if "action_emergency" in actions or "action_safety_answer" in actions:
        tier = safety.get("tier")
        kind = {"suspected": "check", "caution": "caution"}.get(tier, "emergency")
        if "action_safety_answer" in actions:
            kind = "emergency"
        return kind, safety.get("category")
    if "action_refer_physician" in actions:
        intent = (parse.get("intent") or {}).get("name")
        return ("decline" if intent == "out_of_scope" else "referral"), None
    for action, kind in ANSWERS.items():
        if action in actions:
            return kind, None
    return "nothing", None


def right(turn: Dict[str, Any], got: Tuple[str, Optional[str]]) -> bool:
    kind, what = got
    if "expect" in turn:
        card = SAME_ADVICE.get(turn.get("category", "")) if turn["expect"] == "caution" else None
        if card and kind == "answer" and what and what.split("/")[0] == card:
            return True
        return kind in ACCEPTED.get(turn["expect"], {turn["expect"]})
    if kind != "answer" or not what:
        return False
    topic_part, facet = what.rsplit("/", 1)
    topic, _, symptom = topic_part.partition("+")
    if topic != turn["topic"] or facet != turn["facet"]:
        return False
    return not turn.get("symptom") or symptom == turn["symptom"]


def run_set(assistant, paths: List[Path]) -> Tuple[int, int, List[str]]:
    conversations = [c for path in paths for c in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]]
    total = correct = 0
    wrong = []
    for conversation in conversations:
        sender = f"conv-{uuid.uuid4().hex[:10]}"
        for turn in conversation["turns"]:
            assistant.send(sender, turn["user"])
            got = turn_outcome(assistant.events(sender))
            total += 1
            if right(turn, got):
                correct += 1
            else:
                expected = turn.get("expect") or f"{turn['topic']}{'+' + turn['symptom'] if turn.get('symptom') else ''}/{turn['facet']}"
                wrong.append(f"[{conversation['name']}] {turn['user']!r}: expected {expected}, got {got[0]} {got[1] or ''}")
    return total, correct, wrong


@pytest.mark.parametrize("name", list(SETS))
def test_conversation_turns_get_the_right_answer(assistant, name):
    total, correct, wrong = run_set(assistant, SETS[name])
    share = correct / total
    print(f"\n{name} conversations: {correct}/{total} turns right = {share:.1%}")
    if may_print_items(name):
        for line in wrong:
            print("    " + line)
    below = report(f"conversation gate, {name} set", [Gate("turns with the right topic and facet", share, TARGET, FLOORS[name])])
    assert not below, f"{share:.1%} of {name} turns right, below the floor {FLOORS[name]:.0%} (target {TARGET:.0%})"
