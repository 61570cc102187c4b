"""The storage engine over REST: read, write, delete and list objects."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32
from overworld.context import CallContext
from overworld.protocol.base import Empty
from overworld.protocol.storage import (
    DeleteStorageObjectsRequest,
    ListStorageObjectsRequest,
    ReadStorageObjectsRequest,
    StorageObjectAcks,
    StorageObjectList,
    StorageObjects,
    WriteStorageObjectsRequest,
)

Req = Request[Any, Any, Any]
Limit = Annotated[int, Parameter(query="limit", **INT32, default=1, description="Objects per page, 1-100.")]
Cursor = Annotated[str, Parameter(query="cursor", default="", description="From the previous page.")]


@route(calls.READ_STORAGE_OBJECTS)
async def read_storage_objects(
    request: Req, ctx: CallContext, data: ReadStorageObjectsRequest
) -> StorageObjects:
    """Objects by collection, key and owner; those the caller may not read are left out."""
    return await calls.READ_STORAGE_OBJECTS.run(node_of(request), ctx, data)


@route(calls.WRITE_STORAGE_OBJECTS)
async def write_storage_objects(
    request: Req, ctx: CallContext, data: WriteStorageObjectsRequest
) -> StorageObjectAcks:
    """Write objects owned by the caller, all or none; versions make writes conditional."""
    return await calls.WRITE_STORAGE_OBJECTS.run(node_of(request), ctx, data)


@route(calls.DELETE_STORAGE_OBJECTS)
async def delete_storage_objects(request: Req, ctx: CallContext, data: DeleteStorageObjectsRequest) -> Empty:
    """Delete the caller's objects, all or none; a version, when given, must match."""
    return await calls.DELETE_STORAGE_OBJECTS.run(node_of(request), ctx, data)


@route(calls.LIST_STORAGE_OBJECTS, path="/v2/storage/{collection:str}")
async def list_storage_objects(
    request: Req,
    ctx: CallContext,
    collection: str,
    limit: Limit,
    cursor: Cursor,
    user_id: Annotated[str, Parameter(query="user_id", default="")],
) -> StorageObjectList:
    """A page of a collection: the given user's objects, or every public object."""
    req = ListStorageObjectsRequest(collection=collection, user_id=user_id, limit=limit, cursor=cursor)
    return await calls.LIST_STORAGE_OBJECTS.run(node_of(request), ctx, req)


@route(calls.LIST_STORAGE_OBJECTS, path="/v2/storage/{collection:str}/{user_id:str}")
async def list_user_storage_objects(
    request: Req, ctx: CallContext, collection: str, user_id: str, limit: Limit, cursor: Cursor
) -> StorageObjectList:
    """A page of one user's objects in a collection."""
    req = ListStorageObjectsRequest(collection=collection, user_id=user_id, limit=limit, cursor=cursor)
    return await calls.LIST_STORAGE_OBJECTS.run(node_of(request), ctx, req)


router = Router(
    path="/",
    route_handlers=[
        read_storage_objects, write_storage_objects, delete_storage_objects,
        list_storage_objects, list_user_storage_objects,
    ],
    dependencies={"ctx": Provide(session_context)},
    tags=["storage"],
)  # fmt: skip
ROUTES = [router]
