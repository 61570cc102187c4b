"""Storage engine operations for clients (permission-checked) and for server code (caller=None).

Conditional writes are single SQL statements whose WHERE clause carries the version and
permission condition, so concurrent writers never overwrite each other unnoticed; a batch
runs in one transaction and fails as a whole.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

import orjson

from overworld.clock import now_ms
from overworld.db import Database, IntegrityError, Row, Tx
from overworld.errors import InvalidArgument
from overworld.storage.models import (
    NO_WRITE,
    OWNER_READ,
    PUBLIC_READ,
    SYSTEM_USER,
    Ack,
    ObjectId,
    ObjectPage,
    ObjectWrite,
    StoredObject,
)

MAX_BATCH = 100
MAX_VALUE_BYTES = 65_536
MAX_NAME = 128
VERSION_REJECTED = "Storage write rejected - version check failed."
WRITE_DENIED = "Storage write rejected - permission denied."
DELETE_REJECTED = "Storage delete rejected - not found, version check failed, or permission denied."
MISSING_NAME = "Invalid collection or key value supplied. They must be set."

_COLUMNS = "collection, key, user_id, value, version, read, write, create_time, update_time"


def version_of(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def _object(row: Row) -> StoredObject:
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


def _check_name(kind: str, value: str) -> None:
    if not value:
        raise InvalidArgument(MISSING_NAME)
    if len(value) > MAX_NAME:
        raise InvalidArgument(f"Invalid {kind}, must be at most {MAX_NAME} characters.")
    if "\x00" in value:
        raise InvalidArgument(f"Invalid {kind}, must not contain NUL characters.")


def _check_user_id(value: str) -> str:
    if not value:
        return SYSTEM_USER
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("Invalid user ID - make sure user ID is a valid UUID.") from None


def encode_cursor(parts: list[str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidArgument("Malformed cursor was used.") from None
    if not isinstance(parts, list) or len(parts) != size or not all(isinstance(p, str) for p in parts):
        raise InvalidArgument("Malformed cursor was used.")
    return parts


class StorageService:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- write ----------------------------------------------------------------------------------

    async def write(self, title_id: str, caller: str | None, objects: list[ObjectWrite]) -> list[Ack]:
        """Write a batch atomically. `caller` is the user writing, or None for server code."""
        if not objects:
            raise InvalidArgument("No objects were given to write.")
        if len(objects) > MAX_BATCH:
            raise InvalidArgument(f"Too many objects, at most {MAX_BATCH} per call.")
        for obj in objects:
            self._validate_write(obj, caller)
        now = now_ms()
        acks: list[Ack] = []
        async with self._db.transaction() as tx:
            for obj in objects:
                acks.append(await self._write_one(tx, title_id, caller, obj, now))
        return acks

    def _validate_write(self, obj: ObjectWrite, caller: str | None) -> None:
        _check_name("collection", obj.collection)
        _check_name("key", obj.key)
        if obj.permission_read not in (0, 1, 2):
            raise InvalidArgument("Invalid Read permission supplied. It must be either 0, 1 or 2.")
        if obj.permission_write not in (0, 1):
            raise InvalidArgument("Invalid Write permission supplied. It must be either 0 or 1.")
        if len(obj.value.encode()) > MAX_VALUE_BYTES:
            raise InvalidArgument(f"Value is too large, at most {MAX_VALUE_BYTES} bytes.")
        try:
            parsed = orjson.loads(obj.value)
        except orjson.JSONDecodeError:
            raise InvalidArgument("Value must be a JSON object.") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument("Value must be a JSON object.")
        if caller is not None:
            obj.user_id = caller
        else:
            obj.user_id = _check_user_id(obj.user_id)

    async def _write_one(self, tx: Tx, title_id: str, caller: str | None, obj: ObjectWrite, now: int) -> Ack:
        version = version_of(obj.value)
        args = (title_id, obj.collection, obj.user_id, obj.key, obj.value, version,
                obj.permission_read, obj.permission_write, now)  # fmt: skip
        insert = (
            "INSERT INTO storage_objects (title_id, collection, user_id, key, value, version, read, write,"
            " create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
        )
        owner_may_write = "" if caller is None else " AND storage_objects.write = 1"
        if obj.version == "*":
            try:
                row = await tx.fetchrow(f"{insert} ON CONFLICT DO NOTHING RETURNING create_time", *args)
            except IntegrityError:
                row = None
        elif obj.version:
            row = await tx.fetchrow(
                "UPDATE storage_objects SET value = $5, version = $6, read = $7, write = $8, update_time = $9"
                " WHERE title_id = $1 AND collection = $2 AND user_id = $3 AND key = $4 AND version = $10"
                f"{owner_may_write} RETURNING create_time",
                *args,
                obj.version,
            )
        else:
            row = await tx.fetchrow(
                f"{insert} ON CONFLICT (title_id, collection, user_id, key) DO UPDATE SET"
                " value = excluded.value, version = excluded.version, read = excluded.read,"
                " write = excluded.write, update_time = excluded.update_time"
                f" WHERE true{owner_may_write} RETURNING create_time",
                *args,
            )
        if row is None:
            raise await self._write_rejection(tx, title_id, caller, obj)
        return Ack(obj.collection, obj.key, version, obj.user_id, row["create_time"], now)

    async def _write_rejection(
        self, tx: Tx, title_id: str, caller: str | None, obj: ObjectWrite
    ) -> Exception:
        existing = await tx.fetchrow(
            "SELECT version, write FROM storage_objects"
            " WHERE title_id = $1 AND collection = $2 AND user_id = $3 AND key = $4",
            title_id,
            obj.collection,
            obj.user_id,
            obj.key,
        )
        if existing is not None and caller is not None and existing["write"] == NO_WRITE:
            return InvalidArgument(WRITE_DENIED)  # INVALID_ARGUMENT, as Nakama answers
        return InvalidArgument(VERSION_REJECTED)

    # -- read -----------------------------------------------------------------------------------

    async def read(self, title_id: str, caller: str | None, ids: list[ObjectId]) -> list[StoredObject]:
        """Objects the caller may read; others and missing ones are left out."""
        if len(ids) > MAX_BATCH:
            raise InvalidArgument(f"Too many objects, at most {MAX_BATCH} per call.")
        found: list[StoredObject] = []
        for oid in ids:
            _check_name("collection", oid.collection)
            _check_name("key", oid.key)
            owner = _check_user_id(oid.user_id)
            row = await self._db.fetchrow(
                f"SELECT {_COLUMNS} FROM storage_objects"
                " WHERE title_id = $1 AND collection = $2 AND user_id = $3 AND key = $4",
                title_id,
                oid.collection,
                owner,
                oid.key,
            )
            if row is None:
                continue
            readable = (
                caller is None
                or row["read"] == PUBLIC_READ
                or (row["read"] >= OWNER_READ and row["user_id"] == caller)
            )
            if readable:
                found.append(_object(row))
        return found

    async def list_objects(
        self, title_id: str, caller: str | None, collection: str, user_id: str, limit: int, cursor: str
    ) -> ObjectPage:
        """One page of a collection: a user's objects (`user_id` set) or every readable object."""
        _check_name("collection", collection)
        if not 1 <= limit <= 100:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        if user_id:
            owner = _check_user_id(user_id)
            if caller is None:
                read_rule = ""
            elif owner == caller:
                read_rule = f" AND read >= {OWNER_READ}"
            else:
                read_rule = f" AND read = {PUBLIC_READ}"
            after = decode_cursor(cursor, 1) if cursor else None
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM storage_objects WHERE title_id = $1 AND collection = $2"
                f" AND user_id = $3{read_rule}{' AND key > $5' if after else ''} ORDER BY key LIMIT $4",
                title_id,
                collection,
                owner,
                limit + 1,
                *(after or []),
            )
            more = len(rows) > limit
            rows = rows[:limit]
            next_cursor = encode_cursor([rows[-1]["key"]]) if more else ""
        else:
            read_rule = " AND read >= 0" if caller is None else f" AND read = {PUBLIC_READ}"
            after = decode_cursor(cursor, 2) if cursor else None
            rows = await self._list_all(title_id, collection, read_rule, limit, after)
            more = len(rows) > limit
            rows = rows[:limit]
            next_cursor = encode_cursor([rows[-1]["key"], rows[-1]["user_id"]]) if more else ""
        return ObjectPage(objects=[_object(r) for r in rows], cursor=next_cursor)

    async def _list_all(
        self, title_id: str, collection: str, read_rule: str, limit: int, after: list[str] | None
    ) -> list[Row]:
        position = " AND (key > $4 OR (key = $4 AND user_id > $5))" if after else ""
        return await self._db.fetch(
            f"SELECT {_COLUMNS} FROM storage_objects WHERE title_id = $1 AND collection = $2{read_rule}"
            f"{position} ORDER BY key, user_id LIMIT $3",
            title_id,
            collection,
            limit + 1,
            *(after or []),
        )

    # -- delete ---------------------------------------------------------------------------------

    async def delete(self, title_id: str, caller: str | None, ids: list[ObjectId]) -> None:
        """Delete a batch atomically; each object must exist, be writable by the caller and match
        its version when one is given, or nothing is deleted."""
        if not ids:
            return
        if len(ids) > MAX_BATCH:
            raise InvalidArgument(f"Too many objects, at most {MAX_BATCH} per call.")
        for oid in ids:
            _check_name("collection", oid.collection)
            _check_name("key", oid.key)
            oid.user_id = caller if caller is not None else _check_user_id(oid.user_id)
        owner_may_write = "" if caller is None else " AND write = 1"
        async with self._db.transaction() as tx:
            for oid in ids:
                condition = " AND version = $5" if oid.version else ""
                removed = await tx.execute(
                    "DELETE FROM storage_objects WHERE title_id = $1 AND collection = $2 AND user_id = $3"
                    f" AND key = $4{owner_may_write}{condition}",
                    title_id,
                    oid.collection,
                    oid.user_id,
                    oid.key,
                    *([oid.version] if oid.version else []),
                )
                if removed == 0:  # not there, another version, or not writable: the batch fails
                    raise InvalidArgument(DELETE_REJECTED)

    async def delete_user_objects(self, tx: Tx, title_id: str, user_id: str) -> None:
        await tx.execute(
            "DELETE FROM storage_objects WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )
