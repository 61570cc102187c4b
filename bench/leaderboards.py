#!/usr/bin/env python3
"""Leaderboard benchmark: a board of 1,000,000 records, the rank index rebuild, score writes through
the HTTP API and the latency of the three read queries.

    .venv/bin/python bench/leaderboards.py                       # PostgreSQL (fresh database)
    .venv/bin/python bench/leaderboards.py --backend sqlite
    .venv/bin/python bench/leaderboards.py --records 100000 --duration 5 --redis redis://127.0.0.1:6379/0

Steps: (1) start `overworld serve` once on a fresh database with a server module that creates
the board `bench` (descending, best), so the default title and the board exist; stop it. (2) Seed
`--records` records straight into the database (COPY on PostgreSQL). (3) Time the rank index
rebuild of that period in-process (the same `LeaderboardService.ensure_index` a node runs at
start), and with `--redis` the Redis index too. (4) Start the server again (its start includes the
rebuild), sign up `--owners` accounts, then `--connections` keep-alive connections write scores for
those owners for `--duration` seconds. (5) Each query for `--duration` seconds, first with
`--connections` connections (throughput), then with `--latency-connections` (latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_load as hl  # noqa: E402

MODULE = """
async def init(ctx, nk, initializer):
    await nk.leaderboard_create("bench", sort_order="desc", operator="best")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "OVERWORLD_PORT": str(self.port), "OVERWORLD_HOST": "127.0.0.1"}
        self.log = workdir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_sec = 0.0

    def start(self) -> Server:
        import httpx

        started = time.perf_counter()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "overworld", "serve"], env=self.env, cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 300:
                raise SystemExit("server did not become ready in 300 s")
            time.sleep(0.1)
        self.ready_sec = time.perf_counter() - started
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


async def seed(url: str, title_id: str, records: int) -> float:
    """Insert `records` records of board `bench`; returns seconds taken."""
    rng = random.Random(1)
    now = int(time.time() * 1000)
    started = time.perf_counter()
    rows = [
        (title_id, "bench", 0, str(uuid.UUID(int=rng.getrandbits(128), version=4)), None,
         rng.randrange(1_000_000_000), rng.randrange(100), 1, 1_000_000, "{}", now, now)
        for _ in range(records)
    ]  # fmt: skip
    columns = ["title_id", "leaderboard_id", "expiry_time", "owner_id", "username", "score", "subscore",
               "num_score", "max_num_score", "metadata", "create_time", "update_time"]  # fmt: skip
    if url.startswith("postgres"):
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.copy_records_to_table("leaderboard_records", records=rows, columns=columns)
            await conn.execute("ANALYZE leaderboard_records")
        finally:
            await conn.close()
    else:
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        marks = ", ".join("?" * len(columns))
        with db:
            db.executemany(f"INSERT INTO leaderboard_records ({', '.join(columns)}) VALUES ({marks})", rows)
        db.execute("ANALYZE")
        db.close()
    return time.perf_counter() - started


async def title_of(url: str) -> str:
    from overworld.db import open_database

    db = await open_database(url)
    try:
        return str(await db.fetchval("SELECT id FROM titles WHERE name = 'default'"))
    finally:
        await db.close()


