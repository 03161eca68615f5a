"""Read the content module's YAML files and validate them into a ``Content``."""
from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import yaml

from content import facets as facet_vocabulary
from content import red_flags as red_flag_vocabulary
from content.model import (
    BUTTON_RESPONSES,
    CAUTION,
    EMERGENCY,
    EXERCISE,
    FACETS,
    FAQ,
    FAQ_FACETS,
    INFO,
    OVERVIEW_TOPIC,
    REQUIRED_FACETS,
    REQUIRED_RESPONSES,
    SYMPTOM,
    TIERS,
    Content,
    ContentError,
    EvidenceLevel,
    Facet,
    Recommendation,
    Response,
    SafetyAnswer,
    Source,
    Topic,
)
from content.readability import MAX_GRADE, grade

CONTENT_DIR = Path(__file__).resolve().parent
# topics/<folder>/<id>.yml: the folder fixes the kind
FOLDER_KINDS = {"exercises": EXERCISE, "symptoms": SYMPTOM, "info": INFO, "faq": FAQ}
# The placeholders a response may use; anything else is a typo.
PLACEHOLDERS = {
    "emergency": {"emergency_number", "crisis_line"},
    "exercise_for_symptom": {"exercise", "symptom", "why"},
    "exercise_not_recommended": {"exercise", "symptom", "recommended"},
    "symptom_recommends": {"recommended"},
    "sources": {"sources"},
}
# Every safety answer may use these. An emergency answer must give the emergency number, a
# caution must not, and these categories must give the crisis line.
SAFETY_PLACEHOLDERS = {"emergency_number", "crisis_line"}
CRISIS_CATEGORIES = ("suicide", "overdose")
# Statements (facets) may name the deployment's crisis line; the actions fill it in.
FACET_PLACEHOLDERS = {"crisis_line"}
# What placeholders stand for when a text's reading grade is measured.
SAMPLE_VALUES = {
    "emergency_number": "112",
    "crisis_line": "a crisis line",
    "exercise": "water exercise",
    "symptom": "fatigue",
    "why": "It can help.",
    "recommended": "Aerobic training, Strength training",
    "sources": "Kalb et al. 2020",
}
# Button labels: short on every channel.
MAX_BUTTON_CHARS = 24
MAX_FAQ_TITLE_CHARS = 40
# A source's link: https, with no spaces or brackets (write ( ) as %28 %29, so that the
# Markdown link an answer makes stays whole). Articles link their DOI, PubMed or PMC page;
# any other page (a guideline, a health service's advice) is marked `kind: official`.
URL_PATTERN = re.compile(r"^https://[^\s()\[\]<>\"']+$")
ARTICLE_URL = re.compile(
    r"^https://(doi\.org/10\.|pubmed\.ncbi\.nlm\.nih\.gov/\d|www\.ncbi\.nlm\.nih\.gov/pmc/articles/PMC\d|pmc\.ncbi\.nlm\.nih\.gov/articles/PMC\d)"
)
SOURCE_KINDS = ("article", "official")
# A short name is what a reader sees: not an identifier such as "PMC7780704".
ID_LIKE = re.compile(r"\b(PMC\d+|PMID|doi|10\.\d{4,})", re.IGNORECASE)


def load(content_dir: Optional[Path] = None) -> Content:
    """Load and validate the whole content module; raise ``ContentError`` on the first problem."""
    root = Path(content_dir) if content_dir else CONTENT_DIR
    evidence = _load_evidence(root / "evidence.yml")
    sources = _load_sources(root / "sources.yml")
    topics = _load_topics(root / "topics", sources, evidence)
    responses, followups = _load_responses(root / "responses.yml", sources)
    safety = _load_safety(root / "safety.yml", sources, evidence)
    for answer in safety.values():
        card = topics.get(answer.common_question) if answer.common_question else None
        if answer.common_question and (card is None or card.kind != FAQ):
            raise ContentError(str(root / "safety.yml"), f"{answer.category}.common_question",
                               f"'{answer.common_question}' is not a common question (topics/faq/)")
    medicines, medical_terms = _load_medical_terms(root / "medical_terms.yml", topics)
    # $MEDICINE in red_flags.yml: every one-word medicine, and its plural ("took all my baclofen");
    # a hyphenated name is three tokens, never one word of a phrase
    one_word = [name for name in medicines if " " not in name and "-" not in name]
    vocabulary = red_flag_vocabulary.load(
        root / "red_flags.yml", safety, {"MEDICINE": one_word + [f"{name}s" for name in one_word]}
    )
    return Content(
        sources=sources, topics=topics, responses=responses, followups=followups, safety=safety,
        medicines=medicines, medical_terms=medical_terms, evidence=evidence, red_flags=vocabulary,
        facet_phrases=facet_vocabulary.load(root / "facets.yml"),
    )


