"""One connected socket: who it is, and its bounded outbound queue.

Anything sent to a socket goes through `send()`, which never blocks: frames wait in a queue. A
reader too slow to keep up fills the queue and is disconnected, so that it never slows the
senders or anyone else.

A socket speaks one format, JSON (text frames) or protobuf (binary frames): `send` takes a
`codec.Frame`, which encodes itself in each format at most once, however many sockets it goes to.

Two ways out. Given a direct transport (`overworld.realtime.transport.DirectTransport`, which
`overworld serve` provides under a supported uvicorn), a frame's WebSocket bytes in the socket's
format go into the queue (made once per frame and format, see `codec.Frame`), and one flush per
event-loop turn writes each socket's queue with a single `write`; while the transport is paused
(its buffer above the high-water mark) frames wait in the queue. Without one (any other ASGI
server, or another uvicorn version) a writer task drains the queue through ASGI `websocket.send`
messages while there is something to write (an idle socket has no task).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from overworld.context import CallContext
from overworld.realtime.codec import Frame
from overworld.realtime.transport import DirectTransport

SendFn = Callable[[dict[str, Any]], Awaitable[None]]

NORMAL, POLICY, TOO_BIG, GOING_AWAY = 1000, 1008, 1009, 1001
INTERNAL_ERROR = 1011  # a frame the server failed to handle (a bug: logged)
HELD_DELAY_SEC = 0.02  # how long after a reply the frames its request held follow it


class TokenBucket:
    """`rate` events per second on average, up to `burst` at once."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def overrun(self) -> bool:
        """Count one more event refused by `take`; True once the refused events exceed `burst`
        (a client that keeps sending while limited: time to disconnect it)."""
        self.tokens -= 1
        return self.tokens < -self.burst - 1


class _Flusher:
    """Writes the queues of the connections that got frames in this event-loop turn, once the
    turn's callbacks have run (one per loop, so one `call_soon` per turn, not per frame)."""

    __slots__ = ("__weakref__", "dirty", "loop", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dirty: list[Connection] = []
        self.scheduled = False

    def add(self, conn: Connection) -> None:
        self.dirty.append(conn)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self) -> None:
        self.scheduled = False
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            conn._flush()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = weakref.WeakKeyDictionary()


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


