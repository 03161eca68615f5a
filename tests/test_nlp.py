"""The project's spaCy pipeline and the trained NLU model that loads it by path."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import spacy
import yaml

import content
from conftest import ROOT
from content.loader import CONTENT_DIR
from names import FACET
from nlp import pipeline

MODEL = ROOT / "models" / "assistant.tar.gz"
NLU_DATA = (ROOT / "data" / "nlu.yml").read_text().lower()
NOT_IN_NLU_DATA = "qwzx"


@pytest.fixture(scope="module")
def nlp():
    """The pipeline as built by `make install` and loaded by Rasa (by path, see config.yml)."""
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    spacy_nlp = next(c for c in config["pipeline"] if c["name"] == "SpacyNLP")
    return spacy.load(ROOT / spacy_nlp["model"])


def ents(nlp, text):
    return [(ent.text, ent.label_, ent.ent_id_) for ent in nlp(text.lower()).ents]


def test_pipeline_is_the_project_s_own(nlp):
    assert nlp.meta["name"] == pipeline.PIPELINE_NAME
    assert nlp.pipe_names == ["lemmatizer", "entity_ruler", "faq_triggers"]


def triggers(nlp, text):
    doc = nlp(text.lower())
    return [(span.text, span.label_) for span in doc.spans[pipeline.TRIGGER_SPANS]]


def test_trigger_words_name_their_common_question_beside_the_entities(nlp):
    # "foot drop" stays the symptom walking for the classifiers, and also names the common question
    assert triggers(nlp, "Does FES help foot drop?") == [("fes", "foot_drop"), ("foot drop", "foot_drop")]
    assert ents(nlp, "Does FES help foot drop?") == [("foot drop", "symptom", "walking")]
    # lemmas: inflected and hyphenated forms match
    assert triggers(nlp, "are AFOs any good") == [("afos", "foot_drop")]
    assert triggers(nlp, "tips for pre-cooling?") == [("pre-cooling", "cooling")]
    assert triggers(nlp, "my swimming is going well") == []


def test_every_trigger_phrase_names_its_common_question(nlp, content_data):
    for card in content_data.topics_of_kind("faq"):
        for phrase in card.triggers:
            assert (phrase, card.id) in triggers(nlp, phrase), (phrase, triggers(nlp, phrase))


def test_tokenizer_and_lookup_lemmatizer(nlp):
    doc = nlp("i was swimming and doing stretches with weights")
    assert [t.text for t in doc][:3] == ["i", "was", "swimming"]
    assert [t.lemma_ for t in doc] == ["i", "be", "swim", "and", "do", "stretch", "with", "weight"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("can swimming help my fatigue?", [("swimming", "exercise", "aquatic"), ("fatigue", "symptom", "fatigue")]),
        ("I go to the pool", [("pool", "exercise", "aquatic")]),
        ("is hydrotherapy any good", [("hydrotherapy", "exercise", "aquatic")]),
        # lemma patterns: inflected forms match the base phrase
        ("she swims and stretches", [("swims", "exercise", "aquatic"), ("stretches", "exercise", "flexibility")]),
        ("my legs keep spasming, the spasms hurt", [("spasms", "symptom", "stiffness"), ("hurt", "symptom", "pain")]),
        # the longest phrase wins: "balance exercises" is training, bare "balance" the symptom
        ("my balance is bad, would balance exercises help", [("balance", "symptom", "balance"), ("balance exercises", "exercise", "balance_training")]),
        ("pins and needles in my feet", [("pins and needles", "symptom", "numbness")]),
        ("what is physiotherapy", []),
        # medicines and tests: one label, and the longest phrase wins over a symptom word
        ("is kesimpta better than an mri", [("kesimpta", "medical", "medicine"), ("mri", "medical", "medical")]),
        ("pain killers before exercise", [("pain killers", "medical", "medicine")]),
    ],
)
def test_entity_ruler_normalises_to_topic_ids(nlp, text, expected):
    assert ents(nlp, text) == expected


@pytest.mark.parametrize(
    "text,facet",
    [
        ("would it be alright for her to try the bike", "precautions"),
        ("i am doing ok at the moment, thanks", None),
        ("is it okay for her to swim with a catheter", "precautions"),
        ("would it be ok if i skipped the warm up", "precautions"),
        ("are there moves he should avoid", "precautions"),
        ("how would she even begin", "how_to_start"),
        ("what's the first move to try", "how_to_start"),
        ("the best way to get started with yoga", "how_to_start"),
        ("how do i build myself back up after a bad month", "how_to_start"),
    ],
)
def test_facet_words_name_the_facet_asked(nlp, text, facet):
    found = [ent_id for _, label, ent_id in ents(nlp, text) if label == FACET]
    assert found == ([facet] if facet else []), found


def test_every_vocabulary_phrase_is_recognised_as_its_topic(nlp, content_data):
    for label, topic_id, phrase in content_data.vocabulary():
        found = ents(nlp, phrase)
        assert found and found[0][1:] == (label, topic_id), (phrase, found)


def test_the_pipeline_is_built_from_the_content_vocabulary(tmp_path: Path):
    content_dir = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = content_dir / "topics/exercises/hippotherapy.yml"
    data = yaml.safe_load(path.read_text())
    data["synonyms"].append("pony club")
    path.write_text(yaml.safe_dump(data))
    built = pipeline.create(content.load(content_dir))
    assert ents(built, "would pony club help my tremor") == [
        ("pony club", "exercise", "hippotherapy"),
        ("tremor", "symptom", "tremor"),
    ]
    # the built pipeline saves to disk and loads by path, as Rasa loads it
    built.to_disk(tmp_path / "model")
    assert ents(spacy.load(tmp_path / "model"), "pony clubs") == [("pony clubs", "exercise", "hippotherapy")]


@pytest.fixture(scope="module")
def agent():
    from rasa.core.agent import Agent

    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does)")
    return Agent.load(str(MODEL))


def parse(agent, text):
    return asyncio.run(agent.parse_message(text))


@pytest.mark.model
def test_trained_model_extracts_normalised_entities(agent):
    result = parse(agent, "Can swimming help my fatigue?")
    entities = {(e["entity"], e["value"], e["extractor"]) for e in result["entities"]}
    assert entities == {
        ("exercise", "aquatic", "ContentEntityExtractor"),
        ("symptom", "fatigue", "ContentEntityExtractor"),
    }
    assert result["intent"]["name"] in ("symptom_fatigue", "ask_aquatic_exercise")


@pytest.mark.model
def test_a_common_question_is_answered_only_when_one_fits(agent):
    # DIET is sure these are common questions, and no common question answers them: they go to
    # the fallback (and its retrieval), not to the closest card, which was the cold-and-fever one
    for text in ["what's the dead bug exercise?", "is a chest fly better than push-ups?"]:
        assert parse(agent, text)["intent"]["name"] == "nlu_fallback", text
    result = parse(agent, "should I exercise with a cold?")
    assert result["intent"]["name"] == "faq"
    assert result["response_selector"]["faq"]["response"]["intent_response_key"] == "faq/cold_fever"


@pytest.mark.model
@pytest.mark.parametrize(
    "text,medicine",
    [
        ("should I take siponimod", "siponimod"),
        ("is ponesimod safe to start", "ponesimod"),
        ("what dose of cladribine is normal", "cladribine"),
        ("is zeposia any good", "zeposia"),
    ],
)
def test_a_medicine_the_training_data_never_names_goes_to_the_physician(agent, text, medicine):
    """The medicine is only in content/medical_terms.yml, never in data/nlu.yml."""
    assert medicine not in NLU_DATA
    result = parse(agent, text)
    assert result["intent"] == {"name": "request_medical_advice", "confidence": 1.0}
    # a medical term is a feature, never an entity (a facet word such as "safe" still is one)
    assert [e for e in result["entities"] if e["entity"] != FACET] == []
    assert not any(medicine in text[e["start"]:e["end"]] for e in result["entities"])


@pytest.mark.model
@pytest.mark.parametrize(
    "text,intent",
    [
        ("is yoga ok while I'm on baclofen", "request_medical_advice"),  # medicine and exercise
        ("I'm on tysabri and my chest hurts and I can't breathe", "emergency"),  # a red flag wins
        ("since my diagnosis I get tired so easily", "symptom_fatigue"),  # a general term: the classifier decides
    ],
)
def test_a_named_medicine_always_gets_the_referral(agent, text, intent):
    assert parse(agent, text)["intent"]["name"] == intent


@pytest.mark.model
def test_one_known_word_is_enough_for_the_classifier(agent):
    """Unknown words around a known question do not send it to the fallback."""
    assert NOT_IN_NLU_DATA not in NLU_DATA
    result = parse(agent, f"tell me about swimming {NOT_IN_NLU_DATA}")
    assert result["intent"]["name"] == "ask_aquatic_exercise"


@pytest.mark.model
@pytest.mark.parametrize(
    "text,intent",
    [
        ("", "nlu_fallback"),
        ("  \x00\x01 ", "nlu_fallback"),
        ("thanks " * 2000, "nlu_fallback"),  # cut by InputGuard: the fallback says it was too long
        ("x" * 200_000, "nlu_fallback"),
        ("I have crushing chest pain " + "thanks " * 2000, "emergency"),  # a red flag wins over the cut
        ("thanks " * 2000 + "I have crushing chest pain", "emergency"),  # also in the part cut off
        ("thanks " * 285 + "my face is drooping on one side", "emergency"),  # across the cut (2000)
        ("asdf ghjk lqwp", "nlu_fallback"),  # no word the model knows
        ("Wie oft soll ich trainieren", "nlu_fallback"),  # nor here
        ("asdf ghjk my chest hurts and I can't breathe", "emergency"),
        ("my face is drooping on one side \ud83d", "emergency"),  # a lone surrogate, as JSON "\\ud83d" decodes
        ("my chest hurts \ud83d\ude22 and I can't breathe", "emergency"),  # an emoji as two surrogates
    ],
    ids=["empty", "control-characters", "long-thanks", "huge", "long-red-flag", "red-flag-after-the-cut",
         "red-flag-across-the-cut", "keyboard-mashing", "other-language", "mashing-and-red-flag",
         "lone-surrogate", "surrogate-pair"],
)
def test_empty_cut_or_unknown_messages_are_decided_whatever_the_classifier_thinks(agent, text, intent):
    result = parse(agent, text)
    assert result["intent"] == {"name": intent, "confidence": 1.0}


def retrieved_message(topic_vector):
    """A message no intent was confident about, whose sentence embedding is `topic_vector`, after
    the ContentRetriever with one card for a common question and one for a symptom."""
    import numpy as np
    from rasa.shared.nlu.training_data.message import Message

    from nlp.components import EMBEDDING_KEY, ContentRetriever
    from nlp.retrieval import Card, Retriever

    retriever = Retriever([Card("tai_chi", "general", "Tai chi"), Card("balance", "general", "Balance")],
                          np.eye(2, dtype=np.float32))
    message = Message(data={"text": "what would a class be like", "intent": {"name": "nlu_fallback", "confidence": 0.5}})
    message.set(EMBEDDING_KEY, np.asarray(topic_vector, dtype=np.float32))
    ContentRetriever({**ContentRetriever.get_default_config()}, None, None, retriever).process([message])
    return message


def test_a_common_question_found_by_retrieval_is_named_where_rasa_reads_it():
    # the tracker, the review app and `rasa test` read a retrieval intent's answer from the
    # ResponseSelector's output: it must say which common question answered
    message = retrieved_message([1.0, 0.0])
    assert message.get("intent")["name"] == "faq"
    selected = message.get("response_selector")
    assert "faq" in selected["all_retrieval_intents"]
    assert selected["faq"]["response"]["intent_response_key"] == "faq/tai_chi"


def test_a_topic_found_by_retrieval_is_no_common_question():
    message = retrieved_message([0.0, 1.0])
    assert message.get("intent")["name"] == "symptom_balance"
    assert not message.get("response_selector")


def after_triggers(nlp, text, intent):
    """A message the classifiers read as `intent`, after the CommonQuestionTriggers."""
    from rasa.nlu.constants import SPACY_DOCS
    from rasa.shared.nlu.training_data.message import Message

    from nlp.components import CommonQuestionTriggers

    decided = {"name": intent, "confidence": 0.7}
    message = Message(data={"text": text, "intent": decided, "intent_ranking": [decided]})
    message.set(SPACY_DOCS["text"], nlp(text.lower()))
    CommonQuestionTriggers(CommonQuestionTriggers.get_default_config()).process([message])
    return message


def common_question(message):
    if message.get("intent")["name"] != "faq":
        return None
    return message.get("response_selector")["faq"]["response"]["intent_response_key"]


@pytest.mark.parametrize(
    "text,intent,expected",
    [
        # the words name the question, whatever topic the classifier read
        ("clonus keeps waking me up", "symptom_stiffness", "faq/spasticity"),
        ("is tai chi good for my balance", "ask_balance_training", "faq/tai_chi"),
        ("what is vestibular rehab", "nlu_fallback", "faq/dizziness_vertigo"),
        # the longer words decide between two questions; a tie decides nothing
        ("pilates or tai chi?", "ask_flexibility_training", "faq/tai_chi"),
        ("pilates or qigong?", "ask_flexibility_training", None),
        # another exercise the message names and the classifier read stays that exercise
        ("can I go swimming with foot drop", "ask_aquatic_exercise", None),
        ("does tai chi help with shaking", "symptom_tremor", None),
        # ... but the question's own related topic does not keep the classifier's reading
        ("how do i stay cool in the summer heat when i exercise", "symptom_heat_sensitivity", "faq/cooling"),
        # never over the medical referral, out of scope, or the classifier's emergency
        ("should I take baclofen for clonus", "request_medical_advice", None),
        ("who won the horse riding at the olympics", "out_of_scope", None),
        ("my foot drop got worse in minutes and my face droops", "emergency", None),
    ],
)
def test_trigger_words_decide_the_common_question(nlp, text, intent, expected):
    message = after_triggers(nlp, text, intent)
    assert common_question(message) == expected
    if expected is None:
        assert message.get("intent")["name"] == intent
    else:
        assert message.get("intent") == {"name": "faq", "confidence": 1.0}
        assert message.get("faq_trigger")["question"] == expected.split("/")[1]


@pytest.mark.model
def test_the_trained_assistant_answers_the_common_question_its_words_name(agent):
    result = parse(agent, "what's clonus, and what helps it?")
    assert result["intent"]["name"] == "faq"
    assert result["response_selector"]["faq"]["response"]["intent_response_key"] == "faq/spasticity"
    assert result["faq_trigger"] == {"question": "spasticity", "words": "clonus"}
