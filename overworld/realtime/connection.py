"""One connected socket: who it is, and its bounded outbound queue.

Anything sent to a socket goes through `send()`, which never blocks: frames wait in a queue. A
reader too slow to keep up fills the queue and is disconnected, so that it never slows the
senders or anyone else.

Two ways out. Given a direct transport (`overworld.realtime.transport.DirectTransport`, which
`overworld serve` provides under a supported uvicorn), a frame is encoded to WebSocket bytes once
however many sockets it goes to (`send` remembers the last frame it encoded), and one flush per
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
from overworld.realtime.transport import DirectTransport

SendFn = Callable[[dict[str, Any]], Awaitable[None]]

NORMAL, POLICY, TOO_BIG, GOING_AWAY = 1000, 1008, 1009, 1001
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


def encode_text(frame: str) -> bytes:
    """`frame` as an unmasked, unfragmented WebSocket text frame (what a server sends). The last
    frame encoded is remembered, so a fan-out that sends one `str` to many sockets encodes it once."""
    global _last_encoded
    last = _last_encoded  # one (str, bytes) pair, replaced whole: always consistent
    if last[0] is frame:
        return last[1]
    payload = frame.encode()
    n = len(payload)
    if n < 126:
        wire = bytes((0x81, n)) + payload
    elif n < 65_536:
        wire = b"\x81\x7e" + n.to_bytes(2, "big") + payload
    else:
        wire = b"\x81\x7f" + n.to_bytes(8, "big") + payload
    _last_encoded = (frame, wire)
    return wire


_last_encoded: tuple[str | None, bytes] = (None, b"")


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
    ) -> None:
        self.id = session_id
        self.ctx = ctx
        self.issued_at_us = issued_at_us
        self.lang = lang
        self.status = status
        self.limit = TokenBucket(rate_limit, rate_limit * 2)
        self._send = send
        self._queue: deque[Any] = deque()  # str frames (ASGI writer), or encoded bytes (direct)
        self._max_queue = max_queue
        self._writer: asyncio.Task[None] | None = None
        self._direct = direct
        self._pending = False  # waiting in the flusher's list
        self._held: list[str] | None = None  # frames kept until the reply goes out (`hold`)
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

    def reply(self, frame: str | None = None) -> None:
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

    def send(self, frame: str) -> bool:
        """Queue a text frame; False if the socket is closed or has just been dropped as slow."""
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
            queue.append(encode_text(frame))
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
                await self._send({"type": "websocket.send", "text": queue.popleft()})
        except Exception:
            self.closed = True  # the transport is gone; the reader sees the disconnect
        finally:
            self._writer = None

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
                    await self._send({"type": "websocket.send", "text": frame})
        message = {"type": "websocket.close", "code": self.close_code, "reason": self.close_reason}
        with contextlib.suppress(Exception):  # already closed by the peer
            await self._send(message)

    async def flush(self, seconds: float) -> None:
        """Wait (up to `seconds`) until everything queued has been written."""
        deadline = time.monotonic() + seconds
        while (self._queue or self._writer is not None) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
