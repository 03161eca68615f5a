"""Personal data redaction for every view and export.

Detectors, in order of trust: e-mail addresses (regex), phone numbers (Google's `phonenumbers`,
for the configured region and any +country number, then a digit-count fallback), dates (numeric and
with month names), street addresses and UK postcodes (capitalised, as people usually write them),
names after a cue ("my name is", "call me", titles such as "Dr"), and long digit runs (ID, NHS,
insurance or card numbers). Each finding becomes a label such as [EMAIL].

Known misses (see tests/test_review_redact.py): names without a cue ("Anna here"), street
addresses typed in lower case, US ZIP codes and city names, e-mail addresses spelt out
("anna at example dot com"), and relative dates ("last Tuesday").
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator, Tuple

import phonenumbers

# Every pattern is linear in the length of the text: bounded repetition where a match is short,
# and no pattern that, started at many places, scans far ahead before it fails. The e-mail
# address starts only where a run of its local part's characters starts (the lookbehind): the
# pattern without it took minutes on "a" * 100_000, retrying from every "a".
# tests/test_review_redact.py times a megabyte of each pattern's worst case.
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MONTHS = (r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
ORDINAL = r"(?i:st|nd|rd|th)"
# A lookahead on the first character lets the engine skip most places at once; the dates with a
# month name are only looked for in a text that has a month name at all (MONTH_PREFIXES).
NUMERIC_DATE = re.compile(r"(?=\d)\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2})\b")
MONTH_PREFIXES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WORDED_DATE = re.compile(
    rf"(?=[\dJFMASONDjfmasond])\b(?:\d{{1,2}}{ORDINAL}?\s{{1,3}}(?:(?i:of)\s{{1,3}})?{MONTHS}\.?,?\s{{1,3}}\d{{4}}"
    rf"|{MONTHS}\.?\s{{1,3}}\d{{1,2}}{ORDINAL}?,?\s{{1,3}}\d{{4}})\b"
)
STREET_SUFFIX = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Boulevard|Blvd|Way|Court|Ct|Place|"
                 r"Close|Crescent|Terrace|Square|Gardens|Grove|Row|Hill)")
ADDRESS = re.compile(
    rf"(?=[\dA-Z])\b(?:\d{{1,5}}[A-Za-z]?,?\s{{1,3}}(?:[A-Z][a-z']{{1,30}}\s{{1,3}}){{1,3}}{STREET_SUFFIX}\b\.?"
    r"|[A-Z][a-zäöüß]{1,30}(?:straße|strasse|weg|gasse|platz|allee)\s{1,3}\d{1,4}[a-z]?\b)"
)
# every street suffix of ADDRESS starts with one of these (or, in German, holds one)
STREET_WORDS = ("St", "Rd", "Road", "Av", "La", "Ln", "Dr", "Bo", "Blvd", "Way", "Co", "Ct", "Pl", "Cl", "Cr", "Te",
                "Sq", "Ga", "Gr", "Row", "Hill", "stra", "weg", "gasse", "platz", "allee")
POSTCODE = re.compile(r"(?=[A-Z])\b[A-Z]{1,2}\d[A-Z\d]?\s{0,2}\d[A-Z]{2}\b")
NAMES = [
    re.compile(r"(?=[MmIiCcNnRrSs])(\b(?i:my name is|my name's|i am called|i'm called|call me|name:|regards,?|"
               r"signed,?)\s{1,3})(?!(?i:on|at|back|when|if|later|tomorrow|now|please|about|in|the|a|an)\b)"
               r"[A-Za-z][a-z'-]{1,40}(?:\s{1,3}[A-Z][a-z'-]{1,40})?"),
    re.compile(r"(?=[DMP])(\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s{1,3})[A-Z][a-z'-]{1,40}(?:\s{1,3}[A-Z][a-z'-]{1,40})?"),
]
NAME_CUES = ("name", "call", "regards", "signed")  # every cue of NAMES[0] holds one of these
TITLES = ("Dr", "Mr", "Ms", "Miss", "Prof")  # NAMES[1]; "Mrs" holds "Mr"
PHONE_FALLBACK = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{6,40}\d(?!\w)")
DIGIT_RUN = re.compile(r"(?<!\w)\d(?: ?\d){7,}(?!\w)")
# What `phonenumbers` is asked about: runs of at least five digits with the punctuation of phone
# numbers between them. Its matcher costs 20-120 microseconds per run, so a text gets at most
# PHONE_LIBRARY_BUDGET runs checked; beyond that (only in texts made of thousands of numbers),
# a run with PHONE_FALLBACK_DIGITS digits or more is taken for a phone number without asking.
PHONE_CANDIDATE = re.compile(r"(?:[+\uff0b(\[]\s?)?\d(?:[\s()\[\].\-\u2010-\u2015\u2212/~\uff5e]{0,3}\d){4,}")
PHONE_MAX_DIGITS = 20
PHONE_FALLBACK_DIGITS = 9
PHONE_LIBRARY_BUDGET = 500


class Redactor:
    """Finds and replaces personal data; phone numbers without +country use `region`."""

    def __init__(self, region: str = "GB") -> None:
        self.region = region

    def redact(self, text: str) -> str:
        """The text with every finding replaced by its label, e.g. "mail me at [EMAIL]".

        The detectors run one after the other, in order of trust, each on what the earlier ones
        left: each is one pass of the regular expression engine (a substitution, in C), however
        many findings a text has. A pattern runs only when what it cannot match without is in
        the text at all (a cheap look): each pass over a megabyte costs 10 to 100 ms.
        """
        if not text:
            return text
        lower = text.lower()
        if "@" in text:
            text = EMAIL.sub("[EMAIL]", text)
        text = NUMERIC_DATE.sub("[DATE]", text)
        if any(month in lower for month in MONTH_PREFIXES):
            text = WORDED_DATE.sub("[DATE]", text)
        text = _replaced(text, self._phone_numbers(text), "[PHONE]")
        text = PHONE_FALLBACK.sub(_long_enough_for_a_phone_number, text)
        if any(word in text for word in STREET_WORDS):
            text = ADDRESS.sub("[ADDRESS]", text)
        text = POSTCODE.sub("[POSTCODE]", text)
        # only the name itself: the cue ("my name is", "Dr") stays readable
        if any(cue in lower for cue in NAME_CUES):
            text = NAMES[0].sub(r"\1[NAME]", text)
        if any(title in text for title in TITLES):
            text = NAMES[1].sub(r"\1[NAME]", text)
        return DIGIT_RUN.sub("[ID]", text)

    def _phone_numbers(self, text: str) -> Iterator[Tuple[int, int]]:
        """Phone numbers `phonenumbers` recognises, asked run by run (with one character of
        context on each side, which its matcher looks at)."""
        budget = PHONE_LIBRARY_BUDGET
        for run in PHONE_CANDIDATE.finditer(text):
            length = run.end() - run.start()
            # at most three characters between two digits: a longer run has too many digits
            if length > 4 * PHONE_MAX_DIGITS or (budget <= 0 and length < PHONE_FALLBACK_DIGITS):
                continue
            digits = sum(map(str.isdigit, run.group()))
            if digits > PHONE_MAX_DIGITS:
                continue
            if budget <= 0:
                if digits >= PHONE_FALLBACK_DIGITS:
                    yield run.span()
                continue
            budget -= 1
            start = max(0, run.start() - 1)
            window = text[start:run.end() + 1]
            for match in phonenumbers.PhoneNumberMatcher(window, self.region, leniency=phonenumbers.Leniency.VALID):
                yield start + match.start, start + match.end



def _replaced(text: str, spans: Iterable[Tuple[int, int]], label: str) -> str:
    """The text with each of these (ordered, non-overlapping) spans replaced by the label."""
    parts, position = [], 0
    for start, end in spans:
        if start >= position:
            parts += [text[position:start], label]
            position = end
    return "".join(parts) + text[position:] if parts else text


def _long_enough_for_a_phone_number(match: re.Match) -> str:
    return "[PHONE]" if sum(map(str.isdigit, match.group())) >= PHONE_FALLBACK_DIGITS else match.group()