def check_intents(content: Content, domain_intents: List[str], domain_path: str = "domain.yml") -> None:
    """Every domain intent has content, and every content intent is in the domain."""
    answered = set(content.intents())
    for intent in domain_intents:
        if intent not in answered:
            raise ContentError(domain_path, f"intents.{intent}", "intent has no content (no topic, follow-up or response)")
    for topic in content.topics.values():
        domain_intent = topic.intent.split("/", 1)[0]  # faq/pilates is the retrieval intent faq
        if domain_intent not in domain_intents:
            raise ContentError(topic.path, "intent", f"'{domain_intent}' is not an intent in {domain_path}")


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


def _readable(text: str, path: Path, field_name: str) -> None:
    """Reject a patient text above the reading grade (placeholders filled with sample values)."""
    sample = text.format(**SAMPLE_VALUES) if _placeholders(text) else text
    measured = grade(sample)
    if measured > MAX_GRADE:
        raise ContentError(
            str(path), field_name,
            f"reads at US grade {measured:g} (at most {MAX_GRADE:g}): use shorter sentences and plainer words",
        )


def _load_evidence(path: Path) -> Dict[str, EvidenceLevel]:
    data = _mapping(_read_yaml(path), path, "(file)")
    always = _phrases(data.get("always_forbidden") or [], path, "always_forbidden")
    levels = {}
    for level_id, entry in _mapping(data.get("levels"), path, "levels").items():
        entry = _mapping(entry, path, f"levels.{level_id}")
        levels[level_id] = EvidenceLevel(
            id=level_id,
            meaning=_text(entry.get("meaning"), path, f"levels.{level_id}.meaning"),
            wording=_text(entry.get("wording"), path, f"levels.{level_id}.wording"),
            forbidden=always + _phrases(entry.get("forbidden") or [], path, f"levels.{level_id}.forbidden"),
            required=_phrases(entry.get("required") or [], path, f"levels.{level_id}.required"),
        )
    if not levels:
        raise ContentError(str(path), "levels", "define at least one evidence level")
    return levels


def _phrases(value: Any, path: Path, field_name: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ContentError(str(path), field_name, "must be a list of phrases")
    return tuple(" ".join(p.lower().split()) for p in value)


def _claim(owners: Dict[str, str], phrases: Iterable[str], topic_id: str, path: Path, field_name: str,
           taken: str) -> None:
    """Each phrase names one topic: record `topic_id` as the owner of `phrases`, or fail with
    `taken` (formatted with the phrase and its owner) when another topic has one already."""
    for phrase in phrases:
        owner = owners.setdefault(phrase, topic_id)
        if owner != topic_id:
            raise ContentError(str(path), field_name, taken.format(phrase, owner))


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text.lower()) is not None


def _evidence(
    value: Any, text: str, path: Path, field_name: str, evidence: Mapping[str, EvidenceLevel]
) -> str:
    """The statement's evidence level, after checking that its wording claims no more."""
    if value not in evidence:
        raise ContentError(str(path), f"{field_name}.evidence", f"must be one of: {', '.join(evidence)}")
    level = evidence[value]
    for phrase in level.forbidden:
        if _has_phrase(text, phrase):
            raise ContentError(
                str(path), f"{field_name}.text",
                f"'{phrase}' claims more than '{value}' evidence allows ({level.wording})",
            )
    if level.required and not any(_has_phrase(text, phrase) for phrase in level.required):
        raise ContentError(
            str(path), f"{field_name}.text",
            f"'{value}' evidence must say so, for example '{level.required[0]}' ({level.wording})",
        )
    return value


