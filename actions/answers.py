"""Answers about exercise types, symptoms, general information, and follow-ups on the topic."""
from __future__ import annotations

import re
from dataclasses import dataclass
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
    send,
    statement,
    topic_button,
    with_sources,
)
from content import EXERCISE, FAQ, INFO, SYMPTOM, Facet, Topic
from content.model import OVERVIEW_TOPIC
from names import ANSWERED_SLOT, FACET, FALLBACK_INTENT, TOPIC_SLOT

GENERAL = "general"  # the general answer of a topic: summary and benefits
PRECAUTIONS = "precautions"
# Intents that name no specific topic: with a facet asked, the conversation's topic answers.
GENERIC_INTENTS = (CONTENT.overview.intent, FALLBACK_INTENT)
# A follow-up is short: a longer message that the classifiers took for a common question asks it.
SHORT_WORDS = 8
# Words that point back to the conversation's topic ("can exercise help with it?").
REFERS_BACK = re.compile(r"\b(it|that|this|them|those|these)\b", re.I)
# Words that ask whether something helps ("would tai chi help with that?", "is it good for...").
ASKS_IF_IT_HELPS = re.compile(r"\b(help|helps|helpful|good for|ease|eases|improve|improves|benefit|better for)\b", re.I)


def is_short(tracker: Tracker) -> bool:
    return len((tracker.latest_message.get("text") or "").split()) <= SHORT_WORDS


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
    """The common question of the latest message: the one a button names (entity `faq`), or the
    ResponseSelector's faq/<key>."""
    named = next((e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == FAQ), None)
    selector = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
    key = f"faq/{named}" if named else (selector.get("response") or {}).get("intent_response_key")
    card = CONTENT.topic_for_intent(key)
    return card if card is not None and card.kind == FAQ else None


@dataclass(frozen=True)
class Target:
    """What a message asks about: a topic, the facet of it, and (exercise for symptom) a symptom."""

    topic: Optional[Topic]
    facet: str = GENERAL
    symptom: Optional[Topic] = None

    @property
    def label(self) -> str:
        """What was answered, for the conversation record: topic, +symptom, /facet."""
        if self.topic is None:
            return ""
        return self.topic.id + (f"+{self.symptom.id}" if self.symptom else "") + f"/{self.facet}"


def asked_facet(tracker: Tracker) -> str:
    """The facet the latest message asks for: the first facet it names (content/facets.yml, in
    priority order), else a follow-up intent's, else the facet content retrieval found, else the
    general answer. The words come first: "how do I start with weights?" asks how to start even
    when the classifier reads a follow-up on amounts."""
    named = {e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == FACET}
    for facet in CONTENT.facet_phrases:
        if facet in named:
            return facet
    intent = latest_intent(tracker)
    if intent in CONTENT.followups:
        return CONTENT.followups[intent][0]
    return retrieved(tracker).get("facet") or GENERAL


def retrieved(tracker: Tracker) -> Dict[str, Any]:
    """The match content retrieval answered with (nlp.components.ContentRetriever), if it did."""
    found = tracker.latest_message.get("retrieval") or {}
    return (found.get("matches") or [{}])[0] if found.get("answered") else {}


def target(tracker: Tracker) -> Target:
    """The topic and facet the latest message asks about.

    The topic is the one the message names (an exercise, a symptom, a common question's button),
    or the common question the classifiers recognised. A message that names none and asks a facet
    is a follow-up: it keeps the topic of the conversation so far, when the classifiers found
    nothing more specific than a follow-up, the exercise overview or no confident intent at all
    (content retrieval, the fallback). Otherwise the topic is the one the intent or content
    retrieval gives. A message that names a topic and asks a facet gets that facet of that
    topic, whatever the intent classifier said first.
    """
    intent = latest_intent(tracker)
    facet = asked_facet(tracker)
    found = retrieved(tracker)
    exercise = named_topic(tracker, EXERCISE)
    symptom = named_topic(tracker, SYMPTOM)
    by_intent = None if found else CONTENT.topic_for_intent(intent)
    if symptom is None and by_intent is not None and by_intent.kind == SYMPTOM:
        symptom = by_intent
    current = CONTENT.topic(tracker.get_slot(TOPIC_SLOT))
    names_topic = bool(entity_topics(tracker, EXERCISE) or entity_topics(tracker, SYMPTOM))
    if not found and (intent == FAQ or (by_intent is not None and by_intent.kind == FAQ)):
        card = faq_card(tracker)
        short_follow_up = facet != GENERAL and current is not None and not names_topic and is_short(tracker)
        if card is not None and not short_follow_up:
            return Target(card, facet)
    text = tracker.latest_message.get("text") or ""
    helps = facet == GENERAL and ASKS_IF_IT_HELPS.search(text)
    pair_with_current = helps and current is not None and current.kind == EXERCISE
    if exercise is None and symptom is not None and by_intent is not None and by_intent.kind == EXERCISE \
            and not pair_with_current:
        # the classifier read an exercise type and the words name only a symptom ("which
        # exercises are good for balance?"): that exercise for that symptom
        exercise = by_intent
    if exercise is not None:
        # "would tai chi help with that?" after a symptom: that exercise for that symptom
        if symptom is None and helps and current is not None and current.kind == SYMPTOM:
            symptom = current
        return Target(exercise, facet, symptom if facet == GENERAL else None)
    if symptom is not None:
        if pair_with_current:
            # "does it help with balance?" after an exercise: that exercise for that symptom
            return Target(current, GENERAL, symptom)
        if current is not None and current.kind in (EXERCISE, FAQ) and facet == PRECAUTIONS:
            # "is it safe if my legs are weak?" after an exercise or a common question: its
            # precautions
            return Target(current, PRECAUTIONS)
        return Target(symptom, facet)
    topics = entity_topics(tracker, EXERCISE) or entity_topics(tracker, SYMPTOM)
    if topics:
        return Target(topics[0], facet)
    generic = found or intent in CONTENT.followups or intent in GENERIC_INTENTS or intent == FAQ
    if facet == GENERAL and helps and current is not None and generic and REFERS_BACK.search(text):
        # "can exercise help with it?" after a symptom or a common question: that topic
        return Target(current, GENERAL)
    if facet != GENERAL and current is not None and generic:
        return Target(current, facet)
    if found:
        return Target(CONTENT.topic(found["topic"]), facet)
    if by_intent is not None:
        # an information topic other than the overview answers its summary only
        keeps_facet = by_intent.kind != INFO or by_intent.id == OVERVIEW_TOPIC
        return Target(by_intent, facet if keeps_facet else GENERAL)
    return Target(None, facet)


