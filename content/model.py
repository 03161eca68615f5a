"""Typed view of the content module, built and validated by ``content.loader``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Tuple

from names import EXERCISE, FAQ, SYMPTOM

if TYPE_CHECKING:
    from content.red_flags import Vocabulary

INFO = "info"
# A common question (topics/faq/<key>.yml) is a topic of kind FAQ, answered through the retrieval
# intent faq/<key>.
KINDS = (EXERCISE, SYMPTOM, INFO, FAQ)
# The vocabulary label of medical_terms.yml (outside the remit), and the ids of its two lists:
# medicines (always referred to the physician) and general terms of medicine (a feature only).
MEDICAL = "medical"
MEDICINE = "medicine"

# The facets every exercise and symptom topic has, in the order an answer walks through them.
FACETS = ("summary", "benefits", "how_to_start", "how_much", "precautions", "at_home")
# Information topics and common questions need only a summary; the general exercise overview, or
# the common question's related topic, answers the rest.
REQUIRED_FACETS = {EXERCISE: FACETS, SYMPTOM: FACETS, INFO: ("summary",), FAQ: ("summary",)}
# The facets a common question may have (DEFINITIONS.md section 3): no "benefits".
FAQ_FACETS = ("summary", "how_to_start", "how_much", "precautions", "at_home")
# Safety answers: an emergency gives the emergency number; a caution gives advice only.
EMERGENCY = "emergency"
CAUTION = "caution"
TIERS = (EMERGENCY, CAUTION)
OVERVIEW_TOPIC = "overview"


class ContentError(ValueError):
    """Content that cannot be used; the message names the file and the field."""

    def __init__(self, path: str, field_name: str, problem: str) -> None:
        super().__init__(f"{path}: {field_name}: {problem}")
        self.path = path
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class Source:
    id: str
    short: str  # the readable name an answer links: "Kalb et al. 2020"
    citation: str  # the full reference, made from the fields below
    authors: str = ""
    title: str = ""
    year: str = ""
    published: str = ""  # journal, volume and pages, or the publisher
    url: str = ""  # https: a DOI, PubMed or PMC address, or the official page


@dataclass(frozen=True)
class EvidenceLevel:
    """How strong the support for a statement is, and what wording that allows (evidence.yml)."""

    id: str
    meaning: str
    wording: str
    forbidden: Tuple[str, ...] = ()
    required: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Facet:
    text: str
    sources: Tuple[str, ...]
    evidence: str = ""


@dataclass(frozen=True)
class Recommendation:
    exercise: str
    why: str
    sources: Tuple[str, ...]
    evidence: str = ""


@dataclass(frozen=True)
class Topic:
    id: str
    kind: str
    title: str
    intent: str
    synonyms: Tuple[str, ...]
    facets: Dict[str, Facet]
    recommended_exercises: Tuple[Recommendation, ...] = ()
    path: str = ""
    # exercise topics: the one safety point an answer about this exercise for a symptom adds
    key_precaution: Optional[Facet] = None
    # common questions: the id of the topic whose facets answer the follow-ups this card lacks
    related: Optional[str] = None
    # common questions: words that name this question whatever the intent classifier says
    # ("clonus", "AFO", "tai chi"); the spaCy pipeline marks them (nlp/pipeline.py)
    triggers: Tuple[str, ...] = ()

    def facet(self, name: str) -> Optional[Facet]:
        return self.facets.get(name)

    @property
    def response_key(self) -> Optional[str]:
        """A common question's key in its retrieval intent: faq/pilates -> pilates."""
        return self.intent.split("/", 1)[1] if self.kind == FAQ else None


@dataclass(frozen=True)
class Response:
    text: str
    sources: Tuple[str, ...] = ()


@dataclass(frozen=True)
class SafetyAnswer:
    """What to do now, for one red-flag or caution category."""

    category: str
    title: str
    text: str
    sources: Tuple[str, ...]
    tier: str = EMERGENCY
    evidence: str = ""
    # a caution whose advice a common question also gives (its key): when the classifiers
    # recognise that question, its answer is given instead of the caution
    common_question: Optional[str] = None


