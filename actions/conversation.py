"""Small talk, referrals to the physician and the fallback."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import GENERAL, answer, target
from actions.replies import (
    CONTENT,
    suggestion_button,
    Reply,
    entity_topics,
    exercise_buttons,
    followup_buttons,
    latest_intent,
    send,
    session_events,
    topic_button,
)
from content import EXERCISE, SYMPTOM
from names import FALLBACK_ACTION, FALLBACK_INTENT, INPUT_GUARD_KEY, TOPIC_SLOT

# What the NLU's input guard found (parse data INPUT_GUARD_KEY), and the answer that says so.
GUARD_ANSWERS = {"empty": "empty_message", "long": "long_message"}
# How many topics a fallback offers as buttons.
FALLBACK_CHOICES = 3


class ActionSmallTalk(Reply):
    """Greetings, thanks, yes/no and "are you a bot": one text per intent."""

    def name(self) -> Text:
        return "action_smalltalk"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        intent = latest_intent(tracker)
        buttons = []
        if intent == "affirm":
            current = CONTENT.topic(tracker.get_slot(TOPIC_SLOT))
            buttons = followup_buttons(current) if current else exercise_buttons()
        send(dispatcher, tracker, CONTENT.text(intent), buttons)
        return []


class ActionReferPhysician(Reply):
    """Medication, diagnosis and anything outside the remit: refer, never advise."""

    def name(self) -> Text:
        return "action_refer_physician"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        send(dispatcher, tracker, CONTENT.text(latest_intent(tracker)))
        return []


class ActionFallback(Reply):
    """Not understood: offer the closest topics; twice in a row, point to a person."""

    def name(self) -> Text:
        return FALLBACK_ACTION

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        # The NLU's input guard says when a message was empty or had to be cut (nlp/components.py).
        guard = tracker.latest_message.get(INPUT_GUARD_KEY)
        if not guard:
            # a follow-up nobody was confident about ("how much would I need to do?") still asks
            # a facet of the conversation's topic, and a message that names an exercise or a
            # symptom ("my arms have got weak, could hydrotherapy help?") asks about that topic
            found = target(tracker)
            named = entity_topics(tracker, EXERCISE) + entity_topics(tracker, SYMPTOM)
            if found.topic is not None and (found.facet != GENERAL or found.topic in named):
                return answer(dispatcher, tracker, found)
        if guard in GUARD_ANSWERS:
            key = GUARD_ANSWERS[guard]
        elif self._fallbacks_in_a_row(tracker) >= 2:
            key = "fallback_repeated"
        else:
            key = "fallback"
        send(dispatcher, tracker, CONTENT.text(key), self._closest_topics(tracker))
        return []

    @staticmethod
    def _fallbacks_in_a_row(tracker: Tracker) -> int:
        count = 0
        for event in reversed(session_events(tracker)):
            if event.get("event") != "user":
                continue
            if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != FALLBACK_INTENT:
                break
            count += 1
        return count

    @staticmethod
    def _closest_topics(tracker: Tracker) -> List[Dict[str, str]]:
        """"Did you mean...?": the closest content that retrieval found (nlp/retrieval.py), else
        the topics of the intents ranked highest, else the exercise types."""
        matches = (tracker.latest_message.get("retrieval") or {}).get("matches") or []
        buttons = [b for b in (suggestion_button(m) for m in matches[:FALLBACK_CHOICES]) if b]
        for ranked in tracker.latest_message.get("intent_ranking") or []:
            if len(buttons) >= FALLBACK_CHOICES:
                break
            topic = CONTENT.topic_for_intent(ranked.get("name"))
            if topic is not None and not any(b["title"].startswith(topic.title) for b in buttons):
                buttons.append(topic_button(topic))
        return buttons or exercise_buttons()[:FALLBACK_CHOICES]
