from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from overworld.subsystems.pubsub.base import Handler


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
            result = handler(payload)
            if inspect.isawaitable(result):
                await result

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            await self.publish(topic, payload)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def on_reconnect(self, handler: Callable[[], Awaitable[None]]) -> None:
        return None  # an in-process bus never disconnects
