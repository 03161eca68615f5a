"""Benchmark: the project's assistant against a BASELINE (`rasa init`'s default config, same data).

    .venv/bin/python bench/run_bench.py            # full sizes
    .venv/bin/python bench/run_bench.py --quick    # small sizes (CI)
    .venv/bin/python bench/run_bench.py --train-only

Both assistants are trained with `rasa train --force` into bench/.models/ (cached by a hash of
config + data + domain (+ the project's spaCy pipeline and components), so a re-run does not
retrain; the cached training time is reused). Each is then started for real by the launcher
(action server + Rasa server + web page + review app, as `make run` starts them) on free loopback
ports with a temporary SQLite tracker store, and measured over the REST channel with the action server in the loop:

  - single-user latency p50/p95/p99 over the held-out texts (tests/nlu_holdout.yml)
  - throughput and p95 at 10 and 50 concurrent conversations (asyncio + aiohttp)
  - latency around turn 1 and turn 200 of one long conversation (median of 5 around each)
  - time from process start to first answer, peak RSS of the Rasa and the action server
  - training time, held-out intent macro-F1 (through /model/parse of the running server)
  - the project's sentence encoder alone per message, in its own process (bench/encoder_cost.py)

Prints a table and writes bench/results/<timestamp>.json and bench/results/latest.json.
Loopback only; every load loop is bounded in count and in time.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

import launcher
from launcher import ROOT, free_port
from names import FALLBACK_INTENT


BENCH = ROOT / "bench"
MODELS = BENCH / ".models"
RESULTS = BENCH / "results"
PY = Path(sys.executable)
RASA = PY.with_name("rasa")
HOLDOUT = ROOT / "tests" / "nlu_holdout.yml"
TOKEN = "bench-token"
# the project's REST channel needs a token (channels/rest.py); the baseline's ignores the header
REST_TOKEN = "bench-rest-token-0123456789abcdef0123"
REST_HEADERS = {"Authorization": f"Bearer {REST_TOKEN}"}
START_TIMEOUT = 300

SYSTEMS = {
    # name: (config file, extra files that the trained model depends on)
    "project": (ROOT / "config.yml", sorted((ROOT / "nlp").glob("*.py")) + sorted((ROOT / "data" / "safety").glob("*.yml"))
                + [ROOT / "content" / "red_flags.yml", ROOT / "content" / "facets.yml",
                   ROOT / "nlp" / "model" / "meta.json", ROOT / "nlp" / "model" / "entity_ruler" / "patterns.jsonl"]),
    "baseline": (BENCH / "baseline_config.yml", []),
}
# the endpoints each one runs with (tracker store, lock store, action server)
ENDPOINTS = {"project": ROOT / "endpoints.yml", "baseline": BENCH / "baseline_endpoints.yml"}

# the long conversation: these many identical texts at its start and at its end (turns 196-205)
LONG_PROBES = 10

SIZES = {
    "full": dict(single=200, conc_msgs=6, conc_levels=(10, 50), long_turns=205, conc_time=240),
    "quick": dict(single=30, conc_msgs=3, conc_levels=(10, 50), long_turns=205, conc_time=120),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- training (cached by hash)

def training_hash(name: str) -> str:
    config, extra = SYSTEMS[name]
    digest = hashlib.sha256()
    for path in [config, ROOT / "domain.yml", *sorted((ROOT / "data").glob("*.yml")), *extra]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    digest.update(b"rasa-3.6.21")
    return digest.hexdigest()[:16]


def train(name: str) -> Tuple[Path, float, bool]:
    """The cached model of `name` (training it if needed): (model path, training seconds, cached)."""
    key = training_hash(name)
    model = MODELS / f"{name}-{key}.tar.gz"
    meta = MODELS / f"{name}-{key}.json"
    if model.is_file() and meta.is_file():
        return model, json.loads(meta.read_text())["training_seconds"], True
    MODELS.mkdir(parents=True, exist_ok=True)
    config, _ = SYSTEMS[name]
    log(f"training {name} (config {config.relative_to(ROOT)}, hash {key}) ...")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1")
    started = time.monotonic()
    # --force: no fingerprint skip and no graph cache, so the time is the real training time.
    result = subprocess.run(
        [str(RASA), "train", "--force", "--config", str(config), "--domain", "domain.yml", "--data", "data",
         "--fixed-model-name", f"{name}-{key}", "--out", str(MODELS)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    seconds = time.monotonic() - started
    (MODELS / f"{name}-{key}.train.log").write_bytes(result.stdout)
    if result.returncode != 0 or not model.is_file():
        raise SystemExit(f"training {name} failed; see {MODELS / f'{name}-{key}.train.log'}")
    meta.write_text(json.dumps({"training_seconds": seconds, "hash": key, "config": str(config.relative_to(ROOT))}))
    log(f"trained {name} in {seconds:.1f} s")
    return model, seconds, False


# ---------------------------------------------------------------- servers

def descendants(pid: int) -> List[int]:
    """Every process below `pid` (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.append(child)
                    todo.append(child)
    return found


def peak_rss_mb(pid: int) -> Optional[float]:
    """Peak resident set of a process and its children (psutil has no peak on Linux: VmHWM)."""
    total = 0
    for one in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1) if total else None


