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


FAQ_KEYS = {
    "relapse_exercise", "exercise_ms_worse", "fatigue_pacing", "cognitive_fatigue", "cooling", "hot_yoga_sauna",
    "foot_drop", "severe_disability", "late_start", "bladder", "spasticity", "dizziness_vertigo", "cold_fever",
    "pregnancy", "vibration", "fall_recovery", "pilates", "tai_chi", "horse_riding",
}


def domain_intents():
    intents = yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]
    # the retrieval intent of the common questions; the NLU owners add it to domain.yml
    return intents if "faq" in intents else intents + ["faq"]


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
    assert "Multiple Sclerosis News Today" in citations
    assert "Kalb" in citations and "Latimer-Cheung" in citations


def test_every_source_has_authors_title_year_a_readable_name_and_a_link(content_data):
    for source in content_data.sources.values():
        assert source.authors and source.title and source.year, source.id
        assert source.url.startswith("https://"), source.id
        assert "PMC" not in source.short and "[" not in source.short, source.id
        assert source.title in source.citation and source.authors in source.citation


def test_every_statement_has_an_evidence_level_that_is_defined(content_data):
    levels = set(content_data.evidence)
    assert {"guideline", "review", "trial", "early", "expert"} <= levels
    for topic in content_data.topics.values():
        for facet in topic.facets.values():
            assert facet.evidence in levels, topic.id
        for recommendation in topic.recommended_exercises:
            assert recommendation.evidence in levels, topic.id
    assert all(answer.evidence in levels for answer in content_data.safety.values())


def test_the_common_questions_are_all_there_and_fall_back_to_a_topic(content_data):
    cards = content_data.topics_of_kind("faq")
    assert {card.id for card in cards} == FAQ_KEYS
    for card in cards:
        assert card.intent == f"faq/{card.id}" and card.facets["summary"].text
        assert content_data.topics[card.related].kind != "faq"
    assert content_data.topic_for_intent("faq/pilates").title == "Pilates"
    assert content_data.topic_for_intent("faq/hot_yoga_sauna").related == "heat_sensitivity"
    # one domain intent for all of them, and no vocabulary: they are recognised by intent
    assert "faq" in content_data.intents() and not any(i.startswith("faq/") for i in content_data.intents())
    assert not any(topic_id in FAQ_KEYS for _, topic_id, _ in content_data.vocabulary())


def test_the_relapse_card_says_what_a_relapse_is_rest_call_the_team_and_return_gradually(content_data):
    card = content_data.topic_for_intent("faq/relapse_exercise")
    text = " ".join(facet.text for facet in card.facets.values())
    for words in ("relapse is", "more than a day", "rest", "MS team the same day", "slowly"):
        assert words in text, words


def test_routing_words_that_are_not_the_topic(content_data):
    vocabulary = {phrase: topic_id for _, topic_id, phrase in content_data.vocabulary()}
    # "I have a temperature" is a fever; dizziness and vertigo are not simply balance
    assert "temperature" not in vocabulary
    assert not {"dizzy", "dizziness", "vertigo"} & {p for p, t in vocabulary.items() if t == "balance"}


def test_every_exercise_has_a_key_precaution(content_data):
    for exercise in content_data.topics_of_kind("exercise"):
        assert exercise.key_precaution and exercise.key_precaution.sources, exercise.id


def test_every_statement_reads_at_grade_8_or_below(content_data):
    from content.readability import MAX_GRADE, grade

    texts = [f.text for t in content_data.topics.values() for f in t.facets.values()]
    texts += [r.why for t in content_data.topics.values() for r in t.recommended_exercises]
    texts += [a.text for a in content_data.safety.values()]
    assert MAX_GRADE == 8
    assert max(grade(t) for t in texts) <= MAX_GRADE


def test_the_reading_grade_is_measured_offline():
    """textstat must not fetch a pronouncing dictionary: the grade works with no network."""
    import socket

    from content.readability import grade

    original = socket.socket.connect

    def refuse(*args, **kwargs):
        raise AssertionError("the reading grade used the network")

    socket.socket.connect = refuse
    try:
        assert grade("Stretch slowly and hold each stretch. Do not bounce.") < 8
        assert grade("Physiotherapeutic interventions demonstrate considerable heterogeneity in effectiveness.") > 12
    finally:
        socket.socket.connect = original


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


