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
from dataclasses import dataclass
from typing import List

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
MONTHS = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
DATE = re.compile(
    r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTHS}\.?,?\s+\d{{4}}"
    rf"|{MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b",
    re.IGNORECASE,
)
STREET_SUFFIX = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Boulevard|Blvd|Way|Court|Ct|Place|"
                 r"Close|Crescent|Terrace|Square|Gardens|Grove|Row|Hill)")
ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][a-z']+\s+){{1,3}}{STREET_SUFFIX}\b\.?"
    r"|\b[A-Z][a-zäöüß]+(?:straße|strasse|weg|gasse|platz|allee)\s+\d{1,4}[a-z]?\b"
)
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
NAMES = [
    re.compile(r"\b(?i:my name is|my name's|i am called|i'm called|call me|name:|regards,?|signed,?)\s+"
               r"(?!(?i:on|at|back|when|if|later|tomorrow|now|please|about|in|the|a|an)\b)([A-Za-z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"),
    re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"),
]
PHONE_FALLBACK = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{6,}\d(?!\w)")
DIGIT_RUN = re.compile(r"(?<!\w)\d(?: ?\d){7,}(?!\w)")


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its label and where it is in the text."""

    label: str
    start: int
    end: int


class Redactor:
    """Finds and replaces personal data; phone numbers without +country use `region`."""

    def __init__(self, region: str = "GB") -> None:
        self.region = region

    def findings(self, text: str) -> List[Finding]:
        """Every finding, overlaps resolved (the earlier and then the longer one wins)."""
        found: List[Finding] = []
        found += [Finding("EMAIL", m.start(), m.end()) for m in EMAIL.finditer(text)]
        found += [Finding("DATE", m.start(), m.end()) for m in DATE.finditer(text)]
        found += [
            Finding("PHONE", m.start, m.end)
            for m in phonenumbers.PhoneNumberMatcher(text, self.region, leniency=phonenumbers.Leniency.VALID)
        ]
        found += [
            Finding("PHONE", m.start(), m.end())
            for m in PHONE_FALLBACK.finditer(text)
            if sum(c.isdigit() for c in m.group()) >= 9
        ]
        found += [Finding("ADDRESS", m.start(), m.end()) for m in ADDRESS.finditer(text)]
        found += [Finding("POSTCODE", m.start(), m.end()) for m in POSTCODE.finditer(text)]
        # only the name itself: the cue ("my name is", "Dr") stays readable
        found += [Finding("NAME", m.start(1), m.end(1)) for pattern in NAMES for m in pattern.finditer(text)]
        found += [Finding("ID", m.start(), m.end()) for m in DIGIT_RUN.finditer(text)]
        chosen: List[Finding] = []
        for finding in sorted(found, key=lambda f: (f.start, -(f.end - f.start))):
            if not chosen or finding.start >= chosen[-1].end:
                chosen.append(finding)
        return chosen

    def redact(self, text: str) -> str:
        """The text with every finding replaced by its label, e.g. "mail me at [EMAIL]"."""
        if not text:
            return text
        parts, position = [], 0
        for finding in self.findings(text):
            parts += [text[position:finding.start], f"[{finding.label}]"]
            position = finding.end
        parts.append(text[position:])
        return "".join(parts)
