"""Hot operations served straight from ASGI, skipping the framework's per-request machinery.

Measured in-process, Litestar's routing, dependency injection, signature parsing and response
objects cost about 60-80 us per request, more than the operation itself for an account fetch
(see bench/README.md). The operations below are the ones game clients call most; here they are
decoded with msgspec, authenticated with the same functions and run through the same calls (and
so the same operations and hooks) as the Litestar routes, which still exist for the OpenAPI
document and serve identical responses (tests/api/test_fastpath.py checks that).

Which calls are served here, and at which paths, is the registry's (`fast=True` in
overworld.api.calls); this module holds one adapter per such call (`@_adapts(calls.X)`: decode
the raw request, run the call) and builds its tables from the registry when imported, failing
then if a fast call has no adapter or a path this module cannot match.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from overworld.api import calls
from overworld.api.http.auth import session_from_header, title_from_header
from overworld.context import CallContext
from overworld.errors import InvalidArgument
from overworld.protocol import accounts as aw
from overworld.protocol import leaderboards as lw
from overworld.protocol import storage as sw
from overworld.protocol.base import Empty
from overworld.protocol.camel import Renamer
from overworld.protocol.jsondepth import check_depth
from overworld.services import Services

FastHandler = Callable[[Services, dict[str, Any], bytes, str], Awaitable[msgspec.Struct]]
_ADAPTERS: dict[str, FastHandler] = {}  # by call name
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
    """The body as `kind`; field names in lowerCamelCase too (overworld.protocol.camel)."""
    check_depth(body, "request body")
    try:
        return Renamer.of(kind).decode(body or b"{}", kind)
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
    title = await title_from_header(node, header(scope, b"authorization"), scope["headers"])
    return CallContext(title=title, client_ip=client_ip(scope), request_id=request_id)


def _session_ctx(node: Services, scope: dict[str, Any], request_id: str) -> CallContext:
    authorization = header(scope, b"authorization")
    return session_from_header(node, authorization, client_ip(scope), request_id, scope["headers"])


class Fallback(Exception):
    """Not for the fast path: let the framework's route answer."""


def _adapts(call: calls.Call[Any, Any]) -> Callable[[FastHandler], FastHandler]:
    """Register the decorated function as the fast path's adapter of `call`."""

    def register(handler: FastHandler) -> FastHandler:
        _ADAPTERS[call.name] = handler
        return handler

    return register


