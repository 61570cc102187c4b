#!/usr/bin/env python3
"""Authoritative match benchmark: N matches (default 500) of 8 players at 10 ticks/s, in one process.

Every player sends an input (`match_data_send`, 16 bytes of data) every tick; the handler folds the
inputs into its state and broadcasts the state (one `match_data` to the 8 players) every tick. So at
the defaults: 40,000 messages/s in, 40,000 frames/s out, 5,000 ticks/s.

The server part is the real one: a `Node` (SQLite in a temp dir) with its hub, tracker, router,
hooks and `MatchService`, the handler loaded from a runtime folder as server code is, and every
inbound message going through the socket dispatcher (`overworld.api.socket.dispatch.handle`:
envelope decode, hooks, service) exactly as a socket's frames do. The sockets are in-process
`Connection`s that encode each frame in their format (`--format json|protobuf`: inbound frames are
JSON text or protobuf bytes, outbound frames are encoded to WebSocket bytes once per frame and
format, as a real socket does) and count it instead of writing it (no network): the figures are the
match engine's cost and the codec's, not the socket layer's (bench/sockets.py measures that).

Printed: tick lateness (how late each tick started vs its schedule) and loop duration (joins,
leaves, match_loop and broadcasts of one tick) p50/p99/max; ticks/s; messages/s in and out; CPU
of the process and of the inbound part (the `handle` calls: decode, hooks, service) and RSS. The
collector is tuned as `overworld serve` does (`gc_tuning`; `--no-gc-tuning`: CPython's defaults).

    .venv/bin/python bench/matches.py                       # 500 matches x 8 players, 20 s
    .venv/bin/python bench/matches.py --matches 100 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from overworld.api.socket.dispatch import handle
from overworld.cli import tune_gc
from overworld.config import load_settings
from overworld.context import CallContext
from overworld.node import Node
from overworld.ops import logging as ow_logging
from overworld.protocol.pb import realtime_pb2
from overworld.realtime.codec import Frame
from overworld.realtime.connection import Connection
from overworld.runtime.server_api import ServerApi

HANDLER = """
def match_init(ctx, params):
    return {"inputs": {}, "tick": 0}, 10, '{"mode": "bench"}'

def match_join_attempt(ctx, dispatcher, tick, state, presence, metadata):
    return state, True, ""

def match_join(ctx, dispatcher, tick, state, presences):
    return state

def match_leave(ctx, dispatcher, tick, state, presences):
    return state

def match_loop(ctx, dispatcher, tick, state, messages):
    inputs = state["inputs"]
    for m in messages:
        inputs[m.sender.session_id] = m.data
    state["tick"] = tick
    # One state frame per tick: every player's last input (8 x 16 bytes).
    dispatcher.broadcast_message(1, b"".join(inputs.values()))
    return state

def init(ctx, nk, initializer):
    import sys
    initializer.register_match("bench", sys.modules[__name__])
