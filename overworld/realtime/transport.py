"""What `Connection` needs from a server that lets it write WebSocket frames itself.

Through ASGI every outgoing message costs an ASGI dict, an `await`, a frame object, its
serialisation and a transport write. A server that offers more hands the app an object of this
shape as `scope["extensions"][EXTENSION]` (under `overworld serve`, the uvicorn adapter in
`overworld.api.uvicorn_direct` does); the socket endpoint passes it to `Connection`, which then
encodes each frame once and writes a socket's queue with one `write` per event-loop turn. Without
the extension the connection sends ASGI `websocket.send` messages. The realtime layer knows only
this interface, never the server behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

EXTENSION = "overworld.direct"


class DirectTransport(Protocol):
    """The socket's transport, for frames already encoded (server frames: unmasked)."""

    # Called when a paused transport can take data again (the connection writes its queue then);
    # None when nobody waits. The server drops it when the connection is lost.
    on_writable: Callable[[], None] | None

    def can_write(self) -> bool:
        """True while data frames may be written now: open, not closing, transport not paused."""
        ...

    def gone(self) -> bool:
        """True once nothing more can ever be written (closed or closing)."""
        ...

    def write(self, data: bytes) -> None:
        """Write encoded frames to the transport as they are."""
        ...

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a peer that does not read)."""
        ...

    async def wait_writable(self) -> None:
        """Return once the transport is not paused (at once if it is not)."""
        ...
