"""Benchmark: the sentence encoder's own cost per message (not a test; prints JSON).

    .venv/bin/python bench/encoder_cost.py [--rounds 3]

Encodes every held-out text (tests/nlu_holdout.yml) one at a time, as the NLU pipeline encodes a
message, after a warm-up, and reports the time per message next to the load time and the word
pieces per text. `make bench` (bench/run_bench.py) runs it in its own process and puts the result
in its report, beside the whole message's latency over REST.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from run_bench import holdout  # bench/ is this script's directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nlp import encoder

    started = time.perf_counter()
    model = encoder.get()
    load_s = time.perf_counter() - started
    texts = [text for text, _ in holdout()]
    for text in texts[:20]:
        model.encode([text])
    times = []
    for _ in range(args.rounds):
        for text in texts:
            begin = time.perf_counter()
            model.encode([text])
            times.append((time.perf_counter() - begin) * 1000)
    times.sort()
    pieces = [len(model.tokens(text)) for text in texts]
    print(json.dumps({
        "load_s": round(load_s, 2),
        "messages": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "word_pieces_median": statistics.median(pieces),
        "word_pieces_max": max(pieces),
    }))


if __name__ == "__main__":
    main()
