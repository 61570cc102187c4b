"""uvicorn's `websockets-sansio` WebSocket protocol, plus a direct write path for `Connection`.

Through ASGI, every outgoing message costs an ASGI dict, an `await`, a websockets `Frame`, its
serialisation and one `transport.write`. A server-to-client text frame is just a header and the
UTF-8 payload (no mask), identical for every recipient, so `Connection` encodes it once per
fan-out and writes what is queued for a socket with one `transport.write` per event-loop turn.
This protocol hands itself to the app as `scope["extensions"]["overworld.direct"]` for that, and
tells the connection when a paused transport can take data again. Everything else (handshake,
pings, close, reading) is uvicorn's; the app falls back to ASGI sends without the extension.

It is the realtime layer's `DirectTransport` (`overworld.realtime.transport`).
`overworld serve` selects it with `uvicorn.Config(ws=OverworldWebSocketProtocol)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from overworld.realtime.transport import EXTENSION


class OverworldWebSocketProtocol(WebSocketsSansIOProtocol):
    on_writable: Callable[[], None] | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # an accepted upgrade: the scope exists, the app has not run yet
            extensions: dict[str, object] = self.scope["extensions"]  # type: ignore[assignment]
            extensions[EXTENSION] = self

    def can_write(self) -> bool:
        """True while data frames may be written now: open, not closing, transport not paused."""
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.writable.is_set()
            and not self.transport.is_closing()
        )

    def gone(self) -> bool:
        """True once nothing more can ever be written (closed or closing)."""
        return self.disconnected or self.close_sent or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a peer that does not read)."""
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
