from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog

from overworld.subsystems.pubsub.base import Handler
from overworld.subsystems.tasks import stop

log = structlog.get_logger(__name__)


class RedisPubSub:
    """Redis pub/sub: one subscriber connection per node, channels named `<prefix>:ps:<topic>`."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:ps:"
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._reconnect: list[Callable[[], Awaitable[None]]] = []
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-pubsub")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def close(self) -> None:
        if self._task:
            await stop(self._task)
        if self._pubsub is not None:
            await self._pubsub.aclose()

    async def publish(self, topic: str, payload: bytes) -> None:
        await self._redis.publish(self._prefix + topic, payload)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """One pipelined round trip (no transaction): Redis runs the PUBLISHes in order."""
        if len(messages) == 1:
            await self.publish(*messages[0])
            return
        pipe = self._redis.pipeline(transaction=False)
        for topic, payload in messages:
            pipe.publish(self._prefix + topic, payload)
        await pipe.execute()

    def subscribe(self, topic: str, handler: Handler) -> None:
        new = topic not in self._handlers
        self._handlers[topic].append(handler)
        if new and self._pubsub is not None and self._ready.is_set():
            asyncio.get_running_loop().create_task(self._pubsub.subscribe(self._prefix + topic))

    def on_reconnect(self, handler: Callable[[], Awaitable[None]]) -> None:
        self._reconnect.append(handler)

    async def _run(self) -> None:
        first = True
        while True:
            try:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                channels = [self._prefix + t for t in self._handlers] or [self._prefix + "_"]
                await self._pubsub.subscribe(*channels)
                self._ready.set()
                if not first:
                    for callback in self._reconnect:
                        await callback()
                first = False
                async for message in self._pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    topic = message["channel"].decode()[len(self._prefix) :]
                    for handler in list(self._handlers.get(topic, ())):
                        try:
                            result = handler(message["data"])
                            if inspect.isawaitable(result):
                                await result
                        except Exception:
                            log.exception("pubsub handler failed", topic=topic)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis pubsub connection lost, reconnecting", error=str(exc))
                await asyncio.sleep(0.5)