class Assistant:
    """The launcher's servers, as `make run` starts them, on free ports, with a temporary tracker
    DB and a model dir holding assistant.tar.gz."""

    def __init__(self, name: str, model: Path) -> None:
        self.name = name
        self.work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        (self.work / "models").mkdir()
        # the launcher always loads <RASA_MODEL_DIR>/assistant.tar.gz
        os.symlink(model, self.work / "models" / "assistant.tar.gz")
        self.stack = launcher.Stack(
            logs=self.work,
            RASA_HOST="127.0.0.1", RASA_PORT=str(free_port()), ACTION_HOST="127.0.0.1", ACTION_PORT=str(free_port()),
            WEB_HOST="127.0.0.1", WEB_PORT=str(free_port()), REVIEW_HOST="127.0.0.1", REVIEW_PORT=str(free_port()),
            REVIEW_SECRET_KEY="bench-review-key-0123456789",
            TRACKER_DIALECT="sqlite", TRACKER_DB=str(self.work / "tracker.db"), TRACKER_HOST="",
            RASA_LOG_DIR=str(self.work / "logs"), RASA_MODEL_DIR=str(self.work / "models"),
            RASA_API_TOKEN=TOKEN, RASA_REST_TOKEN=REST_TOKEN, RASA_ENDPOINTS=str(ENDPOINTS[self.name]),
            RASA_SESSION_KEY="bench-session-key",
        )  # fmt: skip
        self.url = self.stack.rasa_url
        self.started_at = 0.0

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.stack.start()

    def wait_first_answer(self) -> float:
        """Seconds from process start to the first REST answer."""
        try:
            self.stack.wait_ready(START_TIMEOUT)
        except launcher.NotReady as problem:
            raise SystemExit(f"{self.name}: {problem}") from problem
        deadline = self.started_at + START_TIMEOUT
        body = json.dumps({"sender": "bench-first", "message": "hello"}).encode()
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(f"{self.url}/webhooks/rest/webhook", data=body,
                                                 headers={"Content-Type": "application/json", **REST_HEADERS})
                with urllib.request.urlopen(request, timeout=60) as response:
                    if response.status == 200 and json.loads(response.read()):
                        return time.monotonic() - self.started_at
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} gave no answer within {START_TIMEOUT} s")

    def rss(self) -> Dict[str, Optional[float]]:
        return {"rasa_server_mb": peak_rss_mb(self.stack.service(launcher.RASA).pid),
                "action_server_mb": peak_rss_mb(self.stack.service(launcher.ACTION).pid)}

    def stop(self) -> None:
        self.stack.stop()
        shutil.rmtree(self.work, ignore_errors=True)


