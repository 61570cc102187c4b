"""Batched sign-ups for PostgreSQL.

Every new account costs a commit, and on PostgreSQL a commit is a WAL flush. Under a launch-day
burst, sign-ups are written together: one multi-row INSERT of users and one of devices, in one
transaction. One batch is written at a time: the sign-ups that arrive in the same turn of the
event loop, or while the batch before is being written, form the next one (a group commit;
without that limit a burst's sign-ups, each arriving in a turn of its own, made batches of 1.3 on
average). Rows that clash (a username or
identifier taken, by an earlier account or by another row of the same batch) are skipped by
`ON CONFLICT DO NOTHING` and reported to their own caller as the IntegrityError a single insert
would have raised; the rest of the batch is unaffected. Each caller is answered after the commit.
(SQLite gets the same effect from its group commit, see overworld/db/sqlite.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

from overworld.db import Database, IntegrityError
from overworld.db.turns import TurnBatcher


@dataclass(slots=True)
class Signup:
    title_id: str
    user_id: str
    username: str
    now: int
    device_id: str | None
    custom_id: str | None
    device_sealed: str | None
    custom_sealed: str | None


class SignupBatcher:
    def __init__(self, db: Database, max_batch: int = 500, max_in_flight: int = 1) -> None:
        self._db = db
        self._batcher: TurnBatcher[Signup, None] = TurnBatcher(self._flush, max_batch, max_in_flight)

    async def create(
        self,
        title_id: str,
        user_id: str,
        username: str,
        now: int,
        device_id: str | None,
        custom_id: str | None,
        device_sealed: str | None = None,
        custom_sealed: str | None = None,
    ) -> None:
        """Insert the user (and device); raises IntegrityError naming the clashing column. The
        identifiers are as stored (accounts/store.py: a blind index and its sealed value, or the
        plaintext)."""
        signup = Signup(title_id, user_id, username, now, device_id, custom_id, device_sealed, custom_sealed)
        await self._batcher.submit(signup)

    async def _flush(self, batch: list[Signup]) -> list[IntegrityError | None]:
        outcome: dict[str, IntegrityError] = {}
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "INSERT INTO users (title_id, id, username, lang_tag, metadata, custom_id, edge_count,"
                " create_time, update_time, custom_id_sealed)"
                " SELECT t, i, u, 'en', '{}', c, 0, n, n, cs FROM"
                " unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])"
                " x(t, i, u, c, n, cs) ON CONFLICT DO NOTHING RETURNING id",
                [s.title_id for s in batch],
                [s.user_id for s in batch],
                [s.username for s in batch],
                [s.custom_id for s in batch],
                [s.now for s in batch],
                [s.custom_sealed for s in batch],
            )
            inserted = {r["id"] for r in rows}
            for s in batch:
                if s.user_id not in inserted:
                    # Which unique column clashed: the custom id (taken: log in instead) or the username.
                    taken = s.custom_id is not None and await tx.fetchval(
                        "SELECT 1 FROM users WHERE title_id = $1 AND custom_id = $2",
                        s.title_id,
                        s.custom_id,
                    )
                    outcome[s.user_id] = IntegrityError("custom_id" if taken else "username")
            with_device = [s for s in batch if s.device_id is not None and s.user_id in inserted]
            if with_device:
                rows = await tx.fetch(
                    "INSERT INTO user_devices (title_id, id, user_id, id_sealed)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                    " ON CONFLICT DO NOTHING RETURNING user_id",
                    [s.title_id for s in with_device],
                    [s.device_id for s in with_device],
                    [s.user_id for s in with_device],
                    [s.device_sealed for s in with_device],
                )
                linked = {r["user_id"] for r in rows}
                orphans = [s for s in with_device if s.user_id not in linked]
                for s in orphans:
                    outcome[s.user_id] = IntegrityError("device id")
                if orphans:
                    await tx.execute(
                        "DELETE FROM users WHERE (title_id, id) IN"
                        " (SELECT * FROM unnest($1::text[], $2::text[]))",
                        [s.title_id for s in orphans],
                        [s.user_id for s in orphans],
                    )
        return [outcome.get(s.user_id) for s in batch]
