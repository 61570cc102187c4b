from __future__ import annotations

import msgspec

from overworld.protocol.base import Message


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


class StorageObjectAcks(Message):
    acks: list[StorageObjectAck] = msgspec.field(default_factory=list)
