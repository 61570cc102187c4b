"""`POST /v2/rpc/{id}` and `GET /v2/rpc/{id}`: call an RPC function of the caller's title.

As Nakama: the caller is a session (`Authorization: Bearer`) or, server to server, the title's
http key (`?http_key=` or as the user name of Basic auth), in which case there is no user. A POST
body is the payload encoded as a JSON string (`"\\"{...}\\""`); a GET carries it in `?payload=`.
The response is `{"id": id, "payload": "<string>"}`. With `?unwrap` (any value), the body is the
payload as is and the response body is the RPC's result as is, with the request's content type.

`serve_rpc` works on raw ASGI values so the edge's fast path can call it as well as the route.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import msgspec
from litestar import Request, Response, route

from overworld.api.http.auth import client_ip, node_of, request_id, session_from_header
from overworld.api.operations.rpc import call_rpc
from overworld.api.origins import check_title_origin
from overworld.context import CallContext
from overworld.errors import ApiError, InvalidArgument, RateLimited, Unauthenticated
from overworld.protocol.base import error_body
from overworld.protocol.jsondepth import check_depth
from overworld.services import Services

HTTP_KEY_INVALID = "HTTP key invalid"
AUTH_REQUIRED = "Auth token or HTTP key required"
PAYLOAD_NOT_STRING = "Invalid request body: the payload must be a JSON string."
_JSON = "application/json"
_HIDDEN_HEADERS = frozenset({"authorization", "cookie"})


@dataclass(slots=True)  # not frozen: built once a request, and a frozen __init__ costs more
class RpcReply:
    status: int
    body: bytes
    content_type: str = _JSON


async def serve_rpc(
    node: Services,
    method: str,
    rpc_id: str,
    query_string: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    client_address: str,
    request_id: str,
) -> RpcReply:
    """Authenticate, decode, call and encode one RPC request; errors become Nakama's error body."""
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True) if query_string else {}
    # What the function sees: every header but the hidden ones, lower-case names (as ASGI servers
    # give them), repeated headers as several values. The caller's credentials are kept aside.
    visible: dict[str, list[str]] = {}
    authorization = ""
    for name, value in headers:
        key = name.decode("latin-1")
        if key in _HIDDEN_HEADERS:
            if key == "authorization" and not authorization:
                authorization = value.decode("latin-1")
            continue
        values = visible.get(key)
        if values is None:
            visible[key] = [value.decode("latin-1")]
        else:
            values.append(value.decode("latin-1"))
    try:
        ctx = await _caller(node, query, authorization, headers, client_address, request_id)
        unwrap = "unwrap" in query
        if method == "GET":
            payload = query.get("payload", [""])[0]
        elif body and not unwrap:
            payload = _json_string(body)
        else:
            payload = body.decode("utf-8", errors="replace")
        query.pop("http_key", None)
        limits = node.limits
        if limits.enabled:
            pending = limits.spend("rpc", ctx.title.id, ctx.user_id, ctx.client_ip)
            if pending is not None:
                await pending
        result = await call_rpc(node, ctx, rpc_id, payload, query, visible)
    except RateLimited:
        raise  # answered by the caller with Retry-After (the edge, or the route's error handler)
    except ApiError as exc:
        return RpcReply(exc.http_status, error_body(exc.code, exc.message))
    if unwrap:
        content_type = visible.get("content-type", ["text/plain"])[0]
        return RpcReply(200, result.encode(), content_type)
    return RpcReply(200, msgspec.json.encode({"id": rpc_id, "payload": result}))


async def _caller(
    node: Services,
    query: dict[str, list[str]],
    authorization: str,
    headers: Iterable[tuple[bytes, bytes]],
    address: str,
    rid: str,
) -> CallContext:
    http_key = query.get("http_key", [""])[0] if query else ""
    if not http_key and authorization[:6].lower() == "basic ":
        try:
            http_key = base64.b64decode(authorization[6:].strip(), validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated(HTTP_KEY_INVALID) from None
        if not http_key:
            raise Unauthenticated(HTTP_KEY_INVALID)
    if http_key:
        title = await node.titles.by_http_key(http_key)
        if title is None:
            raise Unauthenticated(HTTP_KEY_INVALID)
        if node.settings.cors_title_origins:
            check_title_origin(node.settings, title, headers)
        return CallContext(title=title, client_ip=address, request_id=rid)
    if not authorization:
        raise Unauthenticated(AUTH_REQUIRED)
    return session_from_header(node, authorization, address, rid, headers)


def _json_string(body: bytes) -> str:
    check_depth(body, "payload")
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise InvalidArgument(PAYLOAD_NOT_STRING) from None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(PAYLOAD_NOT_STRING)
    return value


@route("/v2/rpc/{id:str}", http_method=["GET", "POST"], status_code=200, tags=["rpc"])
async def rpc_func(request: Request[Any, Any, Any], id: str) -> Response[bytes]:
    """Call an RPC function registered by server code. Session (Bearer) or the title's http key
    (`?http_key=`); POST body: the payload as a JSON string; GET: `?payload=`; `?unwrap`: raw
    payload in and out."""
    body = await request.body() if request.method == "POST" else b""
    reply = await serve_rpc(
        node_of(request),
        request.method,
        id,
        request.scope["query_string"],
        request.scope["headers"],
        body,
        client_ip(request),
        request_id(request),
    )
    return Response(content=reply.body, status_code=reply.status, media_type=reply.content_type)


ROUTES = [rpc_func]
__all__ = ["ROUTES", "RpcReply", "serve_rpc"]
