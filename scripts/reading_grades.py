"""The reading grade (US school grade, Flesch-Kincaid) of every statement and every answer.

Prints the distribution and exits 1 if anything reads above grade 8. Answers are composed by the
actions' own functions (actions/catalogue.py) and measured without their line of sources.
"""
from __future__ import annotations

import sys
from collections import Counter
from typing import Iterable, List, Tuple


from actions.catalogue import every_answer
from actions.replies import CONTENT
from content.readability import MAX_GRADE, grade


def statements() -> List[Tuple[str, str]]:
    """(name, text) of every statement: facets, recommended exercises, key precautions."""
    rows = []
    for topic in CONTENT.topics.values():
        rows += [(f"{topic.id}.{name}", facet.text) for name, facet in topic.facets.items()]
        rows += [(f"{topic.id}.why {r.exercise}", r.why) for r in topic.recommended_exercises]
        if topic.key_precaution:
            rows.append((f"{topic.id}.key_precaution", topic.key_precaution.text))
    return rows


def distribution(label: str, rows: Iterable[Tuple[str, str]]) -> List[Tuple[str, float]]:
    graded = [(name, grade(text)) for name, text in rows]
    buckets = Counter(min(max(int(g), 0), 12) for _, g in graded)
    bars = "  ".join(f"{'12+' if b == 12 else b}: {buckets[b]}" for b in sorted(buckets))
    worst = max(g for _, g in graded)
    print(f"{label}: {len(graded)}, reading grade (Flesch-Kincaid) {bars}; highest {worst:g}")
    return [(name, g) for name, g in graded if g > MAX_GRADE]


def main() -> int:
    too_hard = distribution("statements", statements())
    too_hard += distribution("composed answers", ((f"{a.group} {a.name}", a.reading_text) for a in every_answer()))
    for name, measured in too_hard:
        print(f"  above grade {MAX_GRADE:g}: {name} ({measured:g})")
    return 1 if too_hard else 0


if __name__ == "__main__":
    sys.exit(main())