class Connection:
    __slots__ = (
        "_closer",
        "_direct",
        "_flusher",
        "_held",
        "_max_queue",
        "_pending",
        "_queue",
        "_send",
        "_writer",
        "binary",
        "close_code",
        "close_reason",
        "closed",
        "ctx",
        "id",
        "issued_at_us",
        "lang",
        "limit",
        "status",
    )  # fmt: skip

    def __init__(
        self,
        session_id: str,
        ctx: CallContext,
        issued_at_us: int,
        lang: str,
        status: bool,
        send: SendFn,
        max_queue: int,
        rate_limit: int,
        direct: DirectTransport | None = None,
        binary: bool = False,
    ) -> None:
        self.id = session_id
        self.ctx = ctx
        self.issued_at_us = issued_at_us
        self.lang = lang
        self.status = status
        self.limit = TokenBucket(rate_limit, rate_limit * 2)
        self.binary = binary  # the protobuf format: binary frames; else JSON text frames
        self._send = send
        self._queue: deque[Any] = deque()  # Frames (ASGI writer), or WebSocket bytes (direct)
        self._max_queue = max_queue
        self._writer: asyncio.Task[None] | None = None
        self._direct = direct
        self._pending = False  # waiting in the flusher's list
        self._held: list[Frame] | None = None  # frames kept until the reply goes out (`hold`)
        self._flusher: _Flusher | None = None
        if direct is not None:
            self._flusher = _flusher(asyncio.get_running_loop())
            direct.on_writable = self._flush
        self.closed = False
        self.close_code = NORMAL
        self.close_reason = ""
        self._closer: asyncio.Task[None] | None = None

    @property
    def title_id(self) -> str:
        return self.ctx.title.id

    @property
    def user_id(self) -> str:
        return self.ctx.user_id

    @property
    def username(self) -> str:
        return self.ctx.username

    def hold(self) -> None:
        """Keep the frames sent from now on until `reply`: a request whose reply must reach the
        client before the events it causes (a join's presence events) holds them while it runs."""
        if self._held is None:
            self._held = []

    def reply(self, frame: Frame | None = None) -> None:
        """Send a request's reply (or error); what `hold` kept meanwhile follows `HELD_DELAY_SEC`
        later, in a write of its own (anything sent until then waits behind it, in order)."""
        held = self._held
        if held is None:
            if frame is not None:
                self.send(frame)
            return
        self._held = None
        if frame is not None:
            self.send(frame)
        if held:
            # A client such as nakama-js handles every frame of one read before the code awaiting
            # the reply runs: in the same write, the events would reach it before it listens.
            self._held = held
            asyncio.get_running_loop().call_later(HELD_DELAY_SEC, self._release)

    def _release(self) -> None:
        held, self._held = self._held, None
        for item in held or ():
            self.send(item)

    def send(self, frame: Frame) -> bool:
        """Queue a frame; False if the socket is closed or has just been dropped as slow."""
        if self.closed:
            return False
        if self._held is not None:
            self._held.append(frame)
            return True
        queue = self._queue
        if len(queue) >= self._max_queue:
            self.close(POLICY, "Outbound queue full: the client is not reading fast enough")
            return False
        if self._flusher is not None:
            queue.append(frame.ws_protobuf() if self.binary else frame.ws_json())
            if not self._pending:
                self._pending = True
                self._flusher.add(self)
            return True
        queue.append(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return True

    def _flush(self) -> None:
        """Direct path: write everything queued in one go, if the transport takes data now."""
        self._pending = False
        queue, direct = self._queue, self._direct
        if not queue or direct is None:
            return
        if not direct.can_write():
            if direct.gone():
                self.closed = True  # the reader sees the disconnect
                queue.clear()
            return  # paused: resume_writing calls this again
        try:
            direct.write(queue[0] if len(queue) == 1 else b"".join(queue))
        except Exception:
            self.closed = True  # the transport is gone; the reader sees the disconnect
        queue.clear()

    async def _write(self) -> None:
        queue = self._queue
        try:
            while queue and not self.closed:  # after close(flush=True), the closer writes the rest
                await self._send(self._asgi_message(queue.popleft()))
        except Exception:
            self.closed = True  # the transport is gone; the reader sees the disconnect
        finally:
            self._writer = None

    def _asgi_message(self, frame: Frame) -> dict[str, Any]:
        if self.binary:
            return {"type": "websocket.send", "bytes": frame.protobuf()}
        return {"type": "websocket.send", "text": frame.text()}

    def close(self, code: int = NORMAL, reason: str = "", flush: bool = False) -> None:
        """Close the socket with `code`; with `flush`, after what is queued has been written
        (for a last error envelope), else at once. The reader loop then ends."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        if not flush:
            self._queue.clear()
            direct = self._direct
            if direct is not None and not direct.can_write() and not direct.gone():
                # The transport is paused: the client is not reading, so a close frame would wait
                # behind a full buffer until the keep-alive timeout. Drop the connection now.
                direct.abort()
                return
        self._closer = asyncio.get_running_loop().create_task(self._send_close(flush))

    async def _send_close(self, flush: bool) -> None:
        direct = self._direct
        if flush and direct is not None:
            while self._queue and not direct.gone():
                await direct.wait_writable()
                self._flush()
        elif flush:
            while self._queue:
                frame = self._queue.popleft()
                with contextlib.suppress(Exception):
                    await self._send(self._asgi_message(frame))
        message = {"type": "websocket.close", "code": self.close_code, "reason": self.close_reason}
        with contextlib.suppress(Exception):  # already closed by the peer
            await self._send(message)

    async def closing(self) -> None:
        """Wait until the close frame has been handed to the server (after `close`), so that a
        shutdown that follows does not close the socket first with a code of its own."""
        closer = self._closer
        if closer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(closer)

    async def flush(self, seconds: float) -> None:
        """Wait (up to `seconds`) until everything queued has been written."""
        deadline = time.monotonic() + seconds
        while (self._queue or self._writer is not None) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
