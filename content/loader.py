"""Read the content module's YAML files and validate them into a ``Content``."""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from content import facets as facet_vocabulary
from content import red_flags as red_flag_vocabulary
from content.model import (
    EMERGENCY_TIER,
    EXERCISE,
    FACETS,
    INFO,
    OVERVIEW_TOPIC,
    REQUIRED_FACETS,
    REQUIRED_RESPONSES,
    SAFETY_TIERS,
    SYMPTOM,
    Content,
    ContentError,
    Facet,
    Recommendation,
    Response,
    SafetyAnswer,
    Source,
    Topic,
)

CONTENT_DIR = Path(__file__).resolve().parent
# topics/<folder>/<id>.yml: the folder fixes the kind
FOLDER_KINDS = {"exercises": EXERCISE, "symptoms": SYMPTOM, "info": INFO}
# The placeholders a response may use; anything else is a typo.
PLACEHOLDERS = {
    "emergency": {"emergency_number", "crisis_line"},
    "exercise_for_symptom": {"exercise", "symptom", "why"},
    "exercise_not_recommended": {"exercise", "symptom", "recommended"},
    "symptom_recommends": {"recommended"},
    "sources": {"sources"},
}
# Every safety answer may use these, and must give at least the emergency number.
SAFETY_PLACEHOLDERS = {"emergency_number", "crisis_line"}


def load(content_dir: Optional[Path] = None) -> Content:
    """Load and validate the whole content module; raise ``ContentError`` on the first problem."""
    root = Path(content_dir) if content_dir else CONTENT_DIR
    sources = _load_sources(root / "sources.yml")
    topics = _load_topics(root / "topics", sources)
    responses, followups = _load_responses(root / "responses.yml", sources)
    safety = _load_safety(root / "safety.yml", sources)
    medicines, medical_terms = _load_medical_terms(root / "medical_terms.yml", topics)
    vocabulary = red_flag_vocabulary.load(root / "red_flags.yml", safety)
    return Content(
        sources=sources, topics=topics, responses=responses, followups=followups, safety=safety,
        medicines=medicines, medical_terms=medical_terms, red_flags=vocabulary,
        facet_phrases=facet_vocabulary.load(root / "facets.yml"),
    )


def check_intents(content: Content, domain_intents: List[str], domain_path: str = "domain.yml") -> None:
    """Every domain intent has content, and every content intent is in the domain."""
    answered = set(content.intents())
    for intent in domain_intents:
        if intent not in answered:
            raise ContentError(domain_path, f"intents.{intent}", "intent has no content (no topic, follow-up or response)")
    for topic in content.topics.values():
        if topic.intent not in domain_intents:
            raise ContentError(topic.path, "intent", f"'{topic.intent}' is not an intent in {domain_path}")


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ContentError(str(path), "(file)", "file is missing")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ContentError(str(path), "(file)", f"not valid YAML: {error}") from error


