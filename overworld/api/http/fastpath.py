"""Hot operations served straight from ASGI, skipping the framework's per-request machinery.

Measured in-process, Litestar's routing, dependency injection, signature parsing and response
objects cost about 60-80 us per request, more than the operation itself for an account fetch
(see bench/README.md). The operations below are the ones game clients call most; here they are
decoded with msgspec, authenticated with the same functions and run through the same
`operations` (and so the same hooks) as the Litestar routes, which still exist for the OpenAPI
document and serve identical responses (tests/test_fastpath.py checks that).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from overworld.api import operations as ops
from overworld.api.http.auth import session_from_header, title_from_header
from overworld.api.operations import accounts, storage
from overworld.api.wire import accounts as aw
from overworld.api.wire import storage as sw
from overworld.api.wire.base import Empty
from overworld.context import CallContext
from overworld.errors import InvalidArgument
from overworld.node import Node

FastHandler = Callable[[Node, dict[str, Any], bytes, str], Awaitable[msgspec.Struct]]
_TRUE = {"true": True, "1": True, "false": False, "0": False}


def header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def decode_body(body: bytes, kind: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.json.decode(body or b"{}", type=kind, strict=False)
    except msgspec.ValidationError as exc:
        text, _, where = str(exc).partition(" - at `$.")
        raise InvalidArgument(
            f"Invalid request: {where.rstrip('`')}: {text}" if where else f"Invalid request: {text}"
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"Invalid request body: {exc}") from None


def auth_query(scope: dict[str, Any]) -> tuple[bool, str]:
    create, username = True, ""
    for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name == "create":
            parsed = _TRUE.get(value.lower())
            if parsed is None:
                raise InvalidArgument(f"Invalid request: create: expected true or false, got {value!r}")
            create = parsed
        elif name == "username":
            username = value
    return create, username


async def _title_ctx(node: Node, scope: dict[str, Any], request_id: str) -> CallContext:
    title = await title_from_header(node, header(scope, b"authorization"))
    return CallContext(title=title, client_ip=client_ip(scope), request_id=request_id)


def _session_ctx(node: Node, scope: dict[str, Any], request_id: str) -> CallContext:
    return session_from_header(node, header(scope, b"authorization"), client_ip(scope), request_id)


async def authenticate_device(node: Node, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = await _title_ctx(node, scope, rid)
    create, username = auth_query(scope)
    req = aw.AuthenticateDeviceRequest(
        account=decode_body(body, aw.AccountDevice), create=create, username=username
    )
    return await ops.call("AuthenticateDevice", accounts.authenticate_device, node, ctx, req)


async def authenticate_custom(node: Node, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = await _title_ctx(node, scope, rid)
    create, username = auth_query(scope)
    req = aw.AuthenticateCustomRequest(
        account=decode_body(body, aw.AccountCustom), create=create, username=username
    )
    return await ops.call("AuthenticateCustom", accounts.authenticate_custom, node, ctx, req)


async def get_account(node: Node, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    return await ops.call("GetAccount", accounts.get_account, node, _session_ctx(node, scope, rid), Empty())


async def read_storage(node: Node, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = _session_ctx(node, scope, rid)
    req = decode_body(body, sw.ReadStorageObjectsRequest)
    return await ops.call("ReadStorageObjects", storage.read_objects, node, ctx, req)


async def write_storage(node: Node, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = _session_ctx(node, scope, rid)
    req = decode_body(body, sw.WriteStorageObjectsRequest)
    return await ops.call("WriteStorageObjects", storage.write_objects, node, ctx, req)


FAST_ROUTES: dict[tuple[str, str], FastHandler] = {
    ("POST", "/v2/account/authenticate/device"): authenticate_device,
    ("POST", "/v2/account/authenticate/custom"): authenticate_custom,
    ("GET", "/v2/account"): get_account,
    ("POST", "/v2/storage"): read_storage,
    ("PUT", "/v2/storage"): write_storage,
}
