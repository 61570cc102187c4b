"""Batched sign-in lookups by device id or custom id, for PostgreSQL.

A device or custom sign-in (and a sign-up, which first looks its identifier up) costs a round
trip to find the account. Under a launch-day burst, the lookups that arrive in the same turn of
the event loop, or while the query before is running (one runs at a time), are answered by one
query, `(title_id, <column>) IN (SELECT * FROM unnest(...))`,
and each caller gets the row of its own identifier. A caller passes every stored form of its
identifier (a title with keys: the blind index under each key, newest first, then the plaintext,
accounts/store.py) and gets the row of the first form that has one, as a probe of each form in
turn would. An error of the shared query is raised to every caller of the batch. (SQLite answers
a lookup in microseconds on the event loop's thread: it keeps one probe per form.)
"""

from __future__ import annotations

from collections.abc import Sequence

from overworld.db import Database, Row
from overworld.db.turns import TurnBatcher

Lookup = tuple[str, Sequence[str]]  # (title id, the identifier's stored forms)


class LookupBatcher:
    def __init__(self, db: Database, sql: str, max_batch: int = 500, max_in_flight: int = 1) -> None:
        """`sql` selects the rows of the (title id, identifier) pairs given as the arrays $1 and
        $2, with the pair as its columns `lookup_title` and `lookup_key`."""
        self._db = db
        self._sql = sql
        self._batcher: TurnBatcher[Lookup, Row | None] = TurnBatcher(self._flush, max_batch, max_in_flight)

    async def find(self, title_id: str, forms: Sequence[str]) -> Row | None:
        return await self._batcher.submit((title_id, forms))

    async def _flush(self, batch: list[Lookup]) -> list[Row | None]:
        pairs = [(title_id, form) for title_id, forms in batch for form in forms]
        rows = await self._db.fetch(self._sql, [p[0] for p in pairs], [p[1] for p in pairs])
        found = {(r["lookup_title"], r["lookup_key"]): r for r in rows}
        return [
            next((r for r in (found.get((title_id, form)) for form in forms) if r is not None), None)
            for title_id, forms in batch
        ]