def _mapping(value: Any, path: Path, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ContentError(str(path), field_name, "must be a mapping")
    return value


def _placeholders(text: str) -> set:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _text(value: Any, path: Path, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContentError(str(path), field_name, "must be a non-empty text")
    return " ".join(value.split())


def _source_ids(value: Any, path: Path, field_name: str, sources: Mapping[str, Source]) -> Tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ContentError(str(path), field_name, "must list at least one source id")
    for source_id in value:
        if source_id not in sources:
            raise ContentError(str(path), field_name, f"unknown source '{source_id}' (not in sources.yml)")
    return tuple(value)


def _load_sources(path: Path) -> Dict[str, Source]:
    data = _mapping(_read_yaml(path), path, "(file)")
    sources = {}
    for source_id, entry in data.items():
        entry = _mapping(entry, path, source_id)
        sources[source_id] = Source(
            id=source_id,
            short=_text(entry.get("short"), path, f"{source_id}.short"),
            citation=_text(entry.get("citation"), path, f"{source_id}.citation"),
        )
    return sources


def _load_topics(topics_dir: Path, sources: Mapping[str, Source]) -> Dict[str, Topic]:
    topics: Dict[str, Topic] = {}
    synonym_owner: Dict[str, str] = {}
    intents: Dict[str, str] = {}
    for folder, kind in FOLDER_KINDS.items():
        for path in sorted((topics_dir / folder).glob("*.yml")):
            topic = _load_topic(path, kind, sources)
            if topic.id in topics:
                raise ContentError(str(path), "id", f"duplicate topic id '{topic.id}' (also {topics[topic.id].path})")
            if topic.intent in intents:
                raise ContentError(str(path), "intent", f"intent '{topic.intent}' already used by {intents[topic.intent]}")
            for phrase in topic.synonyms:
                owner = synonym_owner.setdefault(phrase, topic.id)
                if owner != topic.id:
                    raise ContentError(str(path), "synonyms", f"'{phrase}' is also a synonym of topic '{owner}'")
            topics[topic.id] = topic
            intents[topic.intent] = str(path)
    for topic in topics.values():
        for index, recommendation in enumerate(topic.recommended_exercises):
            target = topics.get(recommendation.exercise)
            if target is None or target.kind != EXERCISE:
                raise ContentError(
                    topic.path,
                    f"recommended_exercises[{index}].exercise",
                    f"unknown exercise '{recommendation.exercise}'",
                )
    overview = topics.get(OVERVIEW_TOPIC)
    if overview is None:
        raise ContentError(str(topics_dir / "info"), OVERVIEW_TOPIC, "the general overview topic is missing")
    for facet in FACETS:
        if facet not in overview.facets:
            raise ContentError(overview.path, f"facets.{facet}", "the overview needs every facet (it answers general follow-ups)")
    for kind in (EXERCISE, SYMPTOM):
        if not any(t.kind == kind for t in topics.values()):
            raise ContentError(str(topics_dir), kind, f"no {kind} topics found")
    return topics


def _load_topic(path: Path, kind: str, sources: Mapping[str, Source]) -> Topic:
    data = _mapping(_read_yaml(path), path, "(file)")
    topic_id = _text(data.get("id"), path, "id")
    if topic_id != path.stem:
        raise ContentError(str(path), "id", f"'{topic_id}' must match the file name '{path.stem}'")
    declared = data.get("kind")
    if declared != kind:
        raise ContentError(str(path), "kind", f"must be '{kind}' for a file in topics/{path.parent.name}/")
    synonyms = data.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(isinstance(s, str) and s.strip() for s in synonyms):
        raise ContentError(str(path), "synonyms", "must be a list of phrases")
    if kind == INFO and synonyms:
        raise ContentError(str(path), "synonyms", "information topics are recognised by their intent only; remove the synonyms")
    if kind != INFO and not synonyms:
        raise ContentError(str(path), "synonyms", "an exercise or symptom topic needs synonyms for the NLU vocabulary")
    facets_data = _mapping(data.get("facets"), path, "facets")
    facets = {}
    for name, entry in facets_data.items():
        if name not in FACETS:
            raise ContentError(str(path), f"facets.{name}", f"unknown facet (known: {', '.join(FACETS)})")
        entry = _mapping(entry, path, f"facets.{name}")
        facets[name] = Facet(
            text=_text(entry.get("text"), path, f"facets.{name}.text"),
            sources=_source_ids(entry.get("sources"), path, f"facets.{name}.sources", sources),
        )
    for name in REQUIRED_FACETS[kind]:
        if name not in facets:
            raise ContentError(str(path), f"facets.{name}", "missing facet")
    recommendations = []
    raw_recommendations = data.get("recommended_exercises")
    if kind == SYMPTOM:
        if not isinstance(raw_recommendations, list) or not raw_recommendations:
            raise ContentError(str(path), "recommended_exercises", "a symptom must recommend at least one exercise type")
        for index, entry in enumerate(raw_recommendations):
            field_name = f"recommended_exercises[{index}]"
            entry = _mapping(entry, path, field_name)
            recommendations.append(
                Recommendation(
                    exercise=_text(entry.get("exercise"), path, f"{field_name}.exercise"),
                    why=_text(entry.get("why"), path, f"{field_name}.why"),
                    sources=_source_ids(entry.get("sources"), path, f"{field_name}.sources", sources),
                )
            )
    elif raw_recommendations:
        raise ContentError(str(path), "recommended_exercises", f"only symptoms recommend exercises, not a {kind}")
    return Topic(
        id=topic_id,
        kind=kind,
        title=_text(data.get("title"), path, "title"),
        intent=_text(data.get("intent"), path, "intent"),
        synonyms=tuple(" ".join(s.lower().split()) for s in synonyms),
        facets=facets,
        recommended_exercises=tuple(recommendations),
        path=str(path),
    )


def _load_responses(
    path: Path, sources: Mapping[str, Source]
) -> Tuple[Dict[str, Response], Dict[str, Tuple[str, str]]]:
    data = _mapping(_read_yaml(path), path, "(file)")
    raw = _mapping(data.get("responses"), path, "responses")
    responses = {}
    for key, entry in raw.items():
        entry = _mapping(entry, path, f"responses.{key}")
        text = _text(entry.get("text"), path, f"responses.{key}.text")
        used = _placeholders(text)
        allowed = PLACEHOLDERS.get(key, set())
        if used - allowed:
            raise ContentError(
                str(path), f"responses.{key}.text", f"unknown placeholder(s) {sorted(used - allowed)} (allowed: {sorted(allowed)})"
            )
        if allowed - used and key == "emergency":
            raise ContentError(str(path), f"responses.{key}.text", "must show the {emergency_number}")
        cited = entry.get("sources")
        responses[key] = Response(
            text=text,
            sources=_source_ids(cited, path, f"responses.{key}.sources", sources) if cited is not None else (),
        )
    for key in REQUIRED_RESPONSES:
        if key not in responses:
            raise ContentError(str(path), f"responses.{key}", "missing response")
    followups = {}
    for intent, entry in _mapping(data.get("followups"), path, "followups").items():
        entry = _mapping(entry, path, f"followups.{intent}")
        facet = entry.get("facet")
        if facet not in FACETS:
            raise ContentError(str(path), f"followups.{intent}.facet", f"unknown facet '{facet}'")
        followups[intent] = (facet, _text(entry.get("button"), path, f"followups.{intent}.button"))
    return responses, followups


def _load_safety(path: Path, sources: Mapping[str, Source]) -> Dict[str, SafetyAnswer]:
    data = _mapping(_read_yaml(path), path, "(file)")
    answers = {}
    for category, entry in data.items():
        entry = _mapping(entry, path, category)
        text = _text(entry.get("text"), path, f"{category}.text")
        used = _placeholders(text)
        if used - SAFETY_PLACEHOLDERS:
            raise ContentError(str(path), f"{category}.text", f"unknown placeholder(s) {sorted(used - SAFETY_PLACEHOLDERS)}")
        tier = entry.get("tier", EMERGENCY_TIER)
        if tier not in SAFETY_TIERS:
            raise ContentError(str(path), f"{category}.tier", f"must be one of {', '.join(SAFETY_TIERS)}")
        if (tier == EMERGENCY_TIER) != ("emergency_number" in used):
            problem = "must show the {emergency_number}" if tier == EMERGENCY_TIER else "a caution gives no {emergency_number}"
            raise ContentError(str(path), f"{category}.text", problem)
        answers[category] = SafetyAnswer(
            category=category,
            title=_text(entry.get("title"), path, f"{category}.title"),
            text=text,
            sources=_source_ids(entry.get("sources"), path, f"{category}.sources", sources),
            tier=tier,
        )
    return answers


def _load_medical_terms(path: Path, topics: Mapping[str, Topic]) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(medicines, terms) of medical_terms.yml: non-empty lists, no phrase also a topic synonym."""
    data = _mapping(_read_yaml(path), path, "(file)")
    synonym_owner = {phrase: topic.id for topic in topics.values() for phrase in topic.synonyms}
    lists = []
    for key in ("medicines", "terms"):
        phrases = data.get(key)
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ContentError(str(path), key, "must be a non-empty list of phrases")
        phrases = tuple(" ".join(p.lower().split()) for p in phrases)
        for phrase in phrases:
            if phrase in synonym_owner:
                raise ContentError(str(path), key, f"'{phrase}' is also a synonym of topic '{synonym_owner[phrase]}'")
        lists.append(phrases)
    return lists[0], lists[1]
