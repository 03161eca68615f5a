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
    command = launcher.rasa_command(config(RASA_API_TOKEN=""), shell=False)
    assert "--enable-api" not in command and "--auth-token" not in command


def test_http_api_is_on_only_with_the_token():
    command = launcher.rasa_command(config(RASA_API_TOKEN="s3cret"), shell=False)
    assert command[command.index("--enable-api") + 1 : command.index("--enable-api") + 3] == ["--auth-token", "s3cret"]


def test_ports_and_paths_come_from_the_settings():
    command = launcher.rasa_command(config(RASA_PORT="6005", RASA_MODEL_DIR="elsewhere"), shell=False)
    assert command[command.index("--port") + 1] == "6005"
    assert command[command.index("--model") + 1] == "elsewhere/assistant.tar.gz"
    assert launcher.action_command(config(ACTION_PORT="6055"))[-1] == "6055"


def test_shell_mode_chats_in_the_terminal():
    command = launcher.rasa_command(config(), shell=True)
    assert command[1] == "shell" and "--credentials" not in command


def test_every_setting_is_documented_in_env_example():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    assert set(settings.DEFAULTS) <= documented
