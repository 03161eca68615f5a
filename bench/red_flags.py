"""Benchmark: what the red-flag layer adds to each message (not a test; prints numbers).

    .venv/bin/python bench/red_flags.py

Runs the project's spaCy pipeline on every message of the safety sets, then the red-flag
detector on the same docs, and reports the detector's time per message next to the spaCy
pipeline's own time in the same run (the ratio is what to compare across machines).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import spacy
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.red_flags import RedFlagDetector  # noqa: E402

ROUNDS = 5


def messages():
    red = yaml.safe_load((ROOT / "tests/safety/red_flags.yml").read_text())
    benign = yaml.safe_load((ROOT / "tests/safety/benign.yml").read_text())
    return [m for group in list(red.values()) + list(benign.values()) for m in group]


def per_message_us(function, items):
    timings = []
    for _ in range(ROUNDS):
        for item in items:
            start = time.perf_counter()
            function(item)
            timings.append((time.perf_counter() - start) * 1e6)
    return timings


def summary(timings):
    ordered = sorted(timings)
    return statistics.mean(ordered), ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]


def main() -> None:
    nlp = spacy.load(ROOT / "nlp" / "model")
    texts = [m.lower() for m in messages()]
    start = time.perf_counter()
    detector = RedFlagDetector(nlp.vocab)
    build_ms = (time.perf_counter() - start) * 1e3
    docs = [nlp(t) for t in texts]
    spacy_us = summary(per_message_us(nlp, texts))
    detect_us = summary(per_message_us(detector.detect, docs))
    print(f"messages: {len(texts)} x {ROUNDS} rounds; detector built in {build_ms:.1f} ms")
    print(f"{'per message':<28}{'mean us':>10}{'p50 us':>10}{'p95 us':>10}")
    print(f"{'spaCy pipeline (baseline)':<28}" + "".join(f"{v:>10.1f}" for v in spacy_us))
    print(f"{'red-flag detector (added)':<28}" + "".join(f"{v:>10.1f}" for v in detect_us))
    print(f"added / baseline (mean): {detect_us[0] / spacy_us[0]:.2f}")


if __name__ == "__main__":
    main()
