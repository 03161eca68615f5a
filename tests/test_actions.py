"""Every custom action, run as the action server runs it (rasa_sdk Tracker and CollectingDispatcher)."""
from __future__ import annotations

import pytest

from actions.answers import (
    ActionAnswerExercise,
    ActionAnswerFaq,
    ActionAnswerFollowup,
    ActionAnswerInfo,
    ActionAnswerSymptom,
)
from actions.conversation import ActionFallback, ActionReferPhysician, ActionSmallTalk
from actions.safety import ActionEmergency
from conftest import bot_event, button_payloads, button_titles, make_tracker, run_action, slot, texts, user_event
from names import INPUT_GUARD_KEY

DISCLAIMER_WORDS = "not medical advice"
EARLIER_TURN = [user_event("hello", "greet"), bot_event("Hello!")]


def test_first_answer_of_a_session_carries_the_disclaimer_once(content_data):
    first, _ = run_action(ActionAnswerExercise(), make_tracker("tell me about yoga", "ask_flexibility_training"))
    later, _ = run_action(
        ActionAnswerExercise(), make_tracker("tell me about yoga", "ask_flexibility_training", history=EARLIER_TURN)
    )
    assert texts(first).count(DISCLAIMER_WORDS) == 1
    assert first[0]["text"] == content_data.text("disclaimer")
    assert DISCLAIMER_WORDS not in texts(later)


def test_a_new_session_shows_the_disclaimer_again():
    history = EARLIER_TURN + [{"event": "session_started"}]
    messages, _ = run_action(ActionSmallTalk(), make_tracker("hi", "greet", history=history))
    assert DISCLAIMER_WORDS in texts(messages)


@pytest.mark.parametrize(
    "intent,topic_id",
    [
        ("ask_aerobic_training", "aerobic"),
        ("ask_strength_training", "strength"),
        ("ask_flexibility_training", "flexibility"),
        ("ask_balance_training", "balance_training"),
        ("ask_motor_imagery", "motor_imagery"),
        ("ask_hippotherapy", "hippotherapy"),
        ("ask_aquatic_exercise", "aquatic"),
    ],
)
def test_exercise_answer_comes_from_the_content_and_sets_the_topic(content_data, intent, topic_id):
    topic = content_data.topics[topic_id]
    messages, events = run_action(ActionAnswerExercise(), make_tracker("question", intent, history=EARLIER_TURN))
    answer = texts(messages)
    assert topic.facets["summary"].text in answer
    assert topic.facets["benefits"].text in answer
    assert "Sources:" in answer
    assert slot(events, "topic") == topic_id
    # ends with the follow-up questions as buttons, which carry the topic
    assert button_titles(messages) == ["How much?", "Is it safe?", "At home?"]
    assert all(f'"exercise": "{topic_id}"' in p for p in button_payloads(messages))


def test_an_exercise_entity_decides_the_topic_over_the_intent(content_data):
    tracker = make_tracker("what about horse riding", "ask_aquatic_exercise", {"exercise": "hippotherapy"})
    messages, events = run_action(ActionAnswerExercise(), tracker)
    assert content_data.topics["hippotherapy"].facets["summary"].text in texts(messages)
    assert slot(events, "topic") == "hippotherapy"


def test_symptom_answer_lists_the_recommended_exercises_as_buttons(content_data):
    fatigue = content_data.topics["fatigue"]
    messages, events = run_action(
        ActionAnswerSymptom(), make_tracker("I'm always exhausted", "symptom_fatigue", history=EARLIER_TURN)
    )
    recommended = [content_data.topics[r.exercise].title for r in fatigue.recommended_exercises]
    assert fatigue.facets["summary"].text in texts(messages)
    assert button_titles(messages)[: len(recommended)] == recommended
    # a recommended exercise button asks about that exercise for this symptom
    assert '"symptom": "fatigue"' in button_payloads(messages)[0]
    assert slot(events, "topic") == "fatigue"


def test_swimming_for_fatigue_answers_that_pair(content_data):
    tracker = make_tracker(
        "can swimming help my fatigue?", "symptom_fatigue", {"exercise": "aquatic", "symptom": "fatigue"}
    )
    messages, events = run_action(ActionAnswerSymptom(), tracker)
    why = next(r.why for r in content_data.topics["fatigue"].recommended_exercises if r.exercise == "aquatic")
    assert why in texts(messages)
    assert "aquatic exercise" in texts(messages)
    # follow-ups then refer to the exercise
    assert slot(events, "topic") == "aquatic"


