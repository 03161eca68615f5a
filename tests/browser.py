"""What the browser tests share: Debian's Chromium for Playwright, and the accessibility check.

The check is axe-core (web/package.json, installed by `npm ci` in web/), read from
web/node_modules and put into each page by Playwright before the page's own scripts run, so
that neither the page's Content-Security-Policy nor the network is involved. Any violation of a
WCAG 2.0 or 2.1 rule of level A or AA fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from launcher import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def check_chromium() -> None:
    """Chromium and Playwright must be installed: say how, and fail (never skip)."""
    problems = []
    if not Path(CHROMIUM).is_file():
        problems.append(
            f"Chromium is missing at {CHROMIUM}: install Debian's package (`apt-get install -y chromium`) "
            "or set CHROMIUM_PATH. Playwright's own browser downloads do not work here."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package `playwright` is missing: pip install it (see requirements).")
    if problems:
        pytest.fail("The browser tests cannot run: " + " ".join(problems), pytrace=False)


def launch(playwright: Any) -> Any:
    """Headless Chromium, Debian's."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def with_axe(context: Any) -> Any:
    """Every page of this browser context gets axe-core (window.axe) before its own scripts."""
    if not AXE.is_file():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `npm ci` in web/.", pytrace=False)
    context.add_init_script(path=str(AXE))
    return context


def violations(page: Any) -> List[Dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now."""
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_A_AA,
    )
    return result["violations"]


def assert_accessible(page: Any, what: str) -> None:
    """No WCAG 2.1 A or AA violation on the page; else every violation, with where it is."""
    found = violations(page)
    report = [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "where": [" ".join(node["target"]) for node in violation["nodes"]][:5],
        }
        for violation in found
    ]
    assert not found, f"{what}: WCAG 2.1 A/AA violations (axe-core):\n" + json.dumps(report, indent=2)
