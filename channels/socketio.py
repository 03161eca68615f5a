"""socket.io for the web widget: session ids made and signed by the server, one room per session.

Credentials (credentials.yml)::

    channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered

What differs from Rasa's SocketIOInput (with session_persistence):

- Rasa took the session id from the client, for `session_request` and for every message: anyone
  who knew or guessed an id could join that conversation's room and receive its answers, or
  write into it. Here `session_request` accepts only an id this server signed (HMAC-SHA256 with
  RASA_SESSION_KEY) and otherwise makes a new one; the socket's session is remembered on the
  server, and a message's own `session_id` is ignored.
- The conversation id in the tracker store is `socketio:<random id>`; the signature, which is
  what lets a browser come back to its conversation, is never stored.
- A connection from an Origin that RASA_CORS_ORIGINS does not list is refused (Rasa left
  socket.io open to every origin).
- Malformed events (not an object, a message that is not text) are answered with an error
  event, never an exception.

Without RASA_SESSION_KEY (`make run` writes one into .env), a random key is made per process:
sessions then do not survive a restart, and several Rasa servers must share one key.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import rasa.core.channels.channel
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint, response
from sanic.request import Request
from socketio import AsyncServer

logger = logging.getLogger(__name__)

NAME = "socketio"
ERROR_EVENT = "error_message"


def allowed_origins(setting: Optional[Text]) -> Optional[List[Text]]:
    """None: any origin (RASA_CORS_ORIGINS "*" or empty); else the listed origins."""
    origins = [o.strip().rstrip("/") for o in (setting or "").replace(",", " ").split() if o.strip()]
    return None if not origins or "*" in origins else origins


class SessionSigner:
    """Session ids `<32 hex>.<signature>`: made by this server, checked in constant time."""

    def __init__(self, key: Text) -> None:
        self.key = hashlib.sha256(b"socketio-session:" + key.encode()).digest()

    def _mac(self, session: Text) -> Text:
        return hmac.new(self.key, session.encode(), hashlib.sha256).hexdigest()[:32]

    def new(self) -> Text:
        session = uuid.uuid4().hex
        return f"{session}.{self._mac(session)}"

    def verify(self, signed: Any) -> Optional[Text]:
        """The session a signed id names, or None."""
        if not isinstance(signed, str) or len(signed) != 65 or signed[32] != ".":
            return None
        session, mac = signed[:32], signed[33:]
        return session if hmac.compare_digest(mac.encode(), self._mac(session).encode()) else None


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io channel with server-made, signed session ids."""

    @classmethod
    def name(cls) -> Text:
        return NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SocketIOInput":
        credentials = credentials or {}
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            True,
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key"),
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
        )

    def __init__(self, *args: Any, session_key: Optional[Text] = None, cors_origins: Optional[Text] = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        key = session_key if session_key is not None else os.environ.get("RASA_SESSION_KEY", "")
        if not key:
            logger.warning("RASA_SESSION_KEY is not set: the widget's sessions will not survive a restart "
                           "(make run writes one into .env).")
            key = secrets.token_urlsafe(32)
        self.signer = SessionSigner(key)
        self.origins = allowed_origins(cors_origins if cors_origins is not None
                                       else os.environ.get("RASA_CORS_ORIGINS", "*"))

    def origin_allowed(self, environ: Dict[Text, Any]) -> bool:
        origin = (environ.get("HTTP_ORIGIN") or "").rstrip("/")
        return self.origins is None or not origin or origin in self.origins

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # CORS headers come from Rasa's Sanic-CORS (engine.io's own would double them); the
        # Origin is checked when a socket connects.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        blueprint = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> response.HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict]) -> bool:
            if not self.origin_allowed(environ):
                logger.warning("socket.io connection from an origin not in RASA_CORS_ORIGINS: refused.")
                return False
            if self.jwt_key:
                token = auth.get("token") if isinstance(auth, dict) else None
                return bool(token and rasa.core.channels.channel.decode_bearer_token(
                    token, self.jwt_key, self.jwt_algorithm))
            return True

        async def start_session(sid: Text, requested: Any) -> Text:
            """Join the session a signed id names, or a new one; the sender id."""
            session = self.signer.verify(requested)
            signed = requested if session else self.signer.new()
            sender = f"{NAME}:{signed[:32]}"
            for room in sio.rooms(sid, namespace=self.namespace):
                if room not in (sid, sender):
                    sio.leave_room(sid, room, namespace=self.namespace)
            await sio.save_session(sid, {"sender": sender}, namespace=self.namespace)
            sio.enter_room(sid, sender, namespace=self.namespace)
            await sio.emit("session_confirm", signed, room=sid, namespace=self.namespace)
            return sender

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Any) -> None:
            await start_session(sid, data.get("session_id") if isinstance(data, dict) else None)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            if not isinstance(data, dict) or not isinstance(data.get("message", ""), str):
                await sio.emit(ERROR_EVENT, {"error": "a message is an object with the text in `message`"},
                               room=sid, namespace=self.namespace)
                return
            sender = (await sio.get_session(sid, namespace=self.namespace) or {}).get("sender")
            if not sender:  # no session_request first: a new session, confirmed to this socket
                sender = await start_session(sid, None)
            metadata = data.get(self.metadata_key)
            message = UserMessage(data.get("message", ""), SocketIOOutput(sio, self.bot_message_evt), sender,
                                  input_channel=NAME, metadata=metadata if isinstance(metadata, dict) else {})
            await on_new_message(message)

        return blueprint
