"""Answers about exercise types, symptoms, general information, and follow-ups on the topic."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.replies import (
    CONTENT,
    Reply,
    entity_topics,
    exercise_buttons,
    followup_buttons,
    latest_intent,
    named_topic,
    payload,
    send,
    statement,
    topic_button,
    with_sources,
)
from content import EXERCISE, FAQ, SYMPTOM, Facet, Topic
from content.model import OVERVIEW_TOPIC


def topic_answer(topic: Topic, closing: str) -> str:
    """Summary and benefits of a topic, then a closing line, then their sources."""
    facets = [topic.facets[name] for name in ("summary", "benefits") if name in topic.facets]
    text = " ".join(statement(facet) for facet in facets)
    sources = [source for facet in facets for source in facet.sources]
    return with_sources(f"{text}\n{closing}", sources)


def exercise_for_symptom(exercise: Topic, symptom: Topic) -> str:
    """Whether the content recommends this exercise type for this symptom, why, and the key
    precaution of that exercise."""
    for recommendation in symptom.recommended_exercises:
        if recommendation.exercise == exercise.id:
            start = exercise.facets["how_to_start"]
            safety = exercise.key_precaution
            text = CONTENT.text(
                "exercise_for_symptom",
                exercise=exercise.title.lower(),
                symptom=symptom.title.lower(),
                why=recommendation.why,
            )
            return with_sources(
                f"{text} {statement(start)} {CONTENT.text('key_precaution')} {statement(safety)}",
                recommendation.sources + start.sources + safety.sources,
            )
    recommended = ". ".join(CONTENT.topics[r.exercise].title for r in symptom.recommended_exercises)
    return CONTENT.text(
        "exercise_not_recommended",
        exercise=exercise.title.lower(),
        symptom=symptom.title.lower(),
        recommended=recommended,
    )


def followup_facet(topic: Topic, facet_name: str) -> Optional[Facet]:
    """The facet a follow-up asks for: the topic's own, else (a common question) its related
    topic's."""
    facet = topic.facet(facet_name)
    if facet is None and topic.kind == FAQ:
        facet = CONTENT.topics[topic.related].facet(facet_name)
    return facet


def followup_answer(topic: Topic, facet_name: str) -> str:
    """The answer to a follow-up on a topic; the general advice when the topic has no such facet."""
    facet = followup_facet(topic, facet_name)
    if facet is None:
        general = CONTENT.overview.facets[facet_name]
        return with_sources(f"{CONTENT.text('general_followup')} {statement(general)}", general.sources)
    return with_sources(statement(facet), facet.sources)


def faq_answer(card: Topic) -> str:
    """A common question's answer, then a pointer to the follow-up buttons, then its sources."""
    summary = card.facets["summary"]
    return with_sources(f"{statement(summary)}\n{CONTENT.text('faq_more')}", summary.sources)


def faq_card(tracker: Tracker) -> Optional[Topic]:
    """The common question of the latest message: the ResponseSelector's faq/<key>, or an intent
    faq/<key> given directly (a button payload)."""
    selector = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
    key = (selector.get("response") or {}).get("intent_response_key") or latest_intent(tracker)
    card = CONTENT.topic_for_intent(key)
    return card if card is not None and card.kind == FAQ else None


def combined_answer(dispatcher: CollectingDispatcher, tracker: Tracker, exercise: Topic, symptom: Topic) -> List:
    send(dispatcher, tracker, exercise_for_symptom(exercise, symptom), followup_buttons(exercise))
    return [SlotSet("topic", exercise.id)]


class ActionAnswerExercise(Reply):
    """An exercise type; with a symptom named too, whether it helps that symptom."""

    def name(self) -> Text:
        return "action_answer_exercise"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        exercise = named_topic(tracker, EXERCISE) or CONTENT.topic_for_intent(latest_intent(tracker))
        symptom = named_topic(tracker, SYMPTOM)
        if symptom is not None:
            return combined_answer(dispatcher, tracker, exercise, symptom)
        send(dispatcher, tracker, topic_answer(exercise, CONTENT.text("answer_more")), followup_buttons(exercise))
        return [SlotSet("topic", exercise.id)]


class ActionAnswerSymptom(Reply):
    """A symptom and the exercise types that help it; with an exercise named, that pair."""

    def name(self) -> Text:
        return "action_answer_symptom"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        symptom = named_topic(tracker, SYMPTOM) or CONTENT.topic_for_intent(latest_intent(tracker))
        exercise = named_topic(tracker, EXERCISE)
        if exercise is not None:
            return combined_answer(dispatcher, tracker, exercise, symptom)
        recommended = [CONTENT.topics[r.exercise] for r in symptom.recommended_exercises]
        closing = CONTENT.text("symptom_recommends", recommended=", ".join(t.title for t in recommended))
        text = topic_answer(symptom, closing)
        buttons = [topic_button(t, symptom=symptom.id) for t in recommended] + followup_buttons(symptom)
        send(dispatcher, tracker, text, buttons)
        return [SlotSet("topic", symptom.id)]


class ActionAnswerInfo(Reply):
    """Physiotherapy, MS, the exercise overview and finding a physiotherapist."""

    def name(self) -> Text:
        return "action_answer_info"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        topic = CONTENT.topic_for_intent(latest_intent(tracker))
        buttons = exercise_buttons() if topic.id == OVERVIEW_TOPIC else followup_buttons(topic)
        send(dispatcher, tracker, topic_answer(topic, CONTENT.text("answer_more")), buttons)
        return [SlotSet("topic", topic.id)]


class ActionAnswerFaq(Reply):
    """A common question (retrieval intent faq/<key>): its answer, and the follow-ups as buttons."""

    def name(self) -> Text:
        return "action_answer_faq"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        card = faq_card(tracker)
        if card is None:
            send(dispatcher, tracker, CONTENT.text("fallback"), exercise_buttons()[:3])
            return []
        send(dispatcher, tracker, faq_answer(card), followup_buttons(card))
        return [SlotSet("topic", card.id)]


class ActionAnswerFollowup(Reply):
    """How much, how safe, at home: for the topic the message names, else the current topic."""

    def name(self) -> Text:
        return "action_answer_followup"

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        intent = latest_intent(tracker)
        facet_name, _ = CONTENT.followups[intent]
        topic = self._topic(tracker)
        if topic is None:
            send(dispatcher, tracker, CONTENT.text("ask_topic"), self._topic_choices(intent))
            return []
        answer = followup_answer(topic, facet_name)
        if followup_facet(topic, facet_name) is None:
            # An information topic: the general exercise guidance answered.
            send(dispatcher, tracker, answer, exercise_buttons())
            return [SlotSet("topic", CONTENT.overview.id)]
        send(dispatcher, tracker, answer, self._other_followups(topic, intent))
        return [SlotSet("topic", topic.id)]

    @staticmethod
    def _topic(tracker: Tracker) -> Optional[Topic]:
        named = entity_topics(tracker, EXERCISE) or entity_topics(tracker, SYMPTOM)
        if named:
            return named[0]
        return CONTENT.topic(tracker.get_slot("topic"))

    @staticmethod
    def _topic_choices(intent: str) -> List[Dict[str, str]]:
        """Buttons that ask the same follow-up about a chosen exercise type."""
        return [
            {"title": t.title, "payload": payload(intent, exercise=t.id)} for t in CONTENT.topics_of_kind(EXERCISE)
        ]

    @staticmethod
    def _other_followups(topic: Topic, asked: str) -> List[Dict[str, str]]:
        return [b for b in followup_buttons(topic) if not b["payload"].startswith(f"/{asked}")]
