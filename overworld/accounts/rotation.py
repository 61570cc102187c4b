"""`overworld keys rotate`: re-seal a title's personal fields under its newest key.

The pass walks the title's users in id order, in batches; for each user it re-seals the email,
the custom id and the device ids that are in plaintext (written before the title had a key) or
sealed under an older key, and recomputes their blind indexes with the newest key (the index key
is derived from the same master key, so it rotates with it). Each row is rewritten by one short
UPDATE that applies only if the row still holds what was read (otherwise it is read again): a
server changing the row meanwhile wins, and nothing it wrote is lost. After each batch the
position is saved in `key_rotations` (one row per title and table), so a pass that was stopped
continues from there; rows done twice are found current and left alone.

When the whole title is done and no row is left under another key, the older keys are removed
from `encryption_keys_used`: from then on servers start without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from overworld.accounts.store import CUSTOM_ID, DEVICE_ID, EMAIL, reveal
from overworld.clock import now_ms
from overworld.db import Database, Row
from overworld.titles.crypto import DecryptionError, TitleKeys, key_id_of
from overworld.titles.keys_used import retire

TABLES = ("users", "user_devices")
_RETRIES = 5


class RotationError(Exception):
    """A row could not be re-sealed (it does not decrypt with the configured keys)."""


@dataclass(slots=True)
class Progress:
    title: str
    total: int = 0  # users of the title when the pass started
    done: int = 0  # users examined (including those of an earlier, interrupted pass)
    rewritten: int = 0  # rows changed by this run
    conflicts: int = 0  # rows changed by a server meanwhile, read again
    finished: bool = False
    left_behind: int = 0  # rows under an older key after the pass (written by a server lacking the key)


def _fresh(
    keys: TitleKeys, column: str, owner: str, lookup: str | None, sealed: str | None
) -> tuple[bool, str | None, str | None]:
    """Whether the field needs rewriting, and its new (lookup, sealed)."""
    if lookup is None:
        return False, None, None
    try:
        value = reveal(keys, column, owner, lookup, sealed)
    except DecryptionError as exc:
        raise RotationError(f"user {owner}: {exc}") from None
    if sealed is not None and key_id_of(sealed) == keys.current and lookup == keys.index(column, value):
        return False, lookup, sealed
    return True, keys.index(column, value), keys.seal(column, owner, value)


class Rotation:
    def __init__(self, db: Database, batch: int = 500) -> None:
        self._db = db
        self._batch = batch

    async def run(
        self,
        title_id: str,
        keys: TitleKeys,
        progress: Progress,
        stop_after: Callable[[Progress], bool] | None = None,
    ) -> Progress:
        """Rotate the title (resuming a stopped pass under the same key). `stop_after` (tests)
        is asked after each batch whether to stop there, as if the process were killed."""
        after = await self._checkpoint(title_id, keys.current)
        progress.total = int(
            await self._db.fetchval("SELECT count(*) FROM users WHERE title_id = $1", title_id)
        )
        if after is None:  # finished already under this key
            progress.done = progress.total
        else:
            progress.done = int(
                await self._db.fetchval(
                    "SELECT count(*) FROM users WHERE title_id = $1 AND id <= $2", title_id, after
                )
            )
            while True:
                rows = await self._db.fetch(
                    "SELECT id, email, email_sealed, custom_id, custom_id_sealed FROM users"
                    " WHERE title_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    title_id,
                    after,
                    self._batch,
                )
                if not rows:
                    break
                last = rows[-1]["id"]
                for row in rows:
                    await self._user(title_id, keys, row, progress)
                devices = await self._db.fetch(
                    "SELECT user_id, id, id_sealed FROM user_devices"
                    " WHERE title_id = $1 AND user_id > $2 AND user_id <= $3",
                    title_id,
                    after,
                    last,
                )
                for device in devices:
                    await self._device(title_id, keys, device, progress)
                after = last
                progress.done += len(rows)
                await self._save(title_id, keys.current, after, progress.done, finished=False)
                if stop_after is not None and stop_after(progress):
                    return progress
        progress.left_behind = await self._older(title_id, keys.current)
        if progress.left_behind == 0:
            await retire(self._db, title_id, keys.current)
        await self._save(title_id, keys.current, after or "", progress.done, finished=True)
        progress.finished = True
        return progress

    async def _checkpoint(self, title_id: str, key_id: str) -> str | None:
        """Where to start ('' from the beginning), None if a pass under this key finished."""
        row = await self._db.fetchrow(
            "SELECT key_id, after_id, finish_time FROM key_rotations WHERE title_id = $1 AND table_name = $2",
            title_id,
            "users",
        )
        if row is None or row["key_id"] != key_id:
            return ""
        if row["finish_time"] is not None:
            return None
        after: str = row["after_id"]
        return after

    async def _save(self, title_id: str, key_id: str, after: str, done: int, finished: bool) -> None:
        now = now_ms()
        for table in TABLES:  # the devices are done with their users: one position for both
            await self._db.execute(
                "INSERT INTO key_rotations (title_id, table_name, key_id, after_id, rows_done, update_time,"
                " finish_time) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (title_id, table_name) DO UPDATE SET key_id = excluded.key_id,"
                " after_id = excluded.after_id, rows_done = excluded.rows_done,"
                " update_time = excluded.update_time, finish_time = excluded.finish_time",
                title_id,
                table,
                key_id,
                after,
                done,
                now,
                now if finished else None,
            )

    async def _user(self, title_id: str, keys: TitleKeys, row: Row, progress: Progress) -> None:
        user_id = row["id"]
        for _ in range(_RETRIES):
            change_email, email, email_sealed = _fresh(
                keys, EMAIL, user_id, row["email"], row["email_sealed"]
            )
            change_custom, custom, custom_sealed = _fresh(
                keys, CUSTOM_ID, user_id, row["custom_id"], row["custom_id_sealed"]
            )
            if not (change_email or change_custom):
                return
            changed = await self._db.execute(
                "UPDATE users SET email = $3, email_sealed = $4, custom_id = $5, custom_id_sealed = $6"
                " WHERE title_id = $1 AND id = $2 AND email IS NOT DISTINCT FROM $7"
                " AND email_sealed IS NOT DISTINCT FROM $8 AND custom_id IS NOT DISTINCT FROM $9"
                " AND custom_id_sealed IS NOT DISTINCT FROM $10",
                title_id, user_id, email, email_sealed, custom, custom_sealed,
                row["email"], row["email_sealed"], row["custom_id"], row["custom_id_sealed"],
            )  # fmt: skip
            if changed:
                progress.rewritten += 1
                return
            progress.conflicts += 1  # a server changed the row meanwhile: read it again
            fresh = await self._db.fetchrow(
                "SELECT id, email, email_sealed, custom_id, custom_id_sealed FROM users"
                " WHERE title_id = $1 AND id = $2",
                title_id,
                user_id,
            )
            if fresh is None:
                return  # deleted meanwhile
            row = fresh
        raise RotationError(f"user {user_id}: changed {_RETRIES} times while being rotated; run again")

    async def _device(self, title_id: str, keys: TitleKeys, row: Row, progress: Progress) -> None:
        change, lookup, sealed = _fresh(keys, DEVICE_ID, row["user_id"], row["id"], row["id_sealed"])
        if not change:
            return
        # The lookup column is the primary key: a device unlinked meanwhile is simply not found,
        # one linked again meanwhile was written under the newest key.
        changed = await self._db.execute(
            "UPDATE user_devices SET id = $3, id_sealed = $4"
            " WHERE title_id = $1 AND id = $2 AND user_id = $5 AND id_sealed IS NOT DISTINCT FROM $6",
            title_id,
            row["id"],
            lookup,
            sealed,
            row["user_id"],
            row["id_sealed"],
        )
        if changed:
            progress.rewritten += 1
        else:
            progress.conflicts += 1

    async def _older(self, title_id: str, key_id: str) -> int:
        """Rows of the title with a personal field in plaintext or sealed under another key."""
        prefix = f"v1:{key_id}:"
        users = await self._db.fetchval(
            "SELECT count(*) FROM users WHERE title_id = $1 AND ("
            "(email IS NOT NULL AND (email_sealed IS NULL OR substr(email_sealed, 1, $3) <> $2))"
            " OR (custom_id IS NOT NULL AND"
            " (custom_id_sealed IS NULL OR substr(custom_id_sealed, 1, $3) <> $2)))",
            title_id,
            prefix,
            len(prefix),
        )
        devices = await self._db.fetchval(
            "SELECT count(*) FROM user_devices WHERE title_id = $1"
            " AND (id_sealed IS NULL OR substr(id_sealed, 1, $3) <> $2)",
            title_id,
            prefix,
            len(prefix),
        )
        return int(users) + int(devices)