@dataclass
class Content:
    sources: Dict[str, Source]
    topics: Dict[str, Topic]
    responses: Dict[str, Response]
    # follow-up intent -> the facet it asks for, and the label of its button
    followups: Dict[str, Tuple[str, str]]
    # red-flag category -> its answer
    safety: Dict[str, SafetyAnswer] = field(default_factory=dict)
    # medical_terms.yml: names of medicines and supplements, and general terms of medicine
    medicines: Tuple[str, ...] = ()
    medical_terms: Tuple[str, ...] = ()
    # evidence.yml: the levels a statement may claim
    evidence: Dict[str, EvidenceLevel] = field(default_factory=dict)
    # red_flags.yml: what the safety layer's rules look for
    red_flags: Optional[Vocabulary] = None
    # facets.yml: facet -> the words that ask for it, in priority order
    facet_phrases: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    _by_intent: Dict[str, Topic] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_intent = {topic.intent: topic for topic in self.topics.values()}

    def topic(self, topic_id: Optional[str]) -> Optional[Topic]:
        return self.topics.get(topic_id) if topic_id else None

    def topic_for_intent(self, intent: Optional[str]) -> Optional[Topic]:
        return self._by_intent.get(intent) if intent else None

    def topics_of_kind(self, kind: str) -> List[Topic]:
        return [t for t in self.topics.values() if t.kind == kind]

    @property
    def overview(self) -> Topic:
        return self.topics[OVERVIEW_TOPIC]

    def text(self, key: str, **values: str) -> str:
        return self.responses[key].text.format(**values)

    def cited(self, source_ids: Iterable[str]) -> List[Source]:
        """The sources of these ids, each once, in order of citation."""
        seen: List[Source] = []
        for source_id in source_ids:
            source = self.sources[source_id]
            if source not in seen:
                seen.append(source)
        return seen

    def vocabulary(self) -> List[Tuple[str, str, str]]:
        """(entity label, topic id, phrase) for every synonym and title, and (``MEDICAL``,
        ``MEDICINE`` or ``MEDICAL``, phrase) for every medicine and medical term: the NLU
        vocabulary."""
        rows = []
        for topic in self.topics.values():
            if topic.kind in (INFO, FAQ):
                continue  # recognised by intent only
            for phrase in (topic.title.lower(),) + topic.synonyms:
                rows.append((topic.kind, topic.id, phrase))
        rows.extend((MEDICAL, MEDICINE, name) for name in self.medicines)
        rows.extend((MEDICAL, MEDICAL, term) for term in self.medical_terms)
        return rows

    def intents(self) -> List[str]:
        """Every domain intent the content answers: topics, follow-ups and conversational responses.

        The common questions' retrieval intents (faq/pilates, faq/bladder ...) are one domain
        intent, ``faq``."""
        topic_intents = {intent.split("/", 1)[0] for intent in self._by_intent}
        return sorted(topic_intents | set(self.followups) | {k for k in self.responses if k in INTENT_RESPONSES})


# Intents answered by one text of responses.yml (keyed by the intent's name).
INTENT_RESPONSES = (
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "bot_challenge",
    "request_medical_advice",
    "out_of_scope",
    "emergency",
)
# Other texts the actions need.
TEXT_RESPONSES = (
    "disclaimer",
    "answer_more",
    "general_followup",
    "fallback",
    "fallback_repeated",
    "empty_message",
    "long_message",
    "exercise_for_symptom",
    "exercise_not_recommended",
    "symptom_recommends",
    "key_precaution",
    "faq_more",
    "sources",
    "safety_check",
    "safety_yes",
    "safety_no",
    "how_to_start_button",
)
# Texts shown as button labels: short enough for every channel.
BUTTON_RESPONSES = ("safety_yes", "safety_no", "how_to_start_button")
REQUIRED_RESPONSES = INTENT_RESPONSES + TEXT_RESPONSES
