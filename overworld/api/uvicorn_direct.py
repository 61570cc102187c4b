"""Every use of uvicorn's internals: the direct write paths of `overworld serve`.

Imported only through `overworld.api.uvicorn_adapter.enable`, after it has checked that the
running uvicorn is one these classes were tested with (they rely on attributes of uvicorn's
protocol objects that are not its public API). Two paths, both optional: without them everything
goes through plain ASGI sends.

- `respond`, the edge's one-write HTTP response (`Edge.direct_respond`). uvicorn's HTTP/1.1
  protocol (httptools) writes the status line with the headers and the body with two transport
  writes, i.e. two `write` syscalls and two TCP segments per response; for a small answer that is
  a good part of the server's time. `respond` writes the whole response with one write when
  `send` is that protocol's, and keeps the request-response cycle's state as `send` would.
- `OverworldWebSocketProtocol`, uvicorn's `websockets-sansio` WebSocket protocol, which hands
  itself to the app as `scope["extensions"][EXTENSION]`: the realtime layer's `DirectTransport`
  (write encoded frames, writable or not, abort; see `overworld.realtime.transport`), and tells
  the connection when a paused transport can take data again. Everything else (handshake, pings,
  close, reading) is uvicorn's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from overworld.realtime.transport import EXTENSION

_Cycle = httptools_impl.RequestResponseCycle
_STATUS_LINE = httptools_impl.STATUS_LINE
_HEADER_VALUE_RE = httptools_impl.HEADER_VALUE_RE


def respond(
    send: Callable[[dict[str, Any]], Awaitable[None]],
    status: int,
    body: bytes,
    content_type: bytes,
    request_id: bytes,
    headers: bytes = b"",
) -> bool:
    """Write the whole response (content type, length, request id, the raw header lines `headers`
    (CORS, from configured values), body) in one transport write
    if `send` is uvicorn's httptools request-response cycle and it can be done now (response not
    started, client there, no back-pressure, no access log, not HEAD, valid header values); False
    to have it sent through `send` instead."""
    cycle: Any = getattr(send, "__self__", None)
    if (
        type(cycle) is not _Cycle
        or cycle.response_started
        or cycle.disconnected
        or cycle.flow.write_paused
        or cycle.access_log
        or cycle.scope["method"] == "HEAD"
        or _HEADER_VALUE_RE.search(content_type)
        or _HEADER_VALUE_RE.search(request_id)
    ):
        return False
    # As uvicorn's `send` would write it: its default headers (date), then ours, then the body.
    parts = [_STATUS_LINE[status]]
    for name, value in cycle.default_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [b"content-type: ", content_type, b"\r\ncontent-length: ", str(len(body)).encode()]
    parts += [b"\r\nx-request-id: ", request_id, b"\r\n", headers]
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    parts += [b"\r\n", body]
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.response_complete = True
    cycle.transport.write(b"".join(parts))
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True


class OverworldWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, and a `DirectTransport` for the socket's app."""

    on_writable: Callable[[], None] | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # an accepted upgrade: the scope exists, the app has not run yet
            extensions: dict[str, object] = self.scope["extensions"]  # type: ignore[assignment]
            extensions[EXTENSION] = self

    def can_write(self) -> bool:
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.writable.is_set()
            and not self.transport.is_closing()
        )

    def gone(self) -> bool:
        return self.disconnected or self.close_sent or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def abort(self) -> None:
        self.transport.abort()

    async def wait_writable(self) -> None:
        await self.writable.wait()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_writable is not None:
            self.on_writable()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # Break the reference cycles a socket would otherwise leave to the next full garbage
        # collection (rare with the tuned collector, see overworld.cli): this protocol in its own
        # scope, the connection's callback, websockets' protocol <-> its parser generator.
        self.on_writable = None
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(EXTENSION, None)
        with contextlib.suppress(Exception):
            self.conn.parser.close()
