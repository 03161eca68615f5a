"""The red-flag vocabulary (red_flags.yml): concepts, cues, masks and rules, loaded and checked.

The safety layer's mechanism (nlp/red_flags.py) turns this into spaCy matchers; everything it
looks for is here, so that a clinician can read and change it. ``load`` rejects a vocabulary that
could not work: a rule that needs an unknown label, an unknown ``$NAME``, a /regex/ that does not
compile, a category without an answer in safety.yml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

import yaml

from content.model import ContentError

CLAUSE, MESSAGE = "clause", "message"
# Lists the mechanism itself reads (what negates, what starts a clause, what ends a negation).
READING_LISTS = ("NEGATION", "CLAUSE_BREAK", "NEGATION_STOP")
NEGATION_CUE = "NEGATION"
MACRO = re.compile(r"\$([A-Z_]+)")
LABEL = re.compile(r"^[A-Z][A-Z_]*$")


@dataclass(frozen=True)
class Rule:
    """Fires when every label set in `needs` has a live concept: all in one clause (and within
    `window` tokens, if given) or anywhere in the message; never when a label in `unless` is live."""

    category: str
    name: str
    needs: Tuple[FrozenSet[str], ...]
    scope: str = CLAUSE
    window: Optional[int] = None
    unless: FrozenSet[str] = frozenset()


@dataclass(frozen=True)
class Vocabulary:
    lists: Dict[str, Tuple[str, ...]]
    # $NAME -> phrase part; the lists are in here too, joined with "|"
    macros: Dict[str, str]
    # label -> phrases, for concepts, cues and masks
    concepts: Dict[str, Tuple[str, ...]]
    cues: Dict[str, Tuple[str, ...]]
    masks: Dict[str, Tuple[str, ...]]
    # concept labels grouped by the category whose rules mainly use them (for reading)
    groups: Dict[str, Tuple[str, ...]]
    uncancellable: FrozenSet[str]
    # cue labels that cancel the uncancellable concepts too (an event long over)
    cancels_uncancellable: FrozenSet[str]
    overrides: Dict[str, FrozenSet[str]]
    looks_back: FrozenSet[str]
    negation_window: int
    rules: Tuple[Rule, ...]

    @property
    def categories(self) -> Tuple[str, ...]:
        """Every category a rule can give, in priority order."""
        return tuple(dict.fromkeys(rule.category for rule in self.rules))

    def tables(self) -> Iterable[Tuple[str, Tuple[str, ...]]]:
        """(label, phrases) of every concept, cue and mask."""
        for table in (self.concepts, self.cues, self.masks):
            yield from table.items()


def alternatives(spec: str) -> List[str]:
    """"dead|/^numb/" -> ["dead", "/^numb/"] (a regex may contain "|")."""
    return re.findall(r"/[^/]+/|[^|]+", spec)


def load(path: Path, categories_with_answers: Collection[str],
         given_lists: Optional[Mapping[str, Iterable[str]]] = None) -> Vocabulary:
    """Read and check red_flags.yml; every rule's category must be in `categories_with_answers`.

    `given_lists` are word lists from elsewhere in the content module (the medicines of
    medical_terms.yml as $MEDICINE), usable in phrases like the file's own lists."""
    where = str(path)
    if not path.is_file():
        raise ContentError(where, "(file)", "file is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ContentError(where, "(file)", f"not valid YAML: {error}") from error
    data = _mapping(data, where, "(file)")

    lists = {name: _words(words, where, f"lists.{name}") for name, words in _mapping(data.get("lists"), where, "lists").items()}
    for name, words in (given_lists or {}).items():
        if name in lists:
            raise ContentError(where, f"lists.{name}", "is given by the content module; choose another name")
        lists[name] = tuple(words)
    for name in READING_LISTS:
        if name not in lists:
            raise ContentError(where, f"lists.{name}", "missing list (the reading of every message needs it)")
    macros = {name: "|".join(words) for name, words in lists.items()}
    for name, part in _mapping(data.get("macros"), where, "macros").items():
        if not isinstance(part, str) or not part.strip():
            raise ContentError(where, f"macros.{name}", "must be a phrase part")
        if name in macros:
            raise ContentError(where, f"macros.{name}", "is also a list")
        macros[name] = part

    concepts: Dict[str, Tuple[str, ...]] = {}
    groups: Dict[str, Tuple[str, ...]] = {}
    for group, table in _mapping(data.get("concepts"), where, "concepts").items():
        table = _mapping(table, where, f"concepts.{group}")
        for label, phrases in table.items():
            if label in concepts:
                raise ContentError(where, f"concepts.{group}.{label}", "label defined twice")
            concepts[label] = _phrases(phrases, where, f"concepts.{group}.{label}", macros)
        groups[group] = tuple(table)
    cues = {label: _phrases(p, where, f"cues.{label}", macros) for label, p in _mapping(data.get("cues"), where, "cues").items()}
    if NEGATION_CUE not in cues:
        raise ContentError(where, f"cues.{NEGATION_CUE}", "missing cue")
    masks = {label: _phrases(p, where, f"masks.{label}", macros) for label, p in _mapping(data.get("masks"), where, "masks").items()}
    for label in list(cues) + list(masks):
        if not LABEL.match(label):
            raise ContentError(where, label, "labels are upper case words")
        if label in concepts or (label in cues and label in masks):
            raise ContentError(where, label, "label defined twice")

    def known(labels: Iterable[str], field_name: str, table: Mapping[str, Any] = concepts) -> FrozenSet[str]:
        labels = frozenset(labels)
        unknown = sorted(labels - set(table))
        if unknown:
            raise ContentError(where, field_name, f"unknown label(s) {unknown}")
        return labels

    uncancellable = known(_words(data.get("uncancellable"), where, "uncancellable"), "uncancellable")
    cancels_uncancellable = known(_words(data.get("cancels_uncancellable"), where, "cancels_uncancellable"),
                                  "cancels_uncancellable", cues)
    overrides = {}
    for label, covered in _mapping(data.get("overrides") or {}, where, "overrides").items():
        known([label], f"overrides.{label}")
        overrides[label] = known(_words(covered, where, f"overrides.{label}"), f"overrides.{label}")
    looks_back = known(_words(data.get("looks_back"), where, "looks_back"), "looks_back", cues)
    window = data.get("negation_window")
    if not isinstance(window, int) or window < 1:
        raise ContentError(where, "negation_window", "must be a whole number of words, at least 1")

    rules = []
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ContentError(where, "rules", "must list the rules")
    for index, entry in enumerate(raw_rules):
        field_name = f"rules[{index}]"
        entry = _mapping(entry, where, field_name)
        category = entry.get("category")
        if category not in categories_with_answers:
            raise ContentError(where, f"{field_name}.category", f"'{category}' has no answer in safety.yml")
        needs = entry.get("needs")
        if not isinstance(needs, list) or not needs or not all(isinstance(n, str) for n in needs):
            raise ContentError(where, f"{field_name}.needs", "must list the labels needed, e.g. [\"CHEST\", \"CHEST_FEELING\"]")
        scope = entry.get("scope", CLAUSE)
        if scope not in (CLAUSE, MESSAGE):
            raise ContentError(where, f"{field_name}.scope", f"must be {CLAUSE} or {MESSAGE}")
        rule_window = entry.get("window")
        if rule_window is not None and (not isinstance(rule_window, int) or rule_window < 1):
            raise ContentError(where, f"{field_name}.window", "must be a whole number of words")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ContentError(where, f"{field_name}.name", "must be a non-empty text")
        rules.append(Rule(
            category=category,
            name=name,
            needs=tuple(known(need.split("|"), f"{field_name}.needs") for need in needs),
            scope=scope,
            window=rule_window,
            unless=known(filter(None, str(entry.get("unless") or "").split("|")), f"{field_name}.unless"),
        ))
    return Vocabulary(
        lists=lists, macros=macros, concepts=concepts, cues=cues, masks=masks, groups=groups,
        uncancellable=uncancellable, cancels_uncancellable=cancels_uncancellable, overrides=overrides,
        looks_back=looks_back, negation_window=window,
        rules=tuple(rules),
    )


def _mapping(value: Any, where: str, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ContentError(where, field_name, "must be a mapping")
    return value


def _words(value: Any, where: str, field_name: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(w, str) and w.strip() for w in value):
        raise ContentError(where, field_name, "must be a non-empty list of words")
    return tuple(value)


def _phrases(value: Any, where: str, field_name: str, macros: Mapping[str, str]) -> Tuple[str, ...]:
    phrases = _words(value, where, field_name)
    for phrase in phrases:
        for name in MACRO.findall(phrase):
            if name not in macros:
                raise ContentError(where, field_name, f"'{phrase}': unknown ${name}")
        expanded = MACRO.sub(lambda match: macros[match.group(1)], phrase)
        if "_?" in expanded.split():
            raise ContentError(where, field_name, f"'{phrase}': '_' is already optional; '_?' matches nothing")
        for part in (p for token in expanded.split() for p in alternatives(token.lstrip("~!").rstrip("?") or token)):
            if part.startswith("/"):
                try:
                    re.compile(part[1:-1])
                except re.error as error:
                    raise ContentError(where, field_name, f"'{phrase}': bad /regex/ {part}: {error}") from error
    return phrases
