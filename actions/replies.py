"""What every action shares: the content, reading the tracker, and sending a reply.

Actions hold no answer text: they pick texts from the content module and send them through
``send``, which adds the disclaimer to the first reply of a conversation.
"""
from __future__ import annotations

import abc
import json
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import content
import settings
from content import EXERCISE, FAQ, SYMPTOM, Facet, Topic
from names import FACET, SAFETY_CHECK_SLOT

CONTENT = content.load()

Button = Dict[str, str]
# The button label of each facet a follow-up asks for ("How much?"), and of how to start.
FACET_LABELS = {facet: label for facet, label in CONTENT.followups.values()}
FACET_LABELS["how_to_start"] = CONTENT.text("how_to_start_button")


class Reply(Action, metaclass=abc.ABCMeta):
    """An action that answers the user. A safety check left unanswered is closed by any other
    answer, so that a later "yes" is not taken as its answer. Abstract (the action server
    registers only the actions with a name)."""

    @abc.abstractmethod
    def name(self) -> Text:
        """The action's name in the domain."""

    @abc.abstractmethod
    def reply(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        """Send the answer; return the events that record it."""

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List:
        events = list(self.reply(dispatcher, tracker, domain))
        sets_check = any(e.get("event") == "slot" and e.get("name") == SAFETY_CHECK_SLOT for e in events)
        if tracker.get_slot(SAFETY_CHECK_SLOT) and not sets_check:
            events.append(SlotSet(SAFETY_CHECK_SLOT, None))
        return events


def payload(intent: str, **entities: str) -> str:
    """A button payload that Rasa parses without NLU: /intent{"entity": "value"}."""
    return f"/{intent}{json.dumps(entities)}" if entities else f"/{intent}"


def topic_button(topic: Topic, **entities: str) -> Button:
    return {"title": topic.title, "payload": payload(topic.intent, **entities)}


def followup_buttons(topic: Topic) -> List[Button]:
    """Buttons for the three follow-up questions, carrying the topic so they work statelessly."""
    entities = {topic.kind: topic.id} if topic.kind in (EXERCISE, SYMPTOM) else {}
    return [{"title": label, "payload": payload(intent, **entities)} for intent, (_, label) in CONTENT.followups.items()]


def suggestion_button(match: Dict[str, Any]) -> Optional[Button]:
    """A button for content that retrieval found: the topic, and the facet when it is not the
    general answer ("Aquatic exercise: Is it safe?"). Its payload names both, so no NLU is needed."""
    topic = CONTENT.topic(match.get("topic"))
    if topic is None:
        return None
    facet = match.get("facet") or "general"
    entities: Dict[str, str] = {}
    if topic.kind in (EXERCISE, SYMPTOM):
        entities[topic.kind] = topic.id
    elif topic.kind == FAQ:
        entities[FAQ] = topic.response_key
    label = FACET_LABELS.get(facet)
    if label:
        entities[FACET] = facet
    intent = FAQ if topic.kind == FAQ else topic.intent
    title = f"{topic.title}: {label}" if label else topic.title
    return {"title": title, "payload": payload(intent, **entities)}


def exercise_buttons(**entities: str) -> List[Button]:
    return [topic_button(t, **entities) for t in CONTENT.topics_of_kind(EXERCISE)]


def source_link(source: content.Source) -> str:
    """A source as a Markdown link, [Kalb et al. 2020](https://doi.org/...): the channels render it."""
    return f"[{source.short}]({source.url})"


def with_sources(text: str, source_ids: Iterable[str]) -> str:
    """The answer, then a last line with its sources as links."""
    cited = "; ".join(source_link(source) for source in CONTENT.cited(source_ids))
    return f"{text}\n{CONTENT.text('sources', sources=cited)}" if cited else text


def without_sources(answer: str) -> str:
    """What a reader reads of an answer: everything but its last line of sources."""
    prefix = CONTENT.text("sources", sources="")
    return "\n".join(line for line in answer.split("\n") if not line.startswith(prefix))


def statement(facet: Facet) -> str:
    """A statement's text with the deployment's crisis line filled in."""
    return facet.text.format(crisis_line=settings.get("CRISIS_LINE"))


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def entity_topics(tracker: Tracker, kind: str) -> List[Topic]:
    """Distinct content topics of one kind named in the latest message, in order of mention."""
    topics: List[Topic] = []
    for entity in tracker.latest_message.get("entities") or []:
        topic = CONTENT.topic(entity.get("value")) if entity.get("entity") == kind else None
        if topic is not None and topic.kind == kind and topic not in topics:
            topics.append(topic)
    return topics


def named_topic(tracker: Tracker, kind: str) -> Optional[Topic]:
    """The one topic of this kind the message names, if it names exactly one."""
    topics = entity_topics(tracker, kind)
    return topics[0] if len(topics) == 1 else None


def session_events(tracker: Tracker) -> List[Dict[str, Any]]:
    """The events of the current conversation session."""
    events = tracker.events or []
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "session_started":
            return events[index + 1 :]
    return events


def first_reply_of_session(tracker: Tracker) -> bool:
    return not any(event.get("event") == "bot" for event in session_events(tracker))


def send(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    text: str,
    buttons: Optional[List[Button]] = None,
    disclaimer_first: bool = True,
) -> None:
    """Send one answer; the first reply of a session also carries the disclaimer."""
    disclaimer = first_reply_of_session(tracker)
    if disclaimer and disclaimer_first:
        dispatcher.utter_message(text=CONTENT.text("disclaimer"))
    dispatcher.utter_message(text=text, buttons=buttons or [])
    if disclaimer and not disclaimer_first:
        dispatcher.utter_message(text=CONTENT.text("disclaimer"))
