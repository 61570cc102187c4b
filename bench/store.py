#!/usr/bin/env python3
"""Store benchmark: wallet updates/s and virtual-currency purchases/s with their latency, over many
wallets and on one hot wallet, on a fresh database.

    .venv/bin/python bench/store.py                           # PostgreSQL, over HTTP, then in-process
    .venv/bin/python bench/store.py --mode inprocess --duration 10
    .venv/bin/python bench/store.py --scenario purchase-many,purchase-hot

Scenarios (`--scenario`): `wallet-many` / `wallet-hot` (`nk.wallet_update(user, {"coins": 1})`, a
ledger row each, on a random one of `--users` wallets or always the same one) and `purchase-many`
/ `purchase-hot` (a purchase of a bundle priced 1 gem giving 1 ticket: one transaction with the
wallet's row lock, the debit and its ledger row, the inventory change and the purchase record).

- `http` mode: `overworld serve` (pinned to CPU 0 with `--pin auto`); the raw HTTP/1.1 client of
  bench/http_load.py (pinned to CPU 1) keeps `--connections` keep-alive connections busy: wallet
  updates through an RPC (`POST /v2/rpc/wallet_bench`, as bench/wallet.py), purchases as a player
  does (`POST /v2/overworld/store/purchase` with the player's session token).
- `inprocess` mode: a `Node` in this process and `--connections` tasks calling `nk.wallet_update` /
  `nk.store_purchase` in a closed loop: the domain path alone, without HTTP.

Every player starts with 10^12 gems (set in the database before the run). A check at the end:
every wallet equals its starting gems plus the sum of its ledger, there is one ledger row per
successful call, and each player holds one ticket per purchase recorded.
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
from wallet import drop_database, fresh_database, pin  # noqa: E402

GEMS = 10**12
MODULE = """
def init(ctx, nk, initializer):
    @initializer.rpc("wallet_bench")
    async def wallet_bench(rpc, payload):
        result = await nk.wallet_update(payload, {"coins": 1})
        return str(result.updated["coins"])
