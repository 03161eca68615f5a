"""Deterministic red-flag detector: finds messages that describe an emergency.

This module is the mechanism only. What it looks for (concepts, cues, masks, rules) is the
red-flag vocabulary of the content module (content/red_flags.yml, loaded and checked by
``content.red_flags``), written in a small phrase notation described at the top of that file.

The detector reads a spaCy ``Doc`` of the lower-cased message (made by the project's pipeline:
tokenizer and lookup lemmatizer) and works in four steps.

1. **Concepts.** One spaCy ``Matcher`` tags spans with concept labels (``CHEST``, ``FAINT`` ...),
   context cues (``NEGATION``, ``HYPOTHETICAL``, ``PAST`` ...) and masks (``EXERCISE_TERM``,
   ``FIGURATIVE``): ``compile_phrase`` turns each phrase into token patterns on LOWER and LEMMA
   with optional tokens.
2. **Overlaps.** A mask removes every concept it overlaps that is not longer than the mask
   ("chest press" is an exercise, "fell in love" an idiom), and every cue it covers ("fine
   otherwise" does not say that the rest is over). A cue inside a longer concept is part
   of that concept, not a cue ("can't see", "never had this before"). The vocabulary's
   ``overrides`` name concepts that replace another concept they overlap.
3. **Context.** The message is cut into clauses (at . ! ? ; and before "but", "although" ...) and
   clauses into segments (also at commas). A negation cue cancels a concept that starts at most
   ``negation_window`` tokens after it in its segment, unless "and", "so" ... come between. A
   context cue (hypothetical, general question, report, past, resolved, chronic, habitual,
   history) cancels every concept in its segment; a cue of ``looks_back`` (resolved, chronic) also
   cancels the segment before it in its clause, and after "but" the clause before it. The
   ``uncancellable`` concepts (suicide, self-harm, overdose) are cancelled by nothing else but a
   cue of ``cancels_uncancellable`` (an event long over: "years ago", "in her teens"): when in
   doubt, flag.
4. **Rules.** The vocabulary's rules are an ordered list of small named rules. A rule needs one
   live concept from each of its label sets, either in one clause (optionally within a token
   window) or anywhere in the message. The first rule that fires gives the category, so the
   order is the priority.

The result is a ``RedFlag``: the category, the rule, and the character offsets and text of the
evidence.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from content.red_flags import MESSAGE, NEGATION_CUE, Rule, Vocabulary, alternatives

CLAUSE_PUNCTUATION = frozenset(".!?;…")
SEGMENT_PUNCTUATION = frozenset(",:()\"")


@dataclass(frozen=True)
class RedFlag:
    category: str  # a category of the vocabulary's rules
    start: int  # character offsets in doc.text of the evidence
    end: int
    text: str  # the evidence text
    rule: str = ""  # the name of the rule that fired


@dataclass(frozen=True)
class Reading:
    """What the rules read in a message."""

    flag: Optional[RedFlag]
    rule: Optional[Rule]
    live: FrozenSet[str]  # concept labels found and not cancelled
    cancelled: FrozenSet[str]  # concept labels found, but masked, negated or cancelled by context
    # character spans of the masks (exercise names, figures of speech): words that are not a red flag
    masks: Tuple[Tuple[int, int], ...] = ()

    def without_masks(self, text: str) -> str:
        """The text with every masked span left out ("I'm dying to try hydro" -> "I'm try hydro")."""
        kept, end = [], 0
        for start, stop in self.masks:
            if start >= end:
                kept.append(text[end:start])
            end = max(end, stop)
        kept.append(text[end:])
        return " ".join(" ".join(kept).split())


class Mention(NamedTuple):
    """A matched span (token offsets) with its label."""

    label: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Mention) -> bool:
        return self.start < other.end and other.start < self.end

    def inside(self, other: Mention) -> bool:
        return other.start <= self.start and self.end <= other.end and other.size > self.size


# ------------------------------------------------------------------------------------------------
# From phrases to Matcher patterns.
# ------------------------------------------------------------------------------------------------

MACRO = re.compile(r"\$([A-Z_]+)")


class PhraseCompiler:
    """Turns phrases of the vocabulary's notation into Matcher patterns."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self._macros = vocabulary.macros
        # "_": one optional word that is not punctuation, a negation or a clause break
        self._filler = {"OP": "?", "IS_PUNCT": False,
                        "LOWER": {"NOT_IN": list(vocabulary.lists["NEGATION"] + vocabulary.lists["CLAUSE_BREAK"])}}

    def phrase(self, phrase: str) -> List[List[Dict]]:
        """The Matcher patterns for one phrase.

        The Matcher tries the first token of every pattern at every position, and it checks a
        plain value much faster than an IN or REGEX predicate; so each word of the first token
        becomes a pattern of its own ("fever|chills ..." -> "fever ...", "chills ...").
        """
        first, *rest = MACRO.sub(lambda match: self._macros[match.group(1)], phrase).split()
        tail = [self.token(spec) for spec in rest]
        return [[head] + tail for head in first_tokens(first)]

    def token(self, spec: str) -> Dict:
        if spec == "_":
            return dict(self._filler)
        spec, optional = split_optional(spec)
        if spec.startswith("~"):
            token: Dict = {"LEMMA": {"IN": spec[1:].split("|")}}
        elif spec.startswith("!"):
            token = {"LOWER": {"NOT_IN": alternatives(spec[1:])}}
        elif "/" in spec:
            token = {"LOWER": {"REGEX": "|".join(regex(part) for part in alternatives(spec))}}
        else:
            token = {"LOWER": {"IN": alternatives(spec)}}
        return {**token, "OP": "?"} if optional else token