def test_every_red_flag_category_has_an_answer_and_emergencies_give_the_number(content_data):
    # the categories the red-flag rules give (content/red_flags.yml)
    assert set(content_data.red_flags.categories) <= set(content_data.safety)
    tiers = {category: answer.tier for category, answer in content_data.safety.items()}
    assert {c for c, t in tiers.items() if t == "caution"} == {"dizziness", "fever_exercise"}
    for answer in content_data.safety.values():
        assert answer.sources
        assert ("{emergency_number}" in answer.text) == (answer.tier == "emergency"), answer.category
    for category in ("suicide", "overdose"):
        assert "{crisis_line}" in content_data.safety[category].text and "{emergency_number}" in content_data.safety[category].text


def test_the_safety_check_and_its_buttons(content_data):
    assert content_data.text("safety_check").startswith("Is this happening to you now?")
    assert 0 < len(content_data.text("safety_yes")) <= 24 and 0 < len(content_data.text("safety_no")) <= 24


def test_safety_answer_without_the_emergency_number(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["stroke"].update(text="Rest and see how it goes."))
    expect_error(content_copy, "safety.yml", "stroke.text", "emergency_number")


def test_safety_answer_with_an_unknown_source(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["fall"].update(sources=["hearsay"]))
    expect_error(content_copy, "safety.yml", "fall.sources", "unknown source 'hearsay'")


def test_safety_answers_need_a_tier(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["chest"].pop("tier"))
    expect_error(content_copy, "safety.yml", "chest.tier", "must be one of: emergency, caution")


def test_a_caution_must_not_give_the_emergency_number(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["dizziness"].update(text="Sit down. If it goes on, call {emergency_number}."))
    expect_error(content_copy, "safety.yml", "dizziness.text", "a caution gives advice without the {emergency_number}")


def test_the_overdose_answer_must_give_the_crisis_line(content_copy):
    edit_yaml(content_copy / "safety.yml", lambda d: d["overdose"].update(text="Call {emergency_number} now, even if you feel fine."))
    expect_error(content_copy, "safety.yml", "overdose.text", "must show the {crisis_line}")


def test_early_evidence_must_not_claim_it_has_been_shown(content_copy):
    edit_yaml(
        content_copy / "topics/exercises/motor_imagery.yml",
        lambda d: d["facets"]["benefits"].update(text="Early research suggests it helps. It has been shown to help walking."),
    )
    expect_error(content_copy, "topics/exercises/motor_imagery.yml", "facets.benefits.text", "'has been shown' claims more than 'early'")


def test_early_evidence_must_say_that_it_is_early(content_copy):
    edit_yaml(content_copy / "topics/exercises/motor_imagery.yml", lambda d: d["facets"]["benefits"].update(text="It may help you walk."))
    expect_error(content_copy, "topics/exercises/motor_imagery.yml", "facets.benefits.text", "'early' evidence must say so")


def test_no_statement_may_say_proven(content_copy):
    edit_yaml(content_copy / "topics/exercises/aerobic.yml", lambda d: d["facets"]["benefits"].update(text="It is proven to ease fatigue."))
    expect_error(content_copy, "topics/exercises/aerobic.yml", "facets.benefits.text", "'proven' claims more than 'review'")


def test_a_statement_needs_a_known_evidence_level(content_copy):
    edit_yaml(content_copy / "topics/symptoms/pain.yml", lambda d: d["recommended_exercises"][0].update(evidence="hunch"))
    expect_error(content_copy, "topics/symptoms/pain.yml", "recommended_exercises[0].evidence", "must be one of: guideline")


def test_a_statement_above_grade_8_is_rejected(content_copy):
    hard = (
        "Physiotherapeutic interventions incorporating progressive resistance methodologies demonstrate "
        "considerable heterogeneity regarding neuromuscular effectiveness."
    )
    edit_yaml(content_copy / "topics/exercises/strength.yml", lambda d: d["facets"]["summary"].update(text=hard))
    expect_error(content_copy, "topics/exercises/strength.yml", "facets.summary.text", "reads at US grade")


