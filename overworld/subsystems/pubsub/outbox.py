"""An ordered outbox: publish without awaiting, in the order queued, from one task.

Callers on a hot path (presence diffs, cross-node deliveries) queue a message and return; one
sender task publishes the queue in order, so peers see one sender's messages in the order they
were queued (concurrent `publish` calls over a connection pool would not keep it). Whatever has
queued up while the previous batch was being sent goes out as the next batch (`publish_many`: one
Redis pipeline, one round trip), so a backlog costs one round trip per batch, not per message.
A failed batch is logged and skipped: consumers that must not miss a message detect gaps
themselves.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from overworld.subsystems.pubsub.base import PubSub

log = structlog.get_logger(__name__)
MAX_BATCH = 500  # messages per publish_many


class Outbox:
    def __init__(self, pubsub: PubSub, name: str) -> None:
        self._pubsub = pubsub
        self._name = name
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-outbox")

    def put(self, topic: str, payload: bytes) -> None:
        self._queue.put_nowait((topic, payload))

    async def close(self, seconds: float = 2.0) -> None:
        """Publish what is queued (for up to `seconds`), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=seconds)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._pubsub.publish_many(batch)
            except Exception as exc:
                log.warning(
                    "could not publish",
                    outbox=self._name,
                    topic=batch[0][0],
                    messages=len(batch),
                    error=str(exc),
                )
            finally:
                for _ in batch:
                    queue.task_done()
