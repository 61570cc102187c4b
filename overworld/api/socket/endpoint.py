"""`GET /ws?token=...&format=json&status=true&lang=en`: the realtime socket, as raw ASGI.

`format=json` (the default) exchanges JSON text frames, `format=protobuf` protobuf binary frames
(`overworld.protocol.protobuf`); both reach the same handlers.

The session token is checked before the upgrade: a missing, bad, expired or revoked token is
refused with HTTP 401 and Nakama's error body (or a close, on servers without the ASGI denial
response extension). So is the `Origin` a browser sends (WebSockets are not covered by CORS): one
the deployment does not allow, or the token's title narrows away, is refused with HTTP 403
(overworld.api.origins). A user already holding `socket_cap_per_user` sockets (on any node) is
refused with HTTP 429 and RESOURCE_EXHAUSTED, unless `socket_max_per_user` (Nakama's
single_socket rule: the oldest sockets are closed to make way) is set at or below the cap.
Frames from one socket are handled one at a time, in order. Where the server
offers a direct transport in the scope's extensions (`overworld serve` under a supported uvicorn:
`overworld.api.uvicorn_adapter`), outgoing frames skip ASGI (see `overworld.realtime.transport`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import structlog

from overworld.api.http.security import SecurityHeaders
from overworld.api.origins import ORIGIN_REFUSED, header, title_allows
from overworld.api.socket.dispatch import handle
from overworld.context import CallContext
from overworld.errors import ApiError, Code
from overworld.protocol.base import error_body
from overworld.realtime.connection import INTERNAL_ERROR, Connection
from overworld.realtime.transport import EXTENSION

if TYPE_CHECKING:
    from overworld.services import Services

log = structlog.get_logger(__name__)
Scope = dict[str, Any]
FORMATS = {"": False, "json": False, "protobuf": True}  # format -> binary frames


async def _deny(node: Services, scope: Scope, send: Any, status: int, code: int, message: str) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        body = error_body(code, message)
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *SecurityHeaders(node.settings).api,
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": message})


async def serve_socket(node: Services, scope: Scope, receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
    if node.hub.draining:
        await _deny(node, scope, send, 503, Code.UNAVAILABLE, "Server is shutting down")
        return
    fmt = query.get("format", "")
    binary = FORMATS.get(fmt)
    if binary is None:
        message = f"Unsupported socket format {fmt!r}: use json or protobuf"
        await _deny(node, scope, send, 400, Code.INVALID_ARGUMENT, message)
        return
    settings = node.settings
    origin = header(scope["headers"], b"origin").decode("latin-1").lower()
    if origin and settings.cors_origins != ["*"] and origin not in settings.cors_origins:
        await _deny(node, scope, send, 403, Code.PERMISSION_DENIED, ORIGIN_REFUSED)
        return
    try:
        title, claims = node.sessions.authenticate(query.get("token", ""))
    except ApiError as exc:
        await _deny(node, scope, send, 401, Code.UNAUTHENTICATED, exc.message)
        return
    if origin and not title_allows(settings, title, origin):
        await _deny(node, scope, send, 403, Code.PERMISSION_DENIED, ORIGIN_REFUSED)
        return
    cap = settings.socket_cap_per_user
    replaces = 0 < settings.socket_max_per_user <= cap  # single_socket-like: older sockets make way
    if cap and not replaces and node.hub.sockets_of(title.id, claims.user_id) >= cap:
        message = f"Too many sockets for this user: at most {cap} open at once (socket_cap_per_user)"
        await _deny(node, scope, send, 429, Code.RESOURCE_EXHAUSTED, message)
        return
    client = scope.get("client")
    ctx = CallContext(
        title=title, user_id=claims.user_id, username=claims.username, vars=claims.vars,
        token_id=claims.token_id, session_expires_at=claims.expires_at,
        client_ip=client[0] if client else "",
    )  # fmt: skip
    conn = Connection(
        session_id=str(uuid.uuid4()), ctx=ctx, issued_at_us=claims.issued_at_us,
        lang=query.get("lang", "en")[:18], status=query.get("status", "false").lower() == "true",
        send=send, max_queue=settings.socket_outbound_queue, rate_limit=settings.socket_rate_limit,
        direct=scope.get("extensions", {}).get(EXTENSION), binary=binary,
    )  # fmt: skip
    await send({"type": "websocket.accept"})
    node.hub.connected(conn)
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if conn.closed:  # closed by the server: frames still in flight are not handled
                    continue
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                try:
                    await handle(node, conn, data)
                except Exception:  # a bug: the socket ends with a close frame, never a TCP drop
                    log.exception("socket frame failed", binary=conn.binary)
                    conn.close(INTERNAL_ERROR, "Internal server error", flush=True)
            elif kind == "websocket.disconnect":
                conn.closed = True
                break
    finally:
        node.hub.disconnected(conn)
