"""Build the project's spaCy pipeline from the content module's vocabulary.

The pipeline is a blank English tokenizer, a lookup lemmatizer (tables from spacy-lookups-data,
saved into the pipeline so that loading it needs nothing else) and an entity ruler whose
patterns are made from every topic's title and synonyms. Each pattern carries the topic id, so
"swimming", "pool" and "hydrotherapy" all come out as an ``exercise`` entity with id ``aquatic``.
The medical terms (medicines, tests, diagnosis) come out with label and id ``medical``, and the
facet words (content/facets.yml) with label ``facet`` and the facet as id ("how often" ->
``how_much``). A span ruler marks the common questions' trigger words in ``doc.spans["faq"]``,
labelled with the question's key ("clonus" -> ``spasticity``); spans may overlap the entities, so
"foot drop" is both the symptom ``walking`` and the common question ``foot_drop``.

    python -m nlp.pipeline [OUTPUT_DIR]      (default: nlp/model)

Rasa loads the result by path (``SpacyNLP`` with ``model: nlp/model`` in config.yml).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional, cast

import spacy
from spacy.language import Language
from spacy.pipeline import EntityRuler

import content
from names import FACET, FAQ
from nlp.red_flags import split_optional

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "model"
# The entity label of the facet words (content/facets.yml): "how often" -> facet how_much.
FACET_LABEL = FACET
PIPELINE_NAME = "ms_physio"
# doc.spans key of the common questions' trigger words
TRIGGER_SPANS = FAQ


def create(content_data: Optional[content.Content] = None) -> Language:
    """A new, initialised pipeline for the given (default: installed) content."""
    content_data = content_data or content.load()
    nlp = spacy.blank("en")
    nlp.meta["name"] = PIPELINE_NAME
    nlp.meta["description"] = "Tokenizer, lookup lemmatizer and content entity ruler for the MS physiotherapy assistant"
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    # Loads the English lookup table from spacy-lookups-data into the pipeline.
    nlp.initialize()
    vocabulary = patterns(nlp, content_data) + facet_patterns(content_data)
    trigger_vocabulary = trigger_patterns(nlp, content_data)
    ruler = cast(EntityRuler, nlp.add_pipe("entity_ruler", config={"validate": True, "overwrite_ents": True}))
    ruler.add_patterns(vocabulary)
    triggers = nlp.add_pipe("span_ruler", name="faq_triggers", config={"spans_key": TRIGGER_SPANS, "validate": True})
    triggers.add_patterns(trigger_vocabulary)  # type: ignore[attr-defined]
    return nlp


def patterns(nlp: Language, content_data: content.Content) -> List[Dict]:
    """One lemma-based token pattern per vocabulary phrase, labelled with kind and topic id.

    Matching on lemmas makes "stretches", "stretching" and "stretch" the same phrase; the phrase
    itself is lemmatised by the same pipeline, so patterns and messages always agree.
    """
    result = []
    seen = set()
    for label, topic_id, phrase in content_data.vocabulary():
        doc = nlp(phrase.lower())
        lemmas = tuple(token.lemma_.lower() for token in doc)
        key = (label, lemmas)
        if key in seen:
            continue
        seen.add(key)
        result.append({"label": label, "id": topic_id, "pattern": [{"LEMMA": lemma} for lemma in lemmas]})
    return result


def trigger_patterns(nlp: Language, content_data: content.Content) -> List[Dict]:
    """One lemma-based pattern per trigger phrase of a common question, labelled with its key
    (as `patterns`, so "clonus", "AFOs" and "pre-cooling" match however they are inflected)."""
    return [
        {"label": card.id, "pattern": [{"LEMMA": token.lemma_.lower()} for token in nlp(phrase)]}
        for card in content_data.topics_of_kind(FAQ)
        for phrase in card.triggers
    ]


def facet_patterns(content_data: content.Content) -> List[Dict]:
    """One pattern on the lower-case words per facet phrase (content/facets.yml), label `facet`.

    Words as typed, not lemmas: "start" must not match "started". A word may be alternatives
    ("where|how should i start") and optional ("build myself back? up"), as in the red-flag
    vocabulary."""
    return [
        {"label": FACET_LABEL, "id": facet, "pattern": [facet_token(word) for word in phrase.split()]}
        for facet, phrases in content_data.facet_phrases.items()
        for phrase in phrases
    ]


def facet_token(word: str) -> Dict:
    word, optional = split_optional(word)
    token: Dict = {"LOWER": {"IN": word.split("|")}} if "|" in word else {"LOWER": word}
    return {**token, "OP": "?"} if optional else token


def build(output: Path = DEFAULT_OUTPUT) -> Path:
    nlp = create()
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return output


if __name__ == "__main__":
    target = build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT)
    print(f"spaCy pipeline written to {target}")
