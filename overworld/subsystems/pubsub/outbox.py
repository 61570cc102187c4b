"""An ordered outbox: publish without awaiting, in the order queued, from one task.

Callers on a hot path (presence diffs, cross-node deliveries) queue a message and return; one
sender task publishes the queue in order, so peers see one sender's messages in the order they
were queued (concurrent `publish` calls over a connection pool would not keep it). Whatever has
queued up while the previous batch was being sent goes out as the next batch (`publish_many`: one
Redis pipeline, one round trip), so a backlog costs one round trip per batch, not per message.
A failed batch is logged and skipped: consumers that must not miss a message detect gaps
themselves. For the same reason the queue is bounded: when pub/sub is slower than the callers
(Redis stalled or gone), the oldest queued messages are dropped and counted
(`overworld_outbox_dropped_total`), instead of growing memory without limit.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import Counter

from overworld.subsystems.pubsub.base import PubSub
from overworld.subsystems.tasks import stop

log = structlog.get_logger(__name__)
MAX_BATCH = 500  # messages per publish_many
MAX_QUEUED = 100_000  # messages waiting; beyond it the oldest are dropped
DROPPED = Counter(
    "overworld_outbox_dropped_total", "Queued publishes dropped because the outbox was full", ["outbox"]
)


class Outbox:
    def __init__(self, pubsub: PubSub, name: str, max_queued: int = MAX_QUEUED) -> None:
        self._pubsub = pubsub
        self._name = name
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._max_queued = max_queued
        self._dropped = DROPPED.labels(name)
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-outbox")

    def put(self, topic: str, payload: bytes) -> None:
        queue = self._queue
        if queue.qsize() >= self._max_queued:
            queue.get_nowait()
            queue.task_done()
            if not self.dropped:
                log.warning("outbox full: dropping the oldest messages", outbox=self._name)
            self.dropped += 1
            self._dropped.inc()
        queue.put_nowait((topic, payload))

    async def close(self, seconds: float = 2.0) -> None:
        """Publish what is queued (for up to `seconds`), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=seconds)
        await stop(self._task)

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
