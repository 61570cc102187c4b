#!/usr/bin/env python3
"""Live events benchmark: what a player's config and event list cost, and how fast a start is
announced to many sockets.

    .venv/bin/python bench/live_events.py                           # SQLite, 100 events
    .venv/bin/python bench/live_events.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/live_events.py --events 1000 --sockets 500 --duration 5

One in-process node (as `overworld serve` builds it) on a fresh SQLite file or a fresh PostgreSQL
database, served by uvicorn on loopback. The title gets `--keys` base config keys and `--events`
events (half live, half upcoming; a third with a `lang` audience, a third with a metadata one).
Then, each for `--duration` seconds with `--connections` concurrent keep-alive clients:
`GET /v2/overworld/config` and `GET /v2/overworld/events` (requests/s, p50, p99). Last,
`--sockets` sockets connect and an event starts: the time from its start to the last socket
receiving the notification.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from overworld.clock import now_ms  # noqa: E402
from overworld.config import load_settings  # noqa: E402
from overworld.db import migrate  # noqa: E402
from overworld.node import Node  # noqa: E402
from overworld.ops import logging as ow_logging  # noqa: E402
from overworld.runtime import ServerApi  # noqa: E402
from tests.realtime_support import authenticate, live_server, open_socket  # noqa: E402
from tests.support import PG_URL, create_pg_database, drop_pg_database  # noqa: E402


async def load(host: str, path: str, tokens: list[str], seconds: float, connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        async with httpx.AsyncClient(base_url=f"http://{host}") as http:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await http.get(path, headers=headers)
                latencies.append(time.perf_counter() - t0)
                errors += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "errors": errors}


async def main(args: argparse.Namespace) -> None:
    ow_logging.configure("warning", "json", cache=False)
    tmp = Path(tempfile.mkdtemp(prefix="ow_bench_live_"))
    pg_url = ""
    if args.database_url:
        pg_url = await create_pg_database(args.database_url)
        url = pg_url
    else:
        url = f"sqlite:///{tmp / 'overworld.db'}"
    await migrate.upgrade(url)
    settings = load_settings(
        environ={},
        overrides={"database_url": url, "data_dir": str(tmp), "auto_migrate": False, "log_level": "warning",
                   "metrics": False, "socket_max_per_user": 0},
    )  # fmt: skip
    node = await Node.start(settings)
    try:
        nk = ServerApi(node.runtime, node.default_title, "bench")
        for k in range(args.keys):
            await nk.remote_config_set(f"key{k}", {"value": k, "text": "x" * 40})
        now = now_ms() // 1000
        for e in range(args.events):
            audience: dict[str, Any] = [{}, {"lang": ["en", "fr"]}, {"metadata.tier": "gold"}][e % 3]
            start = now - 3600 if e % 2 == 0 else now + 3600 * (1 + e)
            await nk.live_event_create(
                f"event {e}", start, start + 86400 * 30, audience=audience, config={f"key{e % args.keys}": e}
            )
        async with live_server(settings, node) as host:
            sessions = [await authenticate(host, node.default_title.server_key) for _ in range(20)]
            tokens = [s["token"] for s in sessions]
            print(f"backend={url.split(':')[0]} keys={args.keys} events={args.events} "
                  f"connections={args.connections} duration={args.duration}s")  # fmt: skip
            for path in ("/v2/overworld/config", "/v2/overworld/events"):
                r = await load(host, path, tokens, args.duration, args.connections)
                print(f"GET {path:24} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                      f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']:.0f}")  # fmt: skip

            socks = []
            for i in range(args.sockets):
                socks.append(await open_socket(host, sessions[i % len(sessions)]))
            start_ms = now_ms() + 1500
            await nk.live_event_create("fan-out", start_ms / 1000, start_ms / 1000 + 60)
            arrivals = []
            for s in socks:
                await s.push("notifications", timeout=10)
                arrivals.append(now_ms())
            print(f"start notification to {args.sockets} sockets: first {min(arrivals) - start_ms} ms, "
                  f"last {max(arrivals) - start_ms} ms after the start time")  # fmt: skip
            for s in socks:
                await s.close()
    finally:
        await node.close()
        if pg_url:
            await drop_pg_database(args.database_url, pg_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="", help=f"PostgreSQL admin URL (e.g. {PG_URL or 'postgresql://...'})"
    )
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--sockets", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
