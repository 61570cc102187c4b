"""Issue 15, defect 4: with the database (or Redis) unreachable for a server process, requests
get Nakama's UNAVAILABLE (code 14, HTTP 503) on REST and the socket, the outage is logged once
with a count (no traceback per request), `/readyz` reports it, and service resumes after it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.security.proxy import CuttableProxy
from tests.support import (
    PG_URL,
    REDIS_URL,
    ServerProcess,
    basic,
    bearer,
    create_pg_database,
    drop_pg_database,
    redis_prefix,
    run,
    unique,
)

pytestmark = pytest.mark.postgres


def _port_of(url: str, default: int) -> int:
    rest = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    return int(rest.rsplit(":", 1)[1]) if ":" in rest else default


def _through(url: str, port: int) -> str:
    scheme, rest = url.split("://", 1)
    hostpart, _, path = rest.partition("/")
    user, _, _ = hostpart.rpartition("@")
    return f"{scheme}://{user + '@' if user else ''}127.0.0.1:{port}/{path}"


def log_lines(server: ServerProcess) -> list[dict]:
    lines = []
    for line in server.output().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def socket_send_fails_unavailable(server: ServerProcess, token: str) -> dict:
    url = server.url.replace("http", "ws") + f"/ws?token={token}"
    async with connect(url, compression=None) as ws:
        await ws.send(json.dumps({"cid": "1", "channel_join": {"target": "lobby", "type": 1}}))
        joined = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return joined


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == 14


def test_database_outage_is_unavailable_logged_once_and_heals(tmp_path: Path):
    if not PG_URL:
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL")
    database = run(create_pg_database(PG_URL))
    proxy = CuttableProxy(_port_of(PG_URL, 5432)).start()
    env = {
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_DATABASE_URL": _through(database, proxy.port),
    }
    server = ServerProcess(env, tmp_path)
    stack = contextlib.ExitStack()
    try:
        server.start()
        http = stack.enter_context(httpx.Client(base_url=server.url, timeout=20))
        session = http.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("defaultkey")
        ).json()
        h = bearer(session["token"])
        put = {"objects": [{"collection": "c", "key": "k", "value": "{}"}]}
        assert http.put("/v2/storage", json=put, headers=h).status_code == 200

        async def socket_round() -> tuple[dict, dict]:
            url = server.url.replace("http", "ws") + f"/ws?token={session['token']}"
            async with connect(url, compression=None) as ws:
                await ws.send(json.dumps({"cid": "1", "channel_join": {"target": "lobby", "type": 1}}))
                joined = json.loads(await asyncio.wait_for(ws.recv(), 5))
                while "channel" not in joined:  # presence events may come first
                    joined = json.loads(await asyncio.wait_for(ws.recv(), 5))
                channel = joined["channel"]
                proxy.cut()
                await ws.send(
                    json.dumps(
                        {
                            "cid": "2",
                            "channel_message_send": {"channel_id": channel["id"], "content": '{"hi": 1}'},
                        }
                    )
                )
                error = json.loads(await asyncio.wait_for(ws.recv(), 20))
                while error.get("cid") != "2":
                    error = json.loads(await asyncio.wait_for(ws.recv(), 20))
                await ws.send(json.dumps({"cid": "3", "ping": {}}))
                pong = json.loads(await asyncio.wait_for(ws.recv(), 5))
                return error, pong

        error, pong = asyncio.run(socket_round())
        assert error.get("cid") == "2" and error["error"]["code"] == 14, error
        assert "unavailable" in error["error"]["message"].lower()
        assert pong.get("cid") == "3"  # the socket stays open

        for _ in range(10):
            assert_unavailable(
                http.post(
                    "/v2/account/authenticate/device",
                    json={"id": unique("device-")},
                    headers=basic("defaultkey"),
                )
            )
            assert_unavailable(http.put("/v2/storage", json=put, headers=h))
            assert_unavailable(http.get("/v2/storage/c", headers=h))
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.text

        lines = log_lines(server)
        assert not [x for x in lines if x.get("level") == "error"], lines
        started = [x for x in lines if str(x.get("event", "")).startswith("database unavailable")]
        assert len(started) == 1, lines

        proxy.restore()
        deadline = time.monotonic() + 30
        while http.put("/v2/storage", json=put, headers=h).status_code != 200:
            assert time.monotonic() < deadline, "service did not resume"
            time.sleep(0.5)
        assert http.get("/readyz").status_code == 200
        deadline = time.monotonic() + 10
        while not (ended := [x for x in log_lines(server) if x.get("event") == "database available again"]):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert ended[0]["failed_requests"] >= 31
    finally:
        stack.close()
        server.stop()
        proxy.stop()
        run(drop_pg_database(PG_URL, database))


@pytest.mark.cluster
def test_redis_outage_is_unavailable_not_a_server_error(tmp_path: Path):
    if not (PG_URL and REDIS_URL):
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    database = run(create_pg_database(PG_URL))
    proxy = CuttableProxy(_port_of(REDIS_URL, 6379)).start()
    env = {
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_DATABASE_URL": database,
        "OVERWORLD_REDIS_URL": _through(REDIS_URL, proxy.port),
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owout"),
    }
    server = ServerProcess(env, tmp_path)
    stack = contextlib.ExitStack()
    try:
        server.start()
        http = stack.enter_context(httpx.Client(base_url=server.url, timeout=20))
        email = f"{unique('r')}@example.com"
        creds = {"email": email, "password": "the right one"}
        assert (
            http.post("/v2/account/authenticate/email", json=creds, headers=basic("defaultkey")).status_code
            == 200
        )
        proxy.cut()
        for _ in range(5):
            # The lockout's counters live in Redis.
            assert_unavailable(
                http.post("/v2/account/authenticate/email", json=creds, headers=basic("defaultkey"))
            )
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "redis" in ready.text
        lines = log_lines(server)
        assert not [
            x for x in lines if x.get("level") == "error" and "Traceback" in str(x.get("exception", ""))
        ], lines
        assert len([x for x in lines if str(x.get("event", "")).startswith("redis unavailable")]) == 1
        proxy.restore()
        deadline = time.monotonic() + 30
        while (
            http.post("/v2/account/authenticate/email", json=creds, headers=basic("defaultkey")).status_code
            != 200
        ):
            assert time.monotonic() < deadline, "service did not resume"
            time.sleep(0.5)
    finally:
        stack.close()
        server.stop()
        proxy.stop()
        run(drop_pg_database(PG_URL, database))