def test_a_response_above_grade_8_is_rejected(content_copy):
    hard = "Notwithstanding considerable methodological heterogeneity, physiotherapeutic evaluation is recommended."
    edit_yaml(content_copy / "responses.yml", lambda d: d["responses"]["thanks"].update(text=hard))
    expect_error(content_copy, "responses.yml", "responses.thanks.text", "reads at US grade")


def test_a_source_without_authors(content_copy):
    edit_yaml(content_copy / "sources.yml", lambda d: d["kalb2020"].pop("authors"))
    expect_error(content_copy, "sources.yml", "kalb2020.authors", "non-empty text")


def test_a_source_without_a_year(content_copy):
    edit_yaml(content_copy / "sources.yml", lambda d: d["kalb2020"].pop("year"))
    expect_error(content_copy, "sources.yml", "kalb2020.year", "year of publication")


def test_a_source_named_by_its_identifier(content_copy):
    edit_yaml(content_copy / "sources.yml", lambda d: d["falls2020"].update(short="PMC7780704 (falls in MS)"))
    expect_error(content_copy, "sources.yml", "falls2020.short", "readable name")


def test_an_article_must_link_its_doi_or_pubmed(content_copy):
    edit_yaml(content_copy / "sources.yml", lambda d: d["kalb2020"].update(url="https://example.org/kalb"))
    expect_error(content_copy, "sources.yml", "kalb2020.url", "DOI")


def test_a_link_must_be_https_without_brackets(content_copy):
    edit_yaml(content_copy / "sources.yml", lambda d: d["mcdonald2017"].update(url="https://doi.org/10.1016/S1474-4422(17)30470-2"))
    expect_error(content_copy, "sources.yml", "mcdonald2017.url", "without spaces or brackets")


def test_a_facet_may_only_use_the_crisis_line_placeholder(content_copy):
    edit_yaml(content_copy / "topics/symptoms/mood.yml", lambda d: d["facets"]["precautions"].update(text="Call {emergency_number}."))
    expect_error(content_copy, "topics/symptoms/mood.yml", "facets.precautions.text", "unknown placeholder")


def test_a_common_question_needs_a_known_related_topic(content_copy):
    edit_yaml(content_copy / "topics/faq/pilates.yml", lambda d: d.update(topic="zumba"))
    expect_error(content_copy, "topics/faq/pilates.yml", "topic", "unknown topic 'zumba'")


def test_a_common_question_has_no_synonyms(content_copy):
    edit_yaml(content_copy / "topics/faq/pilates.yml", lambda d: d.update(synonyms=["pilates"]))
    expect_error(content_copy, "topics/faq/pilates.yml", "synonyms", "named by its trigger words")


def test_only_a_common_question_has_trigger_words(content_copy):
    edit_yaml(content_copy / "topics/exercises/strength.yml", lambda d: d.update(triggers=["kettlebell"]))
    expect_error(content_copy, "topics/exercises/strength.yml", "triggers", "only common questions")


def test_trigger_words_name_one_common_question(content_copy):
    edit_yaml(content_copy / "topics/faq/pilates.yml", lambda d: d["triggers"].append("Tai  Chi"))
    expect_error(content_copy, "topics/faq/tai_chi.yml", "triggers", "'tai chi' also names the common question 'pilates'")


def test_a_common_question_s_intent_is_its_retrieval_intent(content_copy):
    edit_yaml(content_copy / "topics/faq/pilates.yml", lambda d: d.update(intent="ask_pilates"))
    expect_error(content_copy, "topics/faq/pilates.yml", "intent", "must be 'faq/pilates'")


def test_a_common_question_has_no_benefits_facet(content_copy):
    edit_yaml(
        content_copy / "topics/faq/tai_chi.yml",
        lambda d: d["facets"].update(benefits={"text": "It may help.", "sources": ["zou2017"], "evidence": "review"}),
    )
    expect_error(content_copy, "topics/faq/tai_chi.yml", "facets.benefits", "unknown facet")


def test_an_exercise_needs_a_key_precaution(content_copy):
    edit_yaml(content_copy / "topics/exercises/aquatic.yml", lambda d: d.pop("key_precaution"))
    expect_error(content_copy, "topics/exercises/aquatic.yml", "key_precaution", "safety point")
