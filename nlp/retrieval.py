"""Answers from content for any wording: the facet or common question closest to a message.

Two kinds of cards point to a topic and a facet:

- a *facet card* for every facet of every topic and every common question: its title, what the
  facet asks ("how much", "is it safe"), and its text;
- a *question card* for every training example of a topic's intent (and of each common
  question): the question as people ask it, with the facet its facet words ask for.

Measured on the development sets, questions find the right topic far more often than answers
do (a question is closer to another question than to its answer): of 44 messages the intent
classifier was not confident about, facet cards alone answered 3 correctly above the threshold,
with question cards 17 (bench/README.md). The cards' sentence embeddings are computed when the
model is trained; a message's embedding is compared with all of them (cosine similarity).
nlp.components.ContentRetriever asks for this only when no intent is confident.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np

from content import Content
from content.model import FAQ, INFO, OVERVIEW_TOPIC

GENERAL = "general"  # the topic's general answer: summary and benefits
# How a card says what its facet answers (embedded with the card, so that "how often" finds it).
FACET_QUESTIONS = {
    GENERAL: "What is it and how can it help?",
    "how_to_start": "How do I start?",
    "how_much": "How much, how often and how long?",
    "precautions": "Is it safe? What should I watch out for?",
    "at_home": "Can I do it at home?",
}


@dataclass(frozen=True)
class Card:
    topic: str
    facet: str
    text: str


@dataclass(frozen=True)
class Match:
    topic: str
    facet: str
    score: float

    def as_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "score": round(self.score, 4)}


def cards(content: Content) -> List[Card]:
    """One card per topic for its general answer, and one per facet that answers a follow-up."""
    result = []
    for topic in content.topics.values():
        general = " ".join(topic.facets[name].text for name in ("summary", "benefits") if name in topic.facets)
        result.append(Card(topic.id, GENERAL, f"{topic.title}. {FACET_QUESTIONS[GENERAL]} {general}"))
        if topic.kind == INFO and topic.id != OVERVIEW_TOPIC:
            continue  # information topics answer only their summary; the overview answers the rest
        for facet, question in FACET_QUESTIONS.items():
            if facet != GENERAL and facet in topic.facets:
                result.append(Card(topic.id, facet, f"{topic.title}. {question} {topic.facets[facet].text}"))
    return result


def question_cards(content: Content, examples: Iterable[Tuple[str, str, Sequence[str]]]) -> List[Card]:
    """One card per training example (text, intent or faq/<key>, facets its words name) of a
    topic: the facet is the first one named that the topic has (facets.yml's order), else the
    general answer."""
    result = []
    for text, intent, named in examples:
        topic = content.topic_for_intent(intent)
        if topic is None:
            continue
        facet = next((f for f in content.facet_phrases if f in named and f in topic.facets), GENERAL)
        result.append(Card(topic.id, facet, text))
    return result


class Retriever:
    """The cards and their embeddings."""

    def __init__(self, cards_: Sequence[Card], embeddings: np.ndarray) -> None:
        self.cards = tuple(cards_)
        self._embeddings = np.asarray(embeddings, dtype=np.float32)

    def search(self, embedding: np.ndarray, top: int = 3) -> List[Match]:
        """The best card of each of the `top` best topics, best first."""
        scores = self._embeddings @ np.asarray(embedding, dtype=np.float32).ravel()
        best: Dict[str, Match] = {}
        for index in np.argsort(-scores):
            card = self.cards[index]
            if card.topic not in best:
                best[card.topic] = Match(card.topic, card.facet, float(scores[index]))
                if len(best) == top:
                    break
        return list(best.values())

    def to_json(self) -> Dict[str, Any]:
        return {"cards": [asdict(card) for card in self.cards], "embeddings": self._embeddings.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Retriever":
        return cls([Card(**card) for card in data["cards"]], np.array(data["embeddings"]))


def topic_kind_intent(content: Content, topic_id: str) -> Tuple[str, str]:
    """(kind, intent) of a topic; a common question's intent is the retrieval intent's `faq`."""
    topic = content.topics[topic_id]
    return topic.kind, (FAQ if topic.kind == FAQ else topic.intent)
