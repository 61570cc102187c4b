from __future__ import annotations

from dataclasses import dataclass

SYSTEM_USER = "00000000-0000-0000-0000-000000000000"

NO_READ, OWNER_READ, PUBLIC_READ = 0, 1, 2
NO_WRITE, OWNER_WRITE = 0, 1


@dataclass(slots=True)
class ObjectId:
    collection: str
    key: str
    user_id: str = ""
    version: str = ""


@dataclass(slots=True)
class ObjectWrite:
    collection: str
    key: str
    value: str
    version: str = ""  # "" unconditional, "*" only if absent, else must match the stored version
    permission_read: int = OWNER_READ
    permission_write: int = OWNER_WRITE
    user_id: str = ""  # server writes only: the owner ("" for the system user)


@dataclass(slots=True)
class StoredObject:
    collection: str
    key: str
    user_id: str
    value: str
    version: str
    permission_read: int
    permission_write: int
    create_time: int
    update_time: int


@dataclass(slots=True)
class Ack:
    collection: str
    key: str
    version: str
    user_id: str
    create_time: int
    update_time: int


@dataclass(slots=True)
class ObjectPage:
    objects: list[StoredObject]
    cursor: str
