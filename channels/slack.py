"""Slack: Rasa's channel, with signed requests enforced (401) and replays refused.

Credentials (written by channels/credentials.py)::

    channels.slack.SlackInput:
      slack_token: ${SLACK_BOT_TOKEN}
      slack_signing_secret: ${SLACK_SIGNING_SECRET}
      api_url: <SLACK_API_URL, default settings.DEFAULTS>

Rasa's other Slack options (slack_channel, use_threads, conversation_granularity, ...) still work.

What differs from Rasa's SlackInput / SlackBot:

- requests to ``/webhooks/slack/webhook`` that are unsigned, wrongly signed, older than five
  minutes (Rasa's checks) or a replay of a signature already seen within those five minutes get
  401 before anything reaches the bot (Rasa answers 400, and accepts replays);
- Slack's ``url_verification`` challenge is answered as ``{"challenge": ...}`` (after the
  signature check);
- the Web API base URL is configurable (``api_url``);
- buttons are Block Kit ``actions`` blocks of up to 25 buttons each (Slack's limit), where Rasa
  drops every button when there are more than 5;
- the legacy ``as_user`` argument is not sent (it is for classic apps; a bot token posts as the bot).

The conversation id is ``slack:<user id>`` (channels/conversations.py). Signatures already seen
are remembered in this process, or with CHANNEL_REPLAY_STORE=redis in Redis, which the Rasa
servers of the scale-out set-up share: a replay to another server is refused too.
"""
from __future__ import annotations

import json
import logging
import re
import time
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot as RasaSlackBot
from rasa.core.channels.slack import SlackInput as RasaSlackInput
from sanic import Blueprint, response
from sanic.request import Request
from slack_sdk.web.async_client import AsyncWebClient

import settings
from channels.conversations import SeenCache, prefix_senders

logger = logging.getLogger(__name__)

DEFAULT_API_URL = settings.DEFAULTS["SLACK_API_URL"]
STALENESS_SECONDS = 60 * 5  # Rasa's window: older (or newer) timestamps are refused
MAX_BUTTONS_PER_BLOCK = 25  # Slack's limit for the elements of one actions block
MAX_SECTION_CHARS = 3000  # Slack's limit for the text of one section block
# The one markup an answer carries: Markdown links to its sources, [name](https://...).
LINK = re.compile(r"\[([^\]\n]{1,300})\]\((https://[^\s)|]+)\)")


def _slack_escape(text: Text) -> Text:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_mrkdwn(text: Text) -> Text:
    """The text as Slack mrkdwn: [name](https://...) links become <url|name>, &, < and > are escaped."""
    parts, last = [], 0
    for match in LINK.finditer(text):
        parts.append(_slack_escape(text[last : match.start()]))
        parts.append(f"<{_slack_escape(match.group(2))}|{_slack_escape(match.group(1)).replace('|', '/')}>")
        last = match.end()
    parts.append(_slack_escape(text[last:]))
    return "".join(parts)


def _api_url(url: Optional[Text]) -> Text:
    url = url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


class SlackBot(RasaSlackBot):
    """Rasa's Slack output against a configurable Web API base URL."""

    def __init__(
        self,
        token: Text,
        slack_channel: Optional[Text] = None,
        thread_id: Optional[Text] = None,
        proxy: Optional[Text] = None,
        api_url: Text = DEFAULT_API_URL,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token, base_url=_api_url(api_url), proxy=proxy)

    async def _post_message(self, channel: Text, **kwargs: Any) -> None:
        # `as_user` is a legacy argument for classic apps' user tokens; with a bot token (xoxb-)
        # from a current Slack app the message is posted as the bot anyway.
        kwargs.pop("as_user", None)
        if "text" in kwargs:
            kwargs["text"] = slack_mrkdwn(kwargs["text"])  # sources as <url|name> links
        await super()._post_message(channel, **kwargs)

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """The text as section blocks, then the buttons as actions blocks of button elements."""
        recipient = self.slack_channel or recipient_id
        mrkdwn = slack_mrkdwn(text)
        sections = [
            {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn[i : i + MAX_SECTION_CHARS]}}
            for i in range(0, len(mrkdwn), MAX_SECTION_CHARS)
        ]
        actions = [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": button["title"]},
                        "value": button["payload"],
                    }
                    for button in buttons[i : i + MAX_BUTTONS_PER_BLOCK]
                ],
            }
            for i in range(0, len(buttons), MAX_BUTTONS_PER_BLOCK)
        ]
        await self._post_message(channel=recipient, text=text, blocks=sections + actions)


class SlackInput(RasaSlackInput):
    """Rasa's Slack input with 401 for unauthentic requests and replay protection."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        channel = super().from_credentials(credentials)
        channel.api_url = _api_url((credentials or {}).get("api_url"))
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_url = DEFAULT_API_URL
        self.seen = SeenCache.from_environment()

    async def _first_sighting(self, request: Request) -> bool:
        """True the first time a (valid) signature is seen within the staleness window."""
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            timestamp = int(request.headers.get("X-Slack-Request-Timestamp", "0"))
        except ValueError:
            return False
        return await self.seen.first("slack:" + signature, timestamp + STALENESS_SECONDS + 1 - time.time())

    async def check_request(self, request: Request) -> bool:
        """Rasa's check (HMAC of the body, at most five minutes old), and never seen before; the
        verdict is kept on the request, for the webhook handler that asks again."""
        verdict = bool(super().is_request_from_slack_authentic(request))
        if verdict and not await self._first_sighting(request):
            logger.warning("Slack request with a signature already seen (a replay): refused.")
            verdict = False
        request.ctx.slack_authentic = verdict
        return verdict

    def is_request_from_slack_authentic(self, request: Request) -> bool:
        """The middleware's verdict (it runs before the webhook handler)."""
        return bool(getattr(request.ctx, "slack_authentic", False))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        slack_webhook = super().blueprint(prefix_senders("slack", on_new_message))

        @slack_webhook.middleware("request")
        async def require_signature(request: Request) -> Optional[response.HTTPResponse]:
            if not request.path.rstrip("/").endswith("/webhook"):
                return None
            if not await self.check_request(request):
                return response.text("Request not signed by Slack, stale or replayed.", status=HTTPStatus.UNAUTHORIZED)
            if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
                try:
                    body = json.loads(request.body or b"{}")
                except ValueError:
                    return response.text("Invalid JSON.", status=HTTPStatus.BAD_REQUEST)
                if isinstance(body, dict) and body.get("type") == "url_verification":
                    return response.json({"challenge": body.get("challenge", "")})
            return None

        return slack_webhook

    def get_output_channel(self, channel: Optional[Text] = None, thread_id: Optional[Text] = None) -> OutputChannel:
        return SlackBot(self.slack_token, channel or self.slack_channel, thread_id, self.proxy, api_url=self.api_url)
