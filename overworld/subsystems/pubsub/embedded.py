from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

import structlog

from overworld.subsystems.pubsub.base import Handler

log = structlog.get_logger(__name__)


class EmbeddedPubSub:
    """In-process delivery: a publish calls this node's subscribers directly."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()

    async def publish(self, topic: str, payload: bytes) -> None:
        for handler in list(self._handlers.get(topic, ())):
            # As on Redis: a failing subscriber is logged, and neither keeps the payload from the
            # other subscribers nor fails the publisher.
            try:
                result = handler(payload)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("pubsub handler failed", topic=topic)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            await self.publish(topic, payload)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def on_reconnect(self, handler: Callable[[], Awaitable[None]]) -> None:
        return None  # an in-process bus never disconnects
