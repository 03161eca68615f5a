"""Custom Rasa NLU graph components built on the project's spaCy pipeline."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Dict, List, Optional, Set, Text, Tuple, Type

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME as RESPONSE_SELECTOR_KEY
from rasa.nlu.constants import RESPONSE_SELECTOR_RETRIEVAL_INTENTS as RETRIEVAL_INTENTS
from rasa.nlu.constants import SPACY_DOCS, TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

import settings
import content
from content.model import MEDICAL, MEDICINE, Topic
from content.model import CAUTION, EMERGENCY, FAQ
from nlp import encoder
from names import EXERCISE, INPUT_GUARD_KEY, RED_FLAG, SAFETY_KEY, SYMPTOM
from nlp.pipeline import FACET_LABEL, TRIGGER_SPANS
from nlp.red_flags import RedFlag, RedFlagDetector
from nlp.retrieval import Match, Retriever, question_cards, topic_kind_intent
from nlp.retrieval import cards as retrieval_cards
from nlp.safety import CAUTION as CAUTION_TIER
from nlp.safety import EMERGENCY_INTENT, RULES, SUSPECTED, Decision, Policy, decide
from nlp.safety_net import BENIGN, SafetyNet, read_corpus

# The entity labels the content vocabulary produces: content topic kinds, and the facet a message
# asks about ("how often" -> facet how_much).
CONTENT_LABELS = (EXERCISE, SYMPTOM, FACET_LABEL)
# The labels the topic featurizer reads: those, and the medical terms (medicines, tests,
# diagnosis), which are a feature for the intent classifier but never an entity.
FEATURE_LABELS = CONTENT_LABELS + (MEDICAL,)
# Set by InputGuard on a message that is empty or was cut ("empty", "long"), and by
# UnknownWordsGuard on one with no word the model knows ("unknown"); in the parse data, so that
# the fallback's answer says why (actions/conversation.py) without deciding again.
GUARD_KEY = INPUT_GUARD_KEY
# Set by InputGuard on a cut message: (offset, text) of what was cut off, for the red-flag check
# only: starting a little before the cut, so that a phrase across it is whole, up to RED_FLAG_CHARS.
REST_KEY = "input_guard_rest"
CUT_OVERLAP = 200
RED_FLAG_CHARS = 100_000
# Control characters other than tab and newline: noise from binary or pasted input.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Set by SentenceEmbeddingFeaturizer: the message's sentence embedding (numpy, L2-normalised), for
# the components after it (safety net, content retrieval), so that a message is encoded once.
EMBEDDING_KEY = "sentence_embedding"


def content_spans(message: Message) -> List[Tuple[Text, int, int]]:
    """(topic id, start, end) of every content term the spaCy pipeline found in the message:
    topic synonyms (the topic's id) and medical terms (`medicine` or `medical`)."""
    doc = message.get(SPACY_DOCS[TEXT])
    if doc is None:
        return []
    return [(ent.ent_id_, ent.start_char, ent.end_char) for ent in doc.ents if ent.label_ in FEATURE_LABELS and ent.ent_id_]


def read_json(model_storage: ModelStorage, resource: Resource, name: Text) -> Any:
    """What a trained component saved with `write_json`."""
    with model_storage.read_from(resource) as directory:
        return json.loads((directory / name).read_text(encoding="utf-8"))


def write_json(model_storage: ModelStorage, resource: Resource, name: Text, value: Any) -> Resource:
    """Saves `value` with the trained model, in the component's resource."""
    with model_storage.write_to(resource) as directory:
        (directory / name).write_text(json.dumps(value), encoding="utf-8")
    return resource


class ConfiguredComponent(GraphComponent):
    """A component made from its configuration alone: its defaults, then its entry in config.yml."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        raise NotImplementedError  # each component reads its own configuration

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ConfiguredComponent":
        return cls({**cls.get_default_config(), **config})


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class InputGuard(ConfiguredComponent):
    """First in the pipeline: makes any input safe for the components after it.

    A missing text becomes empty, control characters are removed, UTF-16 surrogates (a JSON
    "\\ud83d\\ude00" escape decodes to two of them) become the character they encode or, alone,
    U+FFFD (spaCy cannot hash them), and a text longer than
    `max_characters` is cut for understanding (spaCy refuses texts over a million characters).
    Only the NLU's copy changes: the tracker keeps what the user sent. An empty or cut message
    is marked (GUARD_KEY) so that RedFlagClassifier, last in the pipeline, sends it to the
    fallback, whose answer says why, whatever the intent classifier made of it; what was cut off
    (up to RED_FLAG_CHARS) is kept aside (REST_KEY) for the red-flag check alone.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_characters": int(settings.get("MAX_MESSAGE_CHARS"))}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._max = int(config["max_characters"])

    @staticmethod
    def safe(text: Text) -> Text:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return CONTROL_CHARACTERS.sub(" ", text)

    def clean(self, text: Optional[Text]) -> Text:
        return self.safe(text or "")[: self._max]

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if TEXT in message.data:
                original = message.get(TEXT) or ""
                cleaned = self.clean(original)
                message.set(TEXT, cleaned)
                if not cleaned.strip():
                    message.set(GUARD_KEY, "empty", add_to_output=True)
                elif len(original) > self._max:
                    message.set(GUARD_KEY, "long", add_to_output=True)
                    start = max(0, self._max - CUT_OVERLAP)
                    message.set(REST_KEY, (start, self.safe(original[start:RED_FLAG_CHARS])))
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ContentEntityExtractor(ConfiguredComponent, EntityExtractorMixin):
    """`exercise` and `symptom` entities whose value is the content topic id.

    Reads the spaCy doc that `SpacyNLP` already made for the message (no second parse): the
    pipeline's entity ruler has matched the content vocabulary on lemmas, and each match carries
    its topic id, so "swimming" and "hydrotherapy" both give `exercise: aquatic`.
    """

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"labels": list(CONTENT_LABELS)}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._labels = set(config["labels"])

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue
            found = [
                {
                    "entity": ent.label_,
                    "value": ent.ent_id_,
                    "start": ent.start_char,
                    "end": ent.end_char,
                    "confidence_entity": 1.0,
                }
                for ent in doc.ents
                if ent.label_ in self._labels and ent.ent_id_
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found), add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class UnknownWordsGuard(GraphComponent):
    """Marks a message in which no word is one the model was trained on, or a content term.

    Keyboard mashing ("asdf ghjk") or a language the training data does not have gives the
    classifier nothing to go on, yet it may still be confident about some intent. Such a message
    is marked (GUARD_KEY "unknown") and RedFlagClassifier sends it to the fallback, which offers
    topics, unless it holds a red flag. The known words (texts and lemmas of the training
    examples) are saved with the model. Messages without any word (digits, emoji, punctuation)
    are left to the classifier.
    """

    FILE = "known_words.json"

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP, Tokenizer]

    def __init__(self, model_storage: ModelStorage, resource: Resource, known: Optional[Set[Text]] = None) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self._known = known or set()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "UnknownWordsGuard":
        return cls(model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "UnknownWordsGuard":
        return cls(model_storage, resource, set(read_json(model_storage, resource, cls.FILE)))

    @staticmethod
    def _words(message: Message) -> Set[Text]:
        words = set()
        for token in message.get(TOKENS_NAMES[TEXT]) or []:
            if token.text.isalpha():
                words.add(token.text.lower())
                words.add((token.lemma or token.text).lower())
        return words

    def train(self, training_data: TrainingData) -> Resource:
        known: Set[Text] = set()
        for example in training_data.intent_examples:
            known |= self._words(example)
        return write_json(self._model_storage, self._resource, self.FILE, sorted(known))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if message.get(GUARD_KEY):
                continue
            words = self._words(message)
            if not words or words & self._known:
                continue
            if content_spans(message):
                continue  # a content term the training examples happen not to use
            message.set(GUARD_KEY, "unknown", add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence features from the pretrained sentence encoder (nlp/encoder.py).

    Rasa's LanguageModelFeaturizer is not used: it takes BERT's CLS token as the sentence
    embedding, whereas all-MiniLM-L6-v2 was trained with mean pooling, and it runs the model
    eagerly once per message (about 90 ms here). This featurizer runs one compiled call per
    message (per batch in training), adds the embedding as the sentence feature for DIET and the
    ResponseSelector, and keeps it on the message (EMBEDDING_KEY) for the safety net and content
    retrieval.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config()}

    def __init__(self, config: Dict[Text, Any], execution_context: ExecutionContext) -> None:
        DenseFeaturizer.__init__(self, execution_context.node_name, config)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Nothing to configure."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        return cls({**cls.get_default_config(), **config}, execution_context)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process([example for example in training_data.training_examples if example.get(TEXT)])
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        texts = [message for message in messages if TEXT in message.data]
        if not texts:
            return messages
        embeddings = encoder.get().encode([message.get(TEXT) or "" for message in texts])
        for message, embedding in zip(texts, embeddings):
            message.set(EMBEDDING_KEY, embedding)
            # A message without words (InputGuard emptied it) gets no features from the other
            # featurizers either: with this one alone, DIET would get a sentence feature and no
            # sequence and fail; with none, it predicts nothing and the fallback answers.
            if message.get(TOKENS_NAMES[TEXT]):
                self.add_features_to_message(None, embedding[None, :], TEXT, message)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class ContentTopicFeaturizer(SparseFeaturizer, GraphComponent):
    """Sparse features saying which content topics a message names, via the spaCy entity ruler.

    "weights", "dumbbells" and "theraband" all become the feature `strength`, so the intent
    classifier learns topics rather than each word: a synonym that never occurs in the training
    data still points to its topic. The medical terms (content/medical_terms.yml) become two
    features, `medicine` and `medical`, so an unseen medicine still reads as a medical question.
    The topic list is fixed at training time and saved with the model, so a model keeps working
    when the content grows until it is retrained.
    """

    FILE = "topics.json"

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP, Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**SparseFeaturizer.get_default_config()}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        topics: Optional[List[Text]] = None,
    ) -> None:
        SparseFeaturizer.__init__(self, execution_context.node_name, config)
        self._model_storage = model_storage
        self._resource = resource
        self._topics = topics or []
        self._index = {topic: i for i, topic in enumerate(self._topics)}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Nothing to configure."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ContentTopicFeaturizer":
        return cls({**cls.get_default_config(), **config}, model_storage, resource, execution_context)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "ContentTopicFeaturizer":
        topics = read_json(model_storage, resource, cls.FILE)
        return cls({**cls.get_default_config(), **config}, model_storage, resource, execution_context, topics)

    def train(self, training_data: TrainingData) -> Resource:
        topics: Set[str] = set()
        for example in training_data.training_examples:
            topics.update(topic for topic, _, _ in content_spans(example))
        return write_json(self._model_storage, self._resource, self.FILE, sorted(topics))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            tokens = message.get(TOKENS_NAMES[TEXT])
            if not tokens or not self._topics:
                continue
            sequence = np.zeros((len(tokens), len(self._topics)))
            for topic, start, end in content_spans(message):
                column = self._index.get(topic)
                if column is None:
                    continue
                for row, token in enumerate(tokens):
                    if token.start < end and token.end > start:
                        sequence[row, column] = 1.0
            sentence = sequence.max(axis=0, keepdims=True)
            self.add_features_to_message(
                scipy.sparse.coo_matrix(sequence), scipy.sparse.coo_matrix(sentence), TEXT, message
            )
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class CommonQuestionSelector(ResponseSelector):
    """Rasa's ResponseSelector for the common questions (retrieval intent faq/<key>), with three
    differences.

    - It runs only on a message for which DIET ranks `faq` among its first `consider_ranks`
      intents: it costs as much as DIET itself (about 3.7 ms a message), and for the other
      messages its answer is never read.
    - The answers are the content module's cards (content/topics/faq/), which action_answer_faq
      reads, not responses in the domain; so every card's key counts as having a response.
    - When DIET says `faq` but no common question reaches `min_confidence`, the message goes to
      `nlu_fallback` (and so to the ContentRetriever): DIET is often sure of `faq` for an
      exercise question no common question answers, and the selector then picked one anyway.
    """

    responses: Dict[Text, List[Dict[Text, Any]]]  # set by ResponseSelector

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**ResponseSelector.get_default_config(), "consider_ranks": 2, "min_confidence": 0.5}

    def process(self, messages: List[Message]) -> List[Message]:
        ranks = int(self.component_config["consider_ranks"])
        asked = [m for m in messages
                 if any(r.get("name") == FAQ for r in (m.get(INTENT_RANKING_KEY) or [])[:ranks])]
        if asked:
            if not self.responses:
                # utter_faq/<key>, as Rasa names a retrieval intent's responses
                self.responses = {f"utter_{card.intent}": [{TEXT: card.title}]
                                  for card in content.load().topics_of_kind(FAQ)}
            super().process(asked)
            minimum = float(self.component_config["min_confidence"])
            for message in asked:
                selected = ((message.get(RESPONSE_SELECTOR_KEY) or {}).get(FAQ) or {}).get("response") or {}
                if (message.get(INTENT) or {}).get("name") == FAQ and (selected.get("confidence") or 0.0) < minimum:
                    # the FallbackClassifier after this component adds nlu_fallback to the ranking
                    message.set(INTENT, {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": minimum},
                                add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class ContentRetriever(GraphComponent):
    """When no intent is confident: the content closest to the message (nlp/retrieval.py).

    Runs after the FallbackClassifier, on messages it sent to `nlu_fallback`. Compares the
    message's sentence embedding with a card for every facet of every topic and every common
    question (embedded when the model is trained). The best three go into the parse data
    (`retrieval`: topic, facet and score of each), so the fallback can offer them ("Did you
    mean...?") and staff see the scores. When the best is at least `threshold`, it answers: the
    intent becomes that topic's (`faq` for a common question) and `retrieval.answered` is true, so
    the answer actions give that facet of that topic and set it as the topic for follow-ups. The
    safety decision, after this component, still overrides it.
    """

    KEY = "retrieval"
    FILE = "retrieval.json"

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP, SentenceEmbeddingFeaturizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"threshold": 0.65, "suggestions": 3}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        retriever: Optional[Retriever] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._retriever = retriever
        self._content: content.Content = content.load()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ContentRetriever":
        return cls({**cls.get_default_config(), **config}, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "ContentRetriever":
        retriever = Retriever.from_json(read_json(model_storage, resource, cls.FILE))
        return cls({**cls.get_default_config(), **config}, model_storage, resource, retriever)

    def train(self, training_data: TrainingData) -> Resource:
        """The cards of the content as it is now and of the training examples, embedded."""
        examples = []
        for example in training_data.intent_examples:
            intent = example.get(INTENT_RESPONSE_KEY) or example.get(INTENT)
            named = [topic for topic, _, _ in content_spans(example)]
            examples.append((example.get(TEXT), intent, named))
        cards = retrieval_cards(self._content) + question_cards(self._content, examples)
        retriever = Retriever(cards, encoder.get().encode([card.text for card in cards]))
        return write_json(self._model_storage, self._resource, self.FILE, retriever.to_json())

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            embedding = message.get(EMBEDDING_KEY)
            intent = (message.get(INTENT) or {}).get("name")
            if intent != DEFAULT_NLU_FALLBACK_INTENT_NAME or message.get(GUARD_KEY) or embedding is None:
                continue
            if self._retriever is None:
                continue
            matches = [m for m in self._retriever.search(embedding, int(self._config["suggestions"]))
                       if m.topic in self._content.topics]
            answered = bool(matches) and matches[0].score >= float(self._config["threshold"])
            message.set(self.KEY, {"matches": [m.as_dict() for m in matches], "answered": answered}, add_to_output=True)
            if answered:
                _, topic_intent = topic_kind_intent(self._content, matches[0].topic)
                decided = {"name": topic_intent, "confidence": round(matches[0].score, 4)}
                if topic_intent == FAQ:
                    self._answer_common_question(message, matches)
                ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != topic_intent]
                message.set(INTENT, decided, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [decided] + ranking, add_to_output=True)
        return messages

    def _answer_common_question(self, message: Message, matches: List[Match]) -> None:
        select_common_question(message, [(self._content.topics[m.topic].intent, round(m.score, 4)) for m in matches
                                         if self._content.topics[m.topic].kind == FAQ])


def select_common_question(message: Message, ranking: List[Tuple[Text, float]]) -> None:
    """Answer with the first common question of `ranking` ((faq/<key>, confidence) pairs), where
    Rasa reads a retrieval intent's answer (the ResponseSelector's output: the tracker, the review
    app and `rasa test` see faq/<key>)."""
    selectors = message.get(RESPONSE_SELECTOR_KEY) or {}
    selectors[RETRIEVAL_INTENTS] = sorted(set(selectors.get(RETRIEVAL_INTENTS) or []) | {FAQ})
    key, confidence = ranking[0]
    selectors[FAQ] = {
        "response": {"intent_response_key": key, "confidence": confidence,
                     "utter_action": f"utter_{key}", "responses": []},
        "ranking": [{"intent_response_key": k, "confidence": c} for k, c in ranking],
    }
    message.set(RESPONSE_SELECTOR_KEY, selectors, add_to_output=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CommonQuestionTriggers(ConfiguredComponent):
    """A message that names a common question by its trigger words (content/topics/faq/, marked
    by the spaCy pipeline in doc.spans["faq"]) asks that question, whatever the classifiers said:
    "clonus, my ankle keeps bouncing" is faq/spasticity although DIET reads the symptom stiffness,
    and "what is vestibular rehab" is faq/dizziness_vertigo, not balance training.

    Runs after the FallbackClassifier and before content retrieval. It does not override
    `keep_intents` (out of scope, the medical referral, and DIET's emergency, which the safety
    decision reads), nor an exercise's or a symptom's intent when the message names that topic in
    other words ("can I swim with foot drop?" stays aquatic, "heat makes my MS worse" the symptom).
    When several questions are named, the longest words decide; a tie decides nothing. The intent
    becomes `faq` (confidence 1.0, as a rule's decision), the question goes where the
    ResponseSelector's answer goes, and `faq_trigger` in the parse data says which words named it.
    The safety decision, after this component, still overrides it.
    """

    KEY = "faq_trigger"

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"keep_intents": ["out_of_scope", "request_medical_advice", EMERGENCY_INTENT]}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._keep = frozenset(config["keep_intents"])
        self._content: content.Content = content.load()

    def named_question(self, message: Message) -> Optional[Tuple[Text, Text, List[Tuple[int, int]]]]:
        """(key, words, character spans of every trigger) of the common question the message names
        by its trigger words, if one does."""
        doc = message.get(SPACY_DOCS[TEXT])
        spans = [span for span in (doc.spans.get(TRIGGER_SPANS, []) if doc is not None else [])
                 if span.label_ in self._content.topics]
        if not spans:
            return None
        longest = max(len(span) for span in spans)
        named = {span.label_: span.text for span in spans if len(span) == longest}
        if len(named) != 1:
            return None
        key, words = next(iter(named.items()))
        return key, words, [(span.start_char, span.end_char) for span in spans]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if message.get(GUARD_KEY):
                continue
            found = self.named_question(message)
            if found is None:
                continue
            key, words, triggers = found
            card = self._content.topics[key]
            intent = (message.get(INTENT) or {}).get("name")
            if intent in self._keep or self._names_intent_topic(message, self._best_guess(message), triggers, card):
                continue
            selected = ((message.get(RESPONSE_SELECTOR_KEY) or {}).get(FAQ) or {}).get("response") or {}
            message.set(self.KEY, {"question": key, "words": words}, add_to_output=True)
            if intent == FAQ and selected.get("intent_response_key") == card.intent:
                continue
            decided = {"name": FAQ, "confidence": 1.0}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FAQ]
            message.set(INTENT, decided, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [decided] + ranking, add_to_output=True)
            select_common_question(message, [(card.intent, 1.0)])
        return messages

    @staticmethod
    def _best_guess(message: Message) -> Optional[Text]:
        """The intent, or when none was confident (the fallback) the classifier's best guess."""
        ranking = [r.get("name") for r in message.get(INTENT_RANKING_KEY) or []
                   if r.get("name") != DEFAULT_NLU_FALLBACK_INTENT_NAME]
        intent = (message.get(INTENT) or {}).get("name")
        return ranking[0] if intent == DEFAULT_NLU_FALLBACK_INTENT_NAME and ranking else intent

    def _names_intent_topic(self, message: Message, intent: Optional[Text], triggers: List[Tuple[int, int]],
                            card: Topic) -> bool:
        """The intent is an exercise's or a symptom's, and the message names that topic in words
        other than the trigger words ("can I swim with foot drop?", "does tai chi help my
        shaking?"); "is tai chi good for balance" names balance training only by "tai chi". The
        question's own related topic does not count: "how do I stay cool in the summer heat?" asks
        how to keep cool, although "summer heat" names heat sensitivity."""
        topic = self._content.topic_for_intent(intent or "")
        if topic is None or topic.kind not in (EXERCISE, SYMPTOM) or topic.id == card.related:
            return False
        return any(named == topic.id and not any(start < t_end and end > t_start for t_start, t_end in triggers)
                   for named, start, end in content_spans(message))


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True, model_from="SpacyNLP"
)
class RedFlagClassifier(GraphComponent):
    """Last in the pipeline: the safety decision (nlp/safety.py) overrides what the classifiers said.

    The deterministic rules (nlp/red_flags.py, vocabulary in content/red_flags.yml) run on every
    message, a long one whole (up to InputGuard's RED_FLAG_CHARS). The learned safety net
    (nlp/safety_net.py) scores the message's sentence embedding; it is trained here, with the
    model, on the corpus in data/safety/ and on the NLU training examples as benign messages.

    A decision sets the intent `emergency` (confidence 1.0) and puts `safety` into the parse data:
    tier (confirmed, suspected, caution), category, source (rules, net, classifier) and score, so
    /model/parse, the tracker store and the review app all show it. A rule's evidence also becomes
    a `red_flag` entity (replacing topic entities inside it). For a suspected message, `safety`
    also keeps what the classifiers made of it without the emergency (`otherwise`), so that "No"
    to the safety check answers the question.

    Without a decision, a message that InputGuard found empty or had to cut, or in which
    UnknownWordsGuard found no known word, becomes `nlu_fallback` (confidence 1.0). One that names
    a medicine (content/medical_terms.yml) becomes `request_medical_advice`: the assistant never
    gives medication advice, also when the same message asks about exercise.
    """

    ENTITY = RED_FLAG
    INTENT = EMERGENCY_INTENT
    REFERRAL = "request_medical_advice"
    KEY = SAFETY_KEY
    FILE = "safety_net.json"

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP, SentenceEmbeddingFeaturizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "corpus": "data/safety",
            "crisis_categories": ["suicide", "overdose"],
            "suspect_threshold": 0.6,
            "crisis_threshold": 0.5,
            "regularisation": 32.0,
            # below this, "No" to the safety check gets the fallback (as the FallbackClassifier's)
            "fallback_threshold": 0.5,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        net: Optional[SafetyNet] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._net = net
        self._content: content.Content = content.load()
        answers = self._content.safety
        self._policy = Policy(
            emergencies=frozenset(c for c, a in answers.items() if a.tier == EMERGENCY),
            cautions=frozenset(c for c, a in answers.items() if a.tier == CAUTION),
            crises=frozenset(config["crisis_categories"]),
            suspect_threshold=float(config["suspect_threshold"]),
            crisis_threshold=float(config["crisis_threshold"]),
        )
        self._detector: Optional[RedFlagDetector] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "RedFlagClassifier":
        return cls({**cls.get_default_config(), **config}, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "RedFlagClassifier":
        net = SafetyNet.from_json(read_json(model_storage, resource, cls.FILE))
        return cls({**cls.get_default_config(), **config}, model_storage, resource, net)

    def train(self, training_data: TrainingData, model: SpacyModel) -> Resource:
        """The safety net, from the corpus and, as benign messages, the NLU training examples."""
        corpus = read_corpus(settings.ROOT / self._config["corpus"])
        benign = [e.get(TEXT) for e in training_data.intent_examples if e.get(INTENT) != self.INTENT and e.get(TEXT)]
        texts = list(corpus.texts) + benign
        labels = list(corpus.labels) + [BENIGN] * len(benign)
        detector = self._detector_for(model)
        concepts = sorted(self._content.red_flags.concepts)
        blank = SafetyNet([], np.zeros((0, 0)), np.zeros(0), concepts)
        readings = [detector.read(doc) for doc in model.model.pipe(text.lower() for text in texts)]
        features = np.stack([
            blank.features(embedding, reading.cancelled)
            for embedding, reading in zip(encoder.get().encode(texts), readings)
        ])
        net = SafetyNet.train(features, labels, concepts, float(self._config["regularisation"]))
        return write_json(self._model_storage, self._resource, self.FILE, net.to_json())

    def _detector_for(self, model: SpacyModel) -> RedFlagDetector:
        if self._detector is None:
            self._detector = RedFlagDetector(model.model.vocab, self._content.red_flags)
        return self._detector

    def process(self, messages: List[Message], model: SpacyModel) -> List[Message]:
        detector = self._detector_for(model)
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            reading = detector.read(doc) if doc is not None else None
            flag = reading.flag if reading else None
            if flag is None and message.get(REST_KEY):
                flag = self._detect_in_rest(message.get(REST_KEY), model)
            embedding = message.get(EMBEDDING_KEY)
            scores = {}
            if self._net is not None and embedding is not None and reading is not None:
                scores = self._net.probabilities(embedding, reading.cancelled)
                if flag is None and reading.masks and decide(None, scores, None, self._policy) is not None:
                    # The net would decide, but the rules know some words for an exercise or a figure
                    # of speech ("I'm dying to try hydro", "chest fly"): the net judges the rest.
                    rest = encoder.get().encode([reading.without_masks(doc.text)])[0]
                    scores = self._net.probabilities(rest, reading.cancelled)
            intent = (message.get(INTENT) or {}).get("name")
            decision = decide(flag, scores, intent, self._policy)
            if decision is not None and decision.tier == CAUTION_TIER and self._asks_same_question(message, decision):
                decision = None  # the common question gives the same advice, and answers the question
            if decision is None:
                if message.get(GUARD_KEY):
                    self._decide(message, DEFAULT_NLU_FALLBACK_INTENT_NAME)
                elif any(topic == MEDICINE for topic, _, _ in content_spans(message)):
                    self._decide(message, self.REFERRAL)
                continue
            safety = decision.as_dict()
            if decision.tier == SUSPECTED:
                safety["otherwise"] = self._otherwise(message)
            message.set(self.KEY, safety, add_to_output=True)
            self._decide(message, self.INTENT)
            if decision.source == RULES:
                entity = {
                    "entity": self.ENTITY,
                    "value": decision.category,
                    "start": decision.start,
                    "end": decision.end,
                    "confidence_entity": 1.0,
                    "extractor": self.__class__.__name__,
                }
                # The red flag's evidence replaces the topic entities found inside it ("pain in my chest").
                others = [e for e in message.get(ENTITIES, []) if e["end"] <= decision.start or e["start"] >= decision.end]
                message.set(ENTITIES, others + [entity], add_to_output=True)
        return messages

    def _asks_same_question(self, message: Message, decision: Decision) -> bool:
        """The classifiers recognised the common question that gives this caution's advice."""
        answer = self._content.safety.get(decision.category)
        if answer is None or not answer.common_question or (message.get(INTENT) or {}).get("name") != FAQ:
            return False
        selected = ((message.get(RESPONSE_SELECTOR_KEY) or {}).get(FAQ) or {}).get("response") or {}
        return selected.get("intent_response_key") == f"{FAQ}/{answer.common_question}"

    def _otherwise(self, message: Message) -> Dict[Text, Any]:
        """The intent the message would have had without the emergency: the classifiers' best
        other intent; when none of them is confident, the one exercise or symptom the message
        names, else the fallback."""
        if message.get(GUARD_KEY):
            return {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0}
        if any(topic == MEDICINE for topic, _, _ in content_spans(message)):
            return {"name": self.REFERRAL, "confidence": 1.0}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                   if r.get("name") not in (self.INTENT, DEFAULT_NLU_FALLBACK_INTENT_NAME)]
        # the classifier's confidences given that it is not the emergency
        total = sum(r.get("confidence", 0.0) for r in ranking)
        best = ranking[0] if ranking else None
        confidence = best.get("confidence", 0.0) / total if best and total > 0 else 0.0
        if best is None or confidence < float(self._config["fallback_threshold"]):
            # no confident intent, but the message names one exercise or symptom: that topic
            named = {topic for topic, _, _ in content_spans(message)
                     if topic in self._content.topics and self._content.topics[topic].kind in (EXERCISE, SYMPTOM)}
            if len(named) == 1:
                return {"name": self._content.topics[named.pop()].intent, "confidence": 1.0}
            return {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0}
        return {"name": best["name"], "confidence": round(confidence, 4)}

    def _detect_in_rest(self, rest: Tuple[int, Text], model: SpacyModel) -> Optional[RedFlag]:
        """A red flag in the part of a long message that was cut off for understanding."""
        offset, text = rest
        found = self._detector.detect(model.model(text.lower()))
        return found and replace(found, start=found.start + offset, end=found.end + offset)

    @staticmethod
    def _decide(message: Message, intent: Text) -> None:
        decided = {"name": intent, "confidence": 1.0}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != intent]
        message.set(INTENT, decided, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [decided] + ranking, add_to_output=True)