# ---------------------------------------------------------------- load

def holdout() -> List[Tuple[str, str]]:
    data = yaml.safe_load(HOLDOUT.read_text())
    pairs = []
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((line[2:].strip(), block["intent"]))
    return pairs


def pct(values: List[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return round(ordered[index], 1)


async def send(session, url: str, sender: str, text: str, timeout: float = 60) -> Tuple[float, bool]:
    """One REST message: (milliseconds, ok)."""
    import aiohttp

    started = time.perf_counter()
    try:
        async with session.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                headers=REST_HEADERS, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.json(content_type=None)
            ok = response.status == 200 and isinstance(body, list) and bool(body)
    except Exception:  # a failed request is counted, not raised
        ok = False
    return (time.perf_counter() - started) * 1000, ok


async def single_user(url: str, texts: List[str], count: int, tag: str) -> Dict[str, Any]:
    import aiohttp

    latencies, errors = [], 0
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            # a new conversation every 10 messages: conversation length is measured separately
            ms, ok = await send(session, url, f"{tag}-single-{i // 10}", texts[i % len(texts)])
            latencies.append(ms)
            errors += not ok
    return {"messages": count, "errors": errors, "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
            "p99_ms": pct(latencies, 99), "mean_ms": round(statistics.mean(latencies), 1)}


async def concurrent(url: str, texts: List[str], conversations: int, per_conv: int, limit_s: float,
                     tag: str) -> Dict[str, Any]:
    import aiohttp

    latencies: List[float] = []
    errors = 0
    deadline = time.monotonic() + limit_s

    async def conversation(index: int) -> None:
        nonlocal errors
        for turn in range(per_conv):
            if time.monotonic() > deadline:
                return
            ms, ok = await send(session, url, f"{tag}-c{conversations}-{index}", texts[(index * 7 + turn) % len(texts)])
            latencies.append(ms)
            errors += not ok

    connector = aiohttp.TCPConnector(limit=conversations)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(conversation(i) for i in range(conversations)))
        elapsed = time.perf_counter() - started
    return {"conversations": conversations, "messages": len(latencies), "errors": errors,
            "seconds": round(elapsed, 2), "throughput_msg_s": round(len(latencies) / elapsed, 2),
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
            "timed_out": time.monotonic() > deadline}


async def long_conversation(url: str, texts: List[str], turns: int, tag: str) -> Dict[str, Any]:
    import aiohttp

    # The same LONG_PROBES texts are sent first and last, so that the two ends differ only in
    # how long the conversation is (not in which intents and answers they ask for).
    probes = texts[:LONG_PROBES]
    fillers = texts[LONG_PROBES:]
    latencies = []
    deadline = time.monotonic() + 600
    async with aiohttp.ClientSession() as session:
        for turn in range(turns):
            if time.monotonic() > deadline:
                break
            if turn < LONG_PROBES:
                text = probes[turn]
            elif turn >= turns - LONG_PROBES:
                text = probes[turn - (turns - LONG_PROBES)]
            else:
                text = fillers[turn % len(fillers)]
            ms, _ = await send(session, url, f"{tag}-long", text)
            latencies.append(ms)
    early = latencies[:LONG_PROBES]
    late = latencies[-LONG_PROBES:]
    return {"turns": len(latencies), "turn1_ms": round(statistics.median(early), 1),
            "turn200_ms": round(statistics.median(late), 1),
            "ratio_200_1": round(statistics.median(late) / statistics.median(early), 2)}


def macro_f1(gold: List[str], predicted: List[str]) -> Dict[str, float]:
    """sklearn's macro-F1 (labels: union of gold and predicted) and accuracy."""
    labels = sorted(set(gold) | set(predicted))
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        fp = sum(p == label and g != label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    gold_labels = sorted(set(gold))
    gold_only = [s for label, s in zip(labels, scores) if label in gold_labels]
    return {"macro_f1": round(sum(scores) / len(scores), 4),
            "macro_f1_gold_labels": round(sum(gold_only) / len(gold_only), 4),
            "accuracy": round(sum(g == p for g, p in zip(gold, predicted)) / len(gold), 4)}


def undo_fallback(parsed: Dict[str, Any]) -> str:
    """The intent as `rasa test nlu` scores it: an nlu_fallback prediction is reverted to the
    best real intent (rasa.nlu.test uses FallbackClassifier's undo_fallback_prediction)."""
    name = (parsed.get("intent") or {}).get("name") or "None"
    if name == FALLBACK_INTENT:
        ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
        name = ranking[0]["name"] if ranking else name
    return name


async def holdout_f1(url: str, pairs: List[Tuple[str, str]]) -> Dict[str, Any]:
    """Held-out intent macro-F1 through the server's /model/parse: scored as `rasa test nlu`
    does (fallback undone; the verdict uses this) and as served (nlu_fallback counts as wrong)."""
    import aiohttp

    as_test, as_served = [], []
    async with aiohttp.ClientSession() as session:
        for text, _ in pairs:
            async with session.post(f"{url}/model/parse?token={TOKEN}", json={"text": text},
                                    timeout=aiohttp.ClientTimeout(total=60)) as response:
                parsed = await response.json()
            as_served.append((parsed.get("intent") or {}).get("name") or "None")
            as_test.append(undo_fallback(parsed))
    # a common question counts as its retrieval intent `faq`, as `rasa test nlu` counts it
    gold = [intent.split("/", 1)[0] for _, intent in pairs]
    result: Dict[str, Any] = macro_f1(gold, as_test)
    result["as_served"] = macro_f1(gold, as_served)
    result["fallback_rate"] = round(as_served.count(FALLBACK_INTENT) / len(gold), 4)
    result["examples"] = len(gold)
    return result


def encoder_cost() -> Dict[str, Any]:
    """The sentence encoder's own time per message (bench/encoder_cost.py, in its own process)."""
    result = subprocess.run([str(PY), str(BENCH / "encoder_cost.py")], cwd=ROOT, stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def measure(name: str, model: Path, size: Dict[str, Any]) -> Dict[str, Any]:
    assistant = Assistant(name, model)
    pairs = holdout()
    texts = [text for text, _ in pairs]
    result: Dict[str, Any] = {}
    try:
        assistant.start()
        result["start_to_first_answer_s"] = round(assistant.wait_first_answer(), 1)
        log(f"{name}: first answer after {result['start_to_first_answer_s']} s")
        result["holdout"] = asyncio.run(holdout_f1(assistant.url, pairs))
        # warm-up, not measured
        asyncio.run(single_user(assistant.url, texts, 10, f"{name}-warm"))
        result["single_user"] = asyncio.run(single_user(assistant.url, texts, size["single"], name))
        log(f"{name}: single user {result['single_user']}")
        for level in size["conc_levels"]:
            result[f"concurrent_{level}"] = asyncio.run(
                concurrent(assistant.url, texts, level, size["conc_msgs"], size["conc_time"], name))
            log(f"{name}: {level} concurrent {result[f'concurrent_{level}']}")
        result["long_conversation"] = asyncio.run(long_conversation(assistant.url, texts, size["long_turns"], name))
        log(f"{name}: long conversation {result['long_conversation']}")
        result["peak_rss"] = assistant.rss()
    finally:
        assistant.stop()
    return result


# ---------------------------------------------------------------- report

def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 3) if a is not None and b else None


def verdicts(project: Dict[str, Any], baseline: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    p10, b10 = project["concurrent_10"], baseline["concurrent_10"]
    checks = {
        "single_user_p50_at_most_1/3_baseline": (
            ratio(project["single_user"]["p50_ms"], baseline["single_user"]["p50_ms"]), lambda r: r <= 1 / 3),
        "throughput_10_at_least_3x_baseline": (
            ratio(p10["throughput_msg_s"], b10["throughput_msg_s"]), lambda r: r >= 3),
        "p95_at_10_concurrent_under_300ms": (p10["p95_ms"], lambda v: v < 300),
        "turn200_at_most_1.25x_turn1": (project["long_conversation"]["ratio_200_1"], lambda r: r <= 1.25),
        "holdout_f1_not_below_baseline": (
            ratio(project["holdout"]["macro_f1"], baseline["holdout"]["macro_f1"]), lambda r: r >= 1),
        "training_time_not_above_baseline": (
            ratio(project["training_seconds"], baseline["training_seconds"]), lambda r: r <= 1),
    }
    return {name: {"value": value, "pass": bool(value is not None and test(value))}
            for name, (value, test) in checks.items()}


ROWS = [
    ("training time (s)", lambda r: r["training_seconds"]),
    ("held-out intent macro-F1", lambda r: r["holdout"]["macro_f1"]),
    ("start to first answer (s)", lambda r: r["start_to_first_answer_s"]),
    ("1 user p50 (ms)", lambda r: r["single_user"]["p50_ms"]),
    ("1 user p95 (ms)", lambda r: r["single_user"]["p95_ms"]),
    ("1 user p99 (ms)", lambda r: r["single_user"]["p99_ms"]),
    ("10 conc. throughput (msg/s)", lambda r: r["concurrent_10"]["throughput_msg_s"]),
    ("10 conc. p95 (ms)", lambda r: r["concurrent_10"]["p95_ms"]),
    ("50 conc. throughput (msg/s)", lambda r: r["concurrent_50"]["throughput_msg_s"]),
    ("50 conc. p95 (ms)", lambda r: r["concurrent_50"]["p95_ms"]),
    ("turn 1 latency (ms)", lambda r: r["long_conversation"]["turn1_ms"]),
    ("turn 200 latency (ms)", lambda r: r["long_conversation"]["turn200_ms"]),
    ("peak RSS Rasa server (MB)", lambda r: r["peak_rss"]["rasa_server_mb"]),
    ("peak RSS action server (MB)", lambda r: r["peak_rss"]["action_server_mb"]),
]


def table(report: Dict[str, Any]) -> str:
    project, baseline = report["project"], report["baseline"]
    lines = [f"{'':32} {'project':>10} {'baseline':>10} {'ratio':>8}"]
    for label, get in ROWS:
        p, b = get(project), get(baseline)
        lines.append(f"{label:32} {p!s:>10} {b!s:>10} {ratio(p, b)!s:>8}")
    lines.append("")
    for name, verdict in report["verdicts"].items():
        lines.append(f"{'PASS' if verdict['pass'] else 'MISS'}  {name}  ({verdict['value']})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--train-only", action="store_true", help="train (or find cached) models and stop")
    parser.add_argument("--only", choices=sorted(SYSTEMS), help="measure one system only (no ratios)")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    models = {}
    for name in SYSTEMS:
        if args.only and name != args.only:
            continue
        model, seconds, cached = train(name)
        models[name] = (model, seconds, cached)
        log(f"{name}: model {model.name} ({'cached' if cached else 'trained'}, training {seconds:.1f} s)")
    if args.train_only:
        return 0

    report: Dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"), "size": "quick" if args.quick else "full",
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in size.items()},
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
    }
    for name, (model, seconds, cached) in models.items():
        result = measure(name, model, size)
        result.update(training_seconds=round(seconds, 1), training_cached=cached, model=model.name)
        report[name] = result
    if "project" in models:
        report["project"]["encoder"] = encoder_cost()
        log(f"project: sentence encoder alone {report['project']['encoder']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if len(models) == 2:
        report["ratios_project_over_baseline"] = {
            label: ratio(get(report["project"]), get(report["baseline"])) for label, get in ROWS}
        report["verdicts"] = verdicts(report["project"], report["baseline"])
        print(table(report))
        print(f"sentence encoder alone (project): {report['project']['encoder']}")
    else:
        print(json.dumps(report, indent=2))
    text = json.dumps(report, indent=2)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
