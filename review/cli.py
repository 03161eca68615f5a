"""Command line: accounts, and the same queries and exports as the web pages, for scripts.

    python -m review.cli migrate
    python -m review.cli create-user NAME --role reviewer|admin      # password: prompt or stdin
    python -m review.cli list --fell-back --since 2026-01-01 --format jsonl
    python -m review.cli show SENDER_ID
    python -m review.cli export --format csv|jsonl|nlu [--output FILE]
    python -m review.cli purge [--older-than-days N]                  # default REVIEW_RETENTION_DAYS

Every command first applies pending migrations and syncs from the events table. Output is
redacted like the web pages; exports and purges are audited as `cli:<OS user>`.
"""
from __future__ import annotations

import argparse
import csv
import getpass
import json
import re
import sys
from typing import Any, List, Optional

from settings import tracker_url
from review import audit, auth, config, db, exports, migrations, queries, retention, sync
from review.redact import Redactor


# C0 and C1 control characters (ESC starts terminal escape sequences) and the bidirectional
# overrides, which can make a line read other than it is: shown as \\xNN or \\uNNNN.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# in a CSV or JSON line, tab and line breaks are the format's own (quoted, or escaped by json)
CONTROL_IN_DATA = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """A value for a line of the terminal: every control character escaped."""
    return CONTROL.sub(_escape, str(value))


def printable_data(text: str) -> str:
    """CSV or JSON output: control characters escaped, the format's tabs and line breaks kept
    (in JSON they are escaped already, so what is left of them is the format's own)."""
    return CONTROL_IN_DATA.sub(_escape, text)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat: "):
            raise auth.AuthError("The passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\n")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="active on or after this date (YYYY-MM-DD)")
    parser.add_argument("--until", help="active on or before this date (YYYY-MM-DD)")
    parser.add_argument("--channel", default="")
    parser.add_argument("--intent", default="")
    parser.add_argument("--fell-back", action="store_true", help="action_fallback ran")
    parser.add_argument("--red-flag", action="store_true", help="the safety layer flagged a message")
    parser.add_argument("--max-confidence", help="lowest NLU confidence below this")
    parser.add_argument("--tag", default="")
    parser.add_argument("--reviewed", choices=["yes", "no"], default="")
    parser.add_argument("--search", "-q", default="", help="words in the user messages")
    parser.add_argument("--sort", choices=queries.SORTS, default="recent")


