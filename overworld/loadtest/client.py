"""A lean Nakama client for load: HTTP/1.1 keep-alive connections and RFC 6455 WebSocket
connections written directly on asyncio protocols.

A general client (httpx, websockets) costs several times the CPU per request and per socket; a
load generator that must open 200 sockets a second and hold 12,000 of them on one core cannot
afford that. What these need of the protocols is small: requests with a `Content-Length` body,
responses with a `Content-Length` or chunked body, text frames (masked, as a client must), the
server's pings answered, and the closing handshake.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import orjson


class ClientError(Exception):
    """A request that did not get an answer: `kind` is what the report counts it under."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def connect_error(exc: BaseException) -> ClientError:
    """One error kind for a failed connection attempt."""
    if isinstance(exc, ClientError):
        return exc
    if isinstance(exc, ConnectionRefusedError):
        return ClientError("refused")
    if isinstance(exc, TimeoutError):
        return ClientError("timeout")
    if isinstance(exc, OSError) and exc.errno == 24:
        return ClientError("too many open files")
    return ClientError("connection", type(exc).__name__)


def token_user(token: str) -> str:
    """The user id (`uid` claim) of a session token, read without checking its signature (the
    server that issued it does); "" if it has none."""
    try:
        claims = token.split(".")[1]
        return str(orjson.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["uid"])
    except (IndexError, ValueError, KeyError, TypeError):  # orjson.JSONDecodeError is a ValueError
        return ""


# -- HTTP/1.1 -------------------------------------------------------------------------------------


class _HttpConnection(asyncio.Protocol):
    """One keep-alive connection: one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ClientError("closed", "the server closed the connection"))

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        self.waiter = asyncio.get_running_loop().create_future()
        if self.transport is None or self.closed:
            self.waiter.set_exception(ClientError("closed", "the connection was closed"))
        else:
            self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        parsed = _parse_response(self.buffer)
        if parsed is None:
            return
        status, body, used, keep = parsed
        del self.buffer[:used]
        self.reusable = keep
        self.waiter.set_result((status, body))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _parse_response(buf: bytearray) -> tuple[int, bytes, int, bool] | None:
    """(status, body, bytes used, keep-alive) once a whole response is in `buf`."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise ClientError("protocol", f"bad status line {head[0][:60]!r}") from None
    length = -1
    chunked = False
    keep = head[0].startswith("HTTP/1.1")
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection":
            keep = value.strip().lower() != "close"
    start = end + 4
    if chunked:
        body = bytearray()
        pos = start
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", line_end)
                if trailer_end < 0 and buf[line_end : line_end + 4] != b"\r\n\r\n":
                    return None
                used = line_end + 4 if trailer_end < 0 else trailer_end + 4
                return status, bytes(body), used, keep
            if len(buf) < line_end + 2 + size + 2:
                return None
            body += buf[line_end + 2 : line_end + 2 + size]
            pos = line_end + 2 + size + 2
    if length < 0:
        length = 0 if status in (204, 304) or status < 200 else -1
    if length < 0:
        raise ClientError("protocol", "a response without Content-Length")
    if len(buf) < start + length:
        return None
    return status, bytes(buf[start : start + length]), start + length, keep


