"""Telegram: Rasa's channel, with the webhook authenticated by Telegram's secret token header.

Credentials (written by channels/credentials.py)::

    channels.telegram.TelegramInput:
      access_token: ${TELEGRAM_TOKEN}
      verify: <bot username>
      webhook_url: https://YOUR-HOST/webhooks/telegram/webhook
      secret_token: ${TELEGRAM_SECRET_TOKEN}
      api_url: <TELEGRAM_API_URL, default settings.DEFAULTS>

What differs from Rasa's TelegramInput:

- every request to ``/webhooks/telegram/webhook`` and ``/webhooks/telegram/set_webhook`` must
  carry ``X-Telegram-Bot-Api-Secret-Token`` equal to ``secret_token`` (at least 32 characters);
  anything else gets 403 and never reaches the bot;
- an update whose ``update_id`` was seen in the last 24 hours (Telegram delivers again when an
  answer is slow) gets 200 and is not processed twice; with CHANNEL_REPLAY_STORE=redis the
  servers of the scale-out set-up share what they have seen;
- the conversation id is ``telegram:<chat id>`` (channels/conversations.py);
- the webhook is registered with that secret (at start-up and by ``/set_webhook``). Start-up does
  it once the server runs, and logs an error rather than stopping Rasa if Telegram is unreachable;
- the Bot API base URL is configurable (``api_url``), for input and output alike;
- the bot's own identity (getMe, used by Rasa to check ``verify``) is fetched once, not per update.

Buttons are sent as an inline keyboard, as Rasa's TelegramOutput does.
"""
from __future__ import annotations

import hmac
import html
import json
import logging
import re
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from aiogram import Bot
from aiogram.bot.api import Methods, TelegramAPIServer
from aiogram.types import User
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput as RasaTelegramInput
from rasa.core.channels.telegram import TelegramOutput as RasaTelegramOutput
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request

import settings
from channels.conversations import SeenCache, prefix_senders

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_URL = settings.DEFAULTS["TELEGRAM_API_URL"]
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
UPDATE_SECONDS = 24 * 3600  # Telegram gives up delivering an update after a day
# The one markup an answer carries: Markdown links to its sources, [name](https://...).
LINK = re.compile(r"\[([^\]\n]{1,300})\]\((https://[^\s)]+)\)")


def telegram_html(text: Text) -> Text:
    """The text for parse_mode HTML: [name](https://...) links become <a href>, all else is escaped."""
    parts, last = [], 0
    for match in LINK.finditer(text):
        parts.append(html.escape(text[last : match.start()], quote=False))
        parts.append(f'<a href="{html.escape(match.group(2))}">{html.escape(match.group(1), quote=False)}</a>')
        last = match.end()
    parts.append(html.escape(text[last:], quote=False))
    return "".join(parts)


class TelegramOutput(RasaTelegramOutput):
    """Rasa's Telegram output against a configurable Bot API server."""

    def __init__(self, access_token: Optional[Text], api_url: Text = DEFAULT_API_URL, secret_token: Text = "") -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_url or DEFAULT_API_URL))
        self.secret_token = secret_token
        self._me: Optional[User] = None

    async def set_webhook(self, url: Text) -> bool:  # type: ignore[override]
        """setWebhook with the secret token (aiogram 2.15's set_webhook has no such parameter)."""
        payload: Dict[str, Any] = {"url": url}
        if self.secret_token:
            payload["secret_token"] = self.secret_token
        return await self.request(Methods.SET_WEBHOOK, payload)

    async def send_message(self, chat_id: Any, text: Text, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Every message as HTML, so that the sources show as links."""
        kwargs["parse_mode"] = "HTML"
        return await super().send_message(chat_id, telegram_html(text), *args, **kwargs)

    async def get_me(self) -> User:
        if self._me is None:
            self._me = await super().get_me()
        return self._me


class TelegramInput(RasaTelegramInput):
    """Rasa's Telegram input, accepting only updates that carry the webhook secret."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        assert credentials  # the line above raises
        return cls(
            credentials.get("access_token"),
            credentials.get("verify"),
            credentials.get("webhook_url"),
            secret_token=str(credentials.get("secret_token") or ""),
            api_url=credentials.get("api_url") or DEFAULT_API_URL,
        )

    def __init__(
        self,
        access_token: Optional[Text],
        verify: Optional[Text],
        webhook_url: Optional[Text],
        debug_mode: bool = True,
        secret_token: Text = "",
        api_url: Text = DEFAULT_API_URL,
    ) -> None:
        super().__init__(access_token, (verify or "").lstrip("@"), webhook_url, debug_mode)
        if not SECRET_PATTERN.match(secret_token):
            raise InvalidConfigException(
                "The Telegram channel needs `secret_token`: 32-256 characters of A-Z, a-z, 0-9, _ and -."
            )
        self.secret_token = secret_token
        self.api_url = api_url
        self.seen = SeenCache.from_environment()

    def get_output_channel(self) -> TelegramOutput:
        # Unlike Rasa's, this does not set the webhook (with asyncio.run, which fails inside the
        # server's event loop): blueprint() does that once the server is up.
        return TelegramOutput(self.access_token, self.api_url, self.secret_token)

    def has_secret(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "")
        return hmac.compare_digest(given.encode("utf-8"), self.secret_token.encode("utf-8"))

    async def first_delivery(self, request: Request) -> bool:
        """False for an update_id already processed (a repeated delivery)."""
        try:
            update_id = json.loads(request.body or b"{}").get("update_id")
        except (ValueError, AttributeError):
            return True  # Rasa's handler answers what it cannot read
        if not isinstance(update_id, int):
            return True
        return await self.seen.first(f"telegram:{self.verify}:{update_id}", UPDATE_SECONDS)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        telegram_webhook = super().blueprint(prefix_senders("telegram", on_new_message))

        @telegram_webhook.middleware("request")
        async def require_secret(request: Request) -> Optional[response.HTTPResponse]:
            path = request.path.rstrip("/")
            if not path.endswith(("/webhook", "/set_webhook")):
                return None
            if not self.has_secret(request):
                logger.warning("Telegram request without the right secret token header: refused.")
                return response.text("Forbidden", status=403)
            if path.endswith("/webhook") and not await self.first_delivery(request):
                logger.info("Telegram delivered an update again: not processed twice.")
                return response.text("success")
            return None

        @telegram_webhook.listener("after_server_start")
        async def register_webhook(app: Any, loop: Any) -> None:
            bot = self.get_output_channel()
            try:
                await bot.set_webhook(self.webhook_url)
                logger.info("Telegram webhook set (with its secret token).")
            except Exception as error:  # never stop the other channels for this
                reason = str(error) if isinstance(error, TelegramAPIError) else type(error).__name__
                reason = reason.replace(str(self.access_token), "<token>")  # URLs carry the token
                logger.error(
                    f"Could not set the Telegram webhook ({reason}). Telegram messages will not arrive "
                    f"until it is set: POST /webhooks/telegram/set_webhook with the {SECRET_HEADER} header once "
                    f"Telegram is reachable."
                )
            finally:
                await bot.session.close()

        return telegram_webhook