def test_the_same_pair_is_answered_when_the_classifier_picked_the_exercise(content_data):
    tracker = make_tracker("swimming for fatigue", "ask_aquatic_exercise", {"exercise": "aquatic", "symptom": "fatigue"})
    messages, _ = run_action(ActionAnswerExercise(), tracker)
    why = next(r.why for r in content_data.topics["fatigue"].recommended_exercises if r.exercise == "aquatic")
    assert why in texts(messages)


def test_an_exercise_not_recommended_for_a_symptom_says_so_and_names_the_alternatives(content_data):
    symptom = next(
        t for t in content_data.topics_of_kind("symptom")
        if "hippotherapy" not in {r.exercise for r in t.recommended_exercises}
    )
    tracker = make_tracker("horse riding for it?", symptom.intent, {"exercise": "hippotherapy", "symptom": symptom.id})
    messages, _ = run_action(ActionAnswerSymptom(), tracker)
    answer = texts(messages)
    assert "don't list" in answer
    for recommendation in symptom.recommended_exercises:
        assert content_data.topics[recommendation.exercise].title in answer


@pytest.mark.parametrize(
    "intent,facet",
    [("ask_exercise_amount", "how_much"), ("ask_exercise_safety", "precautions"), ("ask_home_exercise", "at_home")],
)
def test_follow_up_uses_the_current_topic(content_data, intent, facet):
    tracker = make_tracker("and that?", intent, slots={"topic": "aquatic"}, history=EARLIER_TURN)
    messages, events = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.topics["aquatic"].facets[facet].text in texts(messages)
    assert slot(events, "topic") == "aquatic"
    # the other two follow-ups are offered next
    assert len(button_titles(messages)) == 2


def test_follow_up_naming_a_topic_answers_for_that_topic(content_data):
    tracker = make_tracker("is yoga safe?", "ask_exercise_safety", {"exercise": "flexibility"}, slots={"topic": "aquatic"})
    messages, events = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.topics["flexibility"].facets["precautions"].text in texts(messages)
    assert slot(events, "topic") == "flexibility"


def test_follow_up_on_a_symptom_topic(content_data):
    tracker = make_tracker("how much should I do?", "ask_exercise_amount", slots={"topic": "fatigue"})
    messages, _ = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.topics["fatigue"].facets["how_much"].text in texts(messages)


def test_follow_up_without_a_topic_gets_the_general_guidance_and_the_exercises_to_choose(content_data):
    messages, events = run_action(ActionAnswerFollowup(), make_tracker("how much should I do a week?", "ask_exercise_amount"))
    assert content_data.overview.facets["how_much"].text in texts(messages)
    assert slot(events, "answered") == "overview/how_much"
    assert len(button_payloads(messages)) == len(content_data.topics_of_kind("exercise"))
    # so that "and is it safe?" next is about exercise in general
    assert slot(events, "topic") == "overview"


def test_follow_up_on_an_information_topic_without_that_facet_gives_the_general_advice(content_data):
    info = next(t for t in content_data.topics_of_kind("info") if "how_much" not in t.facets)
    tracker = make_tracker("how often?", "ask_exercise_amount", slots={"topic": info.id})
    messages, events = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.text("general_followup") in texts(messages)
    assert content_data.overview.facets["how_much"].text in texts(messages)
    assert slot(events, "topic") == "overview"


@pytest.mark.parametrize("intent", ["ask_physiotherapy", "ask_ms", "ask_exercise_overview", "ask_find_physiotherapist"])
def test_information_answers(content_data, intent):
    topic = content_data.topic_for_intent(intent)
    messages, events = run_action(ActionAnswerInfo(), make_tracker("question", intent))
    assert topic.facets["summary"].text in texts(messages)
    assert slot(events, "topic") == topic.id
    assert button_titles(messages)


def test_overview_offers_every_exercise_type(content_data):
    messages, _ = run_action(ActionAnswerInfo(), make_tracker("which exercises?", "ask_exercise_overview"))
    assert button_titles(messages) == [t.title for t in content_data.topics_of_kind("exercise")]


