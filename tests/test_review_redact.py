"""What the review app's redaction catches, and what it misses (documented, not hidden)."""
from __future__ import annotations

import multiprocessing
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review.redact import Redactor

REDACT = Redactor("GB").redact


@pytest.mark.parametrize("text,expected", [
    ("write to anna.schmidt+ms@example.org please", "write to [EMAIL] please"),
    ("call 07700 900123 tomorrow", "call [PHONE] tomorrow"),
    ("my number is +49 30 12345678", "my number is [PHONE]"),
    ("US number (555) 123-4567", "US number [PHONE]"),
    ("+1 415 555 2671 works", "[PHONE] works"),
    ("my name is Anna Schmidt and I have MS", "my name is [NAME] and I have MS"),
    ("My name's john", "My name's [NAME]"),
    ("Dr. Jones told me to rest", "Dr. [NAME] told me to rest"),
    ("born 03/04/1981", "born [DATE]"),
    ("born on 3rd of March 1980", "born on [DATE]"),
    ("DOB 1981-04-03", "DOB [DATE]"),
    ("I live at 12 Baker Street, London NW1 6XE", "I live at [ADDRESS], London [POSTCODE]"),
    ("Hauptstraße 5 in Berlin", "[ADDRESS] in Berlin"),
    ("NHS number 943 476 5919", "NHS number [PHONE]"),
    ("member id 12345678", "member id [ID]"),
])
def test_catches(text, expected):
    assert REDACT(text) == expected


@pytest.mark.parametrize("text", [
    "I have crushing chest pain",
    "Can swimming help my fatigue?",
    "I walk 10000 steps, 3-4 times a week, 20 minutes each way",
    "I have had MS since 2019-2021",
    "call me on Monday",
    "Ms symptoms got worse in June",
    "call 112 now",
    "",
])
def test_leaves_ordinary_text_alone(text):
    assert REDACT(text) == text


@pytest.mark.parametrize("text", [
    "Anna here, how much yoga?",            # a name without a cue
    "I'm Anna and my legs are stiff",       # "I'm" is too common a cue ("I'm tired")
    "i live at 12 baker street",            # addresses in lower case
    "zip 94103, San Francisco",             # US ZIP codes and city names
    "anna at example dot com",              # spelt-out e-mail addresses
    "I was born last Tuesday",              # relative dates
    "I'm 43 years old",                     # ages
])
def test_known_misses(text):
    """These stay readable: reviewers must still take care, and admins can purge."""
    assert REDACT(text) == text


# --- huge and hostile input: redaction is linear in the length of the text -------------------

MEGABYTE = 1_000_000
SECONDS = 1.0  # the bound for any text up to a megabyte (the figure)


def _timed_redaction(text: str, pipe) -> None:
    start = time.process_time()
    REDACT(text)
    pipe.send(time.process_time() - start)


def redaction_seconds(text: str, give_up: float = 10 * SECONDS) -> float:
    """The CPU time redacting `text` takes (what the redaction costs, whatever else the machine's
    cores are busy with), in a forked process that is killed after `give_up` seconds of wall
    time (a regular expression cannot be interrupted), so that a slow case fails the test instead
    of hanging the run."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_timed_redaction, args=(text, sender), daemon=True)
    child.start()
    try:
        if not receiver.poll(give_up):
            return float("inf")
        return receiver.recv()
    finally:
        child.kill()
        child.join()


def repeated(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# The building blocks of each pattern, repeated to a megabyte: what made a backtracking pattern
# take minutes ("a" * n for the e-mail pattern's local part, digits for the phone numbers).
ADVERSARIAL = [
    "a", "@", "a@", "a.", ".a", "a@b.", "x@x.x ", "+", "-",           # e-mail
    "1", "1 ", "1-", "+1", "(1", "1a", "1 1a", "+44 7700 ", "07700 900123 ",  # phone numbers, IDs
    "1/", "1/1/", "1 Jan ", "Jan 1 ", "3rd of ",                       # dates
    "1 Aa ", "12 Baker ", "Aa", "Straße ", "A1 ", "A1A ", "SW1A 1",    # addresses, postcodes
    "my name is ", "call me a", "Dr ", "Dr. Aa ",                     # names
    " ", "\n", "\x00", "\ufffd", "é",
]


@pytest.mark.parametrize("unit", ADVERSARIAL, ids=[repr(u) for u in ADVERSARIAL])
def test_a_megabyte_of_each_patterns_worst_case_in_under_a_second(unit):
    assert redaction_seconds(repeated(unit, MEGABYTE)) < SECONDS


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(units=st.lists(st.text(alphabet=st.sampled_from(list("aA1 @.+-/()\n:,é")) | st.characters(), min_size=1,
                              max_size=8), min_size=1, max_size=4),
       size=st.integers(min_value=1, max_value=MEGABYTE))
def test_any_text_up_to_a_megabyte_in_under_a_second(units, size):
    """Hypothesis builds texts from a few short pieces repeated up to a megabyte."""
    assert redaction_seconds(repeated("".join(units), size)) < SECONDS


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=2000))
def test_redaction_never_fails_and_keeps_what_it_does_not_find(text):
    redacted = REDACT(text)
    assert isinstance(redacted, str)
    # nothing but labels is added: with the labels taken out, what is left came from the text
    for piece in re.split(r"\[(?:EMAIL|PHONE|DATE|ADDRESS|POSTCODE|NAME|ID)\]", redacted):
        assert piece in text