@_adapts(calls.AUTHENTICATE_DEVICE)
async def authenticate_device(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = await _title_ctx(node, scope, rid)
    create, username = auth_query(scope)
    req = aw.AuthenticateDeviceRequest(
        account=decode_body(body, aw.AccountDevice), create=create, username=username
    )
    return await calls.AUTHENTICATE_DEVICE.run(node, ctx, req)


@_adapts(calls.AUTHENTICATE_CUSTOM)
async def authenticate_custom(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = await _title_ctx(node, scope, rid)
    create, username = auth_query(scope)
    req = aw.AuthenticateCustomRequest(
        account=decode_body(body, aw.AccountCustom), create=create, username=username
    )
    return await calls.AUTHENTICATE_CUSTOM.run(node, ctx, req)


@_adapts(calls.GET_ACCOUNT)
async def get_account(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    return await calls.GET_ACCOUNT.run(node, _session_ctx(node, scope, rid), Empty())


@_adapts(calls.READ_STORAGE_OBJECTS)
async def read_storage(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = _session_ctx(node, scope, rid)
    req = decode_body(body, sw.ReadStorageObjectsRequest)
    return await calls.READ_STORAGE_OBJECTS.run(node, ctx, req)


@_adapts(calls.WRITE_STORAGE_OBJECTS)
async def write_storage(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    ctx = _session_ctx(node, scope, rid)
    req = decode_body(body, sw.WriteStorageObjectsRequest)
    return await calls.WRITE_STORAGE_OBJECTS.run(node, ctx, req)


# -- leaderboards: the board id is part of the path ------------------------------------------------
# Served here only when the request is plainly valid (known query parameters with clean values, a
# body that decodes strictly); anything else raises `Fallback` and goes to the Litestar route,
# so that every error answer stays exactly the route's.

LEADERBOARD_PREFIX = "/v2/leaderboard/"
_RECORD_NAMES = Renamer.of(lw.LeaderboardRecordWrite)  # a record in lowerCamelCase: the route's
_LIST_PARAMS = frozenset({"limit", "cursor", "expiry", "owner_ids"})
_AROUND_PARAMS = frozenset({"limit", "cursor", "expiry"})


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


@_adapts(calls.LIST_LEADERBOARD_RECORDS)
async def list_leaderboard_records(
    node: Services, scope: dict[str, Any], body: bytes, rid: str
) -> msgspec.Struct:
    query = _query(scope, _LIST_PARAMS)
    ctx = _session_ctx(node, scope, rid)
    req = lw.ListLeaderboardRecordsRequest(leaderboard_id=_path_parts(scope)[0], **query)
    return await calls.LIST_LEADERBOARD_RECORDS.run(node, ctx, req)


@_adapts(calls.WRITE_LEADERBOARD_RECORD)
async def write_leaderboard_record(
    node: Services, scope: dict[str, Any], body: bytes, rid: str
) -> msgspec.Struct:
    if scope["query_string"] or _RECORD_NAMES.might_have_names(body):
        raise Fallback()
    try:
        record = msgspec.json.decode(body, type=lw.LeaderboardRecordWrite, strict=True)
    except msgspec.DecodeError:
        raise Fallback() from None
    ctx = _session_ctx(node, scope, rid)
    req = lw.WriteLeaderboardRecordRequest(leaderboard_id=_path_parts(scope)[0], record=record)
    return await calls.WRITE_LEADERBOARD_RECORD.run(node, ctx, req)


@_adapts(calls.LIST_LEADERBOARD_RECORDS_AROUND_OWNER)
async def around_owner(node: Services, scope: dict[str, Any], body: bytes, rid: str) -> msgspec.Struct:
    query = _query(scope, _AROUND_PARAMS)
    ctx = _session_ctx(node, scope, rid)
    board_id, _, owner_id = _path_parts(scope)
    req = lw.ListLeaderboardRecordsAroundOwnerRequest(leaderboard_id=board_id, owner_id=owner_id, **query)
    return await calls.LIST_LEADERBOARD_RECORDS_AROUND_OWNER.run(node, ctx, req)


# -- the tables, from the registry -----------------------------------------------------------------
# Paths without parameters are looked up whole (`FAST_ROUTES`, by the edge). Paths with parameters
# must lie under LEADERBOARD_PREFIX (the only prefix the edge asks `leaderboard_route` about) and
# have one of two forms after it: `{board}` or `{board}/<word>/{param}`.

Matched = tuple[FastHandler, str]  # (handler, path template)
FAST_ROUTES: dict[tuple[str, str], FastHandler] = {}
_BOARD: dict[str, Matched] = {}  # method -> the handler of PREFIX{board}
_BOARD_WORD_PARAM: dict[str, dict[str, Matched]] = {}  # word -> method -> PREFIX{board}/word/{param}
_NO_METHODS: dict[str, Matched] = {}


def _build_tables() -> None:
    fast = [call for call in calls.REST_CALLS if call.fast]
    if {call.name for call in fast} != set(_ADAPTERS):
        raise RuntimeError(
            f"fast calls {sorted(c.name for c in fast)} and adapters {sorted(_ADAPTERS)} differ"
        )
    for call in fast:
        for binding in call.rest:
            handler, method, path = _ADAPTERS[call.name], binding.method, binding.path
            if "{" not in path:
                FAST_ROUTES[(method, path)] = handler
                continue
            parts = path[len(LEADERBOARD_PREFIX) :].split("/") if path.startswith(LEADERBOARD_PREFIX) else []
            params = [part.startswith("{") for part in parts]
            if params == [True]:
                _BOARD[method] = (handler, path)
            elif params == [True, False, True]:
                _BOARD_WORD_PARAM.setdefault(parts[1], {})[method] = (handler, path)
            else:
                raise RuntimeError(f"{call.name}: the fast path cannot match {binding}")


_build_tables()


def leaderboard_route(method: str, path: str) -> tuple[FastHandler, str, str] | None:
    """(handler, path template, board id) for the leaderboard paths the fast path serves."""
    parts = path[len(LEADERBOARD_PREFIX) :].split("/")
    if not parts[0]:
        return None
    n = len(parts)
    if n == 1:
        found = _BOARD.get(method)
    elif n == 3 and parts[2]:
        found = _BOARD_WORD_PARAM.get(parts[1], _NO_METHODS).get(method)
    else:
        return None
    if found is None:
        return None
    return found[0], found[1], parts[0]
