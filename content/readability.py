"""Reading grade of patient text: US school grade by the Flesch-Kincaid formula (textstat).

textstat 0.7.4 counts syllables with pyphen's hyphenation dictionaries, which ship inside the
package, so the measure needs no network. Patient material should read at grade 8 or below.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # textstat 0.7.4 imports pkg_resources
    import textstat

MAX_GRADE = 8.0

textstat.set_lang("en_US")


def grade(text: str) -> float:
    """The Flesch-Kincaid grade of a text, rounded to one decimal."""
    return round(float(textstat.flesch_kincaid_grade(text)), 1)
