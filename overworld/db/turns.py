"""Calls that arrive in the same turn of the event loop, answered together.

Under a burst, many requests ask the database the same kind of question at once (is this device
known, is this identifier erased, insert this account). A `TurnBatcher` gathers the items handed
to `submit` during one turn of the event loop and, once the turn's callbacks have run, hands them
to its `flush` function in batches of at most `max_batch`: one query (or one transaction) per
batch instead of one round trip per item. `flush` returns one outcome per item, in order: a value
for its caller, or an exception raised to that caller alone; an exception raised by `flush`
itself reaches every caller of the batch. Batches run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class TurnBatcher(Generic[T, R]):
    def __init__(
        self, flush: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], max_batch: int = 500
    ) -> None:
        self._flush_items = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """`item`'s outcome, once its batch is through."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._start)
        done: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, done))
        return await asyncio.shield(done)

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            task = loop.create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._flush_items([item for item, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if done.done():
                continue
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
