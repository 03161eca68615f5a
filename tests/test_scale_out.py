"""Scale-out deployment (deploy/scale_out.py), small size: PostgreSQL tracker store, Redis lock
store, two Rasa servers behind nginx and the action server, all on loopback.

Checks the tracker store after concurrent conversations through nginx, then again with one Rasa
server killed mid-run while the clients retry (the invariant is in bench/load_test.py's
docstring). CI installs postgresql, redis-server and nginx: a missing binary FAILS this test.
The large size is `bench/load_test.py`.
"""
from __future__ import annotations

import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from bench.load_test import run_scenario
from deploy.scale_out import Deployment, missing_binaries

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

MODEL = ROOT / "models" / "assistant.tar.gz"


@pytest.fixture(scope="module")
def deployment():
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"scale-out test needs Debian's postgresql, redis-server and nginx; missing: {', '.join(missing)} "
            "(apt-get install -y postgresql redis-server nginx)",
            pytrace=False,
        )
    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first", pytrace=False)
    # not under pytest's 0700 tmp dir: PostgreSQL runs as `postgres` and must reach its data dir
    state = Path(tempfile.mkdtemp(prefix="ms-physio-scale-test-"))
    state.chmod(0o755)
    deployment = Deployment(state / "state", servers=2)
    try:
        deployment.up(log=lambda message: None)
        yield deployment
    finally:
        deployment.down(keep_logs=False, log=lambda message: None)
        shutil.rmtree(state, ignore_errors=True)


def test_nginx_spreads_over_both_servers(deployment):
    status = deployment.status()
    assert all(info["alive"] for info in status.values()), status
    assert {"postgres", "redis", "action", "rasa1", "rasa2", "nginx"} <= set(status)
    with urllib.request.urlopen(f"{deployment.url}/", timeout=10) as response:
        assert response.status == 200


def test_concurrent_conversations_are_stored_completely_and_in_order(deployment):
    summary = run_scenario(deployment, "ci-steady", conversations=12, turns=4, concurrency=12,
                           time_limit=240, kill_at=None)
    assert summary["failed_messages"] == 0, summary
    assert summary["retries"] == 0, summary
    assert summary["messages"] == 48, summary
    assert summary["violations"] == 0, summary["violation_examples"]


def test_a_server_killed_mid_run_corrupts_no_conversation(deployment):
    summary = run_scenario(deployment, "ci-kill", conversations=12, turns=5, concurrency=12,
                           time_limit=300, kill_at=0.3)
    assert summary["killed_rasa1_after_messages"] is not None, summary
    assert summary["failed_messages"] == 0, summary
    assert summary["messages"] == 60, summary
    assert summary["violations"] == 0, summary["violation_examples"]
    assert not deployment.status()["rasa1"]["alive"]
    assert deployment.status()["rasa2"]["alive"]