@pytest.mark.parametrize("intent", ["request_medical_advice", "out_of_scope"])
def test_referrals_send_to_the_physician_and_give_no_advice(content_data, intent):
    messages, events = run_action(ActionReferPhysician(), make_tracker("how much ocrevus should I take", intent))
    answer = texts(messages)
    assert content_data.text(intent) in answer
    assert "physician" in answer or "neurologist" in answer
    assert events == []


def test_medical_advice_referral_names_neurologist_nurse_and_pharmacist():
    messages, _ = run_action(ActionReferPhysician(), make_tracker("can I stop my steroids?", "request_medical_advice"))
    for who in ("neurologist", "MS nurse", "pharmacist"):
        assert who in texts(messages)


def test_emergency_answer_uses_the_configured_number_and_comes_first(monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    messages, _ = run_action(ActionEmergency(), make_tracker("I need help now", "emergency"))
    assert "999" in messages[0]["text"]
    assert "Stop any exercise" in messages[0]["text"]
    # the disclaimer, due on a first reply, follows the emergency answer
    assert DISCLAIMER_WORDS in messages[1]["text"]


@pytest.mark.parametrize(
    "category", ["chest", "stroke", "vision", "suicide", "overdose", "fall", "relapse", "infection", "overheating"]
)
def test_each_red_flag_gets_its_own_answer_and_no_exercise_advice(content_data, monkeypatch, category):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    monkeypatch.setenv("CRISIS_LINE", "0800 CRISIS")
    tracker = make_tracker("...", "emergency", {"red_flag": category}, history=EARLIER_TURN)
    messages, events = run_action(ActionEmergency(), tracker)
    expected = content_data.safety[category].text.format(emergency_number="999", crisis_line="0800 CRISIS")
    assert texts(messages) == expected
    assert "999" in expected
    assert not button_titles(messages) and events == []


def test_suicide_answer_gives_the_crisis_line(monkeypatch):
    monkeypatch.setenv("CRISIS_LINE", "0800 CRISIS")
    messages, _ = run_action(ActionEmergency(), make_tracker("...", "emergency", {"red_flag": "suicide"}))
    assert "0800 CRISIS" in messages[0]["text"]


def test_disclaimer_says_not_monitored_and_no_personal_details(content_data):
    disclaimer = content_data.text("disclaimer")
    assert "not medical advice" in disclaimer
    assert "real time" in disclaimer
    assert "personal details" in disclaimer


@pytest.mark.parametrize("intent", ["greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge"])
def test_small_talk(content_data, intent):
    messages, _ = run_action(ActionSmallTalk(), make_tracker("...", intent, history=EARLIER_TURN))
    assert texts(messages) == content_data.text(intent)


def test_affirm_offers_the_follow_ups_of_the_current_topic():
    messages, _ = run_action(ActionSmallTalk(), make_tracker("yes", "affirm", slots={"topic": "aquatic"}))
    assert button_titles(messages) == ["How much?", "Is it safe?", "At home?"]


def test_fallback_offers_the_closest_topics(content_data):
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "symptom_tremor", "confidence": 0.3},
        {"name": "greet", "confidence": 0.1},
        {"name": "ask_aquatic_exercise", "confidence": 0.05},
        {"name": "symptom_pain", "confidence": 0.03},
        {"name": "ask_motor_imagery", "confidence": 0.01},
    ]
    tracker = make_tracker("shaky wobbles?", "nlu_fallback", ranking=ranking, history=EARLIER_TURN)
    messages, _ = run_action(ActionFallback(), tracker)
    assert texts(messages) == content_data.text("fallback")
    assert button_titles(messages) == ["Tremor", "Aquatic exercise", "Pain"]


def test_second_fallback_in_a_row_points_to_a_person(content_data):
    history = EARLIER_TURN + [user_event("xyzzy", "nlu_fallback"), bot_event("I'm not sure I understood.")]
    messages, _ = run_action(ActionFallback(), make_tracker("plugh", "nlu_fallback", history=history))
    answer = texts(messages)
    assert answer == content_data.text("fallback_repeated")
    assert "physiotherapist or MS nurse" in answer


def test_a_fallback_after_an_understood_message_is_a_first_fallback(content_data):
    history = [user_event("xyzzy", "nlu_fallback"), bot_event("?"), user_event("yoga", "ask_flexibility_training")]
    messages, _ = run_action(ActionFallback(), make_tracker("plugh", "nlu_fallback", history=history))
    assert texts(messages) == content_data.text("fallback")


