"""REST: a trusted, server-side interface (another server of yours calls it), never a browser's.

Credentials (written by channels/credentials.py only when RASA_REST_TOKEN is set; without it
the REST channel is off and /webhooks/rest/webhook answers 404)::

    channels.rest.RestInput:
      token: ${RASA_REST_TOKEN}

What differs from Rasa's RestInput:

- every POST to /webhooks/rest/webhook needs `Authorization: Bearer <token>` (else 401): whoever
  holds the token can write into any REST conversation, so only a server may hold it;
- the body is checked (400 with the reason): a JSON object with `sender` (1-128 characters, no
  control characters) and `message` (text, or missing); `metadata`, if given, an object;
- the conversation id is stored as `rest:<sender>`, so a REST caller cannot write into a
  socket.io, Telegram or Slack conversation; the answers name the sender as it was sent;
- `input_channel` is always "rest": Rasa takes it from the body, where a client could put
  anything (a 300-character value broke the review app's sync on PostgreSQL).
"""
from __future__ import annotations

import hmac
import json
import re
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request

from channels.conversations import prefix_senders

NAME = "rest"
SENDER_PATTERN = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,128}$")


def body_problem(body: Any) -> Optional[str]:
    """Why a webhook body is refused, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    sender, message, metadata = body.get("sender"), body.get("message"), body.get("metadata")
    if not isinstance(sender, str) or not SENDER_PATTERN.match(sender):
        return "sender must be a string of 1 to 128 characters without control characters"
    if message is not None and not isinstance(message, str):
        return "message must be a string"
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata must be a JSON object"
    return None


class RestInput(RasaRestInput):
    """Rasa's REST channel behind a bearer token, with checked bodies and prefixed senders."""

    @classmethod
    def name(cls) -> Text:
        return NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        token = str((credentials or {}).get("token") or "")
        if not token:
            cls.raise_missing_credentials_exception()
        return cls(token)

    def __init__(self, token: Text) -> None:
        self.token = token

    def _extract_input_channel(self, req: Request) -> Text:
        return NAME

    def authorised(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest_webhook = super().blueprint(prefix_senders(NAME, on_new_message))

        @rest_webhook.middleware("request")
        async def check(request: Request) -> Optional[response.HTTPResponse]:
            if request.method != "POST":
                return None
            if not self.authorised(request):
                return response.json({"error": "this interface needs the REST token (Authorization: Bearer ...)"},
                                     status=401)
            try:
                body = json.loads(request.body or b"")
            except (ValueError, UnicodeDecodeError):
                return response.json({"error": "the body must be JSON"}, status=400)
            problem = body_problem(body)
            return response.json({"error": problem}, status=400) if problem else None

        return rest_webhook
