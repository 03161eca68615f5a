"""The content module loads, covers every intent, cites known sources, and rejects broken content."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import content
from content.loader import CONTENT_DIR, check_intents
from content.model import FACETS
from conftest import ROOT


def domain_intents():
    return yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]


def test_every_domain_intent_has_content_and_every_topic_intent_is_in_the_domain(content_data):
    check_intents(content_data, domain_intents())


def test_every_exercise_and_symptom_has_every_facet_with_sources(content_data):
    for topic in content_data.topics_of_kind("exercise") + content_data.topics_of_kind("symptom"):
        assert set(topic.facets) == set(FACETS), topic.id
        for facet in topic.facets.values():
            assert facet.text and facet.sources
            assert all(source in content_data.sources for source in facet.sources)


def test_the_issue_s_topics_are_all_there(content_data):
    exercises = {t.id for t in content_data.topics_of_kind("exercise")}
    symptoms = {t.id for t in content_data.topics_of_kind("symptom")}
    assert exercises == {"aerobic", "strength", "flexibility", "balance_training", "motor_imagery", "hippotherapy", "aquatic"}
    assert symptoms == {
        "fatigue", "numbness", "tremor", "stiffness", "balance", "weakness", "walking", "mood", "heat_sensitivity", "pain",
    }


def test_symptoms_recommend_known_exercises(content_data):
    for symptom in content_data.topics_of_kind("symptom"):
        assert symptom.recommended_exercises
        for recommendation in symptom.recommended_exercises:
            assert content_data.topics[recommendation.exercise].kind == "exercise"


def test_the_sources_include_the_article_and_the_guidelines(content_data):
    citations = " ".join(s.citation for s in content_data.sources.values())
    assert "Physiotherapy for multiple sclerosis" in citations
    assert "Kalb" in citations and "Latimer-Cheung" in citations


def test_every_source_is_cited_somewhere(content_data):
    cited = {s for t in content_data.topics.values() for f in t.facets.values() for s in f.sources}
    cited |= {s for t in content_data.topics.values() for r in t.recommended_exercises for s in r.sources}
    cited |= {s for r in content_data.responses.values() for s in r.sources}
    cited |= {s for a in content_data.safety.values() for s in a.sources}
    assert set(content_data.sources) == cited


def test_vocabulary_maps_everyday_words_to_topic_ids(content_data):
    vocabulary = {(phrase, topic_id) for _, topic_id, phrase in content_data.vocabulary()}
    for phrase, topic_id in [("swimming", "aquatic"), ("pool", "aquatic"), ("hydrotherapy", "aquatic"), ("yoga", "flexibility")]:
        assert (phrase, topic_id) in vocabulary
    # medicines and general terms of medicine are vocabulary outside every topic
    assert ("kesimpta", "medicine") in vocabulary and ("mri", "medical") in vocabulary


# --- broken content: each case copies the real content, breaks one thing, and expects a clear message


@pytest.fixture()
def content_copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def expect_error(content_dir: Path, file_part: str, field: str, problem_part: str) -> None:
    with pytest.raises(content.ContentError) as caught:
        content.load(content_dir)
    error = caught.value
    assert error.path.endswith(file_part), str(error)
    assert error.field == field, str(error)
    assert problem_part in error.problem, str(error)
    assert file_part in str(error) and field in str(error)


def test_missing_facet(content_copy):
    edit_yaml(content_copy / "topics/exercises/aquatic.yml", lambda d: d["facets"].pop("precautions"))
    expect_error(content_copy, "topics/exercises/aquatic.yml", "facets.precautions", "missing facet")


def test_unknown_source(content_copy):
    edit_yaml(content_copy / "topics/symptoms/fatigue.yml", lambda d: d["facets"]["summary"].update(sources=["nobody2099"]))
    expect_error(content_copy, "topics/symptoms/fatigue.yml", "facets.summary.sources", "unknown source 'nobody2099'")


def test_facet_without_sources(content_copy):
    edit_yaml(content_copy / "topics/exercises/aerobic.yml", lambda d: d["facets"]["benefits"].update(sources=[]))
    expect_error(content_copy, "topics/exercises/aerobic.yml", "facets.benefits.sources", "at least one source")


def test_symptom_recommending_an_unknown_exercise(content_copy):
    edit_yaml(
        content_copy / "topics/symptoms/tremor.yml",
        lambda d: d["recommended_exercises"][0].update(exercise="skydiving"),
    )
    expect_error(content_copy, "topics/symptoms/tremor.yml", "recommended_exercises[0].exercise", "unknown exercise 'skydiving'")


def test_intent_without_content(content_data):
    with pytest.raises(content.ContentError) as caught:
        check_intents(content_data, domain_intents() + ["ask_skydiving"])
    assert caught.value.path == "domain.yml"
    assert caught.value.field == "intents.ask_skydiving"
    assert "no content" in caught.value.problem


def test_topic_intent_missing_from_the_domain(content_data):
    intents = [i for i in domain_intents() if i != "ask_hippotherapy"]
    with pytest.raises(content.ContentError) as caught:
        check_intents(content_data, intents)
    assert caught.value.path.endswith("hippotherapy.yml")
    assert caught.value.field == "intent"


def test_synonym_in_two_topics(content_copy):
    edit_yaml(content_copy / "topics/exercises/strength.yml", lambda d: d["synonyms"].append("swimming"))
    with pytest.raises(content.ContentError) as caught:
        content.load(content_copy)
    assert "'swimming' is also a synonym of topic" in str(caught.value)


def test_medical_term_that_is_also_a_topic_synonym(content_copy):
    edit_yaml(content_copy / "medical_terms.yml", lambda d: d["terms"].append("Hydrotherapy"))
    expect_error(content_copy, "medical_terms.yml", "terms", "'hydrotherapy' is also a synonym of topic 'aquatic'")


def test_medicines_must_be_a_list(content_copy):
    edit_yaml(content_copy / "medical_terms.yml", lambda d: d.update(medicines="baclofen"))
    expect_error(content_copy, "medical_terms.yml", "medicines", "non-empty list")


def test_id_must_match_file_name(content_copy):
    edit_yaml(content_copy / "topics/exercises/aquatic.yml", lambda d: d.update(id="water"))
    expect_error(content_copy, "topics/exercises/aquatic.yml", "id", "must match the file name")


def test_invalid_yaml(content_copy):
    (content_copy / "topics/exercises/aquatic.yml").write_text("id: aquatic\nfacets: [unclosed\n")
    expect_error(content_copy, "topics/exercises/aquatic.yml", "(file)", "not valid YAML")


def test_missing_response(content_copy):
    edit_yaml(content_copy / "responses.yml", lambda d: d["responses"].pop("fallback"))
    expect_error(content_copy, "responses.yml", "responses.fallback", "missing response")


def test_unknown_placeholder_in_a_response(content_copy):
    edit_yaml(content_copy / "responses.yml", lambda d: d["responses"]["emergency"].update(text="Call {emergancy_number}."))
    expect_error(content_copy, "responses.yml", "responses.emergency.text", "unknown placeholder")


def test_emergency_response_must_show_the_number(content_copy):
    edit_yaml(content_copy / "responses.yml", lambda d: d["responses"]["emergency"].update(text="Call for help."))
    expect_error(content_copy, "responses.yml", "responses.emergency.text", "emergency_number")


def test_every_red_flag_category_has_an_answer_with_the_emergency_number(content_data):
    from nlp.red_flags import CATEGORIES

    assert set(content_data.safety) == set(CATEGORIES)
    for answer in content_data.safety.values():
        assert "{emergency_number}" in answer.text and answer.sources


def test_safety_answer_without_the_emergency_number(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["stroke"].update(text="Rest and see how it goes."))
    expect_error(content_copy, "safety.yml", "stroke.text", "emergency_number")


def test_safety_answer_with_an_unknown_source(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["fall"].update(sources=["hearsay"]))
    expect_error(content_copy, "safety.yml", "fall.sources", "unknown source 'hearsay'")