def answer(dispatcher: CollectingDispatcher, tracker: Tracker, found: Target) -> List:
    """Send the answer of a target; returns the events that record it for follow-ups."""
    topic = found.topic
    if found.facet != GENERAL:
        text = followup_answer(topic, found.facet)
        if followup_facet(topic, found.facet) is None:
            # no such facet: the general exercise guidance answered, and is now the topic
            send(dispatcher, tracker, text, exercise_buttons())
            return record(Target(CONTENT.overview, found.facet))
        others = [b for b in followup_buttons(topic) if CONTENT.followups[intent_of(b)][0] != found.facet]
        send(dispatcher, tracker, text, others)
        return record(found)
    if found.symptom is not None and topic.kind == EXERCISE:
        send(dispatcher, tracker, exercise_for_symptom(topic, found.symptom), followup_buttons(topic))
        return record(found)
    if topic.kind == FAQ:
        send(dispatcher, tracker, faq_answer(topic), followup_buttons(topic))
    elif topic.kind == SYMPTOM:
        recommended = [CONTENT.topics[r.exercise] for r in topic.recommended_exercises]
        closing = CONTENT.text("symptom_recommends", recommended=", ".join(t.title for t in recommended))
        buttons = [topic_button(t, symptom=topic.id) for t in recommended] + followup_buttons(topic)
        send(dispatcher, tracker, topic_answer(topic, closing), buttons)
    else:
        buttons = exercise_buttons() if topic.id == OVERVIEW_TOPIC else followup_buttons(topic)
        send(dispatcher, tracker, topic_answer(topic, CONTENT.text("answer_more")), buttons)
    return record(found)


def record(found: Target) -> List:
    """The topic for follow-ups, and what was answered."""
    return [SlotSet(TOPIC_SLOT, found.topic.id), SlotSet(ANSWERED_SLOT, found.label)]


def intent_of(button: Dict[str, str]) -> str:
    return button["payload"][1:].split("{", 1)[0]


class ContentAnswer(Reply):
    """An answer from the content: the topic and facet the message asks about (`target`)."""

    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        found = target(tracker)
        if found.topic is None:
            return self.no_topic(dispatcher, tracker)
        return answer(dispatcher, tracker, found)

    def no_topic(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List:
        send(dispatcher, tracker, CONTENT.text("fallback"), exercise_buttons()[:3])
        return []


class ActionAnswerExercise(ContentAnswer):
    """An exercise type; with a symptom named too, whether it helps that symptom."""

    def name(self) -> Text:
        return "action_answer_exercise"


class ActionAnswerSymptom(ContentAnswer):
    """A symptom and the exercise types that help it; with an exercise named, that pair."""

    def name(self) -> Text:
        return "action_answer_symptom"


class ActionAnswerInfo(ContentAnswer):
    """Physiotherapy, MS, the exercise overview and finding a physiotherapist."""

    def name(self) -> Text:
        return "action_answer_info"


class ActionAnswerFaq(ContentAnswer):
    """A common question (retrieval intent faq/<key>): its answer, and the follow-ups as buttons."""

    def name(self) -> Text:
        return "action_answer_faq"


class ActionAnswerFollowup(ContentAnswer):
    """How much, how safe, at home: for the topic the message names, else the current topic.
    With no topic yet, the general exercise guidance answers that facet ("how much should I do a
    week?" first thing), with a button for each exercise."""

    def name(self) -> Text:
        return "action_answer_followup"

    def no_topic(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List:
        facet = asked_facet(tracker)
        if facet == GENERAL:
            return answer(dispatcher, tracker, Target(CONTENT.overview, GENERAL))
        send(dispatcher, tracker, followup_answer(CONTENT.overview, facet), exercise_buttons())
        return record(Target(CONTENT.overview, facet))
