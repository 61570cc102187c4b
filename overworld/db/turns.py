"""Calls that arrive in the same turn of the event loop, answered together.

Under a burst, many requests ask the database the same kind of question at once (is this device
known, is this identifier erased, insert this account, change these wallets). A `TurnBatcher`
gathers the items handed to `submit` during one turn of the event loop and, once the turn's
callbacks have run, hands them to its `flush` function in batches of at most `max_batch`: one
query (or one transaction) per batch instead of one round trip per item. With `max_in_flight`,
at most that many batches run at a time and the items that arrive meanwhile form the next ones (a
group commit). `flush` returns one outcome per item, in order: a value for its caller, or an
exception raised to that caller alone. An exception raised by `flush` itself reaches every caller
of the batch, or, with `split_failed` (a log message), the batch's items are flushed again one at
a time, so that only the one at fault fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
R = TypeVar("R")

log = structlog.get_logger(__name__)


class TurnBatcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        max_batch: int = 500,
        max_in_flight: int = 0,
        split_failed: str = "",
    ) -> None:
        """`max_in_flight` 0: no limit."""
        self._flush_items = flush
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._split_failed = split_failed
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """`item`'s outcome, once its batch is through."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        self._schedule()
        return await asyncio.shield(done)

    async def close(self) -> None:
        """Wait for every batch in flight or waiting (their callers are waiting for them)."""
        while self._tasks or self._pending:
            if self._pending and not self._scheduled:
                self._start()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _room(self) -> bool:
        return not self._max_in_flight or self._in_flight < self._max_in_flight

    def _schedule(self) -> None:
        """Start batches once this turn's callbacks have run, if some wait and may start."""
        if self._pending and not self._scheduled and self._room():
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._pending and self._room():
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._in_flight += 1
            task = loop.create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        self._schedule()

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        outcomes = await self._outcomes([item for item, _ in batch])
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if done.done():
                continue
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

    async def _outcomes(self, items: list[T]) -> list[R | BaseException]:
        try:
            return list(await self._flush_items(items))
        except Exception as exc:
            if not self._split_failed or len(items) == 1:
                return [exc] * len(items)
            log.warning(self._split_failed, error=repr(exc))
            return [outcome for item in items for outcome in await self._outcomes([item])]
