"""Load test of the scale-out deployment (deploy/scale_out.py): many concurrent conversations
through nginx over both Rasa servers, then a check of the PostgreSQL tracker store; then the same
with one Rasa server killed mid-run while the clients retry.

    .venv/bin/python bench/load_test.py                       # large size (starts and stops its own deployment)
    .venv/bin/python bench/load_test.py --conversations 20 --turns 4 --concurrency 10   # small

Bounded: every conversation has a fixed number of turns, every request a timeout, every message
at most MAX_ATTEMPTS attempts, and the whole run a time limit (--time-limit).

The client retries a message (the same text) on a connection error, a timeout, a 502/503/504 or
a 200 without any answer (this assistant always answers; Rasa's REST channel returns 200 with
nothing when a request was cancelled, e.g. while it waited for a conversation lock that a killed
server still held).
The invariant checked per conversation (sender_id), over the `events` table ordered by id:

  I1 order, no gaps, no strangers: the user texts, with runs of the same text collapsed, equal
     the texts the client sent, in order (a message that never got a 200 may be missing only if
     it was the conversation's last);
  I2 duplicates only from retries: a text is stored at most as many times as the client sent it,
     and more than once only if the client retried it;
  I3 every user event is followed by at least one bot event before the next user event;
  I4 answers as received: for a message answered with 200, the bot texts after its last stored
     user event (up to the next user event) are exactly the texts the client received.

Every text carries a reference ("(ref 12.3)") so that each message is unambiguous.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent


MAX_ATTEMPTS = 8
REQUEST_TIMEOUT = 90
RETRY_STATUSES = {502, 503, 504}


def holdout_texts() -> List[str]:
    data = yaml.safe_load((ROOT / "tests" / "nlu_holdout.yml").read_text())
    return [line.strip()[2:].strip() for block in data["nlu"] for line in block["examples"].splitlines()
            if line.strip().startswith("- ")]


@dataclass
class Sent:
    text: str
    attempts: int = 0
    status: Optional[int] = None  # final HTTP status (None: no answer at all)
    replies: List[Optional[str]] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)


@dataclass
class Conversation:
    sender: str
    sent: List[Sent] = field(default_factory=list)


@dataclass
class LoadResult:
    conversations: List[Conversation]
    seconds: float
    latencies_ms: List[float]
    timed_out: bool

    @property
    def messages(self) -> int:
        return sum(len(c.sent) for c in self.conversations)

    @property
    def retries(self) -> int:
        return sum(s.attempts - 1 for c in self.conversations for s in c.sent if s.attempts > 1)

    @property
    def failed(self) -> int:
        return sum(s.status != 200 for c in self.conversations for s in c.sent)

    def summary(self) -> Dict[str, Any]:
        ordered = sorted(self.latencies_ms) or [0.0]
        return {
            "conversations": len(self.conversations), "messages": self.messages,
            "seconds": round(self.seconds, 1), "throughput_msg_s": round(self.messages / self.seconds, 2),
            "p50_ms": round(ordered[len(ordered) // 2], 1), "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 1),
            "failed_messages": self.failed, "retries": self.retries,
            "attempt_errors": sum(len(s.errors) for c in self.conversations for s in c.sent),
            "timed_out": self.timed_out,
        }


async def run_load(url: str, prefix: str, conversations: int, turns: int, concurrency: int,
                   time_limit: float = 600, on_progress=None, token: str = "") -> LoadResult:
    """`conversations` conversations of `turns` messages, `concurrency` at a time, through `url`.

    on_progress(done_messages, planned_messages) is called after every answered message (the
    kill-mid-run test uses it to kill a server at a given point).
    """
    import aiohttp

    texts = holdout_texts()
    rng = random.Random(prefix)
    planned = conversations * turns
    done = 0
    latencies: List[float] = []
    deadline = time.monotonic() + time_limit
    semaphore = asyncio.Semaphore(concurrency)
    result = [Conversation(f"{prefix}-{i:04d}") for i in range(conversations)]

    async def one(session, conversation: Conversation, index: int) -> None:
        nonlocal done
        async with semaphore:
            for turn in range(turns):
                if time.monotonic() > deadline:
                    return
                sent = Sent(f"{rng.choice(texts)} (ref {index}.{turn})")
                conversation.sent.append(sent)
                while sent.attempts < MAX_ATTEMPTS and time.monotonic() < deadline:
                    sent.attempts += 1
                    started = time.perf_counter()
                    try:
                        async with session.post(f"{url}/webhooks/rest/webhook",
                                                json={"sender": conversation.sender, "message": sent.text},
                                                headers={"Authorization": f"Bearer {token}"},
                                                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
                            sent.status = response.status
                            if response.status == 200:
                                replies = [r.get("text") for r in await response.json(content_type=None)]
                                if replies:
                                    sent.replies = replies
                                    latencies.append((time.perf_counter() - started) * 1000)
                                    break
                                # This assistant answers every message. Rasa's REST channel answers
                                # 200 with nothing when the handler was cancelled (e.g. while waiting
                                # for the conversation's lock held by a dead server): not processed.
                                sent.status = None
                                sent.errors.append("HTTP 200 without an answer")
                            else:
                                sent.errors.append(f"HTTP {response.status}")
                                if response.status not in RETRY_STATUSES:
                                    break
                    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as error:
                        sent.status = None
                        sent.errors.append(type(error).__name__)
                    await asyncio.sleep(min(5.0, 0.5 * sent.attempts))
                done += 1
                if on_progress:
                    on_progress(done, planned)
                if sent.status != 200:
                    return  # the conversation cannot go on in order

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(one(session, c, i) for i, c in enumerate(result)))
    return LoadResult(result, time.monotonic() - started, latencies, time.monotonic() > deadline)


def stored_events(dsn: Dict[str, Any], prefix: str) -> Dict[str, List[Dict[str, Any]]]:
    """sender_id -> [(type_name, data)] from the PostgreSQL tracker store, in insertion order."""
    import psycopg2

    connection = psycopg2.connect(**dsn)
    try:
        with connection.cursor() as cursor:
            # the REST channel stores its conversations as rest:<sender> (channels/rest.py)
            cursor.execute("SELECT sender_id, type_name, data FROM events WHERE sender_id LIKE %s ORDER BY id",
                           ("rest:" + prefix + "-%",))
            out: Dict[str, List[Dict[str, Any]]] = {}
            for sender, kind, data in cursor.fetchall():
                out.setdefault(sender[len("rest:"):], []).append({"type": kind, **json.loads(data)})
            return out
    finally:
        connection.close()


def check(result: LoadResult, events: Dict[str, List[Dict[str, Any]]]) -> List[str]:
    """The invariant (module docstring); returns the violations, empty when all conversations hold."""
    problems: List[str] = []
    for conversation in result.conversations:
        rows = [e for e in events.get(conversation.sender, []) if e["type"] in ("user", "bot")]
        users = [i for i, e in enumerate(rows) if e["type"] == "user"]
        stored = [rows[i].get("text") for i in users]
        sent = conversation.sent
        name = conversation.sender
        collapsed: List[str] = []
        for text in stored:
            if not collapsed or collapsed[-1] != text:
                collapsed.append(text)
        expected = [s.text for s in sent]
        if collapsed != expected and not (
            sent and sent[-1].status != 200 and collapsed == expected[:-1]
        ):
            problems.append(f"{name}: I1 stored {collapsed!r} != sent {expected!r}")
            continue
        for s in sent:
            count = stored.count(s.text)
            if count > s.attempts or (count > 1 and s.attempts < 2):
                problems.append(f"{name}: I2 {s.text!r} stored {count}x after {s.attempts} attempt(s)")
        for n, i in enumerate(users):
            end = users[n + 1] if n + 1 < len(users) else len(rows)
            if end == i + 1:
                problems.append(f"{name}: I3 no bot answer after {rows[i].get('text')!r}")
        for s in sent:
            if s.status != 200:
                continue
            last = max(i for i in users if rows[i].get("text") == s.text)
            following = users[users.index(last) + 1] if users.index(last) + 1 < len(users) else len(rows)
            bot_texts = [rows[j].get("text") for j in range(last + 1, following)]
            if bot_texts != s.replies:
                problems.append(f"{name}: I4 stored answers {bot_texts!r} != received {s.replies!r}")
    return problems


def run_scenario(deployment, prefix: str, conversations: int, turns: int, concurrency: int,
                 time_limit: float, kill_at: Optional[float]) -> Dict[str, Any]:
    """One load run through the deployment's nginx (optionally killing Rasa server 1 at kill_at of
    the planned messages), then the tracker store check."""
    killed = {"at": None}

    def progress(done: int, planned: int) -> None:
        if kill_at is not None and killed["at"] is None and done >= kill_at * planned:
            deployment.kill_rasa(1)
            killed["at"] = done

    result = asyncio.run(run_load(deployment.url, prefix, conversations, turns, concurrency, time_limit, progress,
                                  token=deployment.env()["RASA_REST_TOKEN"]))
    env = deployment.env()
    host, port = env["TRACKER_HOST"].split(":")
    dsn = dict(host=host, port=int(port), dbname=env["TRACKER_DB"], user=env["TRACKER_USER"],
               password=env["TRACKER_PASSWORD"])
    problems = check(result, stored_events(dsn, prefix))
    summary = result.summary()
    summary.update(killed_rasa1_after_messages=killed["at"], violations=len(problems), violation_examples=problems[:10])
    return summary


def main() -> int:
    from deploy.scale_out import Deployment

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction of messages after which rasa1 dies")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds, per scenario")
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/ms-physio-load-test"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load_test_latest.json")
    args = parser.parse_args()

    deployment = Deployment(args.state_dir, servers=2)
    report: Dict[str, Any] = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "size": vars(args).copy()}
    report["size"] = {k: str(v) for k, v in report["size"].items()}
    started = time.monotonic()
    deployment.up(log=lambda m: print(f"[deploy] {m}", flush=True))
    report["deploy_up_s"] = round(time.monotonic() - started, 1)
    ok = False
    try:
        run_id = time.strftime("%H%M%S")
        for name, kill_at in (("steady", None), ("rasa1_killed", args.kill_at)):
            print(f"[load] {name}: {args.conversations} conversations x {args.turns} turns, "
                  f"{args.concurrency} at a time ...", flush=True)
            report[name] = run_scenario(deployment, f"lt{run_id}-{name}", args.conversations, args.turns,
                                        args.concurrency, args.time_limit, kill_at)
            print(f"[load] {name}: {json.dumps(report[name])}", flush=True)
        ok = all(report[n]["violations"] == 0 for n in ("steady", "rasa1_killed"))
    finally:
        # on violations the logs stay in the state dir (nginx access/error logs, rasaN.log, action.log)
        deployment.down(keep_logs=not ok, log=lambda m: print(f"[deploy] {m}", flush=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"load test: {'OK' if ok else 'VIOLATIONS'}; report in {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