def test_sources_are_shown_as_readable_links_on_the_last_line(content_data):
    messages, _ = run_action(ActionAnswerSymptom(), make_tracker("my feet are numb", "symptom_numbness", history=EARLIER_TURN))
    last_line = texts(messages).split("\n")[-1]
    assert last_line.startswith("Sources: [")
    assert "[Halabchi et al. 2017](https://doi.org/10.1186/s12883-017-0960-9)" in last_line
    assert "PMC" not in last_line.replace("/pmc/articles/PMC", "")


def test_numbness_answer_does_not_claim_exercise_reduces_it(content_data):
    messages, _ = run_action(ActionAnswerSymptom(), make_tracker("numb hands", "symptom_numbness", history=EARLIER_TURN))
    answer = texts(messages)
    assert "not known to reduce" in answer and "occupational therapist" in answer
    assert "Hippotherapy" not in button_titles(messages)


def test_an_exercise_for_a_symptom_answer_gives_the_exercise_s_key_precaution(content_data):
    tracker = make_tracker("can swimming help my fatigue?", "symptom_fatigue", {"exercise": "aquatic", "symptom": "fatigue"})
    messages, _ = run_action(ActionAnswerSymptom(), tracker)
    assert content_data.topics["aquatic"].key_precaution.text in texts(messages)
    assert "27-29 °C" in texts(messages)


def test_the_first_mood_answer_signposts_help_with_the_configured_crisis_line(monkeypatch):
    monkeypatch.setenv("CRISIS_LINE", "0800 CRISIS")
    messages, _ = run_action(ActionAnswerSymptom(), make_tracker("I feel so low", "symptom_mood", history=EARLIER_TURN))
    answer = texts(messages)
    for words in ("GP", "MS nurse", "0800 CRISIS", "up to half"):
        assert words in answer, words
    assert "{crisis_line}" not in answer


def faq_tracker(key, **kwargs):
    """A message the ResponseSelector answered with faq/<key>."""
    tracker = make_tracker("question", "faq", **kwargs)
    tracker.latest_message["response_selector"] = {
        "faq": {"response": {"intent_response_key": f"faq/{key}", "confidence": 0.9}}
    }
    return tracker


def test_a_common_question_is_answered_from_its_card_with_follow_up_buttons(content_data):
    card = content_data.topic_for_intent("faq/hot_yoga_sauna")
    messages, events = run_action(ActionAnswerFaq(), faq_tracker("hot_yoga_sauna", history=EARLIER_TURN))
    assert card.facets["summary"].text in texts(messages)
    assert "Sources: [Davis et al. 2010](" in texts(messages)
    assert button_titles(messages) == ["How much?", "Is it safe?", "At home?"]
    assert slot(events, "topic") == "hot_yoga_sauna"


def test_a_common_question_given_as_an_intent_is_answered_too(content_data):
    messages, events = run_action(ActionAnswerFaq(), make_tracker("/faq/pilates", "faq/pilates"))
    assert content_data.topic_for_intent("faq/pilates").facets["summary"].text in texts(messages)
    assert slot(events, "topic") == "pilates"


def test_the_relapse_question_tells_what_to_do(content_data):
    messages, _ = run_action(ActionAnswerFaq(), faq_tracker("relapse_exercise", history=EARLIER_TURN))
    answer = texts(messages)
    assert "A relapse is" in answer and "contact your MS team the same day" in answer


def test_a_follow_up_after_a_common_question_uses_the_card_then_its_topic(content_data):
    card = content_data.topic_for_intent("faq/horse_riding")
    tracker = make_tracker("is it safe?", "ask_exercise_safety", slots={"topic": "horse_riding"}, history=EARLIER_TURN)
    messages, events = run_action(ActionAnswerFollowup(), tracker)
    assert card.facets["precautions"].text in texts(messages)
    assert slot(events, "topic") == "horse_riding"
    # the card has no "how much" (no source gives one for riding): the related topic answers
    assert "how_much" not in card.facets
    tracker = make_tracker("how much?", "ask_exercise_amount", slots={"topic": "horse_riding"}, history=EARLIER_TURN)
    messages, _ = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.topics[card.related].facets["how_much"].text in texts(messages)


