"""Which action answers an intent: the table of data/rules.yml, for answering a message again.

"No" to the safety check answers the flagged message as its intent would have been answered
(actions/safety.py). tests/test_actions.py checks that this table and the rules agree.
"""
from __future__ import annotations

from typing import Dict, Type

from actions.answers import (
    ActionAnswerExercise,
    ActionAnswerFaq,
    ActionAnswerFollowup,
    ActionAnswerInfo,
    ActionAnswerSymptom,
)
from actions.conversation import ActionFallback, ActionReferPhysician, ActionSmallTalk
from actions.replies import CONTENT, Reply
from content import EXERCISE, FAQ, INFO, SYMPTOM
from content.model import INTENT_RESPONSES

REFERRALS = ("request_medical_advice", "out_of_scope")
ANSWER_BY_KIND: Dict[str, Type[Reply]] = {
    EXERCISE: ActionAnswerExercise,
    SYMPTOM: ActionAnswerSymptom,
    INFO: ActionAnswerInfo,
    FAQ: ActionAnswerFaq,
}


def answer_class(intent: str) -> Type[Reply]:
    """The action that answers this intent (the fallback for an intent nothing answers)."""
    if intent == FAQ:
        return ActionAnswerFaq
    topic = CONTENT.topic_for_intent(intent)
    if topic is not None:
        return ANSWER_BY_KIND[topic.kind]
    if intent in CONTENT.followups:
        return ActionAnswerFollowup
    if intent in REFERRALS:
        return ActionReferPhysician
    if intent in INTENT_RESPONSES:
        return ActionSmallTalk
    return ActionFallback


def answer_action(intent: str) -> Reply:
    return answer_class(intent)()
