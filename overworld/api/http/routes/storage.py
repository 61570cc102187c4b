"""The storage engine over REST: read, write, delete and list objects."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api.http.auth import node_of, session_context
from overworld.api.wire.base import Empty, Message
from overworld.api.wire.storage import (
    DeleteStorageObjectsRequest,
    ReadStorageObjectsRequest,
    StorageObject,
    StorageObjectAck,
    StorageObjectAcks,
    StorageObjectList,
    StorageObjects,
    WriteStorageObjectsRequest,
)
from overworld.context import CallContext
from overworld.storage.models import OWNER_READ, OWNER_WRITE, ObjectId, ObjectWrite

Limit = Annotated[int, Parameter(query="limit", default=1, description="Objects per page, 1-100.")]
Cursor = Annotated[str, Parameter(query="cursor", default="")]


class ListStorageObjectsRequest(Message):
    collection: str
    user_id: str = ""
    limit: int = 1
    cursor: str = ""


@post("/storage", status_code=200)
async def read_storage_objects(
    request: Request[Any, Any, Any], ctx: CallContext, data: ReadStorageObjectsRequest
) -> StorageObjects:
    """Objects by collection, key and owner; those the caller may not read are left out."""
    node = node_of(request)

    async def run(req: ReadStorageObjectsRequest) -> StorageObjects:
        ids = [ObjectId(o.collection, o.key, o.user_id) for o in req.object_ids]
        found = await node.storage.read(ctx.title.id, ctx.user_id, ids)
        return StorageObjects(objects=[StorageObject.of(o) for o in found])

    return await node.hooks.call("ReadStorageObjects", ctx, data, run)


@put("/storage", status_code=200)
async def write_storage_objects(
    request: Request[Any, Any, Any], ctx: CallContext, data: WriteStorageObjectsRequest
) -> StorageObjectAcks:
    """Write objects owned by the caller, all or none; versions make writes conditional."""
    node = node_of(request)

    async def run(req: WriteStorageObjectsRequest) -> StorageObjectAcks:
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
        return StorageObjectAcks(acks=[StorageObjectAck.of(a) for a in acks])

    return await node.hooks.call("WriteStorageObjects", ctx, data, run)


@put("/storage/delete", status_code=200)
async def delete_storage_objects(
    request: Request[Any, Any, Any], ctx: CallContext, data: DeleteStorageObjectsRequest
) -> Empty:
    """Delete the caller's objects, all or none; a version, when given, must match."""
    node = node_of(request)

    async def run(req: DeleteStorageObjectsRequest) -> Empty:
        ids = [ObjectId(o.collection, o.key, version=o.version) for o in req.object_ids]
        await node.storage.delete(ctx.title.id, ctx.user_id, ids)
        return Empty()

    return await node.hooks.call("DeleteStorageObjects", ctx, data, run)


async def _list(
    request: Request[Any, Any, Any], ctx: CallContext, req: ListStorageObjectsRequest
) -> StorageObjectList:
    node = node_of(request)

    async def run(r: ListStorageObjectsRequest) -> StorageObjectList:
        page = await node.storage.list_objects(
            ctx.title.id, ctx.user_id, r.collection, r.user_id, r.limit, r.cursor
        )
        return StorageObjectList(objects=[StorageObject.of(o) for o in page.objects], cursor=page.cursor)

    return await node.hooks.call("ListStorageObjects", ctx, req, run)


@get("/storage/{collection:str}")
async def list_storage_objects(
    request: Request[Any, Any, Any],
    ctx: CallContext,
    collection: str,
    limit: Limit,
    cursor: Cursor,
    user_id: Annotated[str, Parameter(query="user_id", default="")],
) -> StorageObjectList:
    """A page of a collection: the given user's objects, or every public object."""
    req = ListStorageObjectsRequest(collection=collection, user_id=user_id, limit=limit, cursor=cursor)
    return await _list(request, ctx, req)


@get("/storage/{collection:str}/{user_id:str}")
async def list_user_storage_objects(
    request: Request[Any, Any, Any],
    ctx: CallContext,
    collection: str,
    user_id: str,
    limit: Limit,
    cursor: Cursor,
) -> StorageObjectList:
    """A page of one user's objects in a collection."""
    req = ListStorageObjectsRequest(collection=collection, user_id=user_id, limit=limit, cursor=cursor)
    return await _list(request, ctx, req)


router = Router(
    path="/v2",
    route_handlers=[
        read_storage_objects, write_storage_objects, delete_storage_objects,
        list_storage_objects, list_user_storage_objects,
    ],
    dependencies={"ctx": Provide(session_context)},
    tags=["storage"],
)  # fmt: skip
ROUTES = [router]
