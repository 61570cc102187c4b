#!/usr/bin/env python3
"""Wallet benchmark: wallet updates per second and their latency, over many wallets and on one hot
wallet, on a fresh database.

    .venv/bin/python bench/wallet.py                          # PostgreSQL, over HTTP, then in-process
    .venv/bin/python bench/wallet.py --mode http --duration 10
    .venv/bin/python bench/wallet.py --backend sqlite

Two ways to drive it (`--mode`, default both):

- `http`: `overworld serve` (one process, pinned to CPU 0 with `--pin auto`) with a server module
  whose RPC `wallet_bench` calls `nk.wallet_update(user, {"coins": 1})` (a ledger row each). The
  load generator (bench/http_load.py's raw HTTP/1.1 client, pinned to CPU 1) keeps `--connections`
  keep-alive connections busy with `POST /v2/rpc/wallet_bench?http_key=...&unwrap`, the body being
  the user id: what a game server's backend calling an RPC does. Latency: from writing the request
  to reading the whole response.
- `inprocess`: a `Node` in this process (pinned to CPU 0) and `--connections` tasks each calling
  `nk.wallet_update` in a closed loop: the wallet path alone, without HTTP.

Scenarios: `many` (each call picks one of `--users` wallets at random) and `hot` (every call
changes the same wallet); over HTTP also `echo` (an RPC returning its payload, on the same server:
the cost of the HTTP and RPC path alone, for comparison). PostgreSQL runs wherever the scheduler
puts it (not pinned); its CPU is reported (`db_cpu`, the bench database's backends plus the shared
processes), and so is what the whole machine was busy with (`host_busy_cores`, out of all cores).
A check at the end: every wallet equals the sum of its ledger rows, one row per successful call.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_load as hl  # noqa: E402
from leaderboards import Server, drive  # noqa: E402

MODULE = """
def init(ctx, nk, initializer):
    @initializer.rpc("wallet_bench")
    async def wallet_bench(rpc, payload):
        result = await nk.wallet_update(payload, {"coins": 1})
        return str(result.updated["coins"])

    @initializer.rpc("echo_bench")
    def echo_bench(rpc, payload):
        return payload
