"""The storage engine's client operations (permission-checked as the caller)."""

from __future__ import annotations

from overworld.api import convert
from overworld.context import CallContext
from overworld.protocol import storage as wire
from overworld.protocol.base import Empty
from overworld.services import Services
from overworld.storage.models import OWNER_READ, OWNER_WRITE, ObjectId, ObjectWrite


async def read_objects(
    node: Services, ctx: CallContext, req: wire.ReadStorageObjectsRequest
) -> wire.StorageObjects:
    ids = [ObjectId(o.collection, o.key, o.user_id) for o in req.object_ids]
    found = await node.storage.read(ctx.title.id, ctx.user_id, ids)
    return wire.StorageObjects(objects=[convert.storage_object(o) for o in found])


async def write_objects(
    node: Services, ctx: CallContext, req: wire.WriteStorageObjectsRequest
) -> wire.StorageObjectAcks:
    writes = [
        ObjectWrite(
            collection=o.collection,
            key=o.key,
            value=o.value,
            version=o.version,
            permission_read=OWNER_READ if o.permission_read is None else o.permission_read,
            permission_write=OWNER_WRITE if o.permission_write is None else o.permission_write,
        )
        for o in req.objects
    ]
    acks = await node.storage.write(ctx.title.id, ctx.user_id, writes)
    return wire.StorageObjectAcks(acks=[convert.storage_ack(a) for a in acks])


async def delete_objects(node: Services, ctx: CallContext, req: wire.DeleteStorageObjectsRequest) -> Empty:
    ids = [ObjectId(o.collection, o.key, version=o.version) for o in req.object_ids]
    await node.storage.delete(ctx.title.id, ctx.user_id, ids)
    return Empty()


async def list_objects(
    node: Services, ctx: CallContext, req: wire.ListStorageObjectsRequest
) -> wire.StorageObjectList:
    page = await node.storage.list_objects(
        ctx.title.id, ctx.user_id, req.collection, req.user_id, req.limit, req.cursor
    )
    return wire.StorageObjectList(
        objects=[convert.storage_object(o) for o in page.objects], cursor=page.cursor
    )
