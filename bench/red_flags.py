"""Benchmark: what the safety layer adds to each message (not a test; prints numbers).

    .venv/bin/python bench/red_flags.py [--model models/assistant.tar.gz]

Runs the project's spaCy pipeline on every message of the development safety sets, then on the
same docs the red-flag rules alone, and the whole safety decision as the pipeline's last
component makes it (rules, the learned net of the trained model on the message's sentence
embedding and the rules' concepts, and nlp/safety.py's decision). Reports their time per message
next to the spaCy pipeline's own time in the same run (the ratio is what to compare across
machines). The sentence embedding is computed beforehand: the encoder is shared with the intent
classifiers and measured by `make bench` (bench/run_bench.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tarfile
import time
from pathlib import Path

import spacy
import yaml

import content
from content.model import CAUTION, EMERGENCY
from nlp import encoder
from nlp.red_flags import RedFlagDetector
from nlp.safety import Policy, decide
from nlp.safety_net import SafetyNet

ROOT = Path(__file__).resolve().parent.parent


ROUNDS = 5


def messages():
    sets = [yaml.safe_load((ROOT / "tests" / "safety" / name).read_text())
            for name in ("red_flags.yml", "caution.yml", "benign.yml")]
    return [m for data in sets for group in data.values() for m in group]


def trained_net(model: Path) -> SafetyNet:
    """The safety net saved in a trained model (the RedFlagClassifier's resource)."""
    with tarfile.open(model) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("safety_net.json"))
        return SafetyNet.from_json(json.load(archive.extractfile(member)))


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "assistant.tar.gz")
    args = parser.parse_args()
    nlp = spacy.load(ROOT / "nlp" / "model")
    data = content.load()
    texts = [m.lower() for m in messages()]
    start = time.perf_counter()
    detector = RedFlagDetector(nlp.vocab, data.red_flags)
    build_ms = (time.perf_counter() - start) * 1e3
    net = trained_net(args.model)
    policy = Policy(
        emergencies=frozenset(c for c, a in data.safety.items() if a.tier == EMERGENCY),
        cautions=frozenset(c for c, a in data.safety.items() if a.tier == CAUTION),
        crises=frozenset({"suicide", "overdose"}), suspect_threshold=0.6, crisis_threshold=0.5,
    )
    docs = [nlp(t) for t in texts]
    embeddings = dict(zip(texts, encoder.get().encode(texts)))

    def safety_decision(doc):
        reading = detector.read(doc)
        scores = net.probabilities(embeddings[doc.text], reading.cancelled)
        return decide(reading.flag, scores, None, policy)

    spacy_us = summary(per_message_us(nlp, texts))
    detect_us = summary(per_message_us(detector.detect, docs))
    decision_us = summary(per_message_us(safety_decision, docs))
    print(f"messages: {len(texts)} x {ROUNDS} rounds; detector built in {build_ms:.1f} ms")
    print(f"{'per message':<34}{'mean us':>10}{'p50 us':>10}{'p95 us':>10}")
    print(f"{'spaCy pipeline (baseline)':<34}" + "".join(f"{v:>10.1f}" for v in spacy_us))
    print(f"{'red-flag rules alone':<34}" + "".join(f"{v:>10.1f}" for v in detect_us))
    print(f"{'safety layer (rules, net, tiers)':<34}" + "".join(f"{v:>10.1f}" for v in decision_us))
    print(f"safety layer / spaCy pipeline (mean): {decision_us[0] / spacy_us[0]:.2f}")


if __name__ == "__main__":
    main()
