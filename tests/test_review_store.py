"""The review app's data layer on SQLite and on a real PostgreSQL (a throwaway cluster).

Synthetic events in Rasa's `events` table; migrations, incremental sync, filters, search, keyset
pagination, annotations, exports, purge and the CLI. PostgreSQL missing is a failure, not a skip.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from conftest import ROOT
import settings
from review import audit, auth, db, exports, migrations, queries, retention, sync
from review.redact import Redactor
from review_support import (PostgresCluster, PostgresMissing, action_event, bot_event, create_events_table,
                            insert_events, slot_event, user_event)

DAY = 86400
NOW = time.time()
REDACTOR = Redactor("GB")


@pytest.fixture(scope="module")
def postgres():
    try:
        cluster = PostgresCluster().start()
    except PostgresMissing as problem:
        pytest.fail(str(problem))
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, tmp_path):
    """(engine, TRACKER_* settings) of an empty tracker database with the review schema."""
    if request.param == "sqlite":
        tracker = {"TRACKER_DIALECT": "sqlite", "TRACKER_DB": str(tmp_path / "tracker.db")}
    else:
        cluster = request.getfixturevalue("postgres")
        tracker = cluster.settings()
        engine = db.make_engine(cluster.url())
        with engine.begin() as conn:  # each test starts from an empty database
            for table in sa.inspect(conn).get_table_names():
                conn.execute(sa.text(f'DROP TABLE "{table}" CASCADE'))
        engine.dispose()
    engine = db.make_engine(settings.tracker_url(tracker))
    migrations.migrate(engine)
    with engine.begin() as conn:
        create_events_table(conn)
    yield engine, tracker
    engine.dispose()


def conversation(sender, start, *, fallback=False, red_flag=False, confidence=0.95, text="tell me about yoga",
                 channel="rest", intent="ask_exercise"):
    rows = [user_event(sender, start, text, intent, confidence, channel=channel)]
    if fallback:
        rows.append(action_event(sender, start + 1, "action_fallback"))
    rows.append(bot_event(sender, start + 2, "Yoga can help.", [{"title": "Is it safe?", "payload": "/x"}]))
    if red_flag:
        rows.append(user_event(sender, start + 3, "I have crushing chest pain", "emergency", 1.0,
                               [{"entity": "red_flag", "value": "chest_pain", "extractor": "RedFlagClassifier"}],
                               channel=channel))
    return rows


def seed(engine):
    with engine.begin() as conn:
        insert_events(conn, conversation("old", NOW - 40 * DAY))
        insert_events(conn, conversation("fb", NOW - 3 * DAY, fallback=True, confidence=0.2,
                                         text="my email is anna@example.org, call 07700 900123", intent="nlu_fallback"))
        insert_events(conn, conversation("rf", NOW - 2 * DAY, red_flag=True, channel="socketio"))
        insert_events(conn, conversation("tg", NOW - 1 * DAY, channel="telegram", text="swimming and fatigue",
                                         intent="ask_symptom"))
    sync.sync(engine, REDACTOR)


def senders(engine, **filters):
    with engine.connect() as conn:
        return [r["sender_id"] for r in queries.list_conversations(conn, queries.Filters(**filters), 100).rows]


def test_migrations_are_versioned_and_idempotent(backend):
    engine, _ = backend
    assert migrations.migrate(engine) == []
    with engine.connect() as conn:
        assert migrations.current_version(conn) == len(migrations.MIGRATIONS)
        tables = set(sa.inspect(conn).get_table_names())
        assert migrations.search_backend(conn) in ("fts5", "tsvector")
    assert {"review_conversations", "review_users", "review_audit", "review_tags", "review_notes",
            "review_schema_version", "events"} <= tables


def test_sync_is_incremental_and_summarises(backend):
    engine, _ = backend
    seed(engine)
    assert sync.sync(engine, REDACTOR) == 0  # nothing new
    with engine.begin() as conn:
        insert_events(conn, [user_event("fb", NOW - 3 * DAY + 10, "thanks", "thank", 0.99)])
    assert sync.sync(engine, REDACTOR) == 1
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM review_conversations WHERE sender_id = 'fb'")).first()
        rf = conn.execute(sa.text("SELECT * FROM review_conversations WHERE sender_id = 'rf'")).first()
    assert (row.message_count, row.fell_back, row.min_confidence, row.channel) == (2, 1, 0.2, "rest")
    assert set(row.intents.split(",")) == {"nlu_fallback", "thank"}
    assert (rf.red_flag, rf.red_flags, rf.channel, rf.event_count) == (1, "confirmed:chest_pain", "socketio", 3)


def test_concurrent_syncs_count_nothing_twice(backend):
    engine, _ = backend
    with engine.begin() as conn:
        insert_events(conn, [row for n in range(150) for row in conversation(f"c{n}", NOW - n, fallback=n % 2 == 0)])
    engines = [db.make_engine(engine.url) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda e: sync.sync(e, REDACTOR, batch=25), engines))
    for other in engines:
        other.dispose()
    with engine.connect() as conn:
        totals = conn.execute(sa.text("SELECT SUM(message_count), SUM(event_count), COUNT(*) FROM review_conversations")).one()
        indexed = conn.execute(sa.text("SELECT COUNT(*) FROM " + (
            "review_messages_fts" if migrations.search_backend(conn) == "fts5" else "review_messages"))).scalar_one()
    assert tuple(totals) == (150, 375, 150)
    assert indexed == 150


def test_filters(backend):
    engine, _ = backend
    seed(engine)
    assert senders(engine) == ["tg", "rf", "fb", "old"]
    assert senders(engine, fell_back=True) == ["fb"]
    assert senders(engine, red_flag=True) == ["rf"]
    assert senders(engine, channel="telegram") == ["tg"]
    assert senders(engine, intent="emergency") == ["rf"]
    assert senders(engine, max_confidence=0.5) == ["fb"]
    day = lambda days: queries.date.fromtimestamp(NOW - days * DAY)  # noqa: E731
    assert senders(engine, since=day(10)) == ["tg", "rf", "fb"]
    assert senders(engine, until=day(30)) == ["old"]
    assert senders(engine, sort="red_flag")[0] == "rf"
    with engine.begin() as conn:
        queries.add_tag(conn, "tg", "follow-up", "ann")
        queries.set_reviewed(conn, "fb", True, "ann")
    assert senders(engine, tag="follow-up") == ["tg"]
    assert senders(engine, reviewed="yes") == ["fb"]
    assert senders(engine, reviewed="no") == ["tg", "rf", "old"]


def test_search_is_over_redacted_user_text(backend):
    engine, _ = backend
    seed(engine)
    assert senders(engine, q="swimming") == ["tg"]
    assert senders(engine, q="SWIMMING fatigue") == ["tg"]
    assert senders(engine, q="chest") == ["rf"]
    assert senders(engine, q="anna") == []  # the e-mail address is not in the index
    assert senders(engine, q='" OR * NEAR(') == []  # FTS syntax is not passed through


def test_keyset_pagination_visits_every_conversation_once(backend):
    engine, _ = backend
    with engine.begin() as conn:
        rows = []
        for n in range(57):
            rows += conversation(f"p{n:02}", NOW - (n // 3) * 100, red_flag=n % 10 == 0)  # ties on last_time
        insert_events(conn, rows)
    sync.sync(engine, REDACTOR, batch=40)
    for sort in queries.SORTS:
        seen, cursor = [], None
        with engine.connect() as conn:
            while True:
                page = queries.list_conversations(conn, queries.Filters(sort=sort), 10, cursor)
                seen += [r["sender_id"] for r in page.rows]
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
        assert sorted(seen) == [f"p{n:02}" for n in range(57)]
        if sort == "red_flag":
            assert all(s in {"p00", "p10", "p20", "p30", "p40", "p50"} for s in seen[:6])


def test_transcript_annotations_and_labels(backend):
    engine, _ = backend
    seed(engine)
    with engine.begin() as conn:
        c = queries.transcript(conn, "fb")
        user = c["turns"][0]
        assert (user.kind, user.intent, user.confidence, user.fell_back) == ("user", "nlu_fallback", 0.2, True)
        assert user.misunderstood(0.5)
        assert [t.kind for t in c["turns"]] == ["user", "action", "bot"]
        assert c["turns"][2].buttons[0]["title"] == "Is it safe?"
        queries.set_label(conn, "fb", user.event_id, "ask_exercise", "ann")
        queries.add_note(conn, "fb", "check the <fallback>", "ann")
        with pytest.raises(queries.QueryError):
            queries.set_label(conn, "rf", user.event_id, "x", "ann")  # another conversation's message
        with pytest.raises(queries.QueryError):
            queries.add_tag(conn, "fb", "<script>", "ann")
    with engine.connect() as conn:
        assert queries.transcript(conn, "fb")["notes"][0]["body"] == "check the <fallback>"
        assert queries.transcript(conn, "nobody") is None
        nlu = "".join(exports.export(conn, "nlu", queries.Filters(), REDACTOR))
    assert nlu == ('version: "3.1"\nnlu:\n- intent: ask_exercise\n  examples: |\n'
                   "    - my email is [EMAIL], call [PHONE]\n")


def test_csv_and_jsonl_exports_are_filtered_and_redacted(backend):
    engine, _ = backend
    seed(engine)
    with engine.connect() as conn:
        table = list(csv.DictReader(io.StringIO("".join(exports.export(conn, "csv", queries.Filters(fell_back=True), REDACTOR)))))
        lines = "".join(exports.export(conn, "jsonl", queries.Filters(), REDACTOR)).splitlines()
    assert {r["sender_id"] for r in table} == {"fb"}
    assert table[0]["text"] == "my email is [EMAIL], call [PHONE]"
    assert [json.loads(line)["sender_id"] for line in lines] == ["tg", "rf", "fb", "old"]
    assert "anna@" not in "".join(lines)
    assert json.loads(lines[1])["red_flags"] == ["confirmed:chest_pain"]


def test_purge_removes_old_conversations_everywhere(backend):
    engine, _ = backend
    seed(engine)
    with engine.begin() as conn:
        queries.add_tag(conn, "old", "stale", "ann")
        queries.add_note(conn, "old", "note", "ann")
    report = retention.purge(engine, 30, "test", REDACTOR)
    assert (report.conversations, report.events, report.messages_indexed) == (1, 2, 1)
    assert report.review_rows == 3  # tag, note, intent
    assert "Purged 1 conversations" in str(report)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM events WHERE sender_id = 'old'")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM review_tags")).scalar_one() == 0
        assert audit.entries(conn)[0]["action"] == "purge"
    assert senders(engine) == ["tg", "rf", "fb"]
    assert senders(engine, q="yoga") == ["rf"]


def test_accounts_and_throttle(backend):
    engine, _ = backend
    with engine.begin() as conn:
        auth.create_user(conn, "ann", "reviewer", "correct horse battery")
        with pytest.raises(auth.AuthError):
            auth.create_user(conn, "ann", "admin", "another password")
        with pytest.raises(auth.AuthError):
            auth.create_user(conn, "bob", "admin", "short")
        stored = conn.execute(sa.text("SELECT password_hash FROM review_users")).scalar_one()
        assert stored.startswith("scrypt$131072$8$1$") and "correct" not in stored
        assert auth.authenticate(conn, "ann", "correct horse battery").role == "reviewer"
        assert auth.authenticate(conn, "ann", "wrong") is None
        throttle = auth.Throttle(5, 900)
        delays = [throttle.begin(conn, "ann", "10.0.0.1").delay for _ in range(5)]
        assert delays == [0, 0.25, 0.5, 1, 2]  # each wrong password delays the next check more
        assert not throttle.begin(conn, "ann", "10.0.0.1").allowed  # that name from that address: locked
        assert throttle.begin(conn, "ann", "10.0.0.2").allowed  # the account itself is not locked
        assert throttle.begin(conn, "bob", "10.0.0.1").allowed


def test_purge_then_new_traffic_is_seen_and_purged_in_turn(backend):
    """Rasa's events.id has no AUTOINCREMENT on SQLite: after a purge of the newest events, new
    events get ids at or below the old watermark. They must still be synced, red flags included."""
    engine, _ = backend
    with engine.begin() as conn:
        insert_events(conn, conversation("old-1", NOW - 50 * DAY) + conversation("old-2", NOW - 40 * DAY))
    sync.sync(engine, REDACTOR)
    assert retention.purge(engine, 30, "test", REDACTOR).conversations == 2
    with engine.begin() as conn:
        insert_events(conn, conversation("new-rf", NOW - 60, red_flag=True))
    sync.sync(engine, REDACTOR)
    assert senders(engine) == ["new-rf"]
    assert senders(engine, red_flag=True) == ["new-rf"]
    assert senders(engine, q="chest") == ["new-rf"]
    # and a later purge finds it, once it is old
    assert retention.purge(engine, 30, "test", REDACTOR, now=NOW + 40 * DAY).conversations == 1
    assert senders(engine) == []


def test_purge_chooses_from_the_events_not_only_from_the_review_tables(backend):
    engine, _ = backend
    with engine.begin() as conn:
        insert_events(conn, conversation("unseen", NOW - 40 * DAY))
        # as after the old watermark fault: the review never saw this conversation
        conn.execute(sa.text("UPDATE review_sync_state SET last_event_id = (SELECT MAX(id) FROM events) "
                             "WHERE name = 'events'"))
    assert senders(engine) == []
    report = retention.purge(engine, 30, "test", REDACTOR)
    assert (report.conversations, report.events) == (0, 2)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar_one() == 0


def test_a_long_input_channel_is_shown_as_invalid_and_the_sync_goes_on(backend):
    """Rasa takes input_channel from the REST body; review_conversations.channel is VARCHAR(100),
    and on PostgreSQL one such event made every later sync fail."""
    engine, _ = backend
    with engine.begin() as conn:
        insert_events(conn, conversation("long-channel", NOW - 90, channel="x" * 300))
        insert_events(conn, [user_event("planted", NOW - 80, "/" + "a" * 200, "a" * 200, 1.0)])
    sync.sync(engine, REDACTOR)
    with engine.begin() as conn:
        insert_events(conn, conversation("after", NOW - 60))
    sync.sync(engine, REDACTOR)
    assert senders(engine) == ["after", "planted", "long-channel"]
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT channel FROM review_conversations WHERE sender_id = 'long-channel'")).one()
        assert row.channel == "invalid"
        assert queries.choices(conn)["intents"] == ["ask_exercise", "invalid"]


def test_an_event_that_cannot_be_stored_is_set_aside_reported_and_not_retried(backend):
    engine, tracker = backend
    with engine.begin() as conn:
        insert_events(conn, conversation("good-1", NOW - 90))
        insert_events(conn, [dict(user_event("broken", NOW - 80, "x", "greet", 0.9), data="{not json")])
        insert_events(conn, conversation("clash", NOW - 70))
        clash = conn.execute(sa.text("SELECT MIN(id) FROM events WHERE sender_id = 'clash'")).scalar_one()
        # a row the index already has under that id: the database refuses the insert
        if migrations.search_backend(conn) == "fts5":
            conn.execute(sa.text("INSERT INTO review_messages_fts (rowid, body, sender_id) VALUES (:i, 'x', 'y')"),
                         {"i": clash})
        else:
            conn.execute(sa.text("INSERT INTO review_messages (event_id, sender_id, body) VALUES (:i, 'y', 'x')"),
                         {"i": clash})
        insert_events(conn, conversation("good-2", NOW - 60))
    sync.sync(engine, REDACTOR)
    assert senders(engine) == ["good-2", "good-1"]
    with engine.connect() as conn:
        count, entries = sync.set_aside(conn)
    assert count == 2
    assert {e["sender_id"] for e in entries} == {"broken", "clash"}
    assert "not JSON" in next(e["reason"] for e in entries if e["sender_id"] == "broken")
    assert sync.sync(engine, REDACTOR) == 0  # never retried
    reported = run_cli(tracker, "sync")
    assert reported.returncode == 0 and "2 events could not be imported" in reported.stderr


def test_red_flags_only_from_the_pipeline_never_from_a_typed_payload(backend):
    engine, _ = backend
    planted = [{"entity": "red_flag", "value": "chest_pain", "start": 10, "end": 28}]  # no extractor: typed
    with engine.begin() as conn:
        insert_events(conn, [user_event("typed", NOW - 90, '/emergency{"red_flag": "chest_pain"}', "emergency", 1.0,
                                        planted)])
        insert_events(conn, [user_event("tiered", NOW - 80, "my chest hurts", "emergency", 1.0, [])])
        conn.execute(sa.text("UPDATE events SET data = :d WHERE sender_id = 'tiered'"), {"d": json.dumps(
            {"event": "user", "text": "my chest hurts", "parse_data": {
                "intent": {"name": "emergency", "confidence": 1.0}, "entities": [],
                "safety": {"tier": "suspected", "category": "chest_pain"}}})})
        insert_events(conn, [user_event("caution", NOW - 70, "a bit dizzy", "emergency", 1.0, [])])
        conn.execute(sa.text("UPDATE events SET data = :d WHERE sender_id = 'caution'"), {"d": json.dumps(
            {"event": "user", "text": "a bit dizzy", "parse_data": {
                "intent": {"name": "emergency", "confidence": 1.0}, "safety": {"tier": "caution", "category": "x"}}})})
        insert_events(conn, [slot_event("tiered", NOW - 79, "safety_answer", "no")])
    sync.sync(engine, REDACTOR)
    # a confirmed or a suspected red flag is highlighted; a caution is shown, not highlighted
    assert senders(engine, red_flag=True) == ["tiered"]
    with engine.connect() as conn:
        labels = dict(conn.execute(sa.text("SELECT sender_id, red_flags FROM review_conversations")).all())
    assert labels["tiered"] == "check answered:no,suspected:chest_pain"
    assert labels["caution"] == "caution:x"
    assert labels["typed"] == ""


def test_huge_messages_are_stored_indexed_and_shown_cut(backend):
    engine, _ = backend
    text = "swimming " * 300 + "anna@example.org " + "x" * 1_000_000
    with engine.begin() as conn:
        insert_events(conn, conversation("huge", NOW - 60, text=text))
    sync.sync(engine, REDACTOR)
    with engine.connect() as conn:
        turn = queries.transcript(conn, "huge")["turns"][0]
        table = "review_messages_fts" if migrations.search_backend(conn) == "fts5" else "review_messages"
        (body,) = conn.execute(sa.text(f"SELECT body FROM {table}")).one()
        record = json.loads("".join(exports.export(conn, "jsonl", queries.Filters(), REDACTOR)))["turns"][0]
    assert len(turn.text) == sync.MAX_TEXT_CHARS and turn.cut == len(text) - sync.MAX_TEXT_CHARS
    assert len(body) <= sync.MAX_TEXT_CHARS and "[EMAIL]" in body
    assert record["text"].endswith(f"[… {len(text) - sync.MAX_TEXT_CHARS:,} more characters not shown]")
    assert senders(engine, q="swimming") == ["huge"]


@pytest.mark.e2e  # the CLI as a process of its own
def test_cli_csv_has_the_formula_guard_and_output_escapes_control_characters(backend):
    engine, tracker = backend
    with engine.begin() as conn:
        insert_events(conn, conversation("=HYPERLINK(\"http://x\")", NOW - 60, text="hi \x1b]0;owned\x07 \x1b[31mred"))
    listed = run_cli(tracker, "list", "--format", "csv")
    assert "'=HYPERLINK" in listed.stdout
    shown = run_cli(tracker, "show", '=HYPERLINK("http://x")')
    assert "\x1b" not in shown.stdout and "\\x1b]0;owned\\x07" in shown.stdout
    table = run_cli(tracker, "list")
    assert "\x1b" not in table.stdout


def test_the_audit_log_is_redacted_and_has_its_own_retention(backend):
    engine, _ = backend
    with engine.begin() as conn:
        audit.record(conn, "ann", "export", "csv", "q=anna@example.org")
        conn.execute(sa.text("UPDATE review_audit SET at = :t"), {"t": NOW - 400 * DAY})
        audit.record(conn, "ann", "view", "rest:bob@example.org")
    with engine.connect() as conn:
        details = [(e["target"], e["detail"]) for e in audit.entries(conn)]
    assert ("rest:[EMAIL]", "") in details and ("csv", "q=[EMAIL]") in details
    report = retention.purge(engine, 30, "test", REDACTOR, audit_days=365)
    assert report.audit_entries == 1
    with engine.connect() as conn:
        assert [e["action"] for e in audit.entries(conn)] == ["purge", "view"]


def run_cli(tracker, *args, stdin=""):
    env = dict(os.environ, **tracker)
    return subprocess.run([sys.executable, "-m", "review.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.e2e  # the CLI as a process of its own
def test_cli(backend):
    engine, tracker = backend
    seed(engine)
    created = run_cli(tracker, "create-user", "carol", "--role", "admin", stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    listed = run_cli(tracker, "list", "--fell-back", "--since", "2020-01-01", "--format", "jsonl")
    assert [json.loads(line)["sender_id"] for line in listed.stdout.splitlines()] == ["fb"]
    shown = run_cli(tracker, "show", "fb")
    assert "[EMAIL]" in shown.stdout and "anna@" not in shown.stdout and "FELL BACK" in shown.stdout
    exported = run_cli(tracker, "export", "--format", "csv", "--red-flag")
    assert "chest_pain" in exported.stdout and "fb" not in {r["sender_id"] for r in csv.DictReader(io.StringIO(exported.stdout))}
    purged = run_cli(tracker, "purge", "--older-than-days", "30")
    assert "Purged 1 conversations" in purged.stdout, purged.stderr
    assert run_cli(tracker, "purge").returncode == 2  # no days and no REVIEW_RETENTION_DAYS
    with engine.connect() as conn:
        actions = [e["action"] for e in audit.entries(conn)]
    assert {"create-user", "view", "export", "purge"} <= set(actions)


@pytest.mark.postgres
def test_on_postgresql_a_batch_stops_before_a_recent_gap_in_the_ids():
    """A transaction that took id 3 may commit after the one that took id 4: until the events
    after the gap are GAP_WAIT_SECONDS old, the sync stops before it, so id 3 is not skipped."""
    from types import SimpleNamespace

    def rows(*ids, age=0.0):
        return [SimpleNamespace(id=i, timestamp=NOW - age) for i in ids]

    assert [r.id for r in sync._readable(rows(1, 2, 4, 5), 0, True, NOW)] == [1, 2]
    assert [r.id for r in sync._readable(rows(3, 4), 1, True, NOW)] == []  # id 2 not there yet
    assert [r.id for r in sync._readable(rows(1, 2, 4, 5, age=60), 0, True, NOW)] == [1, 2, 4, 5]  # rolled back
    assert [r.id for r in sync._readable(rows(1, 2, 4, 5), 0, False, NOW)] == [1, 2, 4, 5]  # SQLite: no such race
