"""How fast one `overworld loadtest` process can go: its ceiling, not a server's.

Starts a stand-in server (this file, `--serve`: one uvloop process answering the device sign-up
with a fixed token, the socket upgrade, and pings, with as little work as it can) pinned to one
CPU, then runs `overworld loadtest --scenario surge` pinned to the other at rising arrival rates
(sign-up + socket open per player, then one ping every `--ping-every` s) and prints, per rate, the
log-ins achieved, the generator's start lag and its CPU per log-in.

    .venv/bin/python bench/loadtest_generator.py                    # 500, 1000, 2000 log-ins/s
    .venv/bin/python bench/loadtest_generator.py --rates 250,4000 --seconds 5 --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = b'{"token":"t","refresh_token":"r","created":true}'


class Stand(asyncio.Protocol):
    """HTTP/1.1 sign-ups and the WebSocket upgrade, then pongs to pings."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = bytearray()
        self.ws = False

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.ws:
            self.frames()
            return
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            length = 0
            at = head.lower().find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[: end + 4 + length]
            if head.startswith(b"GET /ws"):
                self.t.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: x\r\n\r\n"
                )
                self.ws = True
                self.frames()
                return
            close = b"connection: close" in head.lower()
            body = TOKEN if b"/authenticate/" in head else b"{}"
            self.t.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + (b"\r\nConnection: close" if close else b"") + b"\r\n\r\n" + body
            )  # fmt: skip
            if close:
                self.t.close()
                return

    def frames(self) -> None:
        buf = self.buf
        while len(buf) >= 6:
            n = buf[1] & 0x7F
            head = 2
            if n == 126:
                n = int.from_bytes(buf[2:4], "big")
                head = 4
            if len(buf) < head + 4 + n:
                return
            key = bytes(buf[head : head + 4])
            raw = bytes(buf[head + 4 : head + 4 + n])
            opcode = buf[0] & 0x0F
            del buf[: head + 4 + n]
            mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
            payload = (int.from_bytes(raw, "little") ^ mask).to_bytes(n, "little")
            if opcode == 0x8:
                self.t.close()
                return
            if opcode == 0x1:
                cid = json.loads(payload).get("cid", "")
                reply = b'{"cid":"' + cid.encode() + b'","pong":{}}'
                self.t.write(bytes([0x81, len(reply)]) + reply)


def serve(port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Stand, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    uvloop.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rates", default="500,1000,2000", help="log-ins per second to try")
    ap.add_argument("--seconds", type=float, default=5.0, help="ramp length per rate")
    ap.add_argument("--ping-every", type=float, default=5.0)
    ap.add_argument("--processes", type=int, default=1)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pin = os.cpu_count() and os.cpu_count() >= 2  # type: ignore[operator]
    server = subprocess.Popen(
        [*(["taskset", "-c", "0"] if pin else []), sys.executable, __file__, "--serve", str(port)]
    )
    time.sleep(1.5)
    try:
        print(f"{'rate/s':>7} {'logged in':>10} {'log-in/s':>9} {'lag p99 ms':>11} {'login p99 ms':>13} "
              f"{'gen CPU s':>10} {'µs/log-in':>10}")  # fmt: skip
        for rate in (int(r) for r in args.rates.split(",")):
            players = int(rate * args.seconds)
            with tempfile.TemporaryDirectory() as out:
                subprocess.run(
                    [*(["taskset", "-c", "1"] if pin else []), sys.executable, "-m", "overworld", "loadtest",
                     f"http://127.0.0.1:{port}", "--scenario", "surge", "--players", str(players),
                     "--start-players", "0", "--ramp-sec", str(args.seconds), "--hold-sec", "2",
                     "--ping-every", str(args.ping_every), "--chat-every", "0", "--leaderboard-every", "0",
                     "--matchmaker-every", "0", "--processes", str(args.processes), "--quiet", "--out", out],
                    cwd=ROOT, capture_output=True, check=False,
                )  # fmt: skip
                report = json.loads((Path(out) / "report.json").read_text())
            ops = {o["operation"]: o for o in report["operations"]}
            login = ops.get("login", {"ok": 0, "p99_ms": None})
            cpu = sum(s["generator_cpu"] for s in report["series"])
            g = report["generator"]
            print(
                f"{rate:>7,} {login['ok']:>10,} {login['ok'] / args.seconds:>9,.0f} "
                f"{g['start_lag_p99_ms'] or 0:>11,.1f} {login['p99_ms'] or 0:>13,.1f} {cpu:>10.2f} "
                f"{cpu / max(login['ok'], 1) * 1e6:>10,.0f}"
            )
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
