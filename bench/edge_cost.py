"""CPU time per request of the hot REST paths through the whole ASGI app, in process (no sockets,
no load generator): what the edge, the fast path and the operation cost, on SQLite.

Meant for before/after comparisons of changes to the request path on a busy machine, where
throughput runs (bench/run_foundation.sh) are disturbed by other work: it counts this process's
CPU time only (`time.process_time`), best of several rounds.

    .venv/bin/python bench/edge_cost.py [--rounds 5] [--n 2000] [--only "rpc echo"]
        [--client 192.0.2.7] [--set rate_limits=false --set rate_limit_title=1000000/s]

`--set` changes a setting (as its environment variable would); `--client` is the address the
requests come from (a loopback address has no rate-limit address budget).

Run it against another checkout with `PYTHONPATH=/path/to/checkout python -P bench/edge_cost.py`.
`--encryption-key` seals the personal fields (docs/data-protection.md) under a fresh key;
`--account-cache 0` makes every account fetch read (and decrypt) the row.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def main(
    rounds: int,
    n: int,
    only: list[str],
    client: str,
    changes: dict[str, str],
    encryption_key: bool = False,
    account_cache: int | None = None,
) -> None:
    from overworld.api.http.app import create_app
    from overworld.config import load_settings
    from overworld.node import Node

    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {
            "data_dir": tmp,
            "runtime_path": str(ROOT / "examples" / "runtime"),
            "metrics": False,
            "log_level": "error",
        }
        if encryption_key:
            overrides["encryption_keys"] = {"*": "k1:" + base64.b64encode(os.urandom(32)).decode()}
        if account_cache is not None:
            overrides["account_cache_size"] = account_cache
        settings = load_settings(
            environ={f"OVERWORLD_{k.upper()}": v for k, v in changes.items()}, overrides=overrides
        )
        node = await Node.start(settings)
        app = create_app(settings, node=node)

        Headers = list[tuple[bytes, bytes]]

        async def call(
            method: str, path: str, headers: Headers, body: bytes = b"", query: bytes = b""
        ) -> tuple[int, bytes]:
            scope = {
                "type": "http", "method": method, "path": path, "query_string": query, "headers": headers,
                "client": (client, 5000), "http_version": "1.1", "scheme": "http", "root_path": "",
            }  # fmt: skip
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            await app(scope, receive, send)
            return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

        basic = b"Basic " + base64.b64encode(b"defaultkey:")
        device = json.dumps({"id": "bench-device-0001"}).encode()
        status, body = await call(
            "POST", "/v2/account/authenticate/device", [(b"authorization", basic)], device
        )
        assert status == 200, body
        token = json.loads(body)["token"]
        bearer = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
        origin = [(b"origin", b"https://game.example")]
        user_id = json.loads((await call("GET", "/v2/account", bearer))[1])["user"]["id"]
        await call("PUT", "/v2/storage", bearer, json.dumps({"objects": [
            {"collection": "c", "key": "k", "value": '{"a": 1}'}]}).encode())  # fmt: skip
        read = json.dumps({"object_ids": [{"collection": "c", "key": "k", "user_id": user_id}]}).encode()
        read_camel = json.dumps({"objectIds": [{"collection": "c", "key": "k", "userId": user_id}]}).encode()
        cases: dict[str, tuple[str, str, list[tuple[bytes, bytes]], bytes, bytes]] = {
            "auth (existing device)": ("POST", "/v2/account/authenticate/device",
                                       [(b"authorization", basic)], device, b"create=true"),
            "account get": ("GET", "/v2/account", bearer, b"", b""),
            "account get, Origin": ("GET", "/v2/account", bearer + origin, b"", b""),
            "rpc echo": ("POST", "/v2/rpc/echo", bearer, b'"hello"', b""),
            "storage read": ("POST", "/v2/storage", bearer, read, b""),
            "storage read, camelCase": ("POST", "/v2/storage", bearer, read_camel, b""),
            "storage list ?user_id= (route)": ("GET", "/v2/storage/c", bearer, b"",
                                               f"user_id={user_id}&limit=10".encode()),
        }  # fmt: skip
        if only:
            cases = {name: case for name, case in cases.items() if name in only}
        best: dict[str, float] = {}
        for _ in range(rounds):
            for name, (method, path, headers, body, query) in cases.items():
                status, _ = await call(method, path, headers, body, query)
                if status != 200:
                    best.setdefault(name, float("nan"))
                    continue
                started = time.process_time()
                for _ in range(n):
                    await call(method, path, headers, body, query)
                used = (time.process_time() - started) / n * 1e6
                best[name] = min(best.get(name, used), used)
        await node.close()
    for name, micros in best.items():
        print(f"{name:<32} {micros:8.1f} us/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--only", action="append", default=[], help="run only this case (repeatable)")
    parser.add_argument("--client", default="127.0.0.1", help="the requests' client address")
    parser.add_argument("--set", action="append", default=[], help="setting=value (repeatable)")
    parser.add_argument("--encryption-key", action="store_true", help="personal fields sealed (AES-GCM)")
    parser.add_argument("--account-cache", type=int, help="account_cache_size (0: no cache)")
    args = parser.parse_args()
    changes = dict(item.split("=", 1) for item in args.set)
    asyncio.run(
        main(args.rounds, args.n, args.only, args.client, changes, args.encryption_key, args.account_cache)
    )
