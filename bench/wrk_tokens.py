"""Sign up N device accounts on a server and print their session tokens as a Lua table for wrk
scripts (`tokens = {"...", ...}`), so that wrk can send each request as the next of N users.

    .venv/bin/python bench/wrk_tokens.py http://127.0.0.1:7350 [--users 1000] > tokens.lua
"""

from __future__ import annotations

import argparse
import asyncio
import base64

import httpx


async def tokens(url: str, users: int, prefix: str, server_key: str) -> list[str]:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{server_key}:".encode()).decode()}
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(i: int) -> str:
            async with gate:
                answer = await client.post(
                    "/v2/account/authenticate/device?create=true",
                    json={"id": f"{prefix}-{i:06d}"},
                    headers=auth,
                )
                answer.raise_for_status()
                return str(answer.json()["token"])

        return await asyncio.gather(*(one(i) for i in range(users)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--prefix", default="wrk", help="device ids are PREFIX-000000, PREFIX-000001, ...")
    parser.add_argument("--server-key", default="defaultkey")
    args = parser.parse_args()
    found = asyncio.run(tokens(args.url, args.users, args.prefix, args.server_key))
    print("tokens = {" + ",".join(f'"{t}"' for t in found) + "}")


if __name__ == "__main__":
    main()
