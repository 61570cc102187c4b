from __future__ import annotations

import msgspec

from overworld.api.wire.base import Message
from overworld.clock import rfc3339
from overworld.storage.models import Ack, StoredObject


class ReadStorageObjectId(Message):
    collection: str = ""
    key: str = ""
    user_id: str = ""


class ReadStorageObjectsRequest(Message):
    object_ids: list[ReadStorageObjectId] = msgspec.field(default_factory=list)


class WriteStorageObject(Message):
    collection: str = ""
    key: str = ""
    value: str = ""
    version: str = ""
    permission_read: int | None = None
    permission_write: int | None = None


class WriteStorageObjectsRequest(Message):
    objects: list[WriteStorageObject] = msgspec.field(default_factory=list)


class DeleteStorageObjectId(Message):
    collection: str = ""
    key: str = ""
    version: str = ""


class DeleteStorageObjectsRequest(Message):
    object_ids: list[DeleteStorageObjectId] = msgspec.field(default_factory=list)


class ListStorageObjectsRequest(Message):
    collection: str = ""
    user_id: str = ""
    limit: int = 1
    cursor: str = ""


class StorageObject(Message):
    collection: str = ""
    key: str = ""
    user_id: str = ""
    value: str = ""
    version: str = ""
    permission_read: int = 0
    permission_write: int = 0
    create_time: str = ""
    update_time: str = ""

    @classmethod
    def of(cls, obj: StoredObject) -> StorageObject:
        return cls(
            collection=obj.collection,
            key=obj.key,
            user_id=obj.user_id,
            value=obj.value,
            version=obj.version,
            permission_read=obj.permission_read,
            permission_write=obj.permission_write,
            create_time=rfc3339(obj.create_time),
            update_time=rfc3339(obj.update_time),
        )


class StorageObjects(Message):
    objects: list[StorageObject] = msgspec.field(default_factory=list)


class StorageObjectList(Message):
    objects: list[StorageObject] = msgspec.field(default_factory=list)
    cursor: str = ""


class StorageObjectAck(Message):
    collection: str = ""
    key: str = ""
    version: str = ""
    user_id: str = ""
    create_time: str = ""
    update_time: str = ""

    @classmethod
    def of(cls, ack: Ack) -> StorageObjectAck:
        return cls(
            collection=ack.collection,
            key=ack.key,
            version=ack.version,
            user_id=ack.user_id,
            create_time=rfc3339(ack.create_time),
            update_time=rfc3339(ack.update_time),
        )


class StorageObjectAcks(Message):
    acks: list[StorageObjectAck] = msgspec.field(default_factory=list)
