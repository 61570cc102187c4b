#!/usr/bin/env python3
"""Create, drop or ANALYZE a benchmark database (used by run_foundation.sh).

python bench/pg_admin.py create|drop|analyze NAME [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import re

import asyncpg


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["create", "drop", "analyze"])
    ap.add_argument("name")
    ap.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    if not re.fullmatch(r"[a-z0-9_]+", args.name):
        raise SystemExit("database name: lower-case letters, digits and '_' only")
    if args.action == "analyze":
        url = args.admin_url.rsplit("/", 1)[0] + "/" + args.name
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        return
    conn = await asyncpg.connect(args.admin_url)
    try:
        if args.action == "create":
            await conn.execute(f'CREATE DATABASE "{args.name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{args.name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
