"""The launcher behind `make run`: what it starts, from which settings."""

from __future__ import annotations

import launcher
import settings
from rasa_ext.serve import rasa_arguments
from scripts import run


def config(**overrides):
    return settings.resolve({}, **overrides)


def test_http_api_is_off_without_a_token():
    command = launcher.rasa_command(config(RASA_API_TOKEN=""), shell=False)
    arguments = rasa_arguments(command[3:], {"RASA_API_TOKEN": ""})
    assert "--enable-api" not in arguments and "--auth-token" not in arguments


def test_http_api_is_on_only_with_the_token_and_the_token_is_never_on_a_command_line():
    command = launcher.rasa_command(config(RASA_API_TOKEN="s3cret"), shell=False)
    assert "s3cret" not in " ".join(command) and command[1:4] == ["-m", "rasa_ext.serve", "run"]
    arguments = rasa_arguments(command[3:], {"RASA_API_TOKEN": "s3cret"})  # inside the Rasa process
    assert arguments[-3:] == ["--enable-api", "--auth-token", "s3cret"]


def test_ports_and_paths_come_from_the_settings():
    command = launcher.rasa_command(config(RASA_PORT="6005", RASA_MODEL_DIR="elsewhere"), shell=False)
    assert command[command.index("--port") + 1] == "6005"
    assert command[command.index("--model") + 1] == "elsewhere/assistant.tar.gz"
    assert launcher.action_command(config(ACTION_PORT="6055"))[-1] == "6055"


def test_rasa_reaches_the_action_server_at_its_host_and_port():
    assert config()["ACTION_SERVER_URL"] == "http://127.0.0.1:5055/webhook"
    assert config(ACTION_PORT="6055")["ACTION_SERVER_URL"] == "http://127.0.0.1:6055/webhook"
    assert config(ACTION_HOST="0.0.0.0")["ACTION_SERVER_URL"] == "http://127.0.0.1:5055/webhook"
    assert config(ACTION_HOST="::")["ACTION_SERVER_URL"] == "http://[::1]:5055/webhook"
    # derived, never set on its own: a stale value in the environment changes nothing
    stale = settings.resolve({"ACTION_SERVER_URL": "http://old:1/webhook", "ACTION_PORT": "7055"})
    assert stale["ACTION_SERVER_URL"] == "http://127.0.0.1:7055/webhook"


def test_the_browser_reaches_rasa_at_the_public_url_or_at_localhost():
    assert settings.rasa_public_url(config(RASA_PORT="6005")) == "http://localhost:6005"
    assert settings.rasa_public_url(config(RASA_PUBLIC_URL="https://chat.example.org/")) == "https://chat.example.org"


def test_the_tracker_url_is_the_one_rasa_builds():
    sqlite = settings.tracker_url(config(TRACKER_DB="t.db"))
    assert sqlite.drivername == "sqlite" and sqlite.database == str(settings.ROOT / "t.db")
    postgres = settings.tracker_url(config(TRACKER_DIALECT="postgresql", TRACKER_HOST="db.internal:5433",
                                           TRACKER_DB="rasa", TRACKER_USER="rasa", TRACKER_PASSWORD="p@ss:w/rd"))
    assert (postgres.host, postgres.port, postgres.database) == ("db.internal", 5433, "rasa")
    assert (postgres.username, postgres.password) == ("rasa", "p@ss:w/rd")


def test_a_stack_runs_on_its_own_settings_not_this_process_environment(monkeypatch):
    monkeypatch.setenv("RASA_PORT", "5999")
    stack = launcher.Stack(RASA_PORT="6005", ACTION_PORT="6055")
    assert stack.env["RASA_PORT"] == "6005" and stack.env["ACTION_SERVER_URL"] == "http://127.0.0.1:6055/webhook"
    assert stack.env["SANIC_HOST"] == stack.config["ACTION_HOST"]
    assert stack.rasa_url == "http://127.0.0.1:6005"
    assert launcher.Stack().config["RASA_PORT"] == "5999"


def test_shell_mode_chats_in_the_terminal():
    command = launcher.rasa_command(config(), shell=True)
    assert command[3] == "shell" and "--credentials" not in command
    assert command[command.index("--interface") + 1] == "127.0.0.1"  # not every interface


def test_every_setting_is_documented_in_env_example():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (settings.ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    assert set(settings.DEFAULTS) <= documented


def test_the_first_run_writes_a_review_key_into_env_readable_by_the_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("REVIEW_SECRET_KEY", raising=False)
    env_file = tmp_path / ".env"
    values = config(REVIEW_SECRET_KEY="")
    key = run.ensure_secret(values, env_file, "REVIEW_SECRET_KEY")
    assert key and len(key) >= 32 and values["REVIEW_SECRET_KEY"] == key
    assert env_file.read_text().endswith(f"REVIEW_SECRET_KEY={key}\n")
    assert env_file.stat().st_mode & 0o777 == 0o600
    # a .env copied from .env.example has the empty line: it is filled in, the rest is kept
    env_file.write_text("RASA_PORT=6005\nREVIEW_SECRET_KEY=\nWEB_PORT=9090\n")
    env_file.chmod(0o644)
    key = run.ensure_secret(config(REVIEW_SECRET_KEY=""), env_file, "REVIEW_SECRET_KEY")
    assert env_file.read_text() == f"RASA_PORT=6005\nREVIEW_SECRET_KEY={key}\nWEB_PORT=9090\n"
    assert env_file.stat().st_mode & 0o777 == 0o600
    # a key that is set (even a short one) is never replaced
    assert run.ensure_secret(config(REVIEW_SECRET_KEY="mine"), env_file, "REVIEW_SECRET_KEY") is None