"""


class CountingConnection(Connection):
    """A socket whose frames are counted instead of written (the socket layer is not measured)."""

    __slots__ = ()
    frames = 0

    def send(self, frame: Frame) -> bool:
        # Encoded in the socket's format as a real socket does (once per frame and format).
        frame.ws_protobuf() if self.binary else frame.ws_json()
        CountingConnection.frames += 1
        return True


def _envelope(fmt: str, envelope: dict[str, Any]) -> str | bytes:
    """An inbound frame in `fmt`: JSON text, or protobuf bytes."""
    if fmt == "protobuf":
        return json_format.ParseDict(envelope, realtime_pb2.Envelope()).SerializeToString()
    return json.dumps(envelope)


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(matches: int, players: int, seconds: float, gc_tuning: bool, fmt: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ow-bench-matches-"))
    code = tmp / "code"
    code.mkdir()
    (code / "bench_match.py").write_text(HANDLER)
    settings = load_settings(
        environ={},
        overrides={
            "data_dir": str(tmp), "runtime_path": str(code), "log_level": "warning", "metrics": False,
            "socket_rate_limit": 1000,
        },
    )  # fmt: skip
    node = await Node.start(settings)
    title = node.default_title
    nk = ServerApi(node.runtime, title, "bench")

    async def transport(message: dict[str, Any]) -> None:
        raise AssertionError("CountingConnection does not write")

    match_ids = [await nk.match_create("bench") for _ in range(matches)]
    conns: list[tuple[Connection, str]] = []
    for i, match_id in enumerate(match_ids):
        for p in range(players):
            user_id = str(uuid.uuid4())
            ctx = CallContext(title=title, user_id=user_id, username=f"p{i}_{p}")
            conn = CountingConnection(
                str(uuid.uuid4()), ctx, 0, "en", False, transport, 4096, 1000, binary=fmt == "protobuf"
            )
            node.hub.connected(conn)
            await handle(node, conn, _envelope(fmt, {"cid": "1", "match_join": {"match_id": match_id}}))
            conns.append((conn, match_id))
    await asyncio.sleep(0.5)  # joins reach the handlers
    data = base64.b64encode(b"x" * 16).decode()
    frames = [
        _envelope(fmt, {"match_data_send": {"match_id": mid, "op_code": 7, "data": data}}) for _, mid in conns
    ]
    gc_task = tune_gc(settings) if gc_tuning else None  # as `overworld serve` does once up
    stats = node.matches.stats
    stats.ticks = stats.messages_in = stats.messages_out = 0
    stats.keep_samples = True
    stats.lateness.clear()
    stats.durations.clear()
    CountingConnection.frames = 0
    loop = asyncio.get_running_loop()
    cpu0, wall0 = time.process_time(), loop.time()
    driver_cpu = 0.0
    sent = 0
    next_at = loop.time()
    # Every player sends once per 100 ms; the 4,000 sends are spread over 10 slices of 10 ms.
    slices = [list(zip(conns[i::10], frames[i::10], strict=True)) for i in range(10)]
    while loop.time() - wall0 < seconds:
        for part in slices:
            next_at += 0.01
            started = time.process_time()
            for (conn, _), frame in part:
                await handle(node, conn, frame)
            sent += len(part)
            driver_cpu += time.process_time() - started
            await asyncio.sleep(max(0.0, next_at - loop.time()))
    wall = loop.time() - wall0
    cpu = time.process_time() - cpu0
    result = {
        "format": fmt,
        "matches": matches,
        "players": matches * players,
        "seconds": round(wall, 1),
        "ticks_per_s": round(stats.ticks / wall),
        "tick_late_ms_p50": round(_pct(stats.lateness, 0.5) * 1000, 2),
        "tick_late_ms_p99": round(_pct(stats.lateness, 0.99) * 1000, 2),
        "tick_late_ms_max": round(max(stats.lateness, default=0) * 1000, 2),
        "loop_ms_p50": round(_pct(stats.durations, 0.5) * 1000, 3),
        "loop_ms_p99": round(_pct(stats.durations, 0.99) * 1000, 3),
        "loop_ms_mean": round(statistics.fmean(stats.durations) * 1000, 3) if stats.durations else 0,
        "client_msgs_sent_per_s": round(sent / wall),
        "msgs_in_per_s": round(stats.messages_in / wall),
        "msgs_out_per_s": round(stats.messages_out / wall),
        "frames_to_sockets_per_s": round(CountingConnection.frames / wall),
        "process_cpu_pct": round(100 * cpu / wall, 1),
        "inbound_cpu_pct": round(100 * driver_cpu / wall, 1),
        # CPU per message (µs): inbound (the `handle` calls: decode, hooks, service), and the rest of
        # the process (ticks, handler, encoding, delivery) per frame delivered to a socket
        "inbound_us_per_msg": round(driver_cpu * 1e6 / max(1, sent), 2),
        "outbound_us_per_frame": round((cpu - driver_cpu) * 1e6 / max(1, CountingConnection.frames), 2),
        "rss_mib": round(_rss_mib(), 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "running_matches": node.matches.count(),
    }
    if gc_task is not None:
        gc_task.cancel()
    await node.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--matches", type=int, default=500)
    parser.add_argument("--players", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-gc-tuning", action="store_true", help="CPython's default GC thresholds")
    parser.add_argument(
        "--format", choices=["json", "protobuf"], default="json", help="the sockets' format (default json)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ow_logging.configure("warning", "console", cache=False)
    result = asyncio.run(run(args.matches, args.players, args.seconds, not args.no_gc_tuning, args.format))
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
