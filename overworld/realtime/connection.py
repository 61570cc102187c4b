"""One connected socket: who it is, and its bounded outbound queue.

Anything sent to a socket goes through `send()`, which never blocks: frames wait in a queue
that a writer task drains while there is something to write (an idle socket has no task). A
reader too slow to keep up fills the queue and is disconnected, so that it never slows the
senders or anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from overworld.context import CallContext

SendFn = Callable[[dict[str, Any]], Awaitable[None]]

NORMAL, POLICY, TOO_BIG, GOING_AWAY = 1000, 1008, 1009, 1001


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


class Connection:
    __slots__ = (
        "_closer",
        "_max_queue",
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
    ) -> None:
        self.id = session_id
        self.ctx = ctx
        self.issued_at_us = issued_at_us
        self.lang = lang
        self.status = status
        self.limit = TokenBucket(rate_limit, rate_limit * 2)
        self._send = send
        self._queue: deque[str] = deque()
        self._max_queue = max_queue
        self._writer: asyncio.Task[None] | None = None
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

    def send(self, frame: str) -> bool:
        """Queue a text frame; False if the socket is closed or has just been dropped as slow."""
        if self.closed:
            return False
        if len(self._queue) >= self._max_queue:
            self.close(POLICY, "Outbound queue full: the client is not reading fast enough")
            return False
        self._queue.append(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return True

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
        self._closer = asyncio.get_running_loop().create_task(self._send_close(flush))

    async def _send_close(self, flush: bool) -> None:
        if flush:
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
