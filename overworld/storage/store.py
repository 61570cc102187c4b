"""SQL for storage objects. Every statement names the title.

Conditional writes are single statements whose WHERE clause carries the version and permission
condition; they return the object's creation time, or None when the condition left it alone.
"""

from __future__ import annotations

from typing import Literal

from overworld.db import Database, IntegrityError, Row, Tx
from overworld.storage.models import OWNER_READ, PUBLIC_READ, ObjectId, ObjectWrite, StoredObject

COLUMNS = "collection, key, user_id, value, version, read, write, create_time, update_time"
_INSERT = (
    "INSERT INTO storage_objects (title_id, collection, user_id, key, value, version, read, write,"
    " create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
)
_OBJECT = "title_id = $1 AND collection = $2 AND user_id = $3 AND key = $4"
# Which of an owner's objects a listing returns, by read permission: all, those their owner may
# read, or the public ones.
OwnerRead = Literal["all", "owner", "public"]
_OWNER_READ_SQL: dict[OwnerRead, str] = {
    "all": "",
    "owner": f" AND read >= {OWNER_READ}",
    "public": f" AND read = {PUBLIC_READ}",
}


def object_of(row: Row) -> StoredObject:
    return StoredObject(
        collection=row["collection"],
        key=row["key"],
        user_id=row["user_id"],
        value=row["value"],
        version=row["version"],
        permission_read=row["read"],
        permission_write=row["write"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )


def _args(title_id: str, obj: ObjectWrite, version: str, now: int) -> tuple[object, ...]:
    return (title_id, obj.collection, obj.user_id, obj.key, obj.value, version,
            obj.permission_read, obj.permission_write, now)  # fmt: skip


def _writable(writable_only: bool) -> str:
    """The condition that the stored object lets its owner write it (client writes)."""
    return " AND storage_objects.write = 1" if writable_only else ""


class StorageStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writes (inside the caller's transaction) --------------------------------------------------

    async def insert_new(self, tx: Tx, title_id: str, obj: ObjectWrite, version: str, now: int) -> int | None:
        """Insert unless the object exists; its creation time, or None if it existed."""
        try:
            row = await tx.fetchrow(
                f"{_INSERT} ON CONFLICT DO NOTHING RETURNING create_time", *_args(title_id, obj, version, now)
            )
        except IntegrityError:
            return None
        return None if row is None else int(row["create_time"])

    async def update_version(
        self,
        tx: Tx,
        title_id: str,
        obj: ObjectWrite,
        version: str,
        now: int,
        expected: str,
        writable_only: bool,
    ) -> int | None:
        """Replace the object if it is at version `expected` (and, `writable_only`, writable by its
        owner); its creation time, or None if left alone."""
        row = await tx.fetchrow(
            "UPDATE storage_objects SET value = $5, version = $6, read = $7, write = $8, update_time = $9"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f" WHERE {_OBJECT} AND version = $10{_writable(writable_only)} RETURNING create_time",
            *_args(title_id, obj, version, now),
            expected,
        )
        return None if row is None else int(row["create_time"])

    async def upsert(
        self, tx: Tx, title_id: str, obj: ObjectWrite, version: str, now: int, writable_only: bool
    ) -> int | None:
        """Insert or replace the object (replace: if writable by its owner, with `writable_only`);
        its creation time, or None if left alone."""
        row = await tx.fetchrow(
            f"{_INSERT} ON CONFLICT (title_id, collection, user_id, key) DO UPDATE SET"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " value = excluded.value, version = excluded.version, read = excluded.read,"
            " write = excluded.write, update_time = excluded.update_time"
            f" WHERE true{_writable(writable_only)} RETURNING create_time",
            *_args(title_id, obj, version, now),
        )
        return None if row is None else int(row["create_time"])

    async def write_permission(
        self, tx: Tx, title_id: str, collection: str, user_id: str, key: str
    ) -> int | None:
        """The stored object's write permission, or None if there is no such object."""
        row = await tx.fetchrow(
            f"SELECT write FROM storage_objects WHERE {_OBJECT}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            collection,
            user_id,
            key,
        )
        return None if row is None else int(row["write"])

    async def delete(self, tx: Tx, title_id: str, oid: ObjectId, writable_only: bool) -> bool:
        """Delete the object (at `oid.version` when set; writable by its owner, with
        `writable_only`); False if nothing matched."""
        condition = " AND version = $5" if oid.version else ""
        removed = await tx.execute(
            f"DELETE FROM storage_objects WHERE {_OBJECT}{_writable(writable_only)}{condition}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            oid.collection,
            oid.user_id,
            oid.key,
            *([oid.version] if oid.version else []),
        )
        return removed != 0

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        await tx.execute(
            "DELETE FROM storage_objects WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )

    # -- reads ------------------------------------------------------------------------------------

    async def get(self, title_id: str, collection: str, user_id: str, key: str) -> StoredObject | None:
        row = await self._db.fetchrow(
            f"SELECT {COLUMNS} FROM storage_objects WHERE {_OBJECT}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            collection,
            user_id,
            key,
        )
        return None if row is None else object_of(row)

    async def list_owned(
        self,
        title_id: str,
        collection: str,
        owner: str,
        read: OwnerRead,
        limit: int,
        after_key: str | None,
    ) -> list[StoredObject]:
        """Up to `limit` of an owner's objects in a collection, in key order (after `after_key`)."""
        rows = await self._db.fetch(
            f"SELECT {COLUMNS} FROM storage_objects WHERE title_id = $1 AND collection = $2"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f" AND user_id = $3{_OWNER_READ_SQL[read]}{' AND key > $5' if after_key else ''}"
            " ORDER BY key LIMIT $4",
            title_id,
            collection,
            owner,
            limit,
            *([after_key] if after_key else []),
        )
        return [object_of(r) for r in rows]

    async def list_collection(
        self,
        title_id: str,
        collection: str,
        public_only: bool,
        limit: int,
        after: tuple[str, str] | None,
    ) -> list[StoredObject]:
        """Up to `limit` objects of a collection (every one, or the public ones), in (key, user id)
        order, after `after` = (key, user id)."""
        # Every object is `read >= 0`: a range on `read` lets the (collection, read, key) index serve.
        read_rule = f" AND read = {PUBLIC_READ}" if public_only else " AND read >= 0"
        position = " AND (key > $4 OR (key = $4 AND user_id > $5))" if after else ""
        rows = await self._db.fetch(
            f"SELECT {COLUMNS} FROM storage_objects WHERE title_id = $1 AND collection = $2{read_rule}"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f"{position} ORDER BY key, user_id LIMIT $3",
            title_id,
            collection,
            limit,
            *(after or ()),
        )
        return [object_of(r) for r in rows]
