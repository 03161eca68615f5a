"""The safety answers: emergency, caution, the safety check and its answer.

The NLU pipeline's last component puts its decision into the parse data (`safety`: tier,
category, source, score; nlp/safety.py). These actions only carry it out:

- *confirmed*: the category's emergency answer, at once;
- *caution*: the category's safety advice, without the emergency number;
- *suspected*: one question, "Is this happening to you now?", with Yes and No buttons. "Yes" gives
  the category's emergency answer; "No" answers the message as if it had not been flagged.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import settings
from actions.replies import CONTENT, Reply, latest_intent, send
from names import FALLBACK_INTENT, RED_FLAG, SAFETY_ANSWER_SLOT, SAFETY_CHECK_SLOT, SAFETY_KEY

SUSPECTED = "suspected"
YES, NO = "affirm", "deny"


def safety_of(parse_data: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The safety decision of a message. A `/emergency{"red_flag": ...}` payload (a button, or
    typed) carries no decision: its red_flag entity names the category, never suspected."""
    parse_data = parse_data or {}
    found = parse_data.get(SAFETY_KEY)
    if found:
        return found
    named = next((e.get("value") for e in parse_data.get("entities") or [] if e.get("entity") == RED_FLAG), None)
    return {"tier": "confirmed", "category": named} if named else {}


def numbers() -> Dict[str, str]:
    return {"emergency_number": settings.get("EMERGENCY_NUMBER"), "crisis_line": settings.get("CRISIS_LINE")}


def safety_answer(category: Optional[str]) -> str:
    """The answer of a category; the general emergency answer when there is none."""
    answer = CONTENT.safety.get(category) if category else None
    return answer.text.format(**numbers()) if answer else CONTENT.text("emergency", **numbers())


class ActionEmergency(Reply):
    """A red flag or a caution: the answer of its tier, or the safety check when only suspected."""

    def name(self) -> Text:
        return "action_emergency"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        safety = safety_of(tracker.latest_message)
        if safety.get("tier") == SUSPECTED:
            buttons = [
                {"title": CONTENT.text("safety_yes"), "payload": f"/{YES}"},
                {"title": CONTENT.text("safety_no"), "payload": f"/{NO}"},
            ]
            send(dispatcher, tracker, CONTENT.text("safety_check"), buttons)
            return [SlotSet(SAFETY_CHECK_SLOT, True)]
        # The emergency answer always comes first; the disclaimer, if due, follows it.
        send(dispatcher, tracker, safety_answer(safety.get("category")), disclaimer_first=False)
        return []


class ActionSafetyAnswer(Reply):
    """The answer to the safety check: "yes" gets the emergency answer, "no" the question answered."""

    def name(self) -> Text:
        return "action_safety_answer"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        flagged = self._flagged_message(tracker)
        safety = safety_of(flagged)
        if latest_intent(tracker) == YES:
            send(dispatcher, tracker, safety_answer(safety.get("category")), disclaimer_first=False)
            return [SlotSet(SAFETY_ANSWER_SLOT, "yes")]
        # No: the flagged message, understood as the classifiers would have without the emergency.
        from actions.routing import answer_action  # the routing table imports every action

        otherwise = copy.deepcopy(flagged or {})
        otherwise["intent"] = safety.get("otherwise") or {"name": FALLBACK_INTENT, "confidence": 1.0}
        otherwise["entities"] = [e for e in otherwise.get("entities") or [] if e.get("entity") != RED_FLAG]
        view = copy.copy(tracker)
        view.latest_message = otherwise
        events = answer_action(otherwise["intent"]["name"]).reply(dispatcher, view, domain)
        return list(events) + [SlotSet(SAFETY_ANSWER_SLOT, "no")]

    @staticmethod
    def _flagged_message(tracker: Tracker) -> Optional[Dict[str, Any]]:
        """The parse data of the last user message the safety layer suspected."""
        for event in reversed(tracker.events or []):
            if event.get("event") == "user" and safety_of(event.get("parse_data")).get("tier") == SUSPECTED:
                return event.get("parse_data")
        return None
