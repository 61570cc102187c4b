"""Issue 15: a database or Redis outage met inside server code (an RPC, a before hook) or by a
call forwarded to another node is UNAVAILABLE (code 14, HTTP 503), as on the core paths, not an
"Internal server error": logged once per outage, no traceback per request.

The outages are real: the node's PostgreSQL database is dropped, or the private redis-server the
test started is stopped (the machine's shared services are never touched)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from overworld.db import open_database
from overworld.errors import ApiError, Code
from overworld.ops.outages import Outages
from overworld.realtime.registry import Registry
from overworld.realtime.router import Router
from overworld.subsystems.presence.embedded import EmbeddedTracker
from overworld.subsystems.pubsub.embedded import EmbeddedPubSub
from tests.security.test_outages import log_lines
from tests.support import (
    PG_URL,
    ServerProcess,
    basic,
    bearer,
    create_pg_database,
    drop_pg_database,
    free_port,
    redis_prefix,
    run,
    unique,
)

SERVER_CODE = """
def init(ctx, nk, initializer):
    @initializer.rpc("read")
    async def read(ctx, payload):
        await nk.storage_read([{"collection": "c", "key": "k", "user_id": ctx.user_id}])
        return "read"

    @initializer.rpc("score")
    async def score(ctx, payload):
        await nk.leaderboard_record_write("board", ctx.user_id, score=len(payload) + 1)
        return "scored"

    @initializer.before("ListFriends")
    async def look_first(ctx, request):
        await nk.storage_read([{"collection": "c", "key": "k", "user_id": ctx.user_id}])
        return request
"""
BOARD = """
async def init(ctx, nk, initializer):
    await nk.leaderboard_create("board")
"""


def _server(tmp_path: Path, env: dict[str, str], *modules: tuple[str, str]) -> ServerProcess:
    code = tmp_path / "runtime"
    code.mkdir()
    for name, text in modules:
        (code / name).write_text(text)
    return ServerProcess(
        {
            "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
            "OVERWORLD_LOG_LEVEL": "warning",
            "OVERWORLD_RUNTIME_PATH": str(code),
            **env,
        },
        tmp_path,
    )


def _unavailable(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"error": f"{what}", "code": 14, "message": f"{what}"}, response.text


async def _socket_rpc(server: ServerProcess, token: str, rpc: str, payload: str = "") -> dict:
    url = server.url.replace("http", "ws") + f"/ws?token={token}"
    async with connect(url, compression=None) as ws:
        await ws.send(json.dumps({"cid": "7", "rpc": {"id": rpc, "payload": payload}}))
        while True:
            answer = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if answer.get("cid") == "7":
                return answer


def _no_errors_and_one_outage(server: ServerProcess, service: str) -> None:
    lines = log_lines(server)
    errors = [x for x in lines if x.get("level") in ("error", "critical")]
    assert not errors, errors
    started = [x for x in lines if str(x.get("event", "")).startswith(f"{service} unavailable")]
    assert len(started) == 1, lines


@pytest.mark.postgres
def test_a_dropped_database_inside_rpcs_and_hooks_is_unavailable(tmp_path: Path):
    if not PG_URL:
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL")
    database = run(create_pg_database(PG_URL))
    server = _server(tmp_path, {"OVERWORLD_DATABASE_URL": database}, ("code.py", SERVER_CODE))
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            session = http.post(
                "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("defaultkey")
            ).json()
            auth = bearer(session["token"])
            assert http.post("/v2/rpc/read", headers=auth).json()["payload"] == "read"
            assert http.get("/v2/friend", headers=auth).status_code == 200

            run(drop_pg_database(PG_URL, database))  # the outage

            for _ in range(3):
                # The RPC's own nk call meets it, and so does the before hook (ListFriends'
                # operation never runs: the hook fails first).
                _unavailable(
                    http.post("/v2/rpc/read", headers=auth), "Database unavailable, try again later."
                )
                _unavailable(http.get("/v2/friend", headers=auth), "Database unavailable, try again later.")
            answer = asyncio.run(_socket_rpc(server, session["token"], "read"))
            assert answer["error"]["code"] == 14, answer
            assert "unavailable" in answer["error"]["message"].lower()
        _no_errors_and_one_outage(server, "database")
    finally:
        server.stop()
        run(drop_pg_database(PG_URL, database))


@contextlib.contextmanager
def private_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A redis-server of this test's own (stopping it is the outage)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.mark.cluster
def test_a_stopped_redis_inside_an_rpc_is_unavailable(tmp_path: Path):
    if not PG_URL:
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL")
    database = run(create_pg_database(PG_URL))
    with private_redis(tmp_path) as (redis, port):
        env = {
            "OVERWORLD_DATABASE_URL": database,
            "OVERWORLD_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "OVERWORLD_REDIS_PREFIX": redis_prefix("owscan"),
        }
        server = _server(tmp_path, env, ("code.py", SERVER_CODE), ("board.py", BOARD))
        try:
            server.start()
            with httpx.Client(base_url=server.url, timeout=30) as http:
                session = http.post(
                    "/v2/account/authenticate/device",
                    json={"id": unique("device-")},
                    headers=basic("defaultkey"),
                ).json()
                auth = bearer(session["token"])
                assert http.post("/v2/rpc/score", headers=auth, json='"5"').json()["payload"] == "scored"

                redis.terminate()  # the outage
                redis.wait(10)

                for _ in range(3):
                    _unavailable(
                        http.post("/v2/rpc/score", headers=auth, json='"6"'),
                        "Redis unavailable, try again later.",
                    )
            _no_errors_and_one_outage(server, "redis")
        finally:
            server.stop()
            run(drop_pg_database(PG_URL, database))


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_call_forwarded_to_a_node_without_its_database_is_unavailable():
    """Node b serves a node method that reads its database; with the database gone, node a's call
    gets UNAVAILABLE with b's message (it was INTERNAL), and b counts the failure in its outage."""
    if not PG_URL:
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL")
    url = await create_pg_database(PG_URL)
    db = await open_database(url, 2)
    pubsub = EmbeddedPubSub()
    outages = Outages()
    a = Router("a", Registry(), EmbeddedTracker("a"), pubsub, Outages())
    b = Router("b", Registry(), EmbeddedTracker("b"), pubsub, outages)

    async def count(args: dict) -> int:
        return int(await db.fetchval("SELECT $1::int + 1", args["n"]))

    async def broken(args: dict) -> int:
        raise KeyError("a bug, not an outage")

    b.register("count", count)
    b.register("broken", broken)
    try:
        await pubsub.start()
        await a.start()
        await b.start()
        assert await a.call("b", "count", {"n": 1}) == 2
        with pytest.raises(ApiError) as bug:
            await a.call("b", "broken", {})
        assert bug.value.code == Code.INTERNAL  # a bug stays a server error

        await drop_pg_database(PG_URL, url)
        for _ in range(2):
            with pytest.raises(ApiError) as failed:
                await a.call("b", "count", {"n": 1})
            assert failed.value.code == Code.UNAVAILABLE, failed.value
            assert failed.value.message == "Database unavailable, try again later."
        assert outages.down() == ["database"] and outages.failures("database") == 2
    finally:
        await a.close()
        await b.close()
        await pubsub.close()
        await outages.close()
        await db.close()
        await drop_pg_database(PG_URL, url)