def first_tokens(spec: str) -> List[Dict]:
    """One token per word of the first token, and one for all its regexes."""
    spec, optional = split_optional(spec)
    tokens: List[Dict[str, Any]]
    if spec.startswith("!"):
        tokens = [{"LOWER": {"NOT_IN": alternatives(spec[1:])}}]
    elif spec.startswith("~"):
        tokens = [{"LEMMA": lemma} for lemma in spec[1:].split("|")]
    else:
        words = [part for part in alternatives(spec) if not part.startswith("/")]
        regexes = [regex(part) for part in alternatives(spec) if part.startswith("/")]
        tokens = [{"LOWER": word} for word in words]
        tokens += [{"LOWER": {"REGEX": "|".join(regexes)}}] if regexes else []
    return [{**token, "OP": "?"} if optional else token for token in tokens]


def split_optional(spec: str) -> Tuple[str, bool]:
    optional = spec.endswith("?") and len(spec) > 1
    return (spec[:-1] if optional else spec), optional


def regex(part: str) -> str:
    return f"(?:{part[1:-1]})" if part.startswith("/") else f"^{re.escape(part)}$"


# ------------------------------------------------------------------------------------------------
# The detector.
# ------------------------------------------------------------------------------------------------


class RedFlagDetector:
    """Finds the red flag of the first rule (by priority) that fires on a doc of lower-cased text."""

    def __init__(self, vocab: Vocab, vocabulary: Vocabulary) -> None:
        self._vocabulary = vocabulary
        self._matcher = Matcher(vocab, validate=True)
        compiler = PhraseCompiler(vocabulary)
        for label, phrases in vocabulary.tables():
            self._matcher.add(label, [pattern for phrase in phrases for pattern in compiler.phrase(phrase)])
        self._strings = vocab.strings
        self._clause_words = frozenset(vocabulary.lists["CLAUSE_BREAK"])
        self._negation_stops = frozenset(vocabulary.lists["NEGATION_STOP"]) | self._clause_words

    @property
    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def detect(self, doc: Doc) -> Optional[RedFlag]:
        return self.read(doc).flag

    def explain(self, doc: Doc) -> Optional[Tuple[Rule, RedFlag]]:
        """The rule that fired and its red flag, or None."""
        reading = self.read(doc)
        return (reading.rule, reading.flag) if reading.flag else None

    def read(self, doc: Doc) -> Reading:
        """The red flag of the first rule that fires (if any), and the concepts the message names:
        those that are live and those that context cancelled (the safety net's features)."""
        clauses, segments = split(doc, self._clause_words)
        mentions = self.mentions(doc)
        live = self.live_concepts(doc, clauses, segments, mentions)
        concepts: Dict[str, List[Mention]] = {}
        for mention in live:
            concepts.setdefault(mention.label, []).append(mention)
        named = frozenset(m.label for m in mentions if m.label in self._vocabulary.concepts)
        live_labels = frozenset(concepts)
        masks = tuple(sorted((doc[m.start].idx, doc[m.end - 1].idx + len(doc[m.end - 1].text))
                             for m in mentions if m.label in self._vocabulary.masks))
        for candidate in self._vocabulary.rules:
            evidence = find_evidence(candidate, concepts, clauses)
            if evidence:
                span = doc[min(m.start for m in evidence):max(m.end for m in evidence)]
                flag = RedFlag(candidate.category, span.start_char, span.end_char, span.text, candidate.name)
                return Reading(flag, candidate, live_labels, named - live_labels, masks)
        return Reading(None, None, live_labels, named - live_labels, masks)

    def mentions(self, doc: Doc) -> List[Mention]:
        return sorted({Mention(self._strings[key], start, end) for key, start, end in self._matcher(doc)},
                      key=lambda m: (m.start, m.end, m.label))

    def live_concepts(self, doc: Doc, clauses: Sequence[int], segments: Sequence[int],
                      mentions: Optional[List[Mention]] = None) -> List[Mention]:
        """The concepts that no mask, override, negation or context cue removes."""
        vocabulary = self._vocabulary
        mentions = self.mentions(doc) if mentions is None else mentions
        masks = [m for m in mentions if m.label in vocabulary.masks]
        cues = [m for m in mentions if m.label in vocabulary.cues]
        concepts = [m for m in mentions if m.label in vocabulary.concepts and not masked(m, masks)]
        concepts = [m for m in concepts if not overridden(m, concepts, vocabulary.overrides)]
        cues = [cue for cue in cues if not any(cue.inside(concept) for concept in concepts) and not masked(cue, masks)]
        negations = [cue for cue in cues if cue.label == NEGATION_CUE]
        cancelled = set().union(*(self.cue_scope(doc, cue, clauses, segments)
                                  for cue in cues if cue.label != NEGATION_CUE))
        long_over = set().union(*(self.cue_scope(doc, cue, clauses, segments)
                                  for cue in cues if cue.label in vocabulary.cancels_uncancellable))
        return [m for m in concepts
                if (segments[m.start] not in long_over if m.label in vocabulary.uncancellable
                    else not (segments[m.start] in cancelled or self.negated(doc, m, negations, segments)))]

    def cue_scope(self, doc: Doc, cue: Mention, clauses: Sequence[int], segments: Sequence[int]) -> Set[int]:
        """The segments a context cue cancels: its own; and for a cue of `looks_back`, the segment
        before it in its clause ("tight, normal for me with asthma"), and after "but" the clause
        before ("weak for days but now they're fine")."""
        scope = {segments[cue.start]}
        clause = clauses[cue.start]
        if cue.label in self._vocabulary.looks_back:
            before = segments[cue.start] - 1
            if any(segment == before and owner == clause for segment, owner in zip(segments, clauses)):
                scope.add(before)
            if doc[clauses.index(clause)].lower_ in self._clause_words:
                scope.update(segment for segment, owner in zip(segments, clauses) if owner == clause - 1)
        return scope

    def negated(self, doc: Doc, concept: Mention, negations: Sequence[Mention], segments: Sequence[int]) -> bool:
        """A negation comes shortly before the concept in its segment, with no "and", "so" ... between."""
        return any(segments[cue.start] == segments[concept.start]
                   and 0 <= concept.start - cue.end < self._vocabulary.negation_window
                   and not any(token.lower_ in self._negation_stops for token in doc[cue.end:concept.start])
                   for cue in negations)


