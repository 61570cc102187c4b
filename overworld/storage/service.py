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

from overworld.accounts.store import hold_users
from overworld.clock import now_ms
from overworld.db import Database, Tx
from overworld.errors import InvalidArgument, NotFound
from overworld.protocol.jsondepth import check_depth
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
from overworld.storage.store import OwnerRead, StorageStore

MAX_BATCH = 100
MAX_VALUE_BYTES = 65_536
MAX_NAME = 128
VERSION_REJECTED = "Storage write rejected - version check failed."
WRITE_DENIED = "Storage write rejected - permission denied."
DELETE_REJECTED = "Storage delete rejected - not found, version check failed, or permission denied."
MISSING_NAME = "Invalid collection or key value supplied. They must be set."

USER_NOT_FOUND = "User account not found."


def version_of(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


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
        self._store = StorageStore(db)

    # -- write ----------------------------------------------------------------------------------

    async def write(self, title_id: str, caller: str | None, objects: list[ObjectWrite]) -> list[Ack]:
        """Write a batch atomically. `caller` is the user writing, or None for server code."""
        if not objects:
            raise InvalidArgument("No objects were given to write.")
        if len(objects) > MAX_BATCH:
            raise InvalidArgument(f"Too many objects, at most {MAX_BATCH} per call.")
        async with self._db.transaction() as tx:
            return await self.write_in(tx, title_id, caller, objects)

    async def write_in(
        self, tx: Tx, title_id: str, caller: str | None, objects: list[ObjectWrite]
    ) -> list[Ack]:
        """`write` inside the caller's transaction (which fails as a whole if one object does)."""
        if len(objects) > MAX_BATCH:
            raise InvalidArgument(f"Too many objects, at most {MAX_BATCH} per call.")
        for obj in objects:
            self._validate_write(obj, caller)
        now = now_ms()
        owners = {obj.user_id for obj in objects if obj.user_id != SYSTEM_USER}
        if owners and len(await hold_users(tx, self._db.sql, title_id, owners)) < len(owners):
            raise NotFound(USER_NOT_FOUND)
        return [await self._write_one(tx, title_id, caller, obj, now) for obj in objects]

    def _validate_write(self, obj: ObjectWrite, caller: str | None) -> None:
        _check_name("collection", obj.collection)
        _check_name("key", obj.key)
        if obj.permission_read not in (0, 1, 2):
            raise InvalidArgument("Invalid Read permission supplied. It must be either 0, 1 or 2.")
        if obj.permission_write not in (0, 1):
            raise InvalidArgument("Invalid Write permission supplied. It must be either 0 or 1.")
        if len(obj.value.encode()) > MAX_VALUE_BYTES:
            raise InvalidArgument(f"Value is too large, at most {MAX_VALUE_BYTES} bytes.")
        check_depth(obj.value, "value")
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
        writable_only = caller is not None  # a client may only replace what its owner may write
        if obj.version == "*":
            created = await self._store.insert_new(tx, title_id, obj, version, now)
        elif obj.version:
            created = await self._store.update_version(
                tx, title_id, obj, version, now, obj.version, writable_only
            )
        else:
            created = await self._store.upsert(tx, title_id, obj, version, now, writable_only)
        if created is None:
            raise await self._write_rejection(tx, title_id, caller, obj)
        return Ack(obj.collection, obj.key, version, obj.user_id, created, now)

    async def _write_rejection(
        self, tx: Tx, title_id: str, caller: str | None, obj: ObjectWrite
    ) -> Exception:
        write = await self._store.write_permission(tx, title_id, obj.collection, obj.user_id, obj.key)
        if write is not None and caller is not None and write == NO_WRITE:
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
            obj = await self._store.get(title_id, oid.collection, owner, oid.key)
            if obj is None:
                continue
            readable = (
                caller is None
                or obj.permission_read == PUBLIC_READ
                or (obj.permission_read >= OWNER_READ and obj.user_id == caller)
            )
            if readable:
                found.append(obj)
        return found

    async def list_objects(
        self, title_id: str, caller: str | None, collection: str, user_id: str, limit: int, cursor: str
    ) -> ObjectPage:
        """One page of a collection: a user's objects (`user_id` set) or every readable object."""
        _check_name("collection", collection)
        if not 1 <= limit <= 100:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        objects: list[StoredObject]
        if user_id:
            owner = _check_user_id(user_id)
            read: OwnerRead
            if caller is None:
                read = "all"
            elif owner == caller:
                read = "owner"
            else:
                read = "public"
            after_key = decode_cursor(cursor, 1)[0] if cursor else None
            objects = await self._store.list_owned(title_id, collection, owner, read, limit + 1, after_key)
            more = len(objects) > limit
            objects = objects[:limit]
            next_cursor = encode_cursor([objects[-1].key]) if more else ""
        else:
            after = decode_cursor(cursor, 2) if cursor else None
            objects = await self._store.list_collection(
                title_id,
                collection,
                public_only=caller is not None,
                limit=limit + 1,
                after=None if after is None else (after[0], after[1]),
            )
            more = len(objects) > limit
            objects = objects[:limit]
            next_cursor = encode_cursor([objects[-1].key, objects[-1].user_id]) if more else ""
        return ObjectPage(objects=objects, cursor=next_cursor)

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
        async with self._db.transaction() as tx:
            for oid in ids:
                # Not there, another version, or not writable: the batch fails.
                if not await self._store.delete(tx, title_id, oid, writable_only=caller is not None):
                    raise InvalidArgument(DELETE_REJECTED)

    async def delete_user_objects(self, tx: Tx, title_id: str, user_id: str) -> None:
        await self._store.delete_user(tx, title_id, user_id)