class HttpPool:
    """Keep-alive connections to one server, at most `size` open; requests wait for a free one."""

    def __init__(self, host: str, port: int, size: int, timeout: float, source: str | None = None) -> None:
        self.host = host
        self.port = port
        self.size = size
        self.timeout = timeout
        self.source = source
        self.idle: deque[_HttpConnection] = deque()
        self.open = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.host_header = f"{host}:{port}"

    async def _connect(self) -> _HttpConnection:
        _, proto = await asyncio.wait_for(
            asyncio.get_running_loop().create_connection(
                _HttpConnection, self.host, self.port,
                local_addr=(self.source, 0) if self.source else None,
            ),
            self.timeout,
        )  # fmt: skip
        return proto

    async def _acquire(self) -> _HttpConnection:
        while True:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn
                self.open -= 1
            if self.open < self.size:
                self.open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self.open -= 1
                    self._wake()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self.waiting.append(waiter)
            await waiter

    def _wake(self) -> None:
        while self.waiting:
            w = self.waiting.popleft()
            if not w.done():
                w.set_result(None)
                return

    def _release(self, conn: _HttpConnection) -> None:
        if conn.closed or not conn.reusable:
            conn.close()
            self.open -= 1
        else:
            self.idle.append(conn)
        self._wake()

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: str = "", fresh: bool = False
    ) -> tuple[int, bytes]:
        """Send one request; (status, body). Raises ClientError for no answer (connection, timeout).
        `fresh`: on a new connection of its own, closed by the server after the answer (as a game
        client's first request: no wait for a pooled connection, no TIME_WAIT on this side)."""
        request = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n{headers}"
            f"{'Connection: close' + chr(13) + chr(10) if fresh else ''}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        try:
            async with asyncio.timeout(self.timeout):
                conn = await (self._connect() if fresh else self._acquire())
        except Exception as exc:
            raise connect_error(exc) from None
        try:
            return await asyncio.wait_for(conn.send(request), self.timeout)
        except TimeoutError:
            conn.close()
            raise ClientError("timeout") from None
        finally:
            if fresh:
                # the server closes it (Connection: close): its side keeps the TIME_WAIT
                if conn.reusable or conn.closed:
                    conn.close()
                else:
                    asyncio.get_running_loop().call_later(self.timeout, conn.close)
            else:
                self._release(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


# -- WebSocket ------------------------------------------------------------------------------------

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    if n:
        mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
        payload = (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")
    return head + key + payload


class WsConnection(asyncio.Protocol):
    """A client WebSocket: the upgrade, then text frames to `on_text` (bytes of each message)."""

    def __init__(self, handshake: bytes, on_text: Callable[[bytes], None], on_close: Callable[[str], None]):
        self.handshake = handshake
        self.on_text = on_text
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.open = False
        self.closing = False
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.handshake)

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.open
        self.open = False
        if not self.upgraded.done():
            self.upgraded.set_exception(ClientError("closed", "closed before the upgrade"))
        if was_open and not self.closing:
            self.on_close("closed by the server")

    def send_text(self, payload: bytes) -> None:
        if self.transport is not None and self.open:
            self.transport.write(client_frame(OP_TEXT, payload))

    def close(self) -> None:
        """Start the closing handshake (the server closes the TCP connection, so no TIME_WAIT
        piles up here); abort if it has not closed a little later."""
        if self.transport is None or self.closing:
            return
        self.closing = True
        if self.open:
            self.transport.write(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
            asyncio.get_running_loop().call_later(2.0, self.transport.abort)
        else:
            self.transport.abort()
        self.open = False

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            if self.upgraded.done():
                return
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.upgraded.set_exception(ClientError("protocol", "no end of the upgrade response"))
                return
            status_line = bytes(self.buffer[: self.buffer.find(b"\r\n")]).decode("latin-1")
            parts = status_line.split(" ", 2)
            status = parts[1] if len(parts) > 1 else "?"
            if status != "101":
                self.upgraded.set_exception(ClientError(f"http {status}", status_line))
                if self.transport is not None:
                    self.transport.abort()
                return
            del self.buffer[: end + 4]
            self.open = True
            self.upgraded.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            opcode = b0 & 0x0F
            if opcode == OP_TEXT or opcode == 0x2:
                if b0 & 0x80:
                    self.on_text(payload)
                else:
                    self.fragments = [payload]
            elif opcode == 0x0:
                self.fragments.append(payload)
                if b0 & 0x80:
                    whole = b"".join(self.fragments)
                    self.fragments = []
                    self.on_text(whole)
            elif opcode == OP_PING:
                if self.transport is not None:
                    self.transport.write(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                reason = payload[2:].decode("utf-8", "replace") if len(payload) > 2 else ""
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.open and not self.closing:
                    self.open = False
                    self.on_close(f"closed by the server ({code}{': ' + reason if reason else ''})")
                if self.transport is not None:
                    self.transport.close()
                break
        del buf[:pos]


def handshake_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode("latin-1")


async def open_socket(
    host: str,
    port: int,
    path: str,
    on_text: Callable[[bytes], None],
    on_close: Callable[[str], None],
    limit: float,
    source: str | None = None,
) -> WsConnection:
    """Connect and upgrade; raises ClientError."""
    loop = asyncio.get_running_loop()
    proto: Any = None
    try:
        async with asyncio.timeout(limit):
            _, proto = await loop.create_connection(
                lambda: WsConnection(handshake_request(host, port, path), on_text, on_close),
                host, port, local_addr=(source, 0) if source else None,
            )  # fmt: skip
            await proto.upgraded
    except Exception as exc:
        if proto is not None and proto.transport is not None:
            proto.transport.abort()
        raise connect_error(exc) from None
    if not isinstance(proto, WsConnection):
        raise ClientError("connect", "no WebSocket connection was made")
    return proto
