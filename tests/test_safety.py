"""The safety layer's decision (nlp/safety.py), its vocabulary's loader (content/red_flags.py) and
the safety actions (actions/safety.py): the safety check, "yes" and "no"."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import content
from actions.safety import ActionEmergency, ActionSafetyAnswer
from conftest import ROOT, bot_event, button_payloads, button_titles, make_tracker, run_action, slot, texts, user_event
from content import ContentError
from nlp.red_flags import RedFlag
from nlp.safety import CAUTION, CLASSIFIER, CONFIRMED, NET, RULES, SUSPECTED, Policy, decide

POLICY = Policy(
    emergencies=frozenset({"chest", "stroke", "suicide", "overdose"}),
    cautions=frozenset({"dizziness"}),
    crises=frozenset({"suicide", "overdose"}),
    suspect_threshold=0.5,
    crisis_threshold=0.3,
)
CHEST = RedFlag("chest", 0, 10, "chest pain", "chest pain or pressure")


def scores(**probabilities: float):
    return {"benign": 1.0 - sum(probabilities.values()), **probabilities}


# --- one decision -----------------------------------------------------------------------------


def test_a_rule_that_fires_is_confirmed_whatever_the_net_and_the_classifier_say():
    decision = decide(CHEST, scores(), "greet", POLICY)
    assert (decision.tier, decision.category, decision.source) == (CONFIRMED, "chest", RULES)
    assert decision.evidence == "chest pain" and decision.rule == "chest pain or pressure"


def test_a_caution_rule_gives_the_caution_tier():
    decision = decide(RedFlag("dizziness", 0, 5, "dizzy"), scores(chest=0.9), None, POLICY)
    assert (decision.tier, decision.category) == (CAUTION, "dizziness")


def test_the_net_alone_suspects_and_names_its_category():
    decision = decide(None, scores(stroke=0.7), "ask_balance_training", POLICY)
    assert (decision.tier, decision.category, decision.source) == (SUSPECTED, "stroke", NET)
    assert decision.score == pytest.approx(0.7)


def test_the_net_adds_up_the_red_flag_categories_before_it_suspects():
    decision = decide(None, scores(stroke=0.3, chest=0.25), None, POLICY)
    assert decision.tier == SUSPECTED and decision.category == "stroke"


def test_suicide_and_overdose_are_never_only_suspected():
    for category in ("suicide", "overdose"):
        decision = decide(None, scores(**{category: 0.35}), "symptom_mood", POLICY)
        assert (decision.tier, decision.category, decision.source) == (CONFIRMED, category, NET)


def test_the_classifier_alone_gets_the_safety_check_never_the_emergency_answer():
    decision = decide(None, scores(chest=0.1), "emergency", POLICY)
    assert (decision.tier, decision.category, decision.source) == (SUSPECTED, None, CLASSIFIER)


def test_nothing_to_decide_on_an_ordinary_message():
    assert decide(None, scores(chest=0.2), "ask_flexibility_training", POLICY) is None
    assert decide(None, {}, "greet", POLICY) is None


def test_the_decision_keeps_the_net_s_view_for_staff():
    decision = decide(CHEST, scores(chest=0.8), None, POLICY).as_dict()
    assert decision["net"] == {"category": "chest", "score": pytest.approx(0.8)}
    assert "evidence" not in decide(None, scores(chest=0.8), None, POLICY).as_dict()


# --- the vocabulary is data, checked when loaded ------------------------------------------------


@pytest.fixture
def content_copy(tmp_path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rules"].insert(0, {"category": "chest", "name": "x", "needs": ["NO_SUCH_CONCEPT"]}),
     "rules[0].needs: unknown label(s) ['NO_SUCH_CONCEPT']"),
    (lambda d: d["rules"].insert(0, {"category": "sunburn", "name": "x", "needs": ["CHEST"]}),
     "rules[0].category: 'sunburn' has no answer in safety.yml"),
    (lambda d: d["concepts"]["chest"]["CHEST"].append("$NOWHERE chest"), "unknown $NOWHERE"),
    (lambda d: d["concepts"]["chest"]["CHEST"].append("/(unclosed/ chest"), "bad /regex/"),
    (lambda d: d["lists"].pop("NEGATION"), "lists.NEGATION: missing list"),
    (lambda d: d["rules"][0].update(scope="paragraph"), "rules[0].scope: must be clause or message"),
    (lambda d: d["concepts"]["stroke"].update(CHEST=["chest"]), "concepts.stroke.CHEST: label defined twice"),
])
def test_a_broken_vocabulary_is_rejected_with_file_and_field(content_copy, change, message):
    edit(content_copy / "red_flags.yml", change)
    with pytest.raises(ContentError) as error:
        content.load(content_copy)
    assert "red_flags.yml" in str(error.value) and message in str(error.value)


def test_medicines_of_the_content_are_a_word_list_of_the_vocabulary(content_data):
    medicines = content_data.red_flags.lists["MEDICINE"]
    assert "baclofen" in medicines and "baclofens" in medicines
    assert "MEDICINE" in content_data.red_flags.macros


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(benefits=["why"]), "benefits: unknown facet"),
    (lambda d: d["how_much"].append("safe"), "'safe' is also a phrase of 'precautions'"),
    (lambda d: d.update(at_home=[]), "at_home: must be a non-empty list of phrases"),
])
def test_a_broken_facet_vocabulary_is_rejected(content_copy, change, message):
    edit(content_copy / "facets.yml", change)
    with pytest.raises(ContentError) as error:
        content.load(content_copy)
    assert "facets.yml" in str(error.value) and message in str(error.value)


# --- the safety actions -------------------------------------------------------------------------

EARLIER = [user_event("tell me about yoga", "ask_flexibility_training"), bot_event("Yoga ...")]


def flagged(text: str, tier: str, category, otherwise=None, entities=None):
    """A tracker whose latest message the safety layer decided on."""
    tracker = make_tracker(text, "emergency", entities, history=EARLIER)
    tracker.latest_message["safety"] = {"tier": tier, "category": category, "source": NET,
                                        "otherwise": otherwise or {"name": "nlu_fallback", "confidence": 1.0}}
    tracker.events[-1]["parse_data"] = tracker.latest_message
    return tracker


def test_a_suspected_red_flag_gets_the_safety_check_with_yes_and_no(content_data):
    messages, events = run_action(ActionEmergency(), flagged("my chest feels odd", SUSPECTED, "chest"))
    assert texts(messages) == content_data.text("safety_check")
    assert button_titles(messages) == [content_data.text("safety_yes"), content_data.text("safety_no")]
    assert button_payloads(messages) == ["/affirm", "/deny"]
    assert slot(events, "safety_check") is True
    assert "112" not in texts(messages) and "Stop" not in texts(messages)


def test_a_confirmed_red_flag_gets_its_category_s_answer_at_once(content_data, monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    messages, events = run_action(ActionEmergency(), flagged("crushing chest pain", CONFIRMED, "chest"))
    assert messages[0]["text"] == content_data.safety["chest"].text.format(emergency_number="999", crisis_line="")
    assert events == []


def test_a_caution_gets_its_advice_without_the_emergency_number(content_data, monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    messages, _ = run_action(ActionEmergency(), flagged("dizzy on the bike", CAUTION, "dizziness"))
    assert texts(messages) == content_data.safety["dizziness"].text and "999" not in texts(messages)


def answered(check_tracker, reply_text: str, intent: str):
    """The tracker after the safety check was asked, when the user answers."""
    flagged_event = check_tracker.events[-1]
    history = EARLIER + [flagged_event, bot_event("Is this happening to you now?")]
    return make_tracker(reply_text, intent, slots={"safety_check": True, "topic": "flexibility"}, history=history)


def test_yes_to_the_safety_check_gives_the_category_s_emergency_answer(content_data, monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    tracker = answered(flagged("my chest feels odd", SUSPECTED, "chest"), "/affirm", "affirm")
    messages, events = run_action(ActionSafetyAnswer(), tracker)
    assert messages[0]["text"] == content_data.safety["chest"].text.format(emergency_number="999", crisis_line="")
    assert slot(events, "safety_check") is None and slot(events, "safety_answer") == "yes"


def test_yes_without_a_category_gives_the_general_emergency_answer(content_data, monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    tracker = answered(flagged("breathing exercises?", SUSPECTED, None), "yes", "affirm")
    messages, _ = run_action(ActionSafetyAnswer(), tracker)
    assert "999" in messages[0]["text"] and "This may be an emergency" in messages[0]["text"]


def test_no_to_the_safety_check_answers_the_question_that_was_flagged(content_data):
    otherwise = {"name": "ask_flexibility_training", "confidence": 0.8}
    check = flagged("yoga breathing for a tight chest?", SUSPECTED, "chest", otherwise, {"exercise": "flexibility"})
    messages, events = run_action(ActionSafetyAnswer(), answered(check, "/deny", "deny"))
    assert content_data.topics["flexibility"].facets["summary"].text in texts(messages)
    assert slot(events, "topic") == "flexibility"
    assert slot(events, "safety_check") is None and slot(events, "safety_answer") == "no"


def test_no_to_a_flagged_message_nobody_understood_gets_the_fallback(content_data):
    check = flagged("xyzzy chest", SUSPECTED, "chest")
    messages, _ = run_action(ActionSafetyAnswer(), answered(check, "no", "deny"))
    assert texts(messages) == content_data.text("fallback")


def test_any_other_answer_closes_an_unanswered_safety_check():
    from actions.answers import ActionAnswerExercise

    tracker = make_tracker("tell me about swimming", "ask_aquatic_exercise", slots={"safety_check": True}, history=EARLIER)
    _, events = run_action(ActionAnswerExercise(), tracker)
    assert slot(events, "safety_check") is None
    _, events = run_action(ActionAnswerExercise(), make_tracker("swimming", "ask_aquatic_exercise", history=EARLIER))
    with pytest.raises(KeyError):
        slot(events, "safety_check")


def test_a_typed_emergency_payload_without_a_decision_gets_its_category_s_answer(content_data, monkeypatch):
    monkeypatch.setenv("EMERGENCY_NUMBER", "999")
    tracker = make_tracker('/emergency{"red_flag": "stroke"}', "emergency", {"red_flag": "stroke"}, history=EARLIER)
    messages, _ = run_action(ActionEmergency(), tracker)
    assert messages[0]["text"] == content_data.safety["stroke"].text.format(emergency_number="999", crisis_line="")


def test_the_routing_table_agrees_with_the_rules():
    """"No" to the check answers with the action the rules give the intent (actions/routing.py)."""
    from actions.routing import answer_class

    rules = yaml.safe_load((ROOT / "data" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    checked = 0
    for rule in rules:
        steps = rule["steps"]
        if rule.get("condition") or len(steps) != 2 or "intent" not in steps[0]:
            continue
        intent, action = steps[0]["intent"], steps[1]["action"]
        if intent == "emergency":
            continue
        assert answer_class(intent)().name() == action, intent
        checked += 1
    assert checked >= 30