def masked(mention: Mention, masks: Sequence[Mention]) -> bool:
    return any(mention.overlaps(mask) and mask.size >= mention.size for mask in masks)


def overridden(mention: Mention, concepts: Sequence[Mention], overrides: Mapping[str, Iterable[str]]) -> bool:
    return any(mention.label in overrides.get(other.label, ()) and mention.overlaps(other)
               for other in concepts)


def split(doc: Doc, clause_words: Iterable[str]) -> Tuple[List[int], List[int]]:
    """The clause number and the segment number of each token.

    A clause ends at . ! ? ; or a line break, and before "but", "although" ...; a segment also
    ends at a comma, colon, bracket or quote.
    """
    clauses, segments = [], []
    clause = segment = 0
    for token in doc:
        text = token.text.strip()
        if token.lower_ in clause_words or "\n" in token.text or (text and set(text) <= CLAUSE_PUNCTUATION):
            clause += 1
            segment += 1
        elif text and set(text) <= SEGMENT_PUNCTUATION:
            segment += 1
        clauses.append(clause)
        segments.append(segment)
    return clauses, segments


def find_evidence(candidate: Rule, concepts: Dict[str, List[Mention]],
                  clauses: Sequence[int]) -> Optional[Tuple[Mention, ...]]:
    """The tightest choice of one mention per need that satisfies the rule, or None."""
    options = []
    for need in candidate.needs:
        options.append([m for label in need for m in concepts.get(label, ())])
        if not options[-1]:
            return None
    if any(label in concepts for label in candidate.unless):
        return None
    choices = [choice for choice in itertools.product(*options) if fits(candidate, choice, clauses)]
    return min(choices, key=width, default=None)


def width(choice: Sequence[Mention]) -> int:
    return max(m.end for m in choice) - min(m.start for m in choice)


def fits(candidate: Rule, choice: Sequence[Mention], clauses: Sequence[int]) -> bool:
    if candidate.scope == MESSAGE:
        return True
    if len({clauses[m.start] for m in choice} | {clauses[m.end - 1] for m in choice}) > 1:
        return False
    return candidate.window is None or width(choice) <= candidate.window
