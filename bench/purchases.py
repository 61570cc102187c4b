#!/usr/bin/env python3
"""Purchase validation benchmark: App Store signed transactions validated, recorded and granted per
second, in process, on a fresh database.

    .venv/bin/python bench/purchases.py                       # SQLite, then PostgreSQL if given
    .venv/bin/python bench/purchases.py --pg postgresql://postgres@127.0.0.1:5432/test --count 4000

A `Node` in this process with the default title's App Store configured with a root certificate
made here (tests/purchases/fakes.py: root, intermediate, leaf); `--concurrency` tasks validate
`--count` distinct signed transactions (`new`: chain and signature verified, user row locked,
record inserted, the grant run in the same transaction, here one that credits the wallet with
SQL), then the same transactions again (`seen`: verified, found recorded, `seen_before`). Also the
JWS verification alone (`verify`, one task). Prints per phase the rate, p50 and p99 latency and
the machine's load average; at the end, a check that each transaction was granted once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from overworld.config import AppleStore, TitleStores, load_settings  # noqa: E402
from overworld.db import migrate  # noqa: E402
from overworld.node import Node  # noqa: E402
from overworld.purchases.validators.apple import load_roots, verify_jws  # noqa: E402
from tests.purchases.fakes import BUNDLE, Pki, WalletGrants, apple_transaction  # noqa: E402
from tests.support import create_pg_database, drop_pg_database  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _phase(name: str, node: Node, users: list[str], receipts: list[str], concurrency: int) -> None:
    title = node.default_title.id
    latencies: list[float] = []
    queue = list(enumerate(receipts))

    async def worker() -> None:
        while queue:
            i, receipt = queue.pop()
            start = time.perf_counter()
            await node.purchases.validate_purchase_apple(title, users[i % len(users)], receipt)
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    print(
        f"  {name:<6} {len(receipts) / elapsed:8.0f} /s  p50 {_pct(latencies, 0.5):6.2f} ms"
        f"  p99 {_pct(latencies, 0.99):6.2f} ms  load {os.getloadavg()[0]:.2f}"
    )


async def run(url: str, count: int, concurrency: int) -> None:
    await migrate.upgrade(url)
    pki = Pki.make()
    settings = load_settings(environ={}, overrides={
        "database_url": url, "data_dir": tempfile.mkdtemp(), "log_level": "error", "metrics": False,
        "default_server_key": "bench-key", "default_http_key": "bench-http",
    })  # fmt: skip
    settings.purchases = {
        settings.default_title: TitleStores(
            apple=AppleStore(bundle_id=BUNDLE, root_certificates=[pki.root_pem])
        )
    }
    grants = WalletGrants()
    node = await Node.start(settings, grants=grants)
    try:
        title = node.default_title
        users = [(await node.accounts.authenticate_device(title, f"bench-device-{i:04d}", True)).user_id
                 for i in range(100)]  # fmt: skip
        receipts = [
            pki.sign(apple_transaction("gems_100", transaction_id=f"{10**15 + i}")) for i in range(count)
        ]
        roots = load_roots([pki.root_pem])
        start = time.perf_counter()
        for receipt in receipts[:1000]:
            verify_jws(receipt, roots, "receipt")
        print(
            f"  verify {1000 / (time.perf_counter() - start):8.0f} /s  (chain and ES256 signature, one task)"
        )
        await _phase("new", node, users, receipts, concurrency)
        await _phase("seen", node, users, receipts, concurrency)
        assert len(grants.granted) == count and len({g.transaction_id for g in grants.granted}) == count
        print(f"  check  {count} transactions granted once each")
    finally:
        await node.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pg", default=os.environ.get("OVERWORLD_TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"SQLite, {args.count} transactions, {args.concurrency} tasks")
        asyncio.run(run(f"sqlite:///{folder}/bench.db", args.count, args.concurrency))
    if args.pg:
        url = asyncio.run(create_pg_database(args.pg))
        try:
            print(f"PostgreSQL, {args.count} transactions, {args.concurrency} tasks")
            asyncio.run(run(url, args.count, args.concurrency))
        finally:
            asyncio.run(drop_pg_database(args.pg, url))


if __name__ == "__main__":
    main()
