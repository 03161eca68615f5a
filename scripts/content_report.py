"""The clinicians' review copy: one HTML page with every answer as a patient sees it.

Each answer is composed by the actions' own functions (actions/catalogue.py) and shown with its
sources as links, its evidence levels and its reading grade. All text is escaped.

    .venv/bin/python scripts/content_report.py [results/content-report.html]
"""
from __future__ import annotations

import html
import re
import sys
from pathlib import Path


from actions.catalogue import every_answer
from actions.replies import CONTENT
from content.readability import MAX_GRADE, grade

LINK = re.compile(r"\[([^\]\n]+)\]\((https://[^\s)]+)\)")
DEFAULT_OUT = Path("results/content-report.html")


def sources_html(text: str) -> str:
    links = [f'<a href="{html.escape(url)}">{html.escape(name)}</a>' for name, url in LINK.findall(text)]
    return "; ".join(links) or "(none)"


def report() -> str:
    rows = []
    for answer in every_answer():
        measured = grade(answer.reading_text)
        flag = ' class="over"' if measured > MAX_GRADE else ""
        body = "<br>".join(html.escape(line) for line in answer.reading_text.split("\n"))
        rows.append(
            f"<tr><td>{html.escape(answer.group)}</td><td>{html.escape(answer.name)}</td><td>{body}</td>"
            f"<td>{sources_html(answer.text)}</td><td>{html.escape(', '.join(dict.fromkeys(answer.evidence)))}</td>"
            f"<td{flag}>{measured:g}</td></tr>"
        )
    levels = "".join(
        f"<li><b>{html.escape(level.id)}</b>: {html.escape(level.meaning)} {html.escape(level.wording)}</li>"
        for level in CONTENT.evidence.values()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MS physiotherapy assistant: every answer</title>
<style>body{{font-family:sans-serif;margin:1.5rem;max-width:90rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:.4rem;vertical-align:top;text-align:left}}.over{{background:#fcc}}</style>
</head><body>
<h1>Every answer, as a patient sees it</h1>
<p>{len(rows)} answers, composed by the assistant's own functions. Reading grade: US school grade
by Flesch-Kincaid, without the line of sources; the limit is {MAX_GRADE:g}.</p>
<h2>Evidence levels</h2><ul>{levels}</ul>
<table><thead><tr><th>group</th><th>answer</th><th>text</th><th>sources</th><th>evidence</th><th>grade</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
