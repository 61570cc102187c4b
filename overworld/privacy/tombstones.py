"""Erasure tombstones looked up at sign-up, batched.

Every sign-up with create=true asks whether one of its identifiers belongs to an erased account
(`PrivacyService.check_signup`, docs/data-protection.md). Under a launch-day burst, the checks that
arrive in the same turn of the event loop are answered by one query instead of one round trip
each: on PostgreSQL `(title_id, digest) IN (SELECT * FROM unnest(...))` over every check of the
batch, on SQLite (no array parameters, `Database.sql.batch_writes`) `title_id IN (...) AND
digest IN (...)`. Each caller is answered with the tombstones of its own digests only; an error
of the shared query is raised to every caller of the batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from overworld.db import Database, Row


@dataclass(slots=True)
class Lookup:
    title_id: str
    digests: list[str]
    done: asyncio.Future[dict[str, int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class TombstoneLookups:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self._db = db
        self._arrays = db.sql.batch_writes
        self._pending: list[Lookup] = []
        self._max_batch = max_batch
        self._tasks: set[asyncio.Task[None]] = set()

    async def find(self, title_id: str, digests: list[str]) -> dict[str, int]:
        """The tombstones of these digests in the title: digest -> its expire_time (0: never),
        expired ones included (the caller applies its own time)."""
        lookup = Lookup(title_id, digests)
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
        try:
            found = {(r["title_id"], r["digest"]): int(r["expire_time"]) for r in await self._query(batch)}
        except Exception as exc:
            for lookup in batch:
                if not lookup.done.done():
                    lookup.done.set_exception(exc)
            return
        for lookup in batch:
            if not lookup.done.done():
                mine = {d: found[lookup.title_id, d] for d in lookup.digests if (lookup.title_id, d) in found}
                lookup.done.set_result(mine)

    async def _query(self, batch: list[Lookup]) -> list[Row]:
        if self._arrays:
            pairs = [(lookup.title_id, d) for lookup in batch for d in lookup.digests]
            return await self._db.fetch(
                "SELECT title_id, digest, expire_time FROM erasures WHERE (title_id, digest) IN"
                " (SELECT * FROM unnest($1::text[], $2::text[]))",
                [p[0] for p in pairs],
                [p[1] for p in pairs],
            )
        # Without arrays: the titles and the digests as two IN lists, on the primary key; a
        # pair of one caller's title and another's digest found by it is left out by `_flush`.
        titles = sorted({lookup.title_id for lookup in batch})
        digests = sorted({d for lookup in batch for d in lookup.digests})
        title_places = ", ".join(f"${i + 1}" for i in range(len(titles)))
        digest_places = ", ".join(f"${i + 1 + len(titles)}" for i in range(len(digests)))
        return await self._db.fetch(
            "SELECT title_id, digest, expire_time FROM erasures"  # nosec B608 # placeholders only; values bound as $n
            f" WHERE title_id IN ({title_places}) AND digest IN ({digest_places})",
            *titles,
            *digests,
        )
