"""Batched sign-in lookups by device id or custom id, for PostgreSQL.

A device or custom sign-in (and a sign-up, which first looks its identifier up) costs a round
trip to find the account. Under a launch-day burst, the lookups that arrive in the same turn of
the event loop are answered by one query, `(title_id, <column>) IN (SELECT * FROM unnest(...))`,
and each caller gets the row of its own identifier. A caller passes every stored form of its
identifier (a title with keys: the blind index under each key, newest first, then the plaintext,
accounts/store.py) and gets the row of the first form that has one, as a probe of each form in
turn would. An error of the shared query is raised to every caller of the batch. (SQLite answers
a lookup in microseconds on the event loop's thread: it keeps one probe per form.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from overworld.db import Database, Row


@dataclass(slots=True)
class Lookup:
    title_id: str
    forms: Sequence[str]
    done: asyncio.Future[Row | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class LookupBatcher:
    def __init__(self, db: Database, sql: str, max_batch: int = 500) -> None:
        """`sql` selects the rows of the (title id, identifier) pairs given as the arrays $1 and
        $2, with the pair as its columns `lookup_title` and `lookup_key`."""
        self._db = db
        self._sql = sql
        self._pending: list[Lookup] = []
        self._max_batch = max_batch
        self._tasks: set[asyncio.Task[None]] = set()

    async def find(self, title_id: str, forms: Sequence[str]) -> Row | None:
        lookup = Lookup(title_id, forms)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._start_flush)
        self._pending.append(lookup)
        return await asyncio.shield(lookup.done)

    def _start_flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[Lookup]) -> None:
        pairs = [(lookup.title_id, form) for lookup in batch for form in lookup.forms]
        try:
            rows = await self._db.fetch(self._sql, [p[0] for p in pairs], [p[1] for p in pairs])
        except Exception as exc:
            for lookup in batch:
                if not lookup.done.done():
                    lookup.done.set_exception(exc)
            return
        found = {(r["lookup_title"], r["lookup_key"]): r for r in rows}
        for lookup in batch:
            if not lookup.done.done():
                rows_of = (found.get((lookup.title_id, form)) for form in lookup.forms)
                lookup.done.set_result(next((r for r in rows_of if r is not None), None))
