"""Which channels are live, and the credentials file Rasa is started with.

socket.io is always on, exactly as in the repository's ``credentials.yml``. REST (a trusted,
server-side interface with a token), Telegram and Slack are added only when every variable they
need is set. Rasa stops at start-up on an unset
``${VAR}`` in the credentials file, so a channel that is not (fully) configured is left out of the
generated file rather than half-configured, and the launcher says so.

Secrets are written as ``${VAR}`` references (unquoted, so that Rasa substitutes them from the
environment of the Rasa process); only non-secret values (bot name, webhook URL, API URLs) are
written as they are.

    report = write_credentials(settings, Path("logs/credentials.generated.yml"))
    print(report.summary)            # Channels live: socketio, rest, telegram
    for problem in report.problems:  # Slack is partly configured and left out: ...
        print(problem)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from settings import DEFAULTS, ROOT

BASE_CREDENTIALS = ROOT / "credentials.yml"
GENERATED_NAME = "credentials.generated.yml"

REST_MODULE = "channels.rest.RestInput"
TELEGRAM_MODULE = "channels.telegram.TelegramInput"
SLACK_MODULE = "channels.slack.SlackInput"

REST_REQUIRED = ("RASA_REST_TOKEN",)
TELEGRAM_REQUIRED = ("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_SECRET_TOKEN")
SLACK_REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
# Never written to disk: the file carries ${VAR} for these.
SECRETS = ("RASA_REST_TOKEN", "TELEGRAM_TOKEN", "TELEGRAM_SECRET_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")

# What Telegram accepts as a webhook secret token (Bot API, setWebhook: 1-256 of these
# characters), at least 32 long here: it is all that stands between the internet and the bot.
TELEGRAM_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
MIN_REST_TOKEN_CHARS = 32
# Module names of channels in the credentials file -> the name the start-up line shows.
CHANNEL_NAMES = {"channels.socketio.SocketIOInput": "socketio", REST_MODULE: "rest"}
# What a BotFather token looks like (aiogram refuses anything else at start-up).
TELEGRAM_TOKEN_PATTERN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")


def env_ref(name: str) -> str:
    """The unquoted ``${NAME}`` Rasa substitutes from the environment when it reads the file."""
    return "${" + name + "}"


def _value(settings: Mapping[str, Optional[str]], name: str) -> str:
    return (settings.get(name) or "").strip()


def _telegram(settings: Mapping[str, Optional[str]]) -> Tuple[Dict[str, Any], List[str]]:
    problems = []
    if not TELEGRAM_TOKEN_PATTERN.match(_value(settings, "TELEGRAM_TOKEN")):
        problems.append("TELEGRAM_TOKEN does not look like a BotFather token (<digits>:<letters and digits>)")
    if not TELEGRAM_SECRET_PATTERN.match(_value(settings, "TELEGRAM_SECRET_TOKEN")):
        problems.append("TELEGRAM_SECRET_TOKEN must be 32-256 characters of A-Z, a-z, 0-9, _ and -")
    if not _value(settings, "TELEGRAM_WEBHOOK_URL").startswith("https://"):
        problems.append("TELEGRAM_WEBHOOK_URL must be an https:// URL (Telegram only calls HTTPS webhooks)")
    credentials = {
        "access_token": env_ref("TELEGRAM_TOKEN"),
        "verify": _value(settings, "TELEGRAM_BOT_NAME").lstrip("@"),
        "webhook_url": _value(settings, "TELEGRAM_WEBHOOK_URL"),
        "secret_token": env_ref("TELEGRAM_SECRET_TOKEN"),
        "api_url": _value(settings, "TELEGRAM_API_URL") or DEFAULTS["TELEGRAM_API_URL"],
    }
    return credentials, problems


def _rest(settings: Mapping[str, Optional[str]]) -> Tuple[Dict[str, Any], List[str]]:
    problems = []
    if len(_value(settings, "RASA_REST_TOKEN")) < MIN_REST_TOKEN_CHARS:
        problems.append(f"RASA_REST_TOKEN must have at least {MIN_REST_TOKEN_CHARS} characters")
    return {"token": env_ref("RASA_REST_TOKEN")}, problems


def _slack(settings: Mapping[str, Optional[str]]) -> Tuple[Dict[str, Any], List[str]]:
    credentials = {
        "slack_token": env_ref("SLACK_BOT_TOKEN"),
        "slack_signing_secret": env_ref("SLACK_SIGNING_SECRET"),
        "api_url": _value(settings, "SLACK_API_URL") or DEFAULTS["SLACK_API_URL"],
    }
    return credentials, []


@dataclass(frozen=True)
class Channel:
    name: str
    title: str
    module: str
    required: Tuple[str, ...]
    build: Callable[[Mapping[str, Optional[str]]], Tuple[Dict[str, Any], List[str]]]


OPTIONAL_CHANNELS = (
    Channel("rest", "REST", REST_MODULE, REST_REQUIRED, _rest),
    Channel("telegram", "Telegram", TELEGRAM_MODULE, TELEGRAM_REQUIRED, _telegram),
    Channel("slack", "Slack", SLACK_MODULE, SLACK_REQUIRED, _slack),
)


@dataclass
class ChannelReport:
    """The credentials mapping for the live channels, and what to tell the operator."""

    credentials: Dict[str, Any]
    live: List[str]
    problems: List[str] = field(default_factory=list)
    path: Optional[Path] = None

    @property
    def summary(self) -> str:
        return "Channels live: " + ", ".join(self.live)

    def lines(self) -> List[str]:
        return [self.summary, *self.problems]


def base_credentials(path: Path = BASE_CREDENTIALS) -> Dict[str, Any]:
    """The always-on channel (socket.io) as the repository's credentials.yml has it."""
    return dict(yaml.safe_load(path.read_text()) or {})


