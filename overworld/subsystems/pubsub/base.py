"""Topic-based messaging between the nodes of a deployment (or within the one embedded node)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

Handler = Callable[[bytes], Awaitable[None] | None]


class PubSub(Protocol):
    """Deliver each published payload to every subscriber of the topic on every node.

    Delivery is at most once and in publish order per publisher; consumers that must not miss an
    event also keep it in the database and call `on_reconnect` handlers to resynchronise.
    """

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, topic: str, payload: bytes) -> None: ...
    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish `(topic, payload)` pairs in this order, in as few round trips as possible."""
        ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...
    def on_reconnect(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Run `handler` after a lost connection is re-established (messages may have been missed)."""
        ...
