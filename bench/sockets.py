#!/usr/bin/env python3
"""Realtime socket benchmark: starts real `overworld serve` processes and drives `/ws` with a lean client.

Scenarios (see bench/README.md, "Realtime sockets"):
  idle     open N sockets (default 20,000), server RSS before/after -> KiB per socket; ping a sample
  fanout   R rooms x M members (10 x 100), members send `--rate` chat messages/s in total carrying a
           send timestamp; deliveries/s received by all members and p50/p99 delivery latency
  cluster  the same on two server processes in cluster mode (fresh PostgreSQL database, Redis with a
           unique prefix), each room's members split across the nodes
  workers  the fan-out on one `overworld serve --workers N` (--server-workers, default 2) on
           PostgreSQL + Redis, all sockets on its one port (the kernel spreads them over the workers);
           not in "all"; with --server-workers 1 the same deployment on one process
  surge    launch surge: from --surge-start to --surge-end connected players within --surge-ramp s,
           each one authenticate + connect + one socket request; p99 latencies during the ramp

The load client is several forked processes (--procs), each an asyncio (uvloop) event loop with a
hand-written WebSocket client on asyncio protocols: a handshake, a frame parser that reads the send
timestamp out of a `channel_message` frame with one bytes.find (no JSON decode on the hot path),
masked client frames. Each process uses its own loopback source address (127.0.0.<10+i>), so the
ephemeral port range is never the limit.

Every scenario starts its own server(s) on fresh data (SQLite temp dir; the cluster: a fresh
PostgreSQL database, dropped afterwards, and a unique Redis prefix). By default the server runs under
a small launcher (`--server-gc stats`, the GC_PROBE string below: `overworld.cli.main` plus a gc
callback) that records the garbage collector's pauses; `--server-gc off` runs plain `overworld serve`.

    .venv/bin/python bench/sockets.py --scenario all            # full sizes
    .venv/bin/python bench/sockets.py --quick --scenario all    # 2,000 idle sockets, 10 s fan-out
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import http_load as hl  # the sibling script, for its HTTP client and CPU accounting

jdumps = hl.jdumps
jloads = hl.jloads
monotonic_ns = time.monotonic_ns  # CLOCK_MONOTONIC: one clock for every process on the machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = ["idle", "fanout", "cluster", "surge", "workers"]
DEVICE_AUTH = "/v2/account/authenticate/device?create=true"


class WsError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# A lean WebSocket client (RFC 6455, text frames, no extensions)
# --------------------------------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + _mask(payload, key)


_CHANNEL_MESSAGE = b'{"channel_message":'
_T_MARK = b't\\":'  # the content {"t":<us>} appears JSON-escaped inside the frame: {\"t\":123}
_O_MARK = b'o\\":'
# --format protobuf: binary frames. A pushed channel_message envelope starts with its field's tag
# (field 5, length-delimited); its content {"t":<us>} is a plain string inside it.
FORMAT = "json"  # set by main() before the client processes fork
_PB_CHANNEL_MESSAGE = bytes(((5 << 3) | 2,))
_PB_T_MARK = b'"t":'
_PB_O_MARK = b'"o":'


def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _pb_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _pb_varint((number << 3) | 2) + _pb_varint(len(payload)) + payload


def _pb_encode(envelope: dict[str, Any]) -> bytes:
    from google.protobuf import json_format

    from overworld.protocol.pb import realtime_pb2

    return json_format.ParseDict(envelope, realtime_pb2.Envelope()).SerializeToString()


def _pb_decode(payload: bytes) -> dict[str, Any]:
    from google.protobuf import json_format

    from overworld.protocol.pb import realtime_pb2

    message = realtime_pb2.Envelope.FromString(payload)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class WsClient(asyncio.Protocol):
    """One socket. Replies (frames with a cid) resolve futures or record ack latencies; pushed
    channel_message frames are counted and their latency recorded in the owning Worker."""

    __slots__ = (
        "buf",
        "channel_id",
        "close_code",
        "closed",
        "lost",
        "members",
        "next_cid",
        "open",
        "pending",
        "port",
        "ready",
        "request_bytes",
        "transport",
        "w",
    )

    def __init__(self, w: Worker, request_bytes: bytes) -> None:
        self.w = w
        self.request_bytes = request_bytes
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.open = False
        self.closed = False
        self.close_code = 0
        self.ready: asyncio.Future[None] = w.loop.create_future()
        self.lost: asyncio.Future[None] = w.loop.create_future()
        self.next_cid = 0
        self.pending: dict[str, Any] = {}  # cid -> Future, or the send time (us) of a chat message
        self.members: set[str] | None = None
        self.channel_id = ""
        self.port = 0

    # asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.write(self.request_bytes)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.open and not self.closed
        self.closed = True
        self.open = False
        if not self.ready.done():
            self.ready.set_exception(WsError(f"connection lost during the handshake: {exc!r}"))
        for value in self.pending.values():
            if isinstance(value, asyncio.Future) and not value.done():
                value.set_exception(WsError("connection lost"))
        self.pending.clear()
        if not self.lost.done():
            self.lost.set_result(None)
        if was_open:
            self.w.unexpected_closes += 1
            if self.close_code and len(self.w.close_codes) < 20:
                self.w.close_codes.append(self.close_code)

    def data_received(self, data: bytes) -> None:  # the hot path, kept in one piece
        if not self.open:
            data = self.buf + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                self.buf = b""
                if not self.ready.done():
                    self.ready.set_exception(WsError(data[:300].decode(errors="replace")))
                self.closed = True
                self.transport.close()  # type: ignore[union-attr]
                return
            self.open = True
            self.buf = b""
            self.ready.set_result(None)
            data = data[end + 4 :]
        elif self.buf:
            data = self.buf + data
            self.buf = b""
        w = self.w
        n = len(data)
        pos = 0
        now = 0
        while pos + 2 <= n:
            ln = data[pos + 1] & 0x7F
            if ln < 126:
                start = pos + 2
            elif ln == 126:
                if pos + 4 > n:
                    break
                ln = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            else:
                if pos + 10 > n:
                    break
                ln = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + ln
            if end > n:
                break
            op = data[pos] & 0x0F
            pos = end
            if op == 1 or op == 2:
                binary = op == 2
                if data.startswith(_PB_CHANNEL_MESSAGE if binary else _CHANNEL_MESSAGE, start):
                    i = data.find(_PB_T_MARK if binary else _T_MARK, start, end)
                    if i >= 0:
                        if not now:
                            now = monotonic_ns() // 1000
                        t = int(data[i + 4 : data.find(b"}", i, end)])  # both marks are 4 bytes
                        w.deliveries += 1
                        if w.rec_from_us <= now <= w.window_end_us:
                            w.in_window += 1
                        if t >= w.rec_from_us:
                            w.lat.append(now - t)
                            w.lat_sec.append((t - w.rec_from_us) // 1_000_000)
                            if w.split_origin:  # cluster: was the sender on another node? {"o":<port>,"t":..}
                                k = data.find(_PB_O_MARK if binary else _O_MARK, start, end)
                                w.lat_remote.append(int(data[k + 4 : data.find(b",", k, end)]) != self.port)
                            if t < w.window_end_us:
                                w.window_deliveries += 1
                        continue
                self._message(data[start:end], binary)
            elif op == 9:  # ping -> pong with the same payload
                self.transport.write(_frame(0xA, data[start:end]))  # type: ignore[union-attr]
            elif op == 8:  # echo a close the server started; either way the server closes the TCP connection
                self.close_code = int.from_bytes(data[start : start + 2], "big") if end - start >= 2 else 1005
                if not self.closed:
                    with contextlib.suppress(Exception):
                        self.transport.write(_frame(0x8, data[start : start + 2]))  # type: ignore[union-attr]
        if pos < n:
            self.buf = data[pos:]

    def _message(self, payload: bytes, binary: bool = False) -> None:
        w = self.w
        try:
            msg = _pb_decode(payload) if binary else jloads(payload)
        except Exception:
            w.bad_frames += 1
            return
        cid = msg.get("cid")
        if cid:
            value = self.pending.pop(cid, None)
            if value is None:
                return
            if isinstance(value, int):  # a chat message: the ack
                if "error" in msg:
                    w.send_errors += 1
                    if len(w.error_samples) < 5:
                        w.error_samples.append(str(msg["error"])[:200])
                else:
                    w.acks += 1
                    if value >= w.rec_from_us:
                        w.ack_lat.append(monotonic_ns() // 1000 - value)
            elif not value.done():
                value.set_result(msg)
            return
        w.pushes += 1
        event = msg.get("channel_presence_event")
        if event is not None and self.members is not None:
            for p in event.get("joins") or ():
                self.members.add(p["session_id"])
            for p in event.get("leaves") or ():
                self.members.discard(p["session_id"])
        elif "error" in msg:
            w.push_errors += 1
            if len(w.error_samples) < 5:
                w.error_samples.append(str(msg["error"])[:200])

    # API ---------------------------------------------------------------------------------
    def request(self, kind: str, body: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        if self.closed or self.transport is None:
            raise WsError("socket closed")
        self.next_cid += 1
        cid = str(self.next_cid)
        fut: asyncio.Future[dict[str, Any]] = self.w.loop.create_future()
        self.pending[cid] = fut
        if FORMAT == "protobuf":
            self.transport.write(_frame(0x2, _pb_encode({"cid": cid, kind: body})))
        else:
            self.transport.write(_frame(0x1, jdumps({"cid": cid, kind: body})))
        return fut

    def send_chat(self, now_us: int) -> None:
        """channel_message_send with content {"t": <send time, us>} (cluster: {"o": <sender's server
        port>, "t": ...}); the ack is counted on arrival."""
        self.next_cid += 1
        cid = str(self.next_cid)
        self.pending[cid] = now_us
        if FORMAT == "protobuf":
            origin = b'"o":%d,' % self.port if self.w.split_origin else b""
            content = b'{%s"t":%d}' % (origin, now_us)
            body = _pb_field(1, self.channel_id.encode()) + _pb_field(2, content)
            envelope = _pb_field(1, cid.encode()) + _pb_field(7, body)  # cid, channel_message_send
            self.transport.write(_frame(0x2, envelope))  # type: ignore[union-attr]
            return
        origin = b'\\"o\\":%d,' % self.port if self.w.split_origin else b""
        payload = b'{"cid":"%s","channel_message_send":{"channel_id":"%s","content":"{%s\\"t\\":%d}"}}' % (
            cid.encode(),
            self.channel_id.encode(),
            origin,
            now_us,
        )
        self.transport.write(_frame(0x1, payload))  # type: ignore[union-attr]

    def close(self) -> None:
        """Start the closing handshake; the server closes the TCP connection (no client TIME_WAIT)."""
        if self.transport is None or self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.transport.write(_frame(0x8, (1000).to_bytes(2, "big")))


def handshake_request(host: str, port: int, token: str, status: bool) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET /ws?lang=en&format=%s&status=%s&token=%s HTTP/1.1\r\nHost: %s:%d\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    ) % (FORMAT.encode(), b"true" if status else b"false", token.encode(), host.encode(), port, key)


# --------------------------------------------------------------------------------------------
# Worker process: owns sockets, runs commands sent by the driver over a pipe
# --------------------------------------------------------------------------------------------


@dataclass
class Player:
    """Surge: one player to log in (device id), and when (seconds after the ramp start)."""

    device_id: str
    room: str
    at: float = 0.0


class Worker:
    def __init__(self, index: int, src_ip: str, host: str, server_key: str) -> None:
        self.index = index
        self.src_ip = src_ip
        self.host = host
        self.target = hl.Target(host, 0, b"", server_key)
        self.loop = asyncio.get_event_loop()
        self.socks: list[WsClient] = []
        self.reset_counters()

    def reset_counters(self) -> None:
        self.deliveries = 0
        self.in_window = 0
        self.window_deliveries = 0
        self.rec_from_us = 1 << 62
        self.window_end_us = 0
        self.lat = array("q")  # delivery latency (us) of each message sent in the measured window
        self.lat_sec = array("H")  # ... and the second of the window it was sent in
        self.lat_remote = array("B")  # ... and whether it crossed nodes (cluster only)
        self.split_origin = False
        self.ack_lat = array("q")
        self.acks = 0
        self.send_errors = 0
        self.push_errors = 0
        self.pushes = 0
        self.bad_frames = 0
        self.unexpected_closes = 0
        self.close_codes: list[int] = []
        self.error_samples: list[str] = []

    async def serve(self, pipe: Any) -> None:
        while True:
            cmd, kwargs = await self.loop.run_in_executor(None, pipe.recv)
            if cmd == "exit":
                return
            try:
                result = await getattr(self, "cmd_" + cmd)(**kwargs)
            except Exception as exc:
                result = {"error": f"{exc!r}\n{traceback.format_exc()}"}
            pipe.send(result)

    # sockets -------------------------------------------------------------------------------
    async def open_socket(self, port: int, token: str, status: bool) -> WsClient:
        req = handshake_request(self.host, port, token, status)
        _, client = await self.loop.create_connection(
            lambda: WsClient(self, req), self.host, port, local_addr=(self.src_ip, 0)
        )
        await client.ready
        client.port = port
        return client

    async def cmd_connect(
        self, targets: list[tuple[int, str]], concurrency: int, status: bool
    ) -> dict[str, Any]:
        """Open one socket per (port, token), `concurrency` handshakes in flight at a time."""
        lat = array("d")
        errors: list[str] = []
        it = iter(enumerate(targets))
        opened: list[WsClient | None] = [None] * len(targets)
        cpu0 = time.process_time()
        t0 = time.perf_counter()

        async def drive() -> None:
            for i, (port, token) in it:
                s = time.perf_counter()
                try:
                    opened[i] = await asyncio.wait_for(self.open_socket(port, token, status), 30)
                except (OSError, WsError, TimeoutError) as exc:
                    errors.append(repr(exc)[:200])
                    continue
                lat.append(time.perf_counter() - s)

        await asyncio.gather(*(drive() for _ in range(min(concurrency, len(targets)) or 1)))
        self.socks.extend(s for s in opened if s is not None)  # in the order of `targets`
        return {
            "opened": len(lat),
            "failed": len(errors),
            "errors": errors[:5],
            "lat": lat.tobytes(),
            "elapsed": time.perf_counter() - t0,
            "cpu": time.process_time() - cpu0,
        }

    async def cmd_ping(self, sample: int, wait_s: float = 10.0) -> dict[str, Any]:
        """Ping `sample` of this worker's sockets (spread evenly) at once; round-trip times."""
        live = [s for s in self.socks if not s.closed]
        step = max(1, len(live) // max(1, sample))
        chosen = live[::step][:sample]
        lat = array("d")
        failed = 0

        async def one(s: WsClient) -> None:
            nonlocal failed
            t = time.perf_counter()
            try:
                reply = await asyncio.wait_for(s.request("ping", {}), wait_s)
            except (WsError, TimeoutError):
                failed += 1
                return
            if "pong" in reply:
                lat.append(time.perf_counter() - t)
            else:
                failed += 1

        await asyncio.gather(*(one(s) for s in chosen))
        return {"ok": len(lat), "failed": failed, "lat": lat.tobytes()}

    async def cmd_alive(self) -> dict[str, Any]:
        return {
            "alive": sum(1 for s in self.socks if not s.closed),
            "total": len(self.socks),
            "unexpected_closes": self.unexpected_closes,
            "close_codes": self.close_codes,
        }

    async def cmd_close_all(self, wait_s: float = 10.0) -> dict[str, Any]:
        socks, self.socks = self.socks, []
        for s in socks:
            s.close()
        pending = [s.lost for s in socks if not s.lost.done()]
        if pending:
            _, not_done = await asyncio.wait(pending, timeout=wait_s)
            for s in socks:
                if not s.lost.done() and s.transport is not None:
                    s.transport.abort()
            if not_done:
                await asyncio.sleep(0.1)
        return {"closed": len(socks)}

    # chat ----------------------------------------------------------------------------------
    async def cmd_join(self, rooms: list[str], concurrency: int = 32) -> dict[str, Any]:
        """Socket i of this worker joins rooms[i] (a room, type 1, no persistence)."""
        errors: list[str] = []
        it = iter(zip(self.socks, rooms, strict=True))

        async def drive() -> None:
            for sock, room in it:
                sock.members = set()
                try:
                    reply = await asyncio.wait_for(
                        sock.request(
                            "channel_join", {"target": room, "type": 1, "persistence": False, "hidden": False}
                        ),
                        30,
                    )
                except (WsError, TimeoutError) as exc:
                    errors.append(repr(exc))
                    continue
                channel = reply.get("channel")
                if channel is None:
                    errors.append(str(reply)[:200])
                    continue
                sock.channel_id = channel["id"]
                for p in channel.get("presences") or ():
                    sock.members.add(p["session_id"])

        await asyncio.gather(*(drive() for _ in range(concurrency)))
        return {
            "joined": sum(1 for s in self.socks if s.channel_id),
            "errors": errors[:5],
            "failed": len(errors),
        }

    async def cmd_wait_members(self, expected: int, wait_s: float) -> dict[str, Any]:
        """Wait until every joined socket has seen `expected` members in its room (presence sync)."""
        deadline = time.monotonic() + wait_s
        while True:
            short = [s for s in self.socks if s.channel_id and len(s.members or ()) < expected]
            if not short or time.monotonic() >= deadline:
                return {
                    "short": len(short),
                    "min_seen": min((len(s.members or ()) for s in short), default=expected),
                }
            await asyncio.sleep(0.1)

    async def cmd_fanout(
        self,
        start_at: float,
        warmup: float,
        duration: float,
        rate: float,
        drain: float,
        max_drain: float,
        split_origin: bool = False,
    ) -> dict[str, Any]:
        """Send `rate` chat messages/s (round robin over this worker's members) from start_at (wall
        clock) for warmup + duration seconds; only the last `duration` seconds are measured."""
        self.reset_counters()
        self.split_origin = split_origin
        senders = [s for s in self.socks if s.channel_id and not s.closed]
        random.shuffle(senders)
        mono0 = time.monotonic() + (start_at - time.time())
        rec_from = mono0 + warmup
        end = rec_from + duration
        self.rec_from_us = int(rec_from * 1e6)
        self.window_end_us = int(end * 1e6)
        await asyncio.sleep(max(0.0, mono0 - time.monotonic()))
        sent = sent_window = skipped = 0
        i = 0
        nsend = len(senders)
        cpu0 = cpu1 = 0.0
        measuring = False
        max_lag = 0.0
        while nsend:
            now = time.monotonic()
            if now >= end:
                break
            if not measuring and now >= rec_from:
                measuring = True
                cpu0 = time.process_time()
            due = int((now - mono0) * rate) - sent - skipped
            if due > 1:
                max_lag = max(max_lag, due / rate)
            for _ in range(due):
                s = senders[i]
                i = (i + 1) % nsend
                if s.closed:
                    skipped += 1
                    continue
                s.send_chat(monotonic_ns() // 1000)
                sent += 1
                if measuring:
                    sent_window += 1
            await asyncio.sleep(0.002)
        cpu1 = time.process_time()
        # Drain: until nothing arrived for `drain` s (at most max_drain).
        last = self.deliveries
        quiet_since = time.monotonic()
        stop = time.monotonic() + max_drain
        while time.monotonic() < stop:
            await asyncio.sleep(0.1)
            if self.deliveries != last:
                last = self.deliveries
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= drain:
                break
        return {
            "senders": nsend,
            "sent": sent,
            "sent_window": sent_window,
            "skipped_closed": skipped,
            "acks": self.acks,
            "send_errors": self.send_errors,
            "push_errors": self.push_errors,
            "deliveries": self.deliveries,
            "in_window": self.in_window,
            "window_deliveries": self.window_deliveries,
            "lat": self.lat.tobytes(),
            "lat_sec": self.lat_sec.tobytes(),
            "lat_remote": self.lat_remote.tobytes(),
            "ack_lat": self.ack_lat.tobytes(),
            "cpu": cpu1 - cpu0,
            "max_send_lag": max_lag,
            "unexpected_closes": self.unexpected_closes,
            "close_codes": self.close_codes,
            "errors": self.error_samples,
            "bad_frames": self.bad_frames,
        }

    # surge ---------------------------------------------------------------------------------
    async def _auth(self, port: int, device_id: str) -> str:
        loop = self.loop
        _, conn = await loop.create_connection(
            lambda: hl.Conn(loop), self.host, port, local_addr=(self.src_ip, 0)
        )
        try:
            host_header = f"{self.host}:{port}".encode()
            raw = hl.build_request(
                "POST", DEVICE_AUTH, host_header, self.target.basic, jdumps({"id": device_id})
            )
            status, body = await conn.request(raw)
        finally:
            conn.close()
        if status != 200:
            raise WsError(f"auth HTTP {status}: {body[:200]!r}")
        return str(jloads(body)["token"])

    async def _login(self, port: int, p: Player, request: str, status: bool) -> tuple[float, float, float]:
        """authenticate + connect + one request; the three latencies in seconds."""
        t0 = time.perf_counter()
        token = await self._auth(port, p.device_id)
        t1 = time.perf_counter()
        sock = await self.open_socket(port, token, status)
        self.socks.append(sock)
        t2 = time.perf_counter()
        if request == "join":
            sock.members = set()
            reply = await sock.request("channel_join", {"target": p.room, "type": 1, "persistence": False})
            if "channel" not in reply:
                raise WsError(f"join failed: {str(reply)[:200]}")
            sock.channel_id = reply["channel"]["id"]
        else:
            reply = await sock.request("ping", {})
            if "pong" not in reply:
                raise WsError(f"ping failed: {str(reply)[:200]}")
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    async def cmd_login(
        self, port: int, players: list[Player], request: str, status: bool, concurrency: int
    ) -> dict[str, Any]:
        """Untimed set-up: log these players in, `concurrency` at a time."""
        errors: list[str] = []
        it = iter(players)

        async def drive() -> None:
            for p in it:
                try:
                    await asyncio.wait_for(self._login(port, p, request, status), 60)
                except (OSError, WsError, hl.HttpError, TimeoutError) as exc:
                    errors.append(repr(exc)[:200])

        await asyncio.gather(*(drive() for _ in range(concurrency)))
        return {"ok": len(players) - len(errors), "failed": len(errors), "errors": errors[:5]}

    async def cmd_surge(
        self,
        port: int,
        players: list[Player],
        start_at: float,
        request: str,
        status: bool,
        ping_interval: float,
        wait_s: float,
    ) -> dict[str, Any]:
        """Start each player's log-in at start_at + player.at (open loop); meanwhile the sockets already
        connected ping every `ping_interval` s (existing players' responsiveness during the surge)."""
        mono0 = time.monotonic() + (start_at - time.time())
        # rows: start offset (s), auth, connect, request, total (s); failed rows are not recorded
        rows = array("d")
        lags = array("d")
        errors: list[str] = []
        failed = 0
        base = [s for s in self.socks if not s.closed]
        ping_lat = array("d")  # (offset, rtt) pairs
        ping_failed = 0
        stop = False

        async def one(p: Player) -> None:
            nonlocal failed
            delay = mono0 + p.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.monotonic()
            lags.append(started - (mono0 + p.at))
            try:
                a, c, r = await asyncio.wait_for(self._login(port, p, request, status), wait_s)
            except (OSError, WsError, hl.HttpError, TimeoutError) as exc:
                failed += 1
                if len(errors) < 5:
                    errors.append(repr(exc)[:200])
                return
            rows.extend((started - mono0, a, c, r, a + c + r))

        async def pinger(s: WsClient, phase: float) -> None:
            nonlocal ping_failed
            await asyncio.sleep(max(0.0, mono0 - time.monotonic()) + phase)
            while not stop and not s.closed:
                t = time.perf_counter()
                try:
                    reply = await asyncio.wait_for(s.request("ping", {}), wait_s)
                    if "pong" not in reply:
                        raise WsError("no pong")
                except (WsError, TimeoutError):
                    ping_failed += 1
                else:
                    ping_lat.extend((time.monotonic() - mono0, time.perf_counter() - t))
                await asyncio.sleep(max(0.0, ping_interval - (time.perf_counter() - t)))

        pingers = (
            [asyncio.create_task(pinger(s, random.random() * ping_interval)) for s in base]
            if ping_interval > 0
            else []
        )
        cpu0 = time.process_time()
        await asyncio.gather(*(one(p) for p in players))
        cpu1 = time.process_time()
        stop = True
        for t in pingers:
            t.cancel()
        await asyncio.gather(*pingers, return_exceptions=True)
        return {
            "rows": rows.tobytes(),
            "lags": lags.tobytes(),
            "failed": failed,
            "errors": errors,
            "ping": ping_lat.tobytes(),
            "ping_failed": ping_failed,
            "cpu": cpu1 - cpu0,
            "connected": sum(1 for s in self.socks if not s.closed),
            "unexpected_closes": self.unexpected_closes,
        }


def _worker_main(index: int, pipe: Any, src_ip: str, host: str, server_key: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver cleans up on Ctrl-C
    raise_nofile()
    loop = hl._new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(Worker(index, src_ip, host, server_key).serve(pipe))
    finally:
        loop.close()


class Workers:
    """The client processes; `call` sends a command to each and returns their results."""

    def __init__(self, n: int, host: str, server_key: str, cpus: list[int] | None) -> None:
        ctx = mp.get_context("fork")
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        for i in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(
                target=_worker_main, args=(i, child, f"127.0.0.{10 + i}", host, server_key), daemon=True
            )
            p.start()
            child.close()
            if cpus:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(p.pid, cpus)
            self.pipes.append(parent)
            self.procs.append(p)

    def __len__(self) -> int:
        return len(self.pipes)

    def send(self, cmd: str, kwargs: list[dict[str, Any]] | dict[str, Any]) -> None:
        per = kwargs if isinstance(kwargs, list) else [kwargs] * len(self.pipes)
        for pipe, kw in zip(self.pipes, per, strict=True):
            pipe.send((cmd, kw))

    def recv(self) -> list[dict[str, Any]]:
        out = []
        for i, pipe in enumerate(self.pipes):
            try:
                r = pipe.recv()
            except EOFError:
                raise SystemExit(f"client worker {i} died") from None
            if "error" in r:
                raise SystemExit(f"client worker {i} failed: {r['error']}")
            out.append(r)
        return out

    def call(self, cmd: str, kwargs: list[dict[str, Any]] | dict[str, Any]) -> list[dict[str, Any]]:
        self.send(cmd, kwargs)
        return self.recv()

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                pipe.send(("exit", {}))
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


def split(items: list[Any], n: int) -> list[list[Any]]:
    return [items[i::n] for i in range(n)]


# --------------------------------------------------------------------------------------------
# Servers, databases, measurements
# --------------------------------------------------------------------------------------------


def raise_nofile(want: int = 1 << 20) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else want
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, target), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Bench-only server launcher (--server-gc): runs `overworld` with a gc callback that records the
# collector's pauses into a JSON file, and optionally tunes the collector. The server code is untouched.
GC_PROBE = r"""
import gc, json, os, sys, threading, time
path, mode = os.environ["OW_BENCH_GC_STATS"], os.environ["OW_BENCH_GC_MODE"]
stats = {"count": [0, 0, 0], "total_ms": [0.0, 0.0, 0.0], "max_ms": [0.0, 0.0, 0.0], "long": []}
t0 = [0.0]
def cb(phase, info):
    if phase == "start":
        t0[0] = time.perf_counter()
        return
    g, ms = info["generation"], (time.perf_counter() - t0[0]) * 1000
    stats["count"][g] += 1
    stats["total_ms"][g] += ms
    stats["max_ms"][g] = max(stats["max_ms"][g], ms)
    if ms >= 5:
        stats["long"] = stats["long"][-999:] + [[time.time(), g, round(ms, 2)]]
gc.callbacks.append(cb)
if os.environ.get("OW_BENCH_GC_THRESHOLD"):
    gc.set_threshold(*(int(x) for x in os.environ["OW_BENCH_GC_THRESHOLD"].split(",")))
def dump():
    frozen = False
    while True:
        time.sleep(0.25)
        if mode == "freeze" and not frozen and os.path.exists(path + ".ready"):
            gc.collect()
            gc.freeze()
            frozen = True
        stats["frozen"] = gc.get_freeze_count()
        if os.path.exists(path + ".census"):  # the bench asks for a count of gc-tracked objects by type
            with open(path + ".census") as fh:
                if fh.read() == "collect":
                    gc.collect()
            os.remove(path + ".census")
            census = {}
            for o in gc.get_objects():
                k = f"{type(o).__module__}.{type(o).__qualname__}"
                census[k] = census.get(k, 0) + 1
            with open(path + ".census.json", "w") as fh:
                json.dump(census, fh)
        with open(path + ".tmp", "w") as fh:
            json.dump(stats, fh)
        os.replace(path + ".tmp", path)
threading.Thread(target=dump, daemon=True).start()
from overworld.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: str
    data_dir: str
    gc_stats: str = ""

    def census(self, collect: bool = False, wait_s: float = 30.0) -> dict[str, int]:
        """gc-tracked objects by type (--server-gc only); with `collect`, after a full collection."""
        if not self.gc_stats:
            return {}
        out = self.gc_stats + ".census.json"
        with contextlib.suppress(FileNotFoundError):
            os.remove(out)
        with open(self.gc_stats + ".census", "w") as fh:
            fh.write("collect" if collect else "")
        deadline = time.time() + wait_s
        while time.time() < deadline:
            time.sleep(0.2)
            try:
                with open(out) as fh:
                    return dict(json.load(fh))
            except (OSError, ValueError):
                continue
        return {}

    def gc(self) -> dict[str, Any] | None:
        if not self.gc_stats:
            return None
        try:
            with open(self.gc_stats) as fh:
                return dict(json.load(fh))
        except (OSError, ValueError):
            return None

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_server(
    name: str, port: int, env_extra: dict[str, str], cpu: int | None, out_dir: str, args: argparse.Namespace
) -> Server:
    data_dir = tempfile.mkdtemp(prefix=f"ow-sock-{name}-")
    env = dict(os.environ)
    env.update(
        {
            "OVERWORLD_DATA_DIR": data_dir,
            "OVERWORLD_LOG_LEVEL": "warning",
            "OVERWORLD_SHUTDOWN_GRACE_SEC": "2",
            "OVERWORLD_CHAT_RATE_LIMIT": str(args.chat_rate_limit),
            "OVERWORLD_SOCKET_RATE_LIMIT": str(args.socket_rate_limit),
            "OVERWORLD_NODE_NAME": f"bench-{name}",
        }
    )
    if args.outbound_queue:
        env["OVERWORLD_SOCKET_OUTBOUND_QUEUE"] = str(args.outbound_queue)
    env.update(env_extra)
    for item in args.server_env:
        k, _, v = item.partition("=")
        env[k] = v
    cmd = [args.overworld, "serve", "--host", "127.0.0.1", "--port", str(port)]
    gc_stats = ""
    if args.server_gc != "off":
        gc_stats = os.path.join(out_dir, f"gc-{name}-{port}-{int(time.time())}.json")
        env.update({"OW_BENCH_GC_STATS": gc_stats, "OW_BENCH_GC_MODE": args.server_gc})
        if args.server_gc_threshold:
            env["OW_BENCH_GC_THRESHOLD"] = args.server_gc_threshold
        python = os.path.join(os.path.dirname(args.overworld), "python")
        cmd = [python, "-c", GC_PROBE, *cmd[1:]]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    log_path = os.path.join(out_dir, f"server-{name}-{port}.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
    server = Server(name, port, proc, log_path, data_dir, gc_stats)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server {name} exited during start; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    if gc_stats:
                        open(gc_stats + ".ready", "w").close()  # --server-gc freeze: freeze now
                        time.sleep(0.5)
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"server {name} not ready after 90 s; see {log_path}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    shutil.rmtree(server.data_dir, ignore_errors=True)


def proc_status(pid: int, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM...)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def nofile_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def start_profiles(
    args: argparse.Namespace, servers: list[Server], seconds: float, out_dir: str, label: str
) -> list[Any]:
    """py-spy (--py-spy PATH) on each server for `seconds`: raw collapsed stacks for profile_summary.py."""
    if not args.py_spy:
        return []
    procs = []
    for s in servers:
        path = os.path.join(out_dir, f"profile-{label}-{s.name}-{int(time.time())}.raw")
        cmd = [args.py_spy, "record", "-f", "raw", "-r", str(args.py_spy_rate)]
        cmd += ["-d", str(max(1, int(seconds))), "-o", path, "--pid", str(s.pid)]
        # --native pauses the process for each sample (it cannot be --nonblocking)
        cmd.append("--native" if args.py_spy_native else "--nonblocking")
        procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
    return procs


def finish_profiles(procs: list[Any]) -> list[str]:
    paths = []
    for p, path in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
        if os.path.exists(path):
            paths.append(path)
            print(f"#   profile: {path}  (python bench/profile_summary.py {path} --group)", flush=True)
    return paths


def redis_cpu_sec() -> float:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        if raw[raw.find("(") + 1 : raw.rfind(")")] != "redis-server":
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU (in cores) of the servers, PostgreSQL, Redis and the whole machine over a window."""

    def __init__(self, servers: list[Server], db_name: str = "", redis: bool = False) -> None:
        self.servers = servers
        self.db_name = db_name
        self.redis = redis

    def snap(self) -> dict[str, Any]:
        return {
            "gc": [s.gc() for s in self.servers],
            "t": time.time(),
            "host": hl.host_busy_cpus(),
            "srv": [hl.tree_cpu_sec(s.pid) or 0.0 for s in self.servers],
            "db": hl.db_cpu_sec(self.db_name) if self.db_name else 0.0,
            "redis": redis_cpu_sec() if self.redis else 0.0,
        }

    @staticmethod
    def cores(a: dict[str, Any], b: dict[str, Any], gen_cpu_sec: float) -> dict[str, Any]:
        dt = max(1e-9, b["t"] - a["t"])
        out: dict[str, Any] = {
            "srv_cpu": [round((y - x) / dt, 2) for x, y in zip(a["srv"], b["srv"], strict=True)],
            "gen_cpu": round(gen_cpu_sec / dt, 2),
        }
        if a["db"] or b["db"]:
            out["db_cpu"] = round((b["db"] - a["db"]) / dt, 2)
        if a["redis"] or b["redis"]:
            out["redis_cpu"] = round((b["redis"] - a["redis"]) / dt, 2)
        gcs = []
        for ga, gb in zip(a.get("gc") or [], b.get("gc") or [], strict=False):
            if ga is None or gb is None:
                continue
            long = [p for p in gb["long"] if a["t"] <= p[0] <= b["t"]]
            gcs.append(
                {
                    "collections": [y - x for x, y in zip(ga["count"], gb["count"], strict=True)],
                    "gc_ms": round(sum(gb["total_ms"]) - sum(ga["total_ms"]), 1),
                    "gc_share": round((sum(gb["total_ms"]) - sum(ga["total_ms"])) / 1000 / dt, 3),
                    "pauses_5ms": len(long),
                    "max_pause_ms": max((p[2] for p in long), default=0.0),
                    "frozen": gb.get("frozen", 0),
                }
            )
        if gcs:
            out["gc"] = gcs
        if a["host"] and b["host"] and b["host"][1] > a["host"][1]:
            ncpu = os.cpu_count() or 1
            host = ncpu * (b["host"][0] - a["host"][0]) / (b["host"][1] - a["host"][1])
            out["host_cpu"] = round(host, 2)
            known = sum(out["srv_cpu"]) + out["gen_cpu"] + out.get("db_cpu", 0.0) + out.get("redis_cpu", 0.0)
            out["other_cpu"] = round(max(0.0, host - known), 2)
        return out


def pct(vals: list[float], p: float, scale: float = 1.0) -> float:
    return round(hl.percentile(vals, p) * scale, 2) if vals else float("nan")


def merge(results: list[dict[str, Any]], key: str, typecode: str) -> list[float]:
    out = array(typecode)
    for r in results:
        a = array(typecode)
        a.frombytes(r[key])
        out.extend(a)
    return sorted(out)


def create_sessions(port: int, n: int, server_key: str, tag: str, concurrency: int = 64) -> list[str]:
    t = hl.Target("127.0.0.1", port, f"127.0.0.1:{port}".encode(), server_key)
    loop = hl._new_loop()
    try:
        t0 = time.perf_counter()
        pool = loop.run_until_complete(hl.create_pool(t, n, tag, concurrency))
        print(f"#   {n:,} sessions (device sign-ups) in {time.perf_counter() - t0:.1f}s", flush=True)
    finally:
        loop.close()
    return pool.tokens


def pg_url(admin_url: str, db: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + db


def pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def redis_cleanup(url: str, prefix: str) -> int:
    import redis.asyncio as aioredis

    async def run() -> int:
        client = aioredis.from_url(url)
        n = 0
        try:
            async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                n += await client.delete(key)
        finally:
            await client.aclose()
        return n

    return asyncio.run(run())


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    args: argparse.Namespace
    out_dir: str
    tag: str
    server_cpus: list[int | None] = field(default_factory=list)
    client_cpus: list[int] | None = None
    port: int = 7360


def wait_quiet(args: argparse.Namespace) -> float | None:
    return hl.wait_idle(args.wait_idle) if args.wait_idle > 0 else None


def scenario_idle(ctx: Ctx, workers: Workers, run: int) -> dict[str, Any]:
    args = ctx.args
    server = start_server("idle", ctx.port, {}, ctx.server_cpus[0], ctx.out_dir, args)
    try:
        limit = nofile_limit(server.pid)
        n = args.sockets
        room = limit - fd_count(server.pid) - 64
        note = ""
        if n > room:
            note = f"capped from {n:,}: server RLIMIT_NOFILE is {limit:,}"
            print(f"#   WARNING: {note} (raise the hard limit, ulimit -Hn, to open {n:,})", flush=True)
            n = room
        tokens = create_sessions(ctx.port, n + args.warmup_sockets, args.server_key, f"{ctx.tag}-idle{run}")
        warm, tokens = tokens[: args.warmup_sockets], tokens[args.warmup_sockets :]
        port = ctx.port
        if warm:  # first sockets pay for lazy imports and caches; keep them out of the per-socket figure
            workers.call(
                "connect",
                [
                    {"targets": [(port, t) for t in part], "concurrency": 16, "status": args.status}
                    for part in split(warm, len(workers))
                ],
            )
            workers.call("ping", {"sample": 10**9})
            workers.call("close_all", {})
        time.sleep(2)
        quiet = wait_quiet(args)
        census0 = server.census()
        rss0 = proc_status(server.pid, "VmRSS")
        fds0 = fd_count(server.pid)
        meter = Meter([server])
        m0 = meter.snap()
        profiles = start_profiles(
            args, [server], max(1.0, min(10.0, n / 2000)), ctx.out_dir, f"idle{run}-connect"
        )
        conc = max(1, args.connect_concurrency // len(workers))
        res = workers.call(
            "connect",
            [
                {"targets": [(port, t) for t in part], "concurrency": conc, "status": args.status}
                for part in split(tokens, len(workers))
            ],
        )
        m1 = meter.snap()
        finish_profiles(profiles)
        opened = sum(r["opened"] for r in res)
        elapsed = max(r["elapsed"] for r in res)
        conn_lat = merge(res, "lat", "d")
        time.sleep(args.settle)
        rss1 = proc_status(server.pid, "VmRSS")
        fds1 = fd_count(server.pid)
        census1 = server.census()
        per_socket = {k: (v - census0.get(k, 0)) / max(1, opened) for k, v in census1.items()}
        objects = {
            "tracked_per_socket": round(sum(per_socket.values()), 1),
            "top": sorted(((round(v, 2), k) for k, v in per_socket.items() if v >= 0.5), reverse=True)[:25],
        }
        pings = workers.call("ping", {"sample": max(1, args.ping_sample // len(workers))})
        ping_lat = merge(pings, "lat", "d")
        hold: dict[str, Any] = {}
        if args.hold > 0:
            h0 = meter.snap()
            time.sleep(args.hold)
            h1 = meter.snap()
            hold = Meter.cores(h0, h1, 0.0)
            pings2 = workers.call("ping", {"sample": max(1, args.ping_sample // len(workers))})
            hold["ping_ok"] = sum(r["ok"] for r in pings2)
            hold["ping_failed"] = sum(r["failed"] for r in pings2)
        rss2 = proc_status(server.pid, "VmRSS")
        alive = workers.call("alive", {})
        workers.call("close_all", {})
        time.sleep(2)
        rss3 = proc_status(server.pid, "VmRSS")
        census_closed = server.census()  # before any full collection: what reference counting left
        if census_closed:
            kept = {k: (v - census0.get(k, 0)) / max(1, opened) for k, v in census_closed.items()}
            objects["kept_per_closed_socket"] = round(sum(kept.values()), 2)
            objects["kept_top"] = sorted(
                ((round(v, 2), k) for k, v in kept.items() if v >= 0.5), reverse=True
            )[:10]
        census2 = server.census(collect=True)
        if census2:  # what the closed sockets left behind after a full collection: a leak shows up here
            left = {k: (v - census0.get(k, 0)) / max(1, opened) for k, v in census2.items()}
            objects["left_per_closed_socket"] = round(sum(left.values()), 2)
            objects["left_top"] = sorted(
                ((round(v, 2), k) for k, v in left.items() if v >= 0.5), reverse=True
            )[:10]
        out: dict[str, Any] = {
            "scenario": "idle",
            "run": run,
            "requested": args.sockets,
            "note": note,
            "status": args.status,
            "opened": opened,
            "failed": sum(r["failed"] for r in res),
            "errors": [e for r in res for e in r["errors"]][:5],
            "open_per_s": round(opened / max(1e-9, elapsed), 1),
            "connect_p50_ms": pct(conn_lat, 50, 1000),
            "connect_p99_ms": pct(conn_lat, 99, 1000),
            "rss_before_kib": rss0,
            "rss_after_kib": rss1,
            "rss_after_hold_kib": rss2,
            "rss_after_close_kib": rss3,
            "rss_peak_kib": proc_status(server.pid, "VmHWM"),
            "kib_per_socket": round((rss1 - rss0) / max(1, opened), 2),
            "format": FORMAT,
            "server_fds": [fds0, fds1],
            "server_nofile": limit,
            "ping_sample": sum(r["ok"] + r["failed"] for r in pings),
            "ping_ok": sum(r["ok"] for r in pings),
            "ping_p50_ms": pct(ping_lat, 50, 1000),
            "ping_p99_ms": pct(ping_lat, 99, 1000),
            "alive": sum(a["alive"] for a in alive),
            "unexpected_closes": sum(a["unexpected_closes"] for a in alive),
            "hold_s": args.hold,
            "gc_objects": objects if census1 else {},
            "hold": hold,
            "busy_before": quiet,
            **Meter.cores(m0, m1, sum(r["cpu"] for r in res)),
        }
        return out
    finally:
        stop_server(server)


def _fanout(
    ctx: Ctx, workers: Workers, run: int, servers: list[Server], label: str, meter: Meter
) -> dict[str, Any]:
    args = ctx.args
    rooms, members = args.rooms, args.members
    total = rooms * members
    tokens = create_sessions(servers[0].port, total, args.server_key, f"{ctx.tag}-{label}{run}")
    # Socket k: room k // members; member j of a room connects to node j % len(servers).
    targets = [(servers[(k % members) % len(servers)].port, tokens[k]) for k in range(total)]
    room_of = [f"bench{run}r{k // members}" for k in range(total)]
    order = list(range(total))
    random.Random(7).shuffle(order)  # every worker gets members of every room
    parts = split(order, len(workers))
    res = workers.call(
        "connect",
        [{"targets": [targets[k] for k in part], "concurrency": 32, "status": args.status} for part in parts],
    )
    failed = sum(r["failed"] for r in res)
    if failed:
        raise SystemExit(f"{label}: {failed} sockets failed to open: {res[0]['errors'] or res[-1]['errors']}")
    joined = workers.call("join", [{"rooms": [room_of[k] for k in part]} for part in parts])
    if sum(r["failed"] for r in joined):
        raise SystemExit(f"{label}: joins failed: {[e for r in joined for e in r['errors']][:3]}")
    t0 = time.perf_counter()
    sync = workers.call("wait_members", {"expected": members, "wait_s": 60})
    short = sum(r["short"] for r in sync)
    print(
        f"#   {total:,} sockets joined {rooms} rooms; presence in sync after {time.perf_counter() - t0:.1f}s"
        + (f" ({short} sockets still short, min seen {min(r['min_seen'] for r in sync)})" if short else ""),
        flush=True,
    )
    time.sleep(1.0)
    quiet = wait_quiet(args)
    start_at = time.time() + 1.0
    workers.send(
        "fanout",
        {
            "start_at": start_at,
            "warmup": args.warmup,
            "duration": args.duration,
            "rate": args.rate / len(workers),
            "drain": 1.0,
            "max_drain": 10.0,
            "split_origin": len(servers) > 1,
        },
    )
    time.sleep(max(0.0, start_at + args.warmup - time.time()))
    m0 = meter.snap()
    profiles = start_profiles(args, servers, args.duration, ctx.out_dir, f"{label}{run}")
    time.sleep(max(0.0, start_at + args.warmup + args.duration - time.time()))
    m1 = meter.snap()
    res = workers.recv()
    profile_paths = finish_profiles(profiles)
    rss = [proc_status(s.pid, "VmRSS") for s in servers]
    lat = merge(res, "lat", "q")
    per_sec: dict[int, list[int]] = {}
    for r in res:
        a, b = array("q"), array("H")
        a.frombytes(r["lat"])
        b.frombytes(r["lat_sec"])
        for sec, v in zip(b, a, strict=True):
            per_sec.setdefault(sec, []).append(v)
    by_origin: dict[str, list[int]] = {"same_node": [], "cross_node": []}
    if len(servers) > 1:
        for r in res:
            a, b = array("q"), array("B")
            a.frombytes(r["lat"])
            b.frombytes(r["lat_remote"])
            for v, remote in zip(a, b, strict=True):
                by_origin["cross_node" if remote else "same_node"].append(v)
    origin = {}
    for k, vals in by_origin.items():
        if vals:
            vals.sort()
            origin[k] = {"n": len(vals), "p50_ms": pct(vals, 50, 1e-3), "p99_ms": pct(vals, 99, 1e-3)}
    timeline = []
    for sec in sorted(per_sec):
        vals = sorted(per_sec[sec])
        timeline.append([sec, len(vals), pct(vals, 50, 1e-3), pct(vals, 99, 1e-3)])
    ack = merge(res, "ack_lat", "q")
    sent_window = sum(r["sent_window"] for r in res)
    window_deliveries = sum(r["window_deliveries"] for r in res)
    expected = sent_window * members
    alive = workers.call("alive", {})
    workers.call("close_all", {})
    return {
        "scenario": label,
        "run": run,
        "nodes": len(servers),
        "rooms": rooms,
        "members": members,
        "sockets": total,
        "target_send_per_s": args.rate,
        "duration_s": args.duration,
        "send_per_s": round(sent_window / args.duration, 1),
        "acks": sum(r["acks"] for r in res),
        "sent": sum(r["sent"] for r in res),
        "send_errors": sum(r["send_errors"] for r in res),
        "ack_p50_ms": pct(ack, 50, 1e-3),
        "ack_p99_ms": pct(ack, 99, 1e-3),
        "deliveries_per_s": round(sum(r["in_window"] for r in res) / args.duration, 1),
        "delivered_pct": round(100.0 * window_deliveries / max(1, expected), 2),
        "latency_samples": len(lat),
        "p50_ms": pct(lat, 50, 1e-3),
        "p90_ms": pct(lat, 90, 1e-3),
        "p99_ms": pct(lat, 99, 1e-3),
        "max_ms": round(lat[-1] / 1000, 2) if lat else float("nan"),
        "max_send_lag_ms": round(max(r["max_send_lag"] for r in res) * 1000, 1),
        "timeline": timeline,  # [second of the window (send time), deliveries, p50 ms, p99 ms]
        "by_origin": origin,  # cluster: latency of deliveries from senders on the same / the other node
        "unexpected_closes": sum(a["unexpected_closes"] for a in alive),
        "close_codes": sorted({c for a in alive for c in a["close_codes"]}),
        "errors": [e for r in res for e in r["errors"]][:5],
        "server_rss_kib": rss,
        "profiles": profile_paths,
        "busy_before": quiet,
        **(cores := Meter.cores(m0, m1, sum(r["cpu"] for r in res))),
        "format": FORMAT,
        # server CPU (all nodes) per chat message sent and per delivery, in µs
        "srv_us_per_message": round(sum(cores["srv_cpu"]) * 1e6 / max(1.0, sent_window / args.duration), 1),
        "srv_us_per_delivery": round(
            sum(cores["srv_cpu"]) * 1e6 / max(1.0, sum(r["in_window"] for r in res) / args.duration), 2
        ),
    }


def scenario_fanout(ctx: Ctx, workers: Workers, run: int) -> dict[str, Any]:
    server = start_server("fanout", ctx.port, {}, ctx.server_cpus[0], ctx.out_dir, ctx.args)
    try:
        return _fanout(ctx, workers, run, [server], "fanout", Meter([server]))
    finally:
        stop_server(server)


def scenario_cluster(ctx: Ctx, workers: Workers, run: int) -> dict[str, Any]:
    args = ctx.args
    db = f"bench_{ctx.tag}_{run}".lower().replace("-", "_")
    prefix = f"owbench{ctx.tag}{run}"
    pg_admin(args.pg_admin_url, f'CREATE DATABASE "{db}"')
    print(f"#   database {db}, redis prefix {prefix}", flush=True)
    servers: list[Server] = []
    try:
        env = {
            "OVERWORLD_DATABASE_URL": pg_url(args.pg_admin_url, db),
            "OVERWORLD_REDIS_URL": args.redis_url,
            "OVERWORLD_REDIS_PREFIX": prefix,
        }
        # One after the other: the first one runs the migrations.
        for i, name in enumerate(("a", "b")):
            servers.append(start_server(name, ctx.port + i, env, ctx.server_cpus[i], ctx.out_dir, args))
        time.sleep(2)  # heartbeats: the nodes hear of each other
        return _fanout(ctx, workers, run, servers, "cluster", Meter(servers, db_name=db, redis=True))
    finally:
        for s in servers:
            stop_server(s)
        try:
            pg_admin(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            print(f"#   dropped database {db}", flush=True)
        except Exception as exc:
            print(f"#   could not drop database {db}: {exc!r}", flush=True)
        with contextlib.suppress(Exception):
            n = redis_cleanup(args.redis_url, prefix)
            print(f"#   deleted {n} redis keys under {prefix}:", flush=True)


def scenario_workers(ctx: Ctx, workers: Workers, run: int) -> dict[str, Any]:
    args = ctx.args
    count = args.server_workers
    db = f"bench_{ctx.tag}_w{count}_{run}".lower().replace("-", "_")
    prefix = f"owbench{ctx.tag}w{count}{run}"
    pg_admin(args.pg_admin_url, f'CREATE DATABASE "{db}"')
    print(f"#   database {db}, redis prefix {prefix}, {count} worker(s)", flush=True)
    server: Server | None = None
    try:
        env = {
            "OVERWORLD_DATABASE_URL": pg_url(args.pg_admin_url, db),
            "OVERWORLD_REDIS_URL": args.redis_url,
            "OVERWORLD_REDIS_PREFIX": prefix,
            "OVERWORLD_WORKERS": str(count),
        }
        server = start_server("workers", ctx.port, env, None, ctx.out_dir, args)
        time.sleep(3)  # every worker listening, and heard of the others
        meter = Meter([server], db_name=db, redis=True)  # srv_cpu: the supervisor and its workers
        return _fanout(ctx, workers, run, [server], f"workers{count}", meter)
    finally:
        if server is not None:
            stop_server(server)
        try:
            pg_admin(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        except Exception as exc:
            print(f"#   could not drop database {db}: {exc!r}", flush=True)
        with contextlib.suppress(Exception):
            redis_cleanup(args.redis_url, prefix)


def scenario_surge(ctx: Ctx, workers: Workers, run: int) -> dict[str, Any]:
    args = ctx.args
    server = start_server("surge", ctx.port, {}, ctx.server_cpus[0], ctx.out_dir, args)
    try:
        port = ctx.port
        n0, n1 = args.surge_start, args.surge_end
        size = args.surge_room_size

        def player(k: int) -> Player:
            return Player(f"surge-{ctx.tag}-{run}-{k:07d}", f"lobby{k // size}")

        base = [player(k) for k in range(n0)]
        t0 = time.perf_counter()
        res = workers.call(
            "login",
            [
                {
                    "port": port,
                    "players": part,
                    "request": args.surge_request,
                    "status": args.status,
                    "concurrency": 16,
                }
                for part in split(base, len(workers))
            ],
        )
        if sum(r["failed"] for r in res):
            raise SystemExit(f"surge set-up: log-ins failed: {[e for r in res for e in r['errors']][:3]}")
        print(f"#   {n0:,} players logged in before the ramp in {time.perf_counter() - t0:.1f}s", flush=True)
        ramp = [player(k) for k in range(n0, n1)]
        step = args.surge_ramp / max(1, len(ramp))
        for i, p in enumerate(ramp):
            p.at = i * step
        time.sleep(1.0)
        quiet = wait_quiet(args)
        meter = Meter([server])
        start_at = time.time() + 1.0
        workers.send(
            "surge",
            [
                {
                    "port": port,
                    "players": part,
                    "start_at": start_at,
                    "request": args.surge_request,
                    "status": args.status,
                    "ping_interval": args.surge_ping_interval,
                    "wait_s": 30.0,
                }
                for part in split(ramp, len(workers))
            ],
        )
        time.sleep(max(0.0, start_at - time.time()))
        m0 = meter.snap()
        rss0 = proc_status(server.pid, "VmRSS")
        profiles = start_profiles(args, [server], args.surge_ramp, ctx.out_dir, f"surge{run}")
        res = workers.recv()
        m1 = meter.snap()
        finish_profiles(profiles)
        rss1 = proc_status(server.pid, "VmRSS")
        rows: list[tuple[float, ...]] = []
        for r in res:
            a = array("d")
            a.frombytes(r["rows"])
            rows.extend(tuple(a[i : i + 5]) for i in range(0, len(a), 5))
        pings: list[tuple[float, float]] = []
        for r in res:
            a = array("d")
            a.frombytes(r["ping"])
            pings.extend((a[i], a[i + 1]) for i in range(0, len(a), 2))
        lags = merge(res, "lags", "d")

        def col(i: int) -> list[float]:
            return sorted(row[i] for row in rows)

        ramp_s = args.surge_ramp
        windows = []
        nwin = max(1, round(ramp_s / args.surge_window))
        for w in range(nwin):
            lo, hi = w * ramp_s / nwin, (w + 1) * ramp_s / nwin
            tot = sorted(row[4] for row in rows if lo <= row[0] < hi)
            req = sorted(row[3] for row in rows if lo <= row[0] < hi)
            pg = sorted(rtt for t, rtt in pings if lo <= t < hi)
            windows.append(
                {
                    "from_s": round(lo, 1),
                    "logins": len(tot),
                    "login_p99_ms": pct(tot, 99, 1000),
                    "request_p99_ms": pct(req, 99, 1000),
                    "ping_p99_ms": pct(pg, 99, 1000),
                }
            )
        alive = workers.call("alive", {})
        workers.call("close_all", {})
        ping_all = sorted(rtt for _, rtt in pings)
        return {
            "scenario": "surge",
            "run": run,
            "from": n0,
            "to": n1,
            "ramp_s": ramp_s,
            "request": args.surge_request,
            "arrivals_per_s": round((n1 - n0) / max(1e-9, ramp_s), 1),
            "logins_ok": len(rows),
            "failed": sum(r["failed"] for r in res),
            "errors": [e for r in res for e in r["errors"]][:5],
            "connected_end": sum(a["alive"] for a in alive),
            "unexpected_closes": sum(a["unexpected_closes"] for a in alive),
            "auth_p50_ms": pct(col(1), 50, 1000),
            "auth_p99_ms": pct(col(1), 99, 1000),
            "connect_p50_ms": pct(col(2), 50, 1000),
            "connect_p99_ms": pct(col(2), 99, 1000),
            "request_p50_ms": pct(col(3), 50, 1000),
            "request_p99_ms": pct(col(3), 99, 1000),
            "login_p50_ms": pct(col(4), 50, 1000),
            "login_p99_ms": pct(col(4), 99, 1000),
            "ping_count": len(ping_all),
            "ping_failed": sum(r["ping_failed"] for r in res),
            "ping_p50_ms": pct(ping_all, 50, 1000),
            "ping_p99_ms": pct(ping_all, 99, 1000),
            "start_lag_p99_ms": pct(lags, 99, 1000),
            "elapsed_s": round(m1["t"] - m0["t"], 1),
            "server_rss_kib": [rss0, rss1],
            "windows": windows,
            "busy_before": quiet,
            **Meter.cores(m0, m1, sum(r["cpu"] for r in res)),
        }
    finally:
        stop_server(server)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _cpu_cols(r: dict[str, Any]) -> str:
    srv = "+".join(f"{c:.2f}" for c in r.get("srv_cpu", []))
    extra = ""
    if "db_cpu" in r or "redis_cpu" in r:
        extra = f" db {r.get('db_cpu', 0):.2f} redis {r.get('redis_cpu', 0):.2f}"
    gc = ""
    for g in r.get("gc") or ():
        gc += (
            f"; server gc {100 * g['gc_share']:.1f}% of the time, {g['collections'][2]} full collections, "
            f"{g['pauses_5ms']} pauses >= 5 ms (max {g['max_pause_ms']} ms)"
        )
    return f"srv {srv} gen {r.get('gen_cpu', 0):.2f}{extra} other {r.get('other_cpu', float('nan')):.2f}{gc}"


def print_result(r: dict[str, Any]) -> None:
    s = r["scenario"]
    if s == "idle":
        print(
            f"idle    run {r['run']} ({r['format']}): {r['opened']:,}/{r['requested']:,} sockets open "
            f"(failed {r['failed']}), {r['open_per_s']:,.0f} opens/s, "
            f"connect p50 {r['connect_p50_ms']} p99 {r['connect_p99_ms']} ms\n"
            f"        RSS {r['rss_before_kib'] / 1024:.1f} -> {r['rss_after_kib'] / 1024:.1f} MiB = "
            f"{r['kib_per_socket']} KiB/socket (after close {r['rss_after_close_kib'] / 1024:.1f} MiB, "
            f"peak {r['rss_peak_kib'] / 1024:.1f}); ping {r['ping_ok']}/{r['ping_sample']} ok, "
            f"p50 {r['ping_p50_ms']} p99 {r['ping_p99_ms']} ms; alive {r['alive']:,}; "
            f"during connect: {_cpu_cols(r)}",
            flush=True,
        )
        if r["hold"]:
            h = r["hold"]
            print(
                f"        hold {r['hold_s']:g}s: server {h['srv_cpu'][0]:.3f} cores with all sockets idle; "
                f"ping again {h['ping_ok']}/{h['ping_ok'] + h['ping_failed']} ok",
                flush=True,
            )
        if r["note"]:
            print(f"        note: {r['note']}", flush=True)
        objs = r.get("gc_objects") or {}
        if objs:
            top = ", ".join(f"{k.rsplit('.', 1)[-1]} {v:g}" for v, k in objs["top"][:12])
            print(f"        gc-tracked objects per socket: {objs['tracked_per_socket']} ({top})", flush=True)
            if "kept_per_closed_socket" in objs:
                kept = ", ".join(f"{k.rsplit('.', 1)[-1]} {v:g}" for v, k in objs["kept_top"])
                print(
                    "        ... still tracked after close, before a full collection: "
                    f"{objs['kept_per_closed_socket']} per socket" + (f" ({kept})" if kept else ""),
                    flush=True,
                )
            if "left_per_closed_socket" in objs:
                left = ", ".join(f"{k.rsplit('.', 1)[-1]} {v:g}" for v, k in objs["left_top"])
                print(
                    "        ... still tracked after close and a full gc.collect(): "
                    f"{objs['left_per_closed_socket']} per socket" + (f" ({left})" if left else ""),
                    flush=True,
                )
    elif s in ("fanout", "cluster") or s.startswith("workers"):
        print(
            f"{s:<7} run {r['run']}: {r['nodes']} node(s), {r['rooms']}x{r['members']}: "
            f"sent {r['send_per_s']:,.0f}/s "
            f"(target {r['target_send_per_s']:,}), ack p50 {r['ack_p50_ms']} p99 {r['ack_p99_ms']} ms; "
            f"deliveries {r['deliveries_per_s']:,.0f}/s, delivered {r['delivered_pct']}%, latency p50 "
            f"{r['p50_ms']} p90 {r['p90_ms']} p99 {r['p99_ms']} max {r['max_ms']} ms\n"
            f"        format {r['format']}: server CPU {r['srv_us_per_message']} µs per message sent, "
            f"{r['srv_us_per_delivery']} µs per delivery\n"
            f"        {_cpu_cols(r)}; send lag max {r['max_send_lag_ms']} ms; unexpected closes "
            f"{r['unexpected_closes']} {r['close_codes'] or ''}; send errors {r['send_errors']}",
            flush=True,
        )
        for k, o in (r.get("by_origin") or {}).items():
            print(
                f"        {k.replace('_', '-')} deliveries: {o['n']:,}, "
                f"p50 {o['p50_ms']} p99 {o['p99_ms']} ms",
                flush=True,
            )
        tl = r.get("timeline") or []
        if tl:
            print(
                "        p50/p99 ms by second sent: "
                + " ".join(f"{p50:.0f}/{p99:.0f}" for _, _, p50, p99 in tl),
                flush=True,
            )
    elif s == "surge":
        print(
            f"surge   run {r['run']}: {r['from']:,} -> {r['to']:,} players in {r['ramp_s']:g}s "
            f"({r['arrivals_per_s']:,.0f} log-ins/s, request={r['request']}): ok {r['logins_ok']:,}, failed "
            f"{r['failed']}, connected at end {r['connected_end']:,}\n"
            f"        p50/p99 ms: auth {r['auth_p50_ms']}/{r['auth_p99_ms']}  connect "
            f"{r['connect_p50_ms']}/{r['connect_p99_ms']}  "
            f"request {r['request_p50_ms']}/{r['request_p99_ms']}  "
            f"whole log-in {r['login_p50_ms']}/{r['login_p99_ms']}  existing players' ping "
            f"{r['ping_p50_ms']}/{r['ping_p99_ms']} ({r['ping_count']:,} pings, {r['ping_failed']} failed); "
            f"start lag p99 {r['start_lag_p99_ms']} ms\n"
            f"        {_cpu_cols(r)}; server RSS {r['server_rss_kib'][1] / 1024:.0f} MiB",
            flush=True,
        )
        for w in r["windows"]:
            print(
                f"          from {w['from_s']:>5}s: {w['logins']:>6,} log-ins, "
                f"login p99 {w['login_p99_ms']} ms, "
                f"request p99 {w['request_p99_ms']} ms, existing ping p99 {w['ping_p99_ms']} ms",
                flush=True,
            )
    for e in r.get("errors") or ():
        print(f"        error: {e}", flush=True)


def print_summary(results: list[dict[str, Any]]) -> None:
    print("\n## Summary (one row per run)")
    print(
        f"{'scenario':<8} {'run':>3}  {'figure':<44} {'target':<22} "
        f"{'srv cpu':>10} {'gen cpu':>7} {'other':>6}"
    )
    for r in results:
        s = r["scenario"]
        if s == "idle":
            fig = f"{r['opened']:,} sockets, {r['kib_per_socket']} KiB/socket"
            tgt = "20,000 @ <= 28 KiB"
        elif s in ("fanout", "cluster") or s.startswith("workers"):
            fig = f"{r['deliveries_per_s']:,.0f} deliv/s, p50 {r['p50_ms']} p99 {r['p99_ms']} ms"
            tgt = "100,000/s, p99 < 50 ms"
        else:
            fig = f"{r['logins_ok']:,} log-ins, p99 login {r['login_p99_ms']} req {r['request_p99_ms']} ms"
            tgt = "p99 < 200 ms"
        srv = "+".join(f"{c:.2f}" for c in r.get("srv_cpu", []))
        print(
            f"{s:<8} {r['run']:>3}  {fig:<44} {tgt:<22} {srv:>10} {r.get('gen_cpu', 0):>7.2f} "
            f"{r.get('other_cpu', float('nan')):>6.2f}"
        )


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--scenario", default="all", help=f"'all' or a comma-separated list of: {', '.join(SCENARIOS)}"
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: 2,000 idle sockets, 10 s fan-out, 500->2,000 surge in 20 s",
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="run each scenario this many times (fresh server each)"
    )
    ap.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    ap.add_argument(
        "--format",
        choices=["json", "protobuf"],
        default="json",
        help="socket format of every client socket (default json; protobuf: binary frames)",
    )
    ap.add_argument("--port", type=int, default=7360, help="server port (cluster: this one and the next)")
    ap.add_argument("--server-key", default="defaultkey")
    ap.add_argument(
        "--overworld", default=os.path.join(ROOT, ".venv", "bin", "overworld"), help="the overworld command"
    )
    ap.add_argument(
        "--pin",
        choices=["auto", "off"],
        default="auto",
        help="auto: one server on CPU 0 and the clients on CPU 1; cluster: node a on CPU 0, node b on "
        "CPU 1, clients unpinned (default auto)",
    )
    ap.add_argument("--status", action="store_true", help="connect with status=true (appear online)")
    ap.add_argument(
        "--chat-rate-limit", type=int, default=1000, help="OVERWORLD_CHAT_RATE_LIMIT (default 1000)"
    )
    ap.add_argument(
        "--socket-rate-limit", type=int, default=1000, help="OVERWORLD_SOCKET_RATE_LIMIT (default 1000)"
    )
    ap.add_argument(
        "--outbound-queue",
        type=int,
        default=0,
        help="OVERWORLD_SOCKET_OUTBOUND_QUEUE (default: the server's)",
    )
    ap.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="extra server environment"
    )
    ap.add_argument(
        "--server-gc",
        choices=["off", "stats", "freeze"],
        default="stats",
        help="run the server under a bench-only launcher that records gc pauses (stats, the default), "
        "and with freeze also gc.freeze()s once it is ready; off: plain `overworld serve`",
    )
    ap.add_argument(
        "--server-gc-threshold",
        default="",
        metavar="A,B,C",
        help="with --server-gc: gc.set_threshold(A, B, C)",
    )
    # idle
    ap.add_argument("--sockets", type=int, default=20_000, help="idle: sockets to open (default 20,000)")
    ap.add_argument(
        "--connect-concurrency", type=int, default=128, help="idle: handshakes in flight, all clients"
    )
    ap.add_argument(
        "--ping-sample", type=int, default=1000, help="idle: sockets pinged afterwards (default 1000)"
    )
    ap.add_argument(
        "--warmup-sockets", type=int, default=100, help="idle: opened and closed before the RSS baseline"
    )
    ap.add_argument(
        "--settle", type=float, default=3.0, help="idle: seconds between the last open and the RSS reading"
    )
    ap.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="idle: keep the sockets open this long (e.g. 20: past the server's 15 s keep-alive ping) "
        "and ping them again",
    )
    # fan-out
    ap.add_argument("--rooms", type=int, default=10)
    ap.add_argument("--members", type=int, default=100, help="members per room")
    ap.add_argument("--rate", type=float, default=1000.0, help="chat messages/s sent in total (default 1000)")
    ap.add_argument("--duration", type=float, default=20.0, help="fan-out: measured seconds (default 20)")
    ap.add_argument("--warmup", type=float, default=2.0, help="fan-out: unmeasured seconds of sending first")
    # cluster
    ap.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="where to CREATE/DROP the cluster scenario's database",
    )
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--server-workers", type=int, default=2, help="workers: `overworld serve --workers N`")
    # surge
    ap.add_argument("--surge-start", type=int, default=500)
    ap.add_argument("--surge-end", type=int, default=12_000)
    ap.add_argument("--surge-ramp", type=float, default=60.0, help="seconds from start to end (default 60)")
    ap.add_argument(
        "--surge-request",
        choices=["join", "ping"],
        default="join",
        help="the one request of each player: join a lobby room (default) or ping",
    )
    ap.add_argument("--surge-room-size", type=int, default=50, help="players per lobby room (join)")
    ap.add_argument(
        "--surge-ping-interval",
        type=float,
        default=1.0,
        help="players already connected before the ramp ping every this many s (0: off)",
    )
    ap.add_argument("--surge-window", type=float, default=10.0, help="report p99 per window of this many s")
    # reporting
    ap.add_argument(
        "--py-spy",
        metavar="PATH",
        help="record the servers with py-spy during fanout/cluster/surge (raw stacks)",
    )
    ap.add_argument("--py-spy-rate", type=int, default=100, help="py-spy samples per second (default 100)")
    ap.add_argument("--py-spy-native", action="store_true", help="py-spy --native (C frames: GC, syscalls)")
    ap.add_argument(
        "--wait-idle", type=float, default=60.0, help="wait up to this long for an idle machine first"
    )
    ap.add_argument("--out-dir", help="server logs here (default: a temp dir)")
    ap.add_argument("--json-out", help="write the results as JSON to this file")
    args = ap.parse_args(argv)
    global FORMAT
    FORMAT = args.format  # before the client processes fork
    if args.quick:
        defaults = {
            "sockets": 20_000,
            "duration": 20.0,
            "surge_start": 500,
            "surge_end": 12_000,
            "surge_ramp": 60.0,
        }
        quick = {
            "sockets": 2_000,
            "duration": 10.0,
            "surge_start": 500,
            "surge_end": 2_000,
            "surge_ramp": 20.0,
        }
        for k, v in quick.items():
            if getattr(args, k) == defaults[k]:
                setattr(args, k, v)
    every = [s for s in SCENARIOS if s != "workers"]
    scenarios = every if args.scenario == "all" else [s.strip() for s in args.scenario.split(",")]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}")

    nofile = raise_nofile()
    ncpu = os.cpu_count() or 1
    pin = args.pin == "auto" and ncpu >= 2 and shutil.which("taskset") is not None
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="ow-sockets.")
    os.makedirs(out_dir, exist_ok=True)
    tag = f"{int(time.time()) % 10**7:x}{random.getrandbits(16):04x}"
    commit = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"# Overworld realtime socket benchmark  {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  "
        f"commit {commit}"
    )
    print(
        f"# {ncpu} CPUs; client: {args.procs} processes ({'uvloop' if hl.uvloop else 'asyncio'}), "
        f"RLIMIT_NOFILE {nofile:,} each; "
        + (
            "pinning: server CPU 0 / clients CPU 1 (cluster: nodes CPU 0 and 1, clients unpinned)"
            if pin
            else "no pinning"
        )
    )
    print(f"# server logs: {out_dir}", flush=True)

    results: list[dict[str, Any]] = []
    runners: dict[str, Callable[[Ctx, Workers, int], dict[str, Any]]] = {
        "idle": scenario_idle,
        "fanout": scenario_fanout,
        "cluster": scenario_cluster,
        "surge": scenario_surge,
        "workers": scenario_workers,
    }
    interrupted = False
    try:
        for s in scenarios:
            cluster = s == "cluster"
            ctx = Ctx(args=args, out_dir=out_dir, tag=tag, port=args.port)
            if pin and cluster:
                ctx.server_cpus, ctx.client_cpus = [0, 1], None
            elif pin:
                ctx.server_cpus, ctx.client_cpus = [0], [1]
            else:
                ctx.server_cpus, ctx.client_cpus = [None, None], None
            workers = Workers(args.procs, "127.0.0.1", args.server_key, ctx.client_cpus)
            try:
                for run in range(1, args.repeat + 1):
                    print(f"## {s} run {run}", flush=True)
                    r = runners[s](ctx, workers, run)
                    results.append(r)
                    print_result(r)
            finally:
                workers.close()
    except KeyboardInterrupt:
        interrupted = True
        print("# interrupted", flush=True)
    if results:
        print_summary(results)
        print(
            "# srv/gen/other cpu: cores busy in the server process(es), the client processes and everything "
            "else on the machine during the measured window (other > ~0.1: disturbed by other work)"
        )
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(
                {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "commit": commit,
                    "argv": sys.argv[1:],
                    "results": results,
                },
                fh,
                indent=2,
            )
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
