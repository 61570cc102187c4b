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
from overworld.api.operations import leaderboards as lb
from overworld.context import CallContext
from overworld.errors import InvalidArgument
from overworld.protocol import accounts as aw
from overworld.protocol import leaderboards as lw
from overworld.protocol import storage as sw
from overworld.protocol.base import Empty
from overworld.services import Services

FastHandler = Callable[[Services, dict[str, Any], bytes, str], Awaitable[msgspec.Struct]]
_TRUE = {"true": True, "1": True, "false": False, "0": False}
_COMMON_AUTH_QUERIES: dict[bytes, tuple[bool, str]] = {
    b"": (True, ""),
    **{f"create={text}".encode(): (value, "") for text, value in _TRUE.items()},
}


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
    query: bytes = scope["query_string"]
    known = _COMMON_AUTH_QUERIES.get(query)
    if known is not None:  # "create=true" and the like: no parsing
        return known
    create, username = True, ""
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name == "create":
            parsed = _TRUE.get(value.lower())
            if parsed is None:
                raise InvalidArgument(f"Invalid request: create: expected true or false, got {value!r}")
            create = parsed
        elif name == "username":
            username = value
    return create, username


async def _title_ctx(node: Services, scope: dict[str, Any], request_id: str) -> CallContext:
    title = await title_from_header(node, header(scope, b"authorization"))
    return CallContext(title=title, client_ip=client_ip(scope), request_id=request_id)


def _session_ctx(node: Services, scope: dict[str, Any], request_id: str) -> CallContext:
    return session_from_header(node, header(scope, b"authorization"), client_ip(scope), request_id)


async def authenticate_device(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = await _title_ctx(node, scope, rid)
    create, username = auth_query(scope)
    req = aw.AuthenticateDeviceRequest(
        account=decode_body(body, aw.AccountDevice), create=create, username=username
    )
    return await ops.call("AuthenticateDevice", accounts.authenticate_device, node, ctx, req)


async def authenticate_custom(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = await _title_ctx(node, scope, rid)
    create, username = auth_query(scope)
    req = aw.AuthenticateCustomRequest(
        account=decode_body(body, aw.AccountCustom), create=create, username=username
    )
    return await ops.call("AuthenticateCustom", accounts.authenticate_custom, node, ctx, req)


async def get_account(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    return await ops.call("GetAccount", accounts.get_account, node, _session_ctx(node, scope, rid), Empty())


async def read_storage(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = _session_ctx(node, scope, rid)
    req = decode_body(body, sw.ReadStorageObjectsRequest)
    return await ops.call("ReadStorageObjects", storage.read_objects, node, ctx, req)


async def write_storage(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
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


# -- leaderboards: the board id is part of the path ------------------------------------------------
# Served here only when the request is plainly valid (known query parameters with clean values, a
# body that decodes strictly); anything else raises `Fallback` and goes to the Litestar route,
# so that every error answer stays exactly the route's.

LEADERBOARD_PREFIX = "/v2/leaderboard/"
LEADERBOARD_TEMPLATE = "/v2/leaderboard/{leaderboard_id:str}"
AROUND_OWNER_TEMPLATE = "/v2/leaderboard/{leaderboard_id:str}/owner/{owner_id:str}"
_LIST_PARAMS = frozenset({"limit", "cursor", "expiry", "owner_ids"})
_AROUND_PARAMS = frozenset({"limit", "cursor", "expiry"})


class Fallback(Exception):
    """Not for the fast path: let the framework's route answer."""


def leaderboard_route(method: str, path: str) -> tuple[FastHandler, str, str] | None:
    """(handler, path template, board id) for the leaderboard paths the fast path serves."""
    parts = path[len(LEADERBOARD_PREFIX) :].split("/")
    if not parts[0]:
        return None
    if len(parts) == 1:
        if method == "GET":
            return list_leaderboard_records, LEADERBOARD_TEMPLATE, parts[0]
        if method == "POST":
            return write_leaderboard_record, LEADERBOARD_TEMPLATE, parts[0]
    elif len(parts) == 3 and parts[1] == "owner" and parts[2] and method == "GET":
        return around_owner, AROUND_OWNER_TEMPLATE, parts[0]
    return None


def _int_param(value: str) -> int:
    digits = value[1:] if value.startswith("-") else value
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18:
        raise Fallback()
    return int(value)


def _query(scope: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    owners: list[str] = []
    for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name not in allowed or (name in found and name != "owner_ids"):
            raise Fallback()
        if name == "owner_ids":
            owners.append(value)
        else:
            found[name] = value if name == "cursor" else _int_param(value)
    if owners:
        found["owner_ids"] = owners
    return found


def _path_parts(scope: dict[str, Any]) -> list[str]:
    return str(scope["path"])[len(LEADERBOARD_PREFIX) :].split("/")


async def list_leaderboard_records(
    node: Services, scope: dict[str, Any], body: bytes, rid: str
) -> msgspec.Struct:
    query = _query(scope, _LIST_PARAMS)
    ctx = _session_ctx(node, scope, rid)
    req = lw.ListLeaderboardRecordsRequest(leaderboard_id=_path_parts(scope)[0], **query)
    return await ops.call("ListLeaderboardRecords", lb.list_leaderboard_records, node, ctx, req)


async def write_leaderboard_record(
    node: Services, scope: dict[str, Any], body: bytes, rid: str
) -> msgspec.Struct:
    if scope["query_string"]:
        raise Fallback()
    try:
        record = msgspec.json.decode(body, type=lw.LeaderboardRecordWrite, strict=True)
    except msgspec.DecodeError:
        raise Fallback() from None
    ctx = _session_ctx(node, scope, rid)
    req = lw.WriteLeaderboardRecordRequest(leaderboard_id=_path_parts(scope)[0], record=record)
    return await ops.call("WriteLeaderboardRecord", lb.write_leaderboard_record, node, ctx, req)


async def around_owner(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    query = _query(scope, _AROUND_PARAMS)
    ctx = _session_ctx(node, scope, rid)
    board_id, _, owner_id = _path_parts(scope)
    req = lw.ListLeaderboardRecordsAroundOwnerRequest(leaderboard_id=board_id, owner_id=owner_id, **query)
    return await ops.call(
        "ListLeaderboardRecordsAroundOwner", lb.list_leaderboard_records_around_owner, node, ctx, req
    )