def _and(names: List[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_channels(settings: Mapping[str, Optional[str]], base: Path = BASE_CREDENTIALS) -> ChannelReport:
    """Decide which channels are live. ``settings``: the environment values (e.g. settings.load_env()).

    A channel is live when all of its required variables are set (non-blank) and valid. A channel
    with some but not all of them set is reported as partly configured and left out; one with
    none set is simply off. Messages name variables, never their values.
    """
    credentials = base_credentials(base)
    live = [CHANNEL_NAMES.get(module, module) for module in credentials]
    problems = []
    for channel in OPTIONAL_CHANNELS:
        missing = [name for name in channel.required if not _value(settings, name)]
        if len(missing) == len(channel.required):
            continue  # not configured at all: off, nothing to say
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            problems.append(
                f"{channel.title} is partly configured and is left out: {_and(missing)} {verb} not set "
                f"(set all of {', '.join(channel.required)} to enable it)."
            )
            continue
        channel_credentials, invalid = channel.build(settings)
        if invalid:
            problems.append(f"{channel.title} is misconfigured and is left out: {'; '.join(invalid)}.")
            continue
        credentials[channel.module] = channel_credentials
        live.append(channel.name)
    return ChannelReport(credentials, live, problems)


def credentials_for(settings: Mapping[str, Optional[str]], base: Path = BASE_CREDENTIALS) -> Dict[str, Any]:
    """The credentials mapping for the live channels (secrets as ``${VAR}`` references)."""
    return check_channels(settings, base).credentials


def render(credentials: Mapping[str, Any]) -> str:
    """YAML text with every ``${VAR}`` reference left unquoted, as Rasa needs to substitute it."""
    placeholders: Dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, str) and re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
            placeholder = f"ENV_REFERENCE_{len(placeholders)}_"
            placeholders[placeholder] = value
            return placeholder
        return value

    text = yaml.safe_dump(swap(dict(credentials)), default_flow_style=False, sort_keys=False)
    for placeholder, reference in placeholders.items():
        text = re.sub(rf"\b{placeholder}(?=\s*$)", lambda _: reference, text, flags=re.MULTILINE)
    return text


HEADER = """\
# GENERATED at start-up by channels/credentials.py from the settings: do not edit, it is rewritten.
# The always-on channels come from credentials.yml; Telegram and Slack are here only when fully
# configured. Secrets are ${VAR} references that Rasa fills in from its environment.
"""


def write_credentials(
    settings: Mapping[str, Optional[str]], path: Path, base: Path = BASE_CREDENTIALS
) -> ChannelReport:
    """Write the credentials file for the live channels to ``path``; returns the report."""
    report = check_channels(settings, base)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + render(report.credentials))
    report.path = path
    return report
