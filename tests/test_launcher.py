"""The launcher behind `make run`: what it starts, from which settings."""
from __future__ import annotations

import importlib.util

from conftest import ROOT

spec = importlib.util.spec_from_file_location("launcher", ROOT / "scripts" / "run.py")
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)

import settings  # noqa: E402


def config(**overrides):
    return {**settings.DEFAULTS, **overrides}


def test_http_api_is_off_without_a_token():
    from rasa_ext.serve import rasa_arguments

    command = launcher.rasa_command(config(RASA_API_TOKEN=""), shell=False)
    arguments = rasa_arguments(command[3:], {"RASA_API_TOKEN": ""})
    assert "--enable-api" not in arguments and "--auth-token" not in arguments


def test_http_api_is_on_only_with_the_token_and_the_token_is_never_on_a_command_line():
    from rasa_ext.serve import rasa_arguments

    command = launcher.rasa_command(config(RASA_API_TOKEN="s3cret"), shell=False)
    assert "s3cret" not in " ".join(command) and command[1:4] == ["-m", "rasa_ext.serve", "run"]
    arguments = rasa_arguments(command[3:], {"RASA_API_TOKEN": "s3cret"})  # inside the Rasa process
    assert arguments[-3:] == ["--enable-api", "--auth-token", "s3cret"]


def test_ports_and_paths_come_from_the_settings():
    command = launcher.rasa_command(config(RASA_PORT="6005", RASA_MODEL_DIR="elsewhere"), shell=False)
    assert command[command.index("--port") + 1] == "6005"
    assert command[command.index("--model") + 1] == "elsewhere/assistant.tar.gz"
    assert launcher.action_command(config(ACTION_PORT="6055"))[-1] == "6055"


def test_shell_mode_chats_in_the_terminal():
    command = launcher.rasa_command(config(), shell=True)
    assert command[3] == "shell" and "--credentials" not in command
    assert command[command.index("--interface") + 1] == "127.0.0.1"  # not every interface


def test_every_setting_is_documented_in_env_example():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    assert set(settings.DEFAULTS) <= documented


def test_the_first_run_writes_a_review_key_into_env_readable_by_the_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("REVIEW_SECRET_KEY", raising=False)
    env_file = tmp_path / ".env"
    values = config(REVIEW_SECRET_KEY="")
    key = launcher.ensure_secret(values, env_file, "REVIEW_SECRET_KEY")
    assert key and len(key) >= 32 and values["REVIEW_SECRET_KEY"] == key
    assert env_file.read_text().endswith(f"REVIEW_SECRET_KEY={key}\n")
    assert env_file.stat().st_mode & 0o777 == 0o600
    # a .env copied from .env.example has the empty line: it is filled in, the rest is kept
    env_file.write_text("RASA_PORT=6005\nREVIEW_SECRET_KEY=\nWEB_PORT=9090\n")
    env_file.chmod(0o644)
    key = launcher.ensure_secret(config(REVIEW_SECRET_KEY=""), env_file, "REVIEW_SECRET_KEY")
    assert env_file.read_text() == f"RASA_PORT=6005\nREVIEW_SECRET_KEY={key}\nWEB_PORT=9090\n"
    assert env_file.stat().st_mode & 0o777 == 0o600
    # a key that is set (even a short one) is never replaced
    assert launcher.ensure_secret(config(REVIEW_SECRET_KEY="mine"), env_file, "REVIEW_SECRET_KEY") is None