def _load_sources(path: Path) -> Dict[str, Source]:
    data = _mapping(_read_yaml(path), path, "(file)")
    sources = {}
    for source_id, entry in data.items():
        entry = _mapping(entry, path, source_id)
        short = _text(entry.get("short"), path, f"{source_id}.short")
        if ID_LIKE.search(short) or re.search(r"[\[\]()<>|]", short):
            raise ContentError(
                str(path), f"{source_id}.short",
                "must be a readable name such as 'Kalb et al. 2020', not an identifier or brackets",
            )
        authors = _text(entry.get("authors"), path, f"{source_id}.authors")
        title = _text(entry.get("title"), path, f"{source_id}.title")
        year = entry.get("year")
        if not (isinstance(year, int) and 1900 <= year <= 2100) and year != "n.d.":
            raise ContentError(str(path), f"{source_id}.year", "must be the year of publication (or 'n.d.' for an undated page)")
        url = _text(entry.get("url"), path, f"{source_id}.url")
        if not URL_PATTERN.match(url):
            raise ContentError(str(path), f"{source_id}.url", "must be an https address without spaces or brackets (write ( ) as %28 %29)")
        kind = entry.get("kind", "article")
        if kind not in SOURCE_KINDS:
            raise ContentError(str(path), f"{source_id}.kind", f"must be one of: {', '.join(SOURCE_KINDS)}")
        if kind == "article" and not ARTICLE_URL.match(url):
            raise ContentError(
                str(path), f"{source_id}.url",
                "an article links its DOI (https://doi.org/...), PubMed or PMC page; mark other pages `kind: official`",
            )
        published = " ".join(str(entry.get("published") or "").split())
        citation = f"{authors} ({year}). {title}." + (f" {published}." if published else "")
        sources[source_id] = Source(
            id=source_id, short=short, citation=citation, authors=authors, title=title, year=str(year),
            published=published, url=url,
        )
    return sources


def _load_topics(
    topics_dir: Path, sources: Mapping[str, Source], evidence: Mapping[str, EvidenceLevel]
) -> Dict[str, Topic]:
    topics: Dict[str, Topic] = {}
    synonym_owner: Dict[str, str] = {}
    trigger_owner: Dict[str, str] = {}
    intents: Dict[str, str] = {}
    for folder, kind in FOLDER_KINDS.items():
        for path in sorted((topics_dir / folder).glob("*.yml")):
            topic = _load_topic(path, kind, sources, evidence)
            if topic.id in topics:
                raise ContentError(str(path), "id", f"duplicate topic id '{topic.id}' (also {topics[topic.id].path})")
            if topic.intent in intents:
                raise ContentError(str(path), "intent", f"intent '{topic.intent}' already used by {intents[topic.intent]}")
            _claim(synonym_owner, topic.synonyms, topic.id, path, "synonyms", "'{}' is also a synonym of topic '{}'")
            _claim(trigger_owner, topic.triggers, topic.id, path, "triggers", "'{}' also names the common question '{}'")
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
    for topic in topics.values():
        if topic.kind == FAQ:
            target = topics.get(topic.related)
            if target is None or target.kind == FAQ:
                raise ContentError(topic.path, "topic", f"unknown topic '{topic.related}' (the exercise, symptom or information topic follow-ups fall back to)")
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


def _statement(
    entry: Any, path: Path, field_name: str, sources: Mapping[str, Source], evidence: Mapping[str, EvidenceLevel]
) -> Facet:
    """One statement: a plain text with its sources and its evidence level."""
    entry = _mapping(entry, path, field_name)
    text = _text(entry.get("text"), path, f"{field_name}.text")
    used = _placeholders(text)
    if used - FACET_PLACEHOLDERS:
        raise ContentError(str(path), f"{field_name}.text", f"unknown placeholder(s) {sorted(used - FACET_PLACEHOLDERS)} (allowed: {sorted(FACET_PLACEHOLDERS)})")
    _readable(text, path, f"{field_name}.text")
    return Facet(
        text=text,
        sources=_source_ids(entry.get("sources"), path, f"{field_name}.sources", sources),
        evidence=_evidence(entry.get("evidence"), text, path, field_name, evidence),
    )


