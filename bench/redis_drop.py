#!/usr/bin/env python3
"""Delete every Redis key under a prefix (a benchmark's servers' `OVERWORLD_REDIS_PREFIX`).

python bench/redis_drop.py PREFIX [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse

import redis


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    if not args.prefix:
        raise SystemExit("an empty prefix would delete every key")
    client = redis.Redis.from_url(args.url)
    try:
        keys = list(client.scan_iter(match=args.prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


if __name__ == "__main__":
    main()