"""


def pin(cpu: int, enabled: bool) -> str:
    if not enabled or (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    os.sched_setaffinity(0, {cpu})
    return f"CPU {cpu}"


async def fresh_database(args: argparse.Namespace, workdir: Path) -> tuple[str, str]:
    """(url, name) of a new database (PostgreSQL) or file (SQLite)."""
    if args.backend == "sqlite":
        return f"sqlite:///{workdir / 'data' / 'overworld.db'}", ""
    import asyncpg

    name = f"ow_walletbench_{int(time.time())}_{os.getpid()}"
    admin = await asyncpg.connect(args.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return args.admin_url.rsplit("/", 1)[0] + "/" + name, name


async def drop_database(args: argparse.Namespace, name: str) -> None:
    if not name:
        return
    import asyncpg

    admin = await asyncpg.connect(args.admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def check_ledger(url: str, expected_rows: int) -> dict[str, Any]:
    """After a run: every wallet equals the sum of its ledger, and the rows are as many as the 200s."""
    from overworld.db import open_database

    db = await open_database(url)
    try:
        rows = await db.fetch("SELECT user_id, changeset FROM wallet_ledger")
        sums: dict[str, int] = {}
        for r in rows:
            sums[r["user_id"]] = sums.get(r["user_id"], 0) + json.loads(r["changeset"])["coins"]
        wallets = await db.fetch("SELECT id, wallet FROM users WHERE wallet <> '{}'")
        mismatched = sum(
            1 for w in wallets if json.loads(w["wallet"]).get("coins", 0) != sums.get(w["id"], 0)
        )
        return {
            "ledger_rows": len(rows),
            "expected_rows": expected_rows,
            "wallets_not_matching_ledger": mismatched,
        }
    finally:
        await db.close()


# -- over HTTP ------------------------------------------------------------------------------------


async def run_http(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="walletbench-"))
    modules = workdir / "modules"
    modules.mkdir()
    (modules / "wallet_bench.py").write_text(MODULE)
    url, dbname = await fresh_database(args, workdir)
    env = {
        "OVERWORLD_DATABASE_URL": url,
        "OVERWORLD_DATA_DIR": str(workdir / "data"),
        "OVERWORLD_RUNTIME_PATH": str(modules),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_METRICS": "false",
    }
    pinned = args.pin == "auto" and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    result: dict[str, Any] = {"mode": "http", "backend": args.backend}
    server: Server | None = None
    try:
        server = Server(env, workdir)
        if pinned:
            server.env["PYTHONUNBUFFERED"] = "1"
        server.start()
        assert server.proc is not None
        if pinned:
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(server.proc.pid)], capture_output=True)  # noqa: ASYNC221
        result["pinning"] = f"server CPU 0, load generator {pin(1, pinned)}" if pinned else "none"
        t = hl.Target("127.0.0.1", server.port, f"127.0.0.1:{server.port}".encode(), "defaultkey")
        pool = await hl.create_pool(t, args.users, f"wb{os.getpid()}", 32)
        hh = t.host_header
        path = "/v2/rpc/wallet_bench?http_key=defaulthttpkey&unwrap"
        requests = [hl.build_request("POST", path, hh, b"", uid.encode()) for uid in pool.user_ids]
        echo = hl.build_request("POST", path.replace("wallet_bench", "echo_bench"), hh, b"", b"x" * 36)
        rng = random.Random(3)
        total_ok = 0
        for scenario in args.scenarios:
            if scenario == "many":

                def make(i: int, seq: int) -> bytes:
                    return requests[rng.randrange(len(requests))]
            elif scenario == "hot":

                def make(i: int, seq: int) -> bytes:
                    return requests[0]
            else:  # echo: the same RPC path without the wallet, for comparison

                def make(i: int, seq: int) -> bytes:
                    return echo

            row_idle = hl.wait_idle(args.wait_idle)
            cpu0 = hl.proc_cpu_sec(server.proc.pid) or 0.0
            db0 = hl.db_cpu_sec(dbname) if dbname else 0.0
            busy0 = hl.host_busy_cpus()
            row = await drive(t, make, args.connections, args.duration)
            row["server_cpu"] = round(((hl.proc_cpu_sec(server.proc.pid) or 0.0) - cpu0) / args.duration, 2)
            if dbname:
                row["db_cpu"] = round((hl.db_cpu_sec(dbname) - db0) / args.duration, 2)
            busy1 = hl.host_busy_cpus()
            if busy0 and busy1:
                share = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1e-9)
                row["host_busy_cores"] = round((os.cpu_count() or 1) * share, 2)
            row["busy_cores_before"] = row_idle
            total_ok += row["ok"] if scenario != "echo" else 0
            result[scenario] = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
        server.stop()
        server = None
        result["check"] = await check_ledger(url, total_ok)
    finally:
        if server is not None:
            server.stop()
        await drop_database(args, dbname)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


# -- in-process -----------------------------------------------------------------------------------


async def run_inprocess(args: argparse.Namespace) -> dict[str, Any]:
    from overworld.config import load_settings

    workdir = Path(tempfile.mkdtemp(prefix="walletbench-"))
    url, dbname = await fresh_database(args, workdir)
    result: dict[str, Any] = {"mode": "inprocess", "backend": args.backend}
    result["pinning"] = pin(0, args.pin == "auto")
    overrides = {
        "database_url": url,
        "data_dir": str(workdir / "data"),
        "log_level": "warning",
        "metrics": False,
    }
    settings = load_settings(environ={}, overrides=overrides)
    try:
        await inprocess_scenarios(args, settings, dbname, result)
        result["check"] = await check_ledger(url, result.pop("_ok"))
    finally:
        await drop_database(args, dbname)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


async def inprocess_scenarios(
    args: argparse.Namespace, settings: Any, dbname: str, result: dict[str, Any]
) -> None:
    from overworld.node import Node
    from overworld.runtime import ServerApi

    node = await Node.start(settings)
    try:
        title = node.default_title
        nk = ServerApi(node.runtime, title, "bench")
        users: list[str] = []
        for start in range(0, args.users, 500):
            made = await asyncio.gather(
                *(node.accounts.authenticate_device(title, f"walletbench-{os.getpid()}-{n:06d}", True)
                  for n in range(start, min(start + 500, args.users)))
            )  # fmt: skip
            users += [m.user_id for m in made]
        rng = random.Random(4)
        total_ok = 0
        for scenario in args.inprocess_scenarios:
            idle = hl.wait_idle(args.wait_idle)
            latencies: list[float] = []
            ok = errors = 0
            batches0 = node.wallets.batches
            db0 = hl.db_cpu_sec(dbname) if dbname else 0.0
            cpu0 = time.process_time()
            deadline = time.perf_counter() + args.duration

            async def loop(
                scenario: str = scenario, deadline: float = deadline, latencies: list[float] = latencies
            ) -> None:
                nonlocal ok, errors
                while time.perf_counter() < deadline:
                    user = users[rng.randrange(len(users))] if scenario == "many" else users[0]
                    t0 = time.perf_counter()
                    try:
                        await nk.wallet_update(user, {"coins": 1})
                        ok += 1
                    except Exception:
                        errors += 1
                    latencies.append(time.perf_counter() - t0)

            started = time.perf_counter()
            await asyncio.gather(*(loop() for _ in range(args.connections)))
            elapsed = time.perf_counter() - started
            latencies.sort()
            batches = node.wallets.batches - batches0
            row: dict[str, Any] = {
                "rps": ok / elapsed,
                "ok": ok,
                "errors": errors,
                "p50_ms": hl.percentile(latencies, 50) * 1000,
                "p99_ms": hl.percentile(latencies, 99) * 1000,
                "process_cpu": (time.process_time() - cpu0) / elapsed,
                "batches": batches,
                "updates_per_batch": ok / max(batches, 1),
                "busy_cores_before": idle,
            }
            if dbname:
                row["db_cpu"] = (hl.db_cpu_sec(dbname) - db0) / elapsed
            total_ok += ok
            result[scenario] = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
        result["_ok"] = total_ok
    finally:
        await node.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--mode", choices=["http", "inprocess", "both"], default="both")
    ap.add_argument("--scenario", default="many,hot,echo", help="many, hot, echo (comma-separated)")
    ap.add_argument("--users", type=int, default=10_000, help="wallets of the `many` scenario")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--pin", choices=["auto", "off"], default="auto")
    ap.add_argument("--wait-idle", type=float, default=60.0, help="wait up to this long for an idle machine")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (server logs)")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()
    args.scenarios = [s for s in args.scenario.split(",") if s]
    args.inprocess_scenarios = [s for s in args.scenarios if s != "echo"]
    results = []
    if args.mode in ("http", "both"):
        results.append(asyncio.run(run_http(args)))
        print(json.dumps(results[-1]), flush=True)
    if args.mode in ("inprocess", "both"):
        results.append(asyncio.run(run_inprocess(args)))
        print(json.dumps(results[-1]), flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)


if __name__ == "__main__":
    main()
