"""Benchmark of the review app's list and search queries on 100,000 conversations (not a test).

    .venv/bin/python bench/review_bench.py [--conversations 100000] [--postgres]

Writes synthetic events into Rasa's `events` table of a temp SQLite database (and, with
--postgres, of a throwaway PostgreSQL cluster), syncs the review summary and search index, and
prints p50/p95 latency of list pages for a few filters, first page against a deep page, and of
full-text searches.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


import settings
from review import db, migrations, queries, sync
from review.redact import Redactor
from tests.review_support import (PostgresCluster, action_event, bot_event, create_events_table,
                            insert_events, user_event)

PAGE = 50
REPEATS = 30
TEXTS = ["tell me about yoga", "can swimming help my fatigue", "is strength training safe", "my legs are stiff",
         "how much walking per day", "balance exercises at home", "I feel numb in my hands", "what is hippotherapy",
         "exercise when it is hot", "my tremor is worse", "blorp wibble", "call me on 07700 900123"]
INTENTS = ["ask_exercise", "ask_symptom", "ask_exercise_safety", "ask_exercise_amount", "greet", "nlu_fallback"]
CHANNELS = ["rest", "socketio", "socketio", "telegram", "slack"]
FILTERS = {
    "none": queries.Filters(),
    "fell_back": queries.Filters(fell_back=True),
    "red_flag sort": queries.Filters(sort="red_flag"),
    "channel=telegram": queries.Filters(channel="telegram"),
    "intent=ask_symptom": queries.Filters(intent="ask_symptom"),
    "confidence<0.4": queries.Filters(max_confidence=0.4),
}
SEARCHES = ["hippotherapy", "swimming fatigue", "tremor"]


def generate(engine, conversations: int) -> int:
    """Synthetic conversations over the last year; the number of events written."""
    rng = random.Random(42)
    start, total = time.time() - 365 * 86400, 0
    with engine.begin() as conn:
        create_events_table(conn)
        rows = []
        for n in range(conversations):
            sender, at, channel = f"bench-{n:06}", start + n * (365 * 86400 / conversations), rng.choice(CHANNELS)
            for turn in range(rng.randint(1, 4)):
                text, confidence = rng.choice(TEXTS), round(rng.uniform(0.2, 1.0), 3)
                rows.append(user_event(sender, at + turn * 10, text, rng.choice(INTENTS), confidence, channel=channel))
                if confidence < 0.3:
                    rows.append(action_event(sender, at + turn * 10 + 1, "action_fallback"))
                rows.append(bot_event(sender, at + turn * 10 + 2, "Here is what the sources say."))
            if rng.random() < 0.01:
                rows.append(user_event(sender, at + 60, "I have crushing chest pain", "emergency", 1.0,
                                       [{"entity": "red_flag", "value": "chest_pain"}], channel=channel))
            if len(rows) > 20000:
                insert_events(conn, rows)
                total, rows = total + len(rows), []
        insert_events(conn, rows)
    return total + len(rows)


def deep_cursor(conn, filters: queries.Filters, depth: int):
    """The cursor of the page that starts `depth` rows in (as if one had clicked that far)."""
    page = queries.list_conversations(conn, filters, depth)
    return queries.encode_cursor(page.rows[-1], filters.sort) if len(page.rows) == depth else None


def timed(function, repeats: int = REPEATS):
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(name: str, engine, conversations: int) -> None:
    print(f"\n== {name}: {conversations} conversations")
    migrations.migrate(engine)
    began = time.perf_counter()
    events = generate(engine, conversations)
    print(f"generated {events} events in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    sync.sync(engine, Redactor())
    print(f"initial sync in {time.perf_counter() - began:.1f} s")
    with engine.connect() as conn:
        print(f"search backend: {migrations.search_backend(conn)}")
        print(f"{'filter':<22}{'first page p50/p95 ms':>24}{'deep page p50/p95 ms':>24}")
        for label, filters in FILTERS.items():
            first = timed(lambda: queries.list_conversations(conn, filters, PAGE))
            cursor = deep_cursor(conn, filters, conversations // 2 if label == "none" else conversations // 50)
            deep = timed(lambda: queries.list_conversations(conn, filters, PAGE, cursor)) if cursor else (0, 0)
            print(f"{label:<22}{first[0]:>14.1f} / {first[1]:<8.1f}{deep[0]:>14.1f} / {deep[1]:<8.1f}")
        for words in SEARCHES:
            filters = queries.Filters(q=words)
            result = timed(lambda: queries.list_conversations(conn, filters, PAGE), repeats=10)
            print(f"search {words!r:<15}{result[0]:>14.1f} / {result[1]:<8.1f}")
    idle = timed(lambda: sync.sync(engine, Redactor()), repeats=10)
    print(f"sync with nothing new (the background task, every REVIEW_SYNC_SECONDS): p50 {idle[0]:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        engine = db.make_engine(settings.tracker_url({"TRACKER_DB": str(Path(work) / "tracker.db")}))
        run("SQLite", engine, args.conversations)
        engine.dispose()
    if args.postgres:
        cluster = PostgresCluster().start()
        try:
            engine = db.make_engine(cluster.url())
            run("PostgreSQL", engine, args.conversations)
            engine.dispose()
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
