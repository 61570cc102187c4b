"""Erasure tombstones looked up at sign-up, batched.

Every sign-up with create=true asks whether one of its identifiers belongs to an erased account
(`PrivacyService.check_signup`, docs/data-protection.md). Under a launch-day burst, the checks
that arrive in the same turn of the event loop, or while the query before is running (one runs at
a time), are answered by one query instead of one round trip each: on PostgreSQL `(title_id,
digest) IN (SELECT * FROM unnest(...))` over every check of the batch, on SQLite (no array
parameters, `Database.sql.batch_writes`) `title_id IN (...) AND digest IN (...)`. Each caller is
answered with the tombstones of its own digests only; an error
of the shared query is raised to every caller of the batch.
"""

from __future__ import annotations

from overworld.db import Database, Row
from overworld.db.turns import TurnBatcher

Lookup = tuple[str, list[str]]  # (title id, digests)


class TombstoneLookups:
    def __init__(self, db: Database, max_batch: int = 500, max_in_flight: int = 1) -> None:
        self._db = db
        self._arrays = db.sql.batch_writes
        self._batcher: TurnBatcher[Lookup, dict[str, int]] = TurnBatcher(
            self._flush, max_batch, max_in_flight
        )

    async def find(self, title_id: str, digests: list[str]) -> dict[str, int]:
        """The tombstones of these digests in the title: digest -> its expire_time (0: never),
        expired ones included (the caller applies its own time)."""
        return await self._batcher.submit((title_id, digests))

    async def _flush(self, batch: list[Lookup]) -> list[dict[str, int]]:
        found = {(r["title_id"], r["digest"]): int(r["expire_time"]) for r in await self._query(batch)}
        return [
            {d: found[title_id, d] for d in digests if (title_id, d) in found} for title_id, digests in batch
        ]

    async def _query(self, batch: list[Lookup]) -> list[Row]:
        if self._arrays:
            pairs = [(title_id, d) for title_id, digests in batch for d in digests]
            return await self._db.fetch(
                "SELECT title_id, digest, expire_time FROM erasures WHERE (title_id, digest) IN"
                " (SELECT * FROM unnest($1::text[], $2::text[]))",
                [p[0] for p in pairs],
                [p[1] for p in pairs],
            )
        # Without arrays: the titles and the digests as two IN lists, on the primary key; a
        # pair of one caller's title and another's digest found by it is left out by `_flush`.
        titles = sorted({title_id for title_id, _ in batch})
        digests = sorted({d for _, ds in batch for d in ds})
        title_places = ", ".join(f"${i + 1}" for i in range(len(titles)))
        digest_places = ", ".join(f"${i + 1 + len(titles)}" for i in range(len(digests)))
        return await self._db.fetch(
            "SELECT title_id, digest, expire_time FROM erasures"  # nosec B608 # placeholders only; values bound as $n
            f" WHERE title_id IN ({title_places}) AND digest IN ({digest_places})",
            *titles,
            *digests,
        )