def _load_topic(path: Path, kind: str, sources: Mapping[str, Source], evidence: Mapping[str, EvidenceLevel]) -> Topic:
    data = _mapping(_read_yaml(path), path, "(file)")
    topic_id = _text(data.get("id"), path, "id")
    if topic_id != path.stem:
        raise ContentError(str(path), "id", f"'{topic_id}' must match the file name '{path.stem}'")
    declared = data.get("kind")
    if declared != kind:
        raise ContentError(str(path), "kind", f"must be '{kind}' for a file in topics/{path.parent.name}/")
    synonyms = _phrases(data.get("synonyms") or [], path, "synonyms")
    if kind == INFO and synonyms:
        raise ContentError(str(path), "synonyms", "information topics are recognised by their intent only; remove the synonyms")
    if kind == FAQ and synonyms:
        raise ContentError(str(path), "synonyms", "a common question is named by its trigger words (`triggers`), not synonyms")
    if kind not in (INFO, FAQ) and not synonyms:
        raise ContentError(str(path), "synonyms", "an exercise or symptom topic needs synonyms for the NLU vocabulary")
    triggers = _phrases(data.get("triggers") or [], path, "triggers")
    if kind != FAQ and triggers:
        raise ContentError(str(path), "triggers", "only common questions have trigger words (topics have synonyms)")
    intent = _text(data.get("intent"), path, "intent")
    title = _text(data.get("title"), path, "title")
    related = None
    if kind == FAQ:
        if intent != f"faq/{topic_id}":
            raise ContentError(str(path), "intent", f"must be 'faq/{topic_id}' (the retrieval intent of this common question)")
        if len(title) > MAX_FAQ_TITLE_CHARS:
            raise ContentError(str(path), "title", f"is a button label: at most {MAX_FAQ_TITLE_CHARS} characters")
        related = _text(data.get("topic"), path, "topic")
    elif "topic" in data:
        raise ContentError(str(path), "topic", "only common questions name a related topic")
    known = FAQ_FACETS if kind == FAQ else FACETS
    facets_data = _mapping(data.get("facets"), path, "facets")
    facets = {}
    for name, entry in facets_data.items():
        if name not in known:
            raise ContentError(str(path), f"facets.{name}", f"unknown facet (known: {', '.join(known)})")
        facets[name] = _statement(entry, path, f"facets.{name}", sources, evidence)
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
            why = _statement(dict(entry, text=entry.get("why")), path, field_name, sources, evidence)
            recommendations.append(
                Recommendation(
                    exercise=_text(entry.get("exercise"), path, f"{field_name}.exercise"),
                    why=why.text,
                    sources=why.sources,
                    evidence=why.evidence,
                )
            )
    elif raw_recommendations:
        raise ContentError(str(path), "recommended_exercises", f"only symptoms recommend exercises, not a {kind}")
    key_precaution = None
    if kind == EXERCISE:
        if "key_precaution" not in data:
            raise ContentError(str(path), "key_precaution", "an exercise needs the one safety point its answers for a symptom add")
        key_precaution = _statement(data["key_precaution"], path, "key_precaution", sources, evidence)
    elif "key_precaution" in data:
        raise ContentError(str(path), "key_precaution", f"only exercises have a key precaution, not a {kind}")
    return Topic(
        id=topic_id,
        kind=kind,
        title=title,
        intent=intent,
        synonyms=synonyms,
        facets=facets,
        recommended_exercises=tuple(recommendations),
        path=str(path),
        key_precaution=key_precaution,
        related=related,
        triggers=triggers,
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
        if key in BUTTON_RESPONSES and len(text) > MAX_BUTTON_CHARS:
            raise ContentError(str(path), f"responses.{key}.text", f"is a button label: at most {MAX_BUTTON_CHARS} characters")
        if key != "sources":
            _readable(text, path, f"responses.{key}.text")
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
        button = _text(entry.get("button"), path, f"followups.{intent}.button")
        if len(button) > MAX_BUTTON_CHARS:
            raise ContentError(str(path), f"followups.{intent}.button", f"is a button label: at most {MAX_BUTTON_CHARS} characters")
        followups[intent] = (facet, button)
    return responses, followups


def _load_safety(
    path: Path, sources: Mapping[str, Source], evidence: Mapping[str, EvidenceLevel]
) -> Dict[str, SafetyAnswer]:
    data = _mapping(_read_yaml(path), path, "(file)")
    answers = {}
    for category, entry in data.items():
        entry = _mapping(entry, path, category)
        text = _text(entry.get("text"), path, f"{category}.text")
        used = _placeholders(text)
        if used - SAFETY_PLACEHOLDERS:
            raise ContentError(str(path), f"{category}.text", f"unknown placeholder(s) {sorted(used - SAFETY_PLACEHOLDERS)}")
        tier = entry.get("tier")
        if tier not in TIERS:
            raise ContentError(str(path), f"{category}.tier", f"must be one of: {', '.join(TIERS)}")
        if tier == EMERGENCY and "emergency_number" not in used:
            raise ContentError(str(path), f"{category}.text", "an emergency answer must show the {emergency_number}")
        if tier == CAUTION and "emergency_number" in used:
            raise ContentError(str(path), f"{category}.text", "a caution gives advice without the {emergency_number}; make it an emergency if it needs one")
        if category in CRISIS_CATEGORIES and "crisis_line" not in used:
            raise ContentError(str(path), f"{category}.text", "must show the {crisis_line}")
        _readable(text, path, f"{category}.text")
        common_question = entry.get("common_question")
        if common_question is not None and (tier != CAUTION or not isinstance(common_question, str)):
            raise ContentError(str(path), f"{category}.common_question", "only a caution names the common question that says the same (its key)")
        answers[category] = SafetyAnswer(
            category=category,
            title=_text(entry.get("title"), path, f"{category}.title"),
            text=text,
            sources=_source_ids(entry.get("sources"), path, f"{category}.sources", sources),
            tier=tier,
            evidence=_evidence(entry.get("evidence"), text, path, category, evidence),
            common_question=common_question,
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