"""
ITEM = {"name": "Ticket"}
BUNDLE = {"contents": {"items": {"ticket": 1}}, "price": {"gems": 1}}


async def fund(url: str) -> None:
    """Every player starts with GEMS gems (no ledger row: the check counts from there)."""
    from overworld.db import open_database

    db = await open_database(url)
    try:
        await db.execute("UPDATE users SET wallet = $1", json.dumps({"gems": GEMS}))
    finally:
        await db.close()


async def check(url: str, expected_rows: int, purchases: int) -> dict[str, Any]:
    from overworld.db import open_database

    db = await open_database(url)
    try:
        rows = await db.fetch("SELECT user_id, changeset FROM wallet_ledger")
        sums: dict[str, dict[str, int]] = {}
        for r in rows:
            mine = sums.setdefault(r["user_id"], {"gems": GEMS})
            for currency, amount in json.loads(r["changeset"]).items():
                mine[currency] = mine.get(currency, 0) + amount
        wallets = await db.fetch("SELECT id, wallet FROM users")
        mismatched = sum(1 for w in wallets if json.loads(w["wallet"]) != sums.get(w["id"], {"gems": GEMS}))
        recorded = await db.fetch("SELECT user_id, count(*) AS n FROM store_purchases GROUP BY user_id")
        held = await db.fetch("SELECT user_id, quantity FROM inventory_items WHERE item_id = 'ticket'")
        tickets = {r["user_id"]: int(r["quantity"]) for r in held}
        return {
            "ledger_rows": len(rows),
            "expected_rows": expected_rows,
            "wallets_not_matching_ledger": mismatched,
            "purchases_recorded": sum(int(r["n"]) for r in recorded),
            "purchases_ok": purchases,
            "players_whose_tickets_differ": sum(
                1 for r in recorded if tickets.get(r["user_id"]) != int(r["n"])
            ),
        }
    finally:
        await db.close()


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


# -- over HTTP ------------------------------------------------------------------------------------


async def run_http(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    workdir = Path(tempfile.mkdtemp(prefix="storebench-"))
    modules = workdir / "modules"
    modules.mkdir()
    (modules / "store_bench.py").write_text(MODULE)
    url, dbname = await fresh_database(args, workdir)
    env = {
        "OVERWORLD_DATABASE_URL": url,
        "OVERWORLD_DATA_DIR": str(workdir / "data"),
        "OVERWORLD_RUNTIME_PATH": str(modules),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_METRICS": "false",
        # The store, not the abuse limits: `purchase-hot` is one player buying thousands of times a
        # second, far above the per-user default (100/s), which would answer 429.
        "OVERWORLD_RATE_LIMITS": "false",
    }
    pinned = args.pin == "auto" and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    result: dict[str, Any] = {"mode": "http", "backend": args.backend}
    server: Server | None = None
    try:
        server = Server(env, workdir)
        server.start()
        assert server.proc is not None
        if pinned:
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(server.proc.pid)], capture_output=True)  # noqa: ASYNC221
        result["pinning"] = f"server CPU 0, load generator {pin(1, pinned)}" if pinned else "none"
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, params={"http_key": "defaulthttpkey"}) as admin:
            for path, body in (("items/ticket", ITEM), ("bundles/tickets", BUNDLE)):
                response = await admin.put(f"/v2/overworld/admin/store/{path}", json=body)
                assert response.status_code == 200, response.text
        t = hl.Target("127.0.0.1", server.port, f"127.0.0.1:{server.port}".encode(), "defaultkey")
        pool = await hl.create_pool(t, args.users, f"sb{os.getpid()}", 32)
        await fund(url)
        hh = t.host_header
        rpc = "/v2/rpc/wallet_bench?http_key=defaulthttpkey&unwrap"
        wallet_reqs = [hl.build_request("POST", rpc, hh, b"", uid.encode()) for uid in pool.user_ids]
        body = json.dumps({"bundle_id": "tickets"}).encode()
        buy_reqs = [
            hl.build_request("POST", "/v2/overworld/store/purchase", hh,
                             b"Authorization: Bearer " + tok.encode() + b"\r\n", body)
            for tok in pool.tokens
        ]  # fmt: skip
        rng = random.Random(3)
        wallet_ok = purchase_ok = 0
        for scenario in args.scenarios:
            reqs = wallet_reqs if scenario.startswith("wallet") else buy_reqs
            hot = scenario.endswith("hot")

            def make(i: int, seq: int, reqs: list[bytes] = reqs, hot: bool = hot) -> bytes:
                return reqs[0] if hot else reqs[rng.randrange(len(reqs))]

            row_idle = hl.wait_idle(args.wait_idle)
            cpu0 = hl.proc_cpu_sec(server.proc.pid) or 0.0
            db0 = hl.db_cpu_sec(dbname) if dbname else 0.0
            row = await drive(t, make, args.connections, args.duration)
            row["server_cpu"] = ((hl.proc_cpu_sec(server.proc.pid) or 0.0) - cpu0) / args.duration
            if dbname:
                row["db_cpu"] = (hl.db_cpu_sec(dbname) - db0) / args.duration
            row["busy_cores_before"] = row_idle
            row["load_avg_1m"] = os.getloadavg()[0]
            if scenario.startswith("wallet"):
                wallet_ok += row["ok"]
            else:
                purchase_ok += row["ok"]
            result[scenario] = _rounded(row)
            print(scenario, json.dumps(result[scenario]), flush=True)
        server.stop()
        server = None
        result["check"] = await check(url, wallet_ok + purchase_ok, purchase_ok)
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
    from overworld.node import Node
    from overworld.runtime import ServerApi

    workdir = Path(tempfile.mkdtemp(prefix="storebench-"))
    url, dbname = await fresh_database(args, workdir)
    result: dict[str, Any] = {"mode": "inprocess", "backend": args.backend}
    result["pinning"] = pin(0, args.pin == "auto")
    overrides = {"database_url": url, "data_dir": str(workdir / "data"), "log_level": "warning"}
    overrides["metrics"] = False
    settings = load_settings(environ={}, overrides=overrides)
    wallet_ok = purchase_ok = 0
    try:
        node = await Node.start(settings)
        try:
            title = node.default_title
            nk = ServerApi(node.runtime, title, "bench")
            await nk.store_item_set("ticket", ITEM)
            await nk.store_bundle_set("tickets", BUNDLE)
            users: list[str] = []
            for start in range(0, args.users, 500):
                made = await asyncio.gather(
                    *(node.accounts.authenticate_device(title, f"storebench-{os.getpid()}-{n:06d}", True)
                      for n in range(start, min(start + 500, args.users)))
                )  # fmt: skip
                users += [m.user_id for m in made]
            await fund(url)
            rng = random.Random(4)
            for scenario in args.scenarios:
                idle = hl.wait_idle(args.wait_idle)
                latencies: list[float] = []
                counts = {"ok": 0, "errors": 0}
                first_errors: list[str] = []
                db0 = hl.db_cpu_sec(dbname) if dbname else 0.0
                cpu0 = time.process_time()
                deadline = time.perf_counter() + args.duration
                buying = scenario.startswith("purchase")
                hot = scenario.endswith("hot")

                async def loop(deadline: float = deadline, buying: bool = buying, hot: bool = hot,
                               latencies: list[float] = latencies, counts: dict[str, int] = counts,
                               first_errors: list[str] = first_errors) -> None:  # fmt: skip
                    while time.perf_counter() < deadline:
                        user = users[0] if hot else users[rng.randrange(len(users))]
                        t0 = time.perf_counter()
                        try:
                            if buying:
                                await nk.store_purchase(user, bundle_id="tickets")
                            else:
                                await nk.wallet_update(user, {"coins": 1})
                            counts["ok"] += 1
                        except Exception as exc:
                            counts["errors"] += 1
                            if len(first_errors) < 3:
                                first_errors.append(repr(exc))
                        latencies.append(time.perf_counter() - t0)

                started = time.perf_counter()
                await asyncio.gather(*(loop() for _ in range(args.connections)))
                elapsed = time.perf_counter() - started
                latencies.sort()
                row: dict[str, Any] = {
                    "rps": counts["ok"] / elapsed,
                    **counts,
                    "first_errors": first_errors,
                    "p50_ms": hl.percentile(latencies, 50) * 1000,
                    "p99_ms": hl.percentile(latencies, 99) * 1000,
                    "process_cpu": (time.process_time() - cpu0) / elapsed,
                    "busy_cores_before": idle,
                    "load_avg_1m": os.getloadavg()[0],
                }
                if dbname:
                    row["db_cpu"] = (hl.db_cpu_sec(dbname) - db0) / elapsed
                if buying:
                    purchase_ok += counts["ok"]
                else:
                    wallet_ok += counts["ok"]
                result[scenario] = _rounded(row)
                print(scenario, json.dumps(result[scenario]), flush=True)
        finally:
            await node.close()
        result["check"] = await check(url, wallet_ok + purchase_ok, purchase_ok)
    finally:
        await drop_database(args, dbname)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--mode", choices=["http", "inprocess", "both"], default="both")
    ap.add_argument("--scenario", default="wallet-many,wallet-hot,purchase-many,purchase-hot")
    ap.add_argument("--users", type=int, default=2_000, help="wallets of the `many` scenarios")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--pin", choices=["auto", "off"], default="auto")
    ap.add_argument("--wait-idle", type=float, default=30.0, help="wait up to this long for an idle machine")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (server logs)")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()
    args.scenarios = [s for s in args.scenario.split(",") if s]
    results = []
    if args.mode in ("inprocess", "both"):
        results.append(asyncio.run(run_inprocess(args)))
    if args.mode in ("http", "both"):
        results.append(asyncio.run(run_http(args)))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)


if __name__ == "__main__":
    main()
