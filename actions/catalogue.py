"""Every answer the assistant can send, composed by the actions' own functions.

The reading-grade check (``scripts/reading_grades.py``), the clinicians' review copy
(``scripts/content_report.py``) and the tests read the answers from here, so what they measure
is what a patient gets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import settings
from actions.answers import exercise_for_symptom, faq_answer, followup_answer, followup_facet, topic_answer
from actions.replies import CONTENT, without_sources
from content import EXERCISE, FAQ, SYMPTOM
from content.model import BUTTON_RESPONSES


@dataclass(frozen=True)
class Answer:
    group: str  # topic, exercise for symptom, follow-up, common question, safety, response
    name: str
    text: str  # as sent, with its last line of sources
    evidence: Tuple[str, ...] = ()

    @property
    def reading_text(self) -> str:
        """What a reader reads: the answer without its line of sources."""
        return without_sources(self.text)


def every_answer() -> List[Answer]:
    answers: List[Answer] = []
    topics = CONTENT.topics.values()
    for topic in topics:
        if topic.kind == FAQ:
            answers.append(Answer("common question", topic.id, faq_answer(topic), (topic.facets["summary"].evidence,)))
            continue
        if topic.kind == SYMPTOM:
            recommended = ", ".join(CONTENT.topics[r.exercise].title for r in topic.recommended_exercises)
            closing = CONTENT.text("symptom_recommends", recommended=recommended)
        else:
            closing = CONTENT.text("answer_more")
        evidence = tuple(topic.facets[n].evidence for n in ("summary", "benefits") if n in topic.facets)
        answers.append(Answer("topic", topic.id, topic_answer(topic, closing), evidence))
    for symptom in CONTENT.topics_of_kind(SYMPTOM):
        for exercise in CONTENT.topics_of_kind(EXERCISE):
            why = next((r for r in symptom.recommended_exercises if r.exercise == exercise.id), None)
            evidence = (why.evidence, exercise.facets["how_to_start"].evidence, exercise.key_precaution.evidence) if why else ()
            answers.append(
                Answer("exercise for symptom", f"{exercise.id} for {symptom.id}", exercise_for_symptom(exercise, symptom), evidence)
            )
    for topic in topics:
        for facet_name, _ in CONTENT.followups.values():
            facet = followup_facet(topic, facet_name) or CONTENT.overview.facets[facet_name]
            evidence = (facet.evidence,)
            answers.append(Answer("follow-up", f"{topic.id}: {facet_name}", followup_answer(topic, facet_name), evidence))
    numbers = {"emergency_number": settings.get("EMERGENCY_NUMBER"), "crisis_line": settings.get("CRISIS_LINE")}
    for answer in CONTENT.safety.values():
        answers.append(Answer(f"safety ({answer.tier})", answer.category, answer.text.format(**numbers), (answer.evidence,)))
    for key, response in CONTENT.responses.items():
        if key in COMPOSED_ONLY or key in BUTTON_RESPONSES:
            continue  # parts of the answers above, or button labels
        answers.append(Answer("response", key, response.text.format(**numbers) if key == "emergency" else response.text))
    return answers


# Texts that are only ever sent inside the composed answers above.
COMPOSED_ONLY = (
    "answer_more", "exercise_for_symptom", "exercise_not_recommended", "symptom_recommends",
    "key_precaution", "faq_more", "sources", "general_followup",
)
