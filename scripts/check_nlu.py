"""Fail when the held-out intent macro-F1 (from `rasa test nlu`'s intent report) is too low.

    python scripts/check_nlu.py results/holdout/intent_report.json [--min-f1 0.90]
"""
from __future__ import annotations

import argparse
import json
import sys

DEFAULT_MIN_F1 = 0.90


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("--min-f1", type=float, default=DEFAULT_MIN_F1)
    args = parser.parse_args()
    with open(args.report, encoding="utf-8") as handle:
        report = json.load(handle)
    macro_f1 = report["macro avg"]["f1-score"]
    weak = sorted(
        (name, scores["f1-score"])
        for name, scores in report.items()
        if isinstance(scores, dict) and "support" in scores and name not in ("macro avg", "weighted avg", "micro avg")
        and scores["f1-score"] < args.min_f1
    )
    for name, f1 in weak:
        print(f"  below threshold: {name} F1 {f1:.3f}")
    verdict = "PASS" if macro_f1 >= args.min_f1 else "FAIL"
    print(f"Held-out intent macro-F1: {macro_f1:.4f} (threshold {args.min_f1}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