def test_a_caution_gives_advice_without_the_emergency_number(monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    for category in ("dizziness", "fever_exercise"):
        messages, _ = run_action(ActionEmergency(), make_tracker("...", "emergency", {"red_flag": category}, history=EARLIER_TURN))
        assert "999" not in texts(messages) and texts(messages)
    messages, _ = run_action(ActionEmergency(), make_tracker("...", "emergency", {"red_flag": "dizziness"}, history=EARLIER_TURN))
    assert "sit or lie down" in texts(messages) and "water" in texts(messages)


def test_the_overdose_answer_gives_the_emergency_number_and_the_crisis_line(monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    monkeypatch.setenv("CRISIS_LINE", "0800 CRISIS")
    messages, _ = run_action(ActionEmergency(), make_tracker("...", "emergency", {"red_flag": "overdose"}))
    assert "999" in messages[0]["text"] and "0800 CRISIS" in messages[0]["text"]


def test_every_composed_answer_reads_at_grade_8_or_below():
    from actions.catalogue import every_answer
    from content.readability import MAX_GRADE, grade

    answers = every_answer()
    groups = {a.group for a in answers}
    assert {"topic", "exercise for symptom", "follow-up", "common question", "response"} <= groups
    assert any(a.name == "disclaimer" for a in answers)
    too_hard = [(a.name, grade(a.reading_text)) for a in answers if grade(a.reading_text) > MAX_GRADE]
    assert not too_hard
    # the measured text leaves out only the line of sources
    assert all("Sources:" not in a.reading_text for a in answers)


# --- the topic and facet a message asks about (actions/answers.py: target) --------------------


def with_facet(tracker, *facets):
    tracker.latest_message["entities"] += [{"entity": "facet", "value": f} for f in facets]
    return tracker


def test_a_message_naming_a_topic_and_a_facet_gets_that_facet_whatever_the_intent(content_data):
    tracker = with_facet(make_tracker("How much exercise with that kind of fatigue?", "symptom_fatigue",
                                      {"symptom": "fatigue"}, history=EARLIER_TURN), "how_much")
    messages, events = run_action(ActionAnswerSymptom(), tracker)
    assert content_data.topics["fatigue"].facets["how_much"].text in texts(messages)
    assert slot(events, "topic") == "fatigue" and slot(events, "answered") == "fatigue/how_much"


def test_safety_comes_first_when_a_message_names_two_facets(content_data):
    tracker = with_facet(make_tracker("is it safe to swim at home", "ask_aquatic_exercise", {"exercise": "aquatic"}),
                         "at_home", "precautions")
    messages, _ = run_action(ActionAnswerExercise(), tracker)
    assert content_data.topics["aquatic"].facets["precautions"].text in texts(messages)


@pytest.mark.parametrize(
    "text,intent,symptom,current,action",
    [
        ("is it safe if my legs are weak?", "symptom_weakness", "weakness", "hippotherapy", ActionAnswerSymptom),
        ("is it safe if I'm this unsteady?", "ask_exercise_safety", "balance", "tai_chi", ActionAnswerFollowup),
    ],
)
def test_a_safety_question_naming_a_symptom_after_an_exercise_or_a_common_question_asks_about_it(
        content_data, text, intent, symptom, current, action):
    tracker = with_facet(make_tracker(text, intent, {"symptom": symptom}, slots={"topic": current},
                                      history=EARLIER_TURN), "precautions")
    messages, events = run_action(action(), tracker)
    assert content_data.topics[current].facets["precautions"].text in texts(messages)
    assert slot(events, "answered") == f"{current}/precautions"


def test_a_safety_question_naming_a_symptom_after_a_symptom_asks_about_the_new_one(content_data):
    tracker = with_facet(make_tracker("is it safe if my legs are weak?", "symptom_weakness", {"symptom": "weakness"},
                                      slots={"topic": "fatigue"}, history=EARLIER_TURN), "precautions")
    _, events = run_action(ActionAnswerSymptom(), tracker)
    assert slot(events, "answered") == "weakness/precautions"


def test_an_exercise_intent_with_only_a_symptom_named_answers_that_exercise_for_that_symptom(content_data):
    tracker = make_tracker("which exercises train your balance?", "ask_balance_training", {"symptom": "balance"})
    messages, events = run_action(ActionAnswerExercise(), tracker)
    assert slot(events, "topic") == "balance_training"
    assert slot(events, "answered") == "balance_training+balance/general"


def test_can_exercise_help_with_it_after_a_common_question_is_about_that_question(content_data):
    tracker = make_tracker("can exercise help with it?", "ask_exercise_overview",
                           slots={"topic": "cognitive_fatigue"}, history=EARLIER_TURN)
    messages, events = run_action(ActionAnswerInfo(), tracker)
    assert content_data.topics["cognitive_fatigue"].facets["summary"].text in texts(messages)
    assert slot(events, "answered") == "cognitive_fatigue/general"
    # without a word pointing back, the message asks about exercise in general
    tracker = make_tracker("can exercise help people with ms?", "ask_exercise_overview",
                           slots={"topic": "cognitive_fatigue"}, history=EARLIER_TURN)
    _, events = run_action(ActionAnswerInfo(), tracker)
    assert slot(events, "answered") == "overview/general"


def test_a_message_the_classifiers_missed_that_names_an_exercise_is_answered(content_data):
    tracker = make_tracker("my arms have got weak over the years, could hydrotherapy help?", "nlu_fallback",
                           {"exercise": "aquatic", "symptom": "weakness"}, history=EARLIER_TURN)
    messages, events = run_action(ActionFallback(), tracker)
    assert texts(messages) != content_data.text("fallback")
    assert slot(events, "topic") == "aquatic" and slot(events, "answered") == "aquatic+weakness/general"


def test_a_follow_up_after_the_overview_gives_the_general_amounts(content_data):
    tracker = make_tracker("how much should I be doing each week?", "ask_exercise_amount",
                           slots={"topic": "overview"}, history=EARLIER_TURN)
    messages, events = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.overview.facets["how_much"].text in texts(messages)
    assert slot(events, "topic") == "overview"


def test_a_follow_up_naming_a_new_topic_switches_to_it(content_data):
    tracker = make_tracker("and for tai chi, how often?", "ask_exercise_amount", {"exercise": "balance_training"},
                           slots={"topic": "aquatic"}, history=EARLIER_TURN)
    messages, events = run_action(ActionAnswerFollowup(), tracker)
    assert content_data.topics["balance_training"].facets["how_much"].text in texts(messages)
    assert slot(events, "topic") == "balance_training"


def test_an_information_topic_answers_its_summary_whatever_facet_words_it_has(content_data):
    tracker = with_facet(make_tracker("can a physio come to my house", "ask_find_physiotherapist"), "at_home")
    messages, _ = run_action(ActionAnswerInfo(), tracker)
    assert content_data.topic_for_intent("ask_find_physiotherapist").facets["summary"].text in texts(messages)


def retrieval(tracker, topic, facet, score=0.7, answered=True):
    tracker.latest_message["retrieval"] = {"answered": answered, "matches": [
        {"topic": topic, "facet": facet, "score": score},
        {"topic": "balance_training", "facet": "general", "score": score - 0.1},
        {"topic": "pilates", "facet": "how_to_start", "score": score - 0.2},
    ]}
    return tracker


def test_content_retrieval_answers_the_facet_it_found_and_sets_the_topic(content_data):
    tracker = retrieval(make_tracker("I use a chair all day, what can I do", "ask_aquatic_exercise", history=EARLIER_TURN),
                        "aquatic", "at_home")
    messages, events = run_action(ActionAnswerExercise(), tracker)
    assert content_data.topics["aquatic"].facets["at_home"].text in texts(messages)
    assert slot(events, "topic") == "aquatic"


def test_content_retrieval_can_answer_a_common_question(content_data):
    tracker = retrieval(make_tracker("wheelchair user here, any exercise?", "faq", history=EARLIER_TURN),
                        "severe_disability", "general")
    messages, events = run_action(ActionAnswerFaq(), tracker)
    assert content_data.topics["severe_disability"].facets["summary"].text in texts(messages)
    assert slot(events, "topic") == "severe_disability"


def test_below_the_threshold_the_fallback_offers_what_retrieval_found(content_data):
    tracker = retrieval(make_tracker("hmm legs and water?", "nlu_fallback", history=EARLIER_TURN),
                        "aquatic", "precautions", answered=False)
    messages, _ = run_action(ActionFallback(), tracker)
    assert texts(messages) == content_data.text("fallback")
    assert button_titles(messages) == ["Aquatic exercise: Is it safe?", "Balance training", "Pilates: How to start"]
    assert button_payloads(messages)[0] == '/ask_aquatic_exercise{"exercise": "aquatic", "facet": "precautions"}'
    assert button_payloads(messages)[2] == '/faq{"faq": "pilates", "facet": "how_to_start"}'


def test_a_suggestion_button_for_a_common_question_and_a_facet_is_answered(content_data):
    tracker = with_facet(make_tracker('/faq{"faq": "pilates", "facet": "how_to_start"}', "faq"), "how_to_start")
    tracker.latest_message["entities"].append({"entity": "faq", "value": "pilates"})
    messages, events = run_action(ActionAnswerFaq(), tracker)
    assert content_data.topics["pilates"].facets["how_to_start"].text in texts(messages)
    assert slot(events, "answered") == "pilates/how_to_start"


def test_the_fallback_says_why_when_the_message_was_empty_or_cut(content_data):
    for guard, key in (("empty", "empty_message"), ("long", "long_message")):
        tracker = make_tracker("", "nlu_fallback", history=EARLIER_TURN)
        tracker.latest_message[INPUT_GUARD_KEY] = guard
        messages, _ = run_action(ActionFallback(), tracker)
        assert texts(messages) == content_data.text(key)


def test_a_follow_up_nobody_was_confident_about_still_answers_the_conversation_s_topic(content_data):
    tracker = with_facet(make_tracker("how much would I need to do to notice it?", "nlu_fallback",
                                      slots={"topic": "mood"}, history=EARLIER_TURN), "how_much")
    messages, events = run_action(ActionFallback(), tracker)
    assert content_data.topics["mood"].facets["how_much"].text in texts(messages)
    assert slot(events, "answered") == "mood/how_much"


def test_how_to_start_after_a_topic_is_that_topic_s_first_steps_not_the_overview_s(content_data):
    tracker = with_facet(make_tracker("where do I start?", "ask_exercise_overview", slots={"topic": "weakness"},
                                      history=EARLIER_TURN), "how_to_start")
    messages, events = run_action(ActionAnswerInfo(), tracker)
    assert content_data.topics["weakness"].facets["how_to_start"].text in texts(messages)
    assert slot(events, "topic") == "weakness"
    # with no topic yet, the overview's first steps answer
    tracker = with_facet(make_tracker("where do I start?", "ask_exercise_overview", history=EARLIER_TURN), "how_to_start")
    messages, _ = run_action(ActionAnswerInfo(), tracker)
    assert content_data.overview.facets["how_to_start"].text in texts(messages)


def test_a_common_question_the_classifier_recognised_beats_the_conversation_s_topic(content_data):
    tracker = with_facet(faq_tracker("bladder", slots={"topic": "fatigue"}, history=EARLIER_TURN), "how_much")
    tracker.latest_message["text"] = "how often should I do the pelvic floor exercises my physio showed me?"
    _, events = run_action(ActionAnswerFaq(), tracker)
    assert slot(events, "topic") == "bladder"
    # a short facet question is a follow-up on the conversation's topic, whatever the classifier said
    tracker.latest_message["text"] = "how often?"
    _, events = run_action(ActionAnswerFaq(), tracker)
    assert slot(events, "answered") == "fatigue/how_much"


def test_would_an_exercise_help_with_that_after_a_symptom_is_that_pair(content_data):
    tracker = make_tracker("would tai chi help with that?", "ask_balance_training", {"exercise": "balance_training"},
                           slots={"topic": "balance"}, history=EARLIER_TURN)
    _, events = run_action(ActionAnswerExercise(), tracker)
    assert slot(events, "answered") == "balance_training+balance/general"
    tracker = make_tracker("does it help with my balance?", "symptom_balance", {"symptom": "balance"},
                           slots={"topic": "hippotherapy"}, history=EARLIER_TURN)
    _, events = run_action(ActionAnswerSymptom(), tracker)
    assert slot(events, "answered") == "hippotherapy+balance/general"
    # without a question about helping, a symptom named is a new topic
    tracker = make_tracker("I'm exhausted all the time", "symptom_fatigue", {"symptom": "fatigue"},
                           slots={"topic": "aquatic"}, history=EARLIER_TURN)
    _, events = run_action(ActionAnswerSymptom(), tracker)
    assert slot(events, "answered") == "fatigue/general"
