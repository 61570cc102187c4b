"""Stopping background tasks at shutdown.

A task cancelled while it waits on a Redis reply can lose the cancellation (redis-py on Python
3.11 swallows it in some connection states) and run on; awaiting it after one `cancel()` then
waits for ever and shutdown hangs. `stop()` cancels again until the task ends."""

from __future__ import annotations

import asyncio

import structlog

log = structlog.get_logger(__name__)


async def stop(task: asyncio.Task[object], every: float = 0.5, tries: int = 20) -> None:
    """Cancel `task` and wait for it to end, cancelling again every `every` seconds if it goes
    on; after `tries` rounds leave it (logged) rather than hang."""
    for _ in range(tries):
        if task.done():
            break
        task.cancel()
        await asyncio.wait([task], timeout=every)
    else:
        if not task.done():
            log.warning("a task did not stop when cancelled", task=task.get_name())
            return
    if not task.cancelled():
        task.exception()  # retrieved, so that a failure is not reported again when collected
