"""Conversation ids prefixed by channel, and the cache of requests already seen.

Every channel's sender id is stored as `<channel>:<id>` (`rest:...`, `socketio:...`,
`telegram:<chat id>`, `slack:<user id>`), so that no client of one channel can write into a
conversation of another by naming its id. The platforms still get their own ids: the output
channel is wrapped to take the prefix off again.

`SeenCache` remembers keys (a Slack signature, a Telegram update_id) for a while: in this process,
or in Redis with CHANNEL_REPLAY_STORE=redis (the scale-out set-up, where a retry can reach
another Rasa server), with SET NX EX, so that two servers cannot both take the same request.
"""
from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage

logger = logging.getLogger(__name__)

SEPARATOR = ":"
MEMORY_KEYS = 100_000  # the in-process cache forgets the oldest keys beyond this many


def prefixed(channel: Text, sender_id: Any) -> Text:
    sender = str(sender_id)
    prefix = channel + SEPARATOR
    return sender if sender.startswith(prefix) else prefix + sender


def unprefixed(channel: Text, recipient_id: Any) -> Text:
    recipient, prefix = str(recipient_id), channel + SEPARATOR
    return recipient[len(prefix):] if recipient.startswith(prefix) else recipient


class Unprefixed(OutputChannel):
    """An output channel that gets the platform's own id back (and delegates everything else)."""

    def __init__(self, inner: OutputChannel, channel: Text) -> None:
        self.inner, self.channel = inner, channel

    def name(self) -> Text:  # type: ignore[override]
        return self.inner.name()

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        await self.inner.send_response(unprefixed(self.channel, recipient_id), message)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


def prefix_senders(channel: Text, on_new_message: Callable[[UserMessage], Awaitable[Any]]
                   ) -> Callable[[UserMessage], Awaitable[Any]]:
    """`on_new_message` for messages whose sender id gets the channel's prefix."""
    async def handler(message: UserMessage) -> Any:
        message.sender_id = prefixed(channel, message.sender_id)
        if message.output_channel is not None and not isinstance(message.output_channel, Unprefixed):
            message.output_channel = Unprefixed(message.output_channel, channel)
        return await on_new_message(message)

    return handler


class SeenCache:
    """`await first(key, seconds)`: True the first time a key is seen within `seconds`."""

    def __init__(self, redis_url: Optional[Text] = None) -> None:
        self._memory: "OrderedDict[Text, float]" = OrderedDict()
        self._redis: Any = None
        if redis_url:
            import redis.asyncio

            self._redis = redis.asyncio.from_url(redis_url)

    @classmethod
    def from_environment(cls) -> "SeenCache":
        """CHANNEL_REPLAY_STORE=redis: Redis at REDIS_HOST:REDIS_PORT, database REDIS_DB."""
        if (os.environ.get("CHANNEL_REPLAY_STORE") or "memory").strip().lower() != "redis":
            return cls()
        host, port = os.environ.get("REDIS_HOST") or "127.0.0.1", os.environ.get("REDIS_PORT") or "6379"
        return cls(f"redis://{host}:{port}/{os.environ.get('REDIS_DB') or '0'}")

    @property
    def shared(self) -> bool:
        return self._redis is not None

    async def first(self, key: Text, seconds: float) -> bool:
        if self._redis is not None:
            return bool(await self._redis.set("msphysio:seen:" + key, "1", nx=True, ex=max(1, int(seconds))))
        now = time.monotonic()
        while self._memory and (next(iter(self._memory.values())) < now or len(self._memory) > MEMORY_KEYS):
            self._memory.popitem(last=False)
        if self._memory.get(key, 0) >= now:
            return False
        self._memory[key] = now + seconds
        self._memory.move_to_end(key)
        return True