def _filters(args: argparse.Namespace) -> queries.Filters:
    return queries.Filters.from_mapping({
        "since": args.since, "until": args.until, "channel": args.channel, "intent": args.intent,
        "fell_back": "1" if args.fell_back else "", "red_flag": "1" if args.red_flag else "",
        "max_confidence": args.max_confidence, "tag": args.tag, "reviewed": args.reviewed, "q": args.search,
        "sort": args.sort,
    })


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m review.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending schema migrations")
    commands.add_parser("sync", help="catch up with the tracker store's events")
    create = commands.add_parser("create-user", help="add an account (password from the prompt or stdin)")
    create.add_argument("name")
    create.add_argument("--role", choices=auth.ROLES, required=True)
    listing = commands.add_parser("list", help="matching conversations, newest first")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--format", choices=["table", "csv", "jsonl"], default="table")
    show = commands.add_parser("show", help="one conversation's transcript")
    show.add_argument("sender_id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    export = commands.add_parser("export", help="matching conversations as CSV or JSONL, or relabelled NLU data")
    _add_filters(export)
    export.add_argument("--format", choices=exports.FORMATS, required=True)
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    purge = commands.add_parser("purge", help="delete conversations older than N days (tracker and review data)")
    purge.add_argument("--older-than-days", type=int, help="default: REVIEW_RETENTION_DAYS")
    return parser


SUMMARY_FIELDS = ["sender_id", "last_time", "channel", "messages", "min_confidence", "fell_back", "red_flags",
                  "intents", "tags", "reviewed"]


def _summary_record(row: dict, redactor: Redactor) -> dict:
    return {
        "sender_id": redactor.redact(row["sender_id"]), "last_time": exports.iso(row["last_time"]),
        "channel": row["channel"], "messages": row["message_count"], "min_confidence": row["min_confidence"],
        "fell_back": bool(row["fell_back"]), "red_flags": row["red_flags"], "intents": row["intents"],
        "tags": ",".join(row["tags"]), "reviewed": bool(row["reviewed"]),
    }


def _list(engine, args, redactor: Redactor) -> int:
    with engine.connect() as conn:
        rows = queries.list_conversations(conn, _filters(args), args.limit).rows
    records = [_summary_record(r, redactor) for r in rows]
    if args.format == "jsonl":
        for record in records:
            print(printable_data(json.dumps(record, ensure_ascii=False)))
    elif args.format == "csv":
        writer = csv.DictWriter(_DataOut(sys.stdout), fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows({k: exports.safe_cell(v) for k, v in record.items()} for record in records)
    else:
        for r in records:
            flags = " ".join(f for f, on in (("FELL-BACK", r["fell_back"]), ("RED-FLAG:" + r["red_flags"], r["red_flags"]),
                                             ("reviewed", r["reviewed"])) if on)
            print(printable(f"{r['last_time']}  {r['sender_id']:<30} {r['channel'] or '-':<10} {r['messages']:>4} msgs  "
                            f"min conf {r['min_confidence'] if r['min_confidence'] is not None else '-'}  {flags}"))
    return 0


class _DataOut:
    """Standard output for CSV and JSON data, control characters escaped."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable_data(text))


def _show(engine, args, redactor: Redactor) -> int:
    with engine.connect() as conn:
        conversation = queries.transcript(conn, args.sender_id)
    if conversation is None:
        print(printable(f"No conversation {args.sender_id!r}."), file=sys.stderr)
        return 1
    with db.writing(engine) as conn:
        audit.record(conn, _actor(), "view", args.sender_id)
    turns = [exports.turn_record(t, redactor) for t in conversation["turns"]]
    if args.format == "json":
        print(printable_data(json.dumps({"sender_id": redactor.redact(args.sender_id), "turns": turns},
                                        ensure_ascii=False, indent=2)))
        return 0
    for t in turns:
        if t["kind"] == "user":
            line = f"{t['time']} USER {t['text']}  [{t['intent']} {t['confidence']}]" + (" FELL BACK" if t["fell_back"] else "")
        elif t["kind"] == "bot":
            line = f"{t['time']} BOT  {t['text']}"
        else:
            line = f"{t['time']} {t['kind']} {t['action'] or ''}"
        print(printable(line))
    return 0


def _export(engine, args, redactor: Redactor) -> int:
    filters = _filters(args)
    out: Any = open(args.output, "w", encoding="utf-8", newline="") if args.output else _DataOut(sys.stdout)
    try:
        with db.long_reader(engine) as conn:
            for chunk in exports.export(conn, args.format, filters, redactor):
                out.write(chunk)
        with db.writing(engine) as conn:
            audit.record(conn, _actor(), "export", args.format, json.dumps(filters.to_params()))
    finally:
        if args.output:
            out.close()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.load()
        engine = db.make_engine(tracker_url(settings.tracker))
        migrations.migrate(engine)
        redactor = Redactor(settings.phone_region)
        if args.command == "migrate":
            with engine.connect() as conn:
                print(f"Schema at version {migrations.current_version(conn)}.")
            return 0
        if args.command == "create-user":
            password = _read_password()
            with db.writing(engine) as conn:
                auth.create_user(conn, args.name, args.role, password)
                audit.record(conn, _actor(), "create-user", args.name, args.role)
            print(f"Created {args.role} {args.name!r}.")
            return 0
        if args.command == "purge":
            days = args.older_than_days if args.older_than_days is not None else settings.retention_days
            if days is None:
                print("Give --older-than-days N or set REVIEW_RETENTION_DAYS.", file=sys.stderr)
                return 2
            print(retention.purge(engine, days, _actor(), redactor))
            return 0
        synced = sync.sync(engine, redactor)
        if args.command == "sync":
            print(f"Synced {synced} new events.")
            with engine.connect() as conn:
                count, newest = sync.set_aside(conn)
            if count:
                print(f"{count} events could not be imported and were set aside (newest first):", file=sys.stderr)
                for entry in newest:
                    print(printable(f"  event {entry['event_id']} of {redactor.redact(entry['sender_id'])}: "
                                    f"{entry['reason']}"), file=sys.stderr)
            return 0
        handlers = {"list": _list, "show": _show, "export": _export}
        return handlers[args.command](engine, args, redactor)
    except (auth.AuthError, queries.QueryError, config.ConfigError, ValueError) as error:
        print(printable(f"error: {error}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
