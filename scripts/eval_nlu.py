"""The understanding gate: what the trained assistant makes of single messages.

    python scripts/eval_nlu.py [--model models/assistant.tar.gz] [--show-errors] [--development-only]

Parses every message of the development sets (tests/nlu_holdout.yml, and former sealed batches)
and of the sealed set
(tests/sealed/nlu.yml) with the whole NLU pipeline, as the assistant does: the final intent,
after the safety layer, the medicine referral and content retrieval. A common question counts
as the intent `faq`, as Rasa's own evaluation counts it; which question it picked is reported
apart. Prints, per set, the figures and the gates (scripts/gates.py): each target of the issue
and the floor the build holds the set to today; it exits 1 below a floor. The targets:

- intent macro-F1 at least 0.97;
- at most 3 % of in-scope questions (content topics, follow-ups, common questions) fall back;
- at least 95 % of out-of-scope messages are declined (out_of_scope, or the medical referral)
  or fall back.

`make test` also runs Rasa's own `rasa test nlu` on the development set (scripts/check_nlu.py).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

from names import FALLBACK_INTENT as FALLBACK
from scripts.gates import Gate, former_sealed, may_print_items, report

ROOT = Path(__file__).resolve().parent.parent

DEVELOPMENT = [ROOT / "tests" / "nlu_holdout.yml"] + former_sealed(ROOT / "tests", "nlu_")
SEALED = ROOT / "tests" / "sealed" / "nlu.yml"
# (gate, the target, higher is better, shown as a percentage)
TARGETS = {
    "intent macro-F1": (0.97, True, False),
    "in-scope questions that fall back": (0.03, False, True),
    "out-of-scope messages declined or fallen back": (0.95, True, True),
}
# What the build holds each set to today: a little below the last measurement (scripts/gates.py).
FLOORS = {
    "development": (0.90, 0.032, 0.85),
    "sealed": (0.89, 0.035, 0.85),
}
DECLINED = {"out_of_scope", "request_medical_advice", FALLBACK}


def examples(path: Path) -> List[Tuple[str, str, str]]:
    """(text, intent, faq key or "") of a Rasa NLU file."""
    from rasa.shared.nlu.training_data.loading import load_data

    result = []
    for message in load_data(str(path)).intent_examples:
        intent = message.get("intent")
        key = message.get("intent_response_key") or ""
        result.append((message.get("text"), intent, key.split("/", 1)[1] if "/" in key else ""))
    return result


async def parse_all(model: Path, texts: List[str]) -> List[Dict[str, Any]]:
    import logging

    from rasa.core.agent import Agent

    import structlog

    # Rasa logs every parse at debug level
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def predicted(parse: Dict[str, Any]) -> Tuple[str, str]:
    """(final intent, common question) of a parse."""
    intent = (parse.get("intent") or {}).get("name") or FALLBACK
    key = ""
    if intent == "faq":
        found = parse.get("retrieval") or {}
        if found.get("answered"):
            key = found["matches"][0]["topic"]
        else:
            selector = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
            key = (selector.get("intent_response_key") or "/").split("/", 1)[1]
    return intent, key


def evaluate(name: str, items: List[Tuple[str, str, str]], parses: Dict[str, Dict[str, Any]],
             in_scope: set, show_errors: bool) -> Tuple[float, float, float]:
    from sklearn.metrics import f1_score

    truth = [intent for _, intent, _ in items]
    got = [predicted(parses[text]) for text, _, _ in items]
    labels = sorted(set(truth))
    f1 = f1_score(truth, [g for g, _ in got], labels=labels, average="macro", zero_division=0)
    scoped = [(t, g) for t, g in zip(truth, got) if t in in_scope]
    fallback = sum(g == FALLBACK for _, (g, _) in scoped) / max(1, len(scoped))
    outside = [g for t, (g, _) in zip(truth, got) if t == "out_of_scope"]
    declined = sum(g in DECLINED for g in outside) / max(1, len(outside))
    faq = [(key, g_key) for (_, t, key), (g, g_key) in zip(items, got) if t == "faq" and g == "faq"]
    faq_right = sum(k == g for k, g in faq) / max(1, len(faq))
    print(f"\n=== {name}: {len(items)} messages, {len(labels)} intents ===")
    print(f"intent macro-F1              {f1:.4f}")
    print(f"in-scope questions fallen back {fallback:.1%} ({len(scoped)} questions)")
    print(f"out-of-scope declined        {declined:.1%} ({len(outside)} messages)")
    print(f"common question picked right {faq_right:.1%} (of {len(faq)} recognised as faq)")
    per_intent = Counter(t for t, (g, _) in zip(truth, got) if t != g)
    if per_intent:
        print("errors by true intent: " + ", ".join(f"{i} {n}" for i, n in per_intent.most_common()))
    if show_errors:
        for (text, t, key), (g, g_key) in zip(items, got):
            if t != g or (t == "faq" and key != g_key):
                print(f"    {t + ('/' + key if key else ''):<34} -> {g + ('/' + g_key if g_key else ''):<34} {text!r}")
    return f1, fallback, declined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "assistant.tar.gz")
    parser.add_argument("--show-errors", action="store_true",
                        help="print every development message read wrong (never a sealed one)")
    parser.add_argument("--development-only", action="store_true", help="skip the sealed set (while tuning)")
    args = parser.parse_args()

    import content
    import settings

    settings.load_env()
    data = content.load()
    in_scope = {t.intent.split("/", 1)[0] for t in data.topics.values()} | set(data.followups)
    sets = {"development": [item for path in DEVELOPMENT for item in examples(path)]}
    if not args.development_only:
        sets["sealed"] = examples(SEALED)
    texts = sorted({text for items in sets.values() for text, _, _ in items})
    parses = dict(zip(texts, asyncio.run(parse_all(args.model, texts))))
    below = []
    for name, items in sets.items():
        figures = evaluate(name, items, parses, in_scope, args.show_errors and may_print_items(name))
        below += report(f"understanding gates, {name} set", [
            Gate(gate, value, target, floor, higher, percent)
            for (gate, (target, higher, percent)), value, floor in zip(TARGETS.items(), figures, FLOORS[name])
        ])
    print("\nunderstanding gates:", "every floor held" if not below else f"{len(below)} below the floor")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