async def time_rebuild(url: str, title_id: str, redis_url: str) -> dict[str, float]:
    """Seconds to read the period from the database, and to rebuild the index (read included)."""
    from overworld.db import open_database
    from overworld.leaderboards.service import LeaderboardService
    from overworld.subsystems.pubsub import EmbeddedPubSub
    from overworld.subsystems.ranks import EmbeddedRankIndex

    db = await open_database(url)
    out: dict[str, float] = {}
    try:
        service = LeaderboardService(db, EmbeddedRankIndex(), EmbeddedPubSub())
        board = await service.board(title_id, "bench")
        assert board is not None
        started = time.perf_counter()
        n = 0
        async for page in service.store.rank_rows(title_id, "bench", 0):
            n += len(page)
        out["db_read_sec"] = time.perf_counter() - started
        started = time.perf_counter()
        await service.ensure_index(board, 0)
        out["embedded_rebuild_sec"] = time.perf_counter() - started
        out["records"] = await service.ranks.count(f"{title_id}:0:bench")
        if redis_url:
            import redis.asyncio as aioredis

            from overworld.subsystems.ranks.redis import RedisRankIndex

            client = aioredis.from_url(redis_url)
            prefix = f"lbbench{os.getpid()}"
            redis_service = LeaderboardService(db, RedisRankIndex(client, prefix), EmbeddedPubSub())
            started = time.perf_counter()
            await redis_service.ensure_index(board, 0)
            out["redis_rebuild_sec"] = time.perf_counter() - started
            keys = [k async for k in client.scan_iter(f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
    finally:
        await db.close()
    return out


async def drive(t: hl.Target, make: Any, connections: int, duration: float) -> dict[str, Any]:
    """`connections` closed loops of make(conn, seq) -> request for `duration` seconds."""
    conns = await asyncio.gather(*(hl.connect(t.host, t.port) for _ in range(connections)))
    latencies: list[float] = []
    errors: list[str] = []
    ok = 0
    deadline = time.perf_counter() + duration

    async def loop(i: int, conn: hl.Conn) -> None:
        nonlocal ok
        seq = 0
        while time.perf_counter() < deadline:
            raw = make(i, seq)
            seq += 1
            t0 = time.perf_counter()
            status, body = await conn.request(raw)
            latencies.append(time.perf_counter() - t0)
            if status == 200:
                ok += 1
            elif len(errors) < 5:
                errors.append(f"{status} {body[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    latencies.sort()
    return {
        "rps": ok / elapsed,
        "ok": ok,
        "errors": len(latencies) - ok,
        "first_errors": errors,
        "p50_ms": hl.percentile(latencies, 50) * 1000,
        "p99_ms": hl.percentile(latencies, 99) * 1000,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lbbench-"))
    modules = workdir / "modules"
    modules.mkdir()
    (modules / "bench_board.py").write_text(MODULE)
    dbname = f"ow_lbbench_{int(time.time())}_{os.getpid()}"
    if args.backend == "postgres":
        import asyncpg

        admin = await asyncpg.connect(args.admin_url)
        await admin.execute(f'CREATE DATABASE "{dbname}"')
        await admin.close()
        url = args.admin_url.rsplit("/", 1)[0] + "/" + dbname
    else:
        url = f"sqlite:///{workdir / 'data' / 'overworld.db'}"
    env = {
        "OVERWORLD_DATABASE_URL": url,
        "OVERWORLD_DATA_DIR": str(workdir / "data"),
        "OVERWORLD_RUNTIME_PATH": str(modules),
        "OVERWORLD_LOG_LEVEL": "info",
        "OVERWORLD_METRICS": "false",
    }
    result: dict[str, Any] = {"backend": args.backend, "records": args.records}
    server: Server | None = None
    try:
        Server(env, workdir).start().stop()
        title_id = await title_of(url)
        result["seed_sec"] = round(await seed(url, title_id, args.records), 2)
        result.update({k: round(v, 3) for k, v in (await time_rebuild(url, title_id, args.redis)).items()})
        server = Server(env, workdir).start()
        result["server_ready_sec"] = round(server.ready_sec, 2)
        for line in server.log.read_text().splitlines():
            if "rank index built" in line:
                result["server_rebuild_log"] = line.strip()[-160:]
        t = hl.Target("127.0.0.1", server.port, f"127.0.0.1:{server.port}".encode(), "defaultkey")
        pool = await hl.create_pool(t, args.owners, f"lb{os.getpid()}", 32)
        bearers = [b"Authorization: Bearer " + tok.encode() + b"\r\n" for tok in pool.tokens]
        hh = t.host_header
        rng = random.Random(2)

        def write(i: int, seq: int) -> bytes:
            owner = (i + seq * args.connections) % len(bearers)
            body = b'{"score": %d, "subscore": %d}' % (rng.randrange(1_000_000_000), rng.randrange(100))
            return hl.build_request("POST", "/v2/leaderboard/bench", hh, bearers[owner], body)

        top = [hl.build_request("GET", "/v2/leaderboard/bench?limit=100", hh, b) for b in bearers[:64]]
        around = [
            hl.build_request("GET", f"/v2/leaderboard/bench/owner/{uid}?limit=10", hh, bearers[n])
            for n, uid in enumerate(pool.user_ids[:256])
        ]
        own = [
            hl.build_request("GET", f"/v2/leaderboard/bench?owner_ids={uid}", hh, bearers[n])
            for n, uid in enumerate(pool.user_ids[:256])
        ]
        server_pid = server.proc.pid if server.proc else 0
        cpu0 = hl.proc_cpu_sec(server_pid) or 0.0
        result["writes"] = await drive(t, write, args.connections, args.duration)
        result["writes"]["server_cpu"] = round(
            ((hl.proc_cpu_sec(server_pid) or 0.0) - cpu0) / args.duration, 2
        )
        for name, reqs in (("top100", top), ("around_owner", around), ("own_rank", own)):

            def make(i: int, seq: int, reqs: list[bytes] = reqs) -> bytes:
                return reqs[(i + seq) % len(reqs)]

            result[name] = await drive(t, make, args.connections, args.duration)
            result[name + "_latency"] = await drive(t, make, args.latency_connections, args.duration)
    finally:
        if server is not None:
            server.stop()
        if args.backend == "postgres":
            import asyncpg

            admin = await asyncpg.connect(args.admin_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await admin.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="", help="also time the Redis rank index rebuild")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--owners", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--latency-connections", type=int, default=4)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (server logs)")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)


if __name__ == "__main__":
    main()
