"""Erasure end to end on every deployment (one server on SQLite, one on PostgreSQL, two nodes
behind a round-robin balancer sharing PostgreSQL and Redis): the player's sockets are closed on
whichever node holds them, every node refuses its token and forgets its cached account, and on the
cluster no Redis key or rank index names the player any more. Also the CLI's export and erase."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy_with_code
from tests.support import REDIS_URL, basic, bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"privacy-{request.param}")
    with deploy_with_code(request.param, workdir, "privacy.py") as running:
        yield running


async def rpc(http: httpx.AsyncClient, deployment: Deployment, name: str, body: Any) -> httpx.Response:
    return await http.post(
        f"/v2/rpc/{name}", params={"http_key": deployment.http_key, "unwrap": ""}, content=json.dumps(body)
    )


async def redis_keys_naming(deployment: Deployment, *values: str) -> list[str]:
    """Every key of the deployment's Redis prefix whose name or content names one of `values`."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    prefix = deployment.env["OVERWORLD_REDIS_PREFIX"]
    found = []
    try:
        async for raw in client.scan_iter(match=f"{prefix}:*", count=1000):
            key = raw.decode()
            kind = (await client.type(raw)).decode()
            if kind == "string":
                content = [await client.get(raw) or b""]
            elif kind == "hash":
                content = [k + b"=" + v for k, v in (await client.hgetall(raw)).items()]
            elif kind == "zset":
                content = await client.zrange(raw, 0, -1)
            elif kind == "set":
                content = list(await client.smembers(raw))
            elif kind == "list":
                content = await client.lrange(raw, 0, -1)
            else:  # streams (pub/sub-like logs) carry no player's data here
                content = []
            text = key + " " + b" ".join(content).decode(errors="replace")
            if any(v in text for v in values):
                found.append(key)
    finally:
        await client.aclose()
    return found


async def test_erasure_reaches_every_node_and_redis(deployment: Deployment) -> None:
    board = unique("board-")
    email = f"{unique()}@example.com"
    async with httpx.AsyncClient(base_url=deployment.url, timeout=10) as http:
        session = (
            await http.post("/v2/account/authenticate/device", json={"id": unique("device-")},
                            headers=basic(deployment.server_key))
        ).json()  # fmt: skip
        h = bearer(session["token"])
        user_id = (await http.get("/v2/account", headers=h)).json()["user"]["id"]
        assert (await http.post("/v2/account/link/email", json={"email": email, "password": "pw-secret-1"},
                                headers=h)).status_code == 200  # fmt: skip
        assert (
            await rpc(http, deployment, "privacy_score", {"board": board, "user_id": user_id, "score": 9})
        ).is_success
        # A failed password guess leaves a lockout counter naming the email.
        await http.post("/v2/account/authenticate/email", json={"email": email, "password": "wrong-password"},
                        headers=basic(deployment.server_key))  # fmt: skip
    async with httpx.AsyncClient(base_url=deployment.url, timeout=10) as http:
        other = (
            await http.post("/v2/account/authenticate/device", json={"id": unique("device-")},
                            headers=basic(deployment.server_key))
        ).json()  # fmt: skip
    # Each node caches the account and holds a socket of the player (a new connection per node).
    sockets = []
    for node in deployment.nodes:
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
            assert (await http.get("/v2/account", headers=h)).status_code == 200
        ws = await connect(f"ws://127.0.0.1:{node.port}/ws?token={session['token']}", compression=None)
        await ws.send('{"cid": "1", "ping": {}}')  # answered once the node has registered the socket
        async with asyncio.timeout(10):
            await ws.recv()
        sockets.append(ws)
    if deployment.kind == "cluster":
        assert await redis_keys_naming(deployment, user_id, email)  # the rank index, the counters...
    async with httpx.AsyncClient(base_url=deployment.url, timeout=10) as http:
        response = await rpc(http, deployment, "privacy_erase", {"user_id": user_id})
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["removed"]["leaderboards"] == {"leaderboard_records": 1}
        assert report["sockets_closed"] >= 1  # the presences the erasing node knew of
    if deployment.kind == "cluster":  # per-address lockout keys expire by themselves (documented)
        left = await redis_keys_naming(deployment, user_id, email)
        # Per-address lockout keys and the rate limiter's buckets expire by themselves (documented).
        expiring = (":lock:pair:", ":lock:known:", ":lock:wait:", ":rl:")
        assert [k for k in left if not any(p in k for p in expiring)] == [], left
    for ws in sockets:  # closed by the node that holds it
        async with asyncio.timeout(10):
            with pytest.raises(Exception):  # noqa: B017 - ConnectionClosed, whichever kind
                while True:
                    await ws.recv()
    await asyncio.sleep(1.5)  # the failed guess's growing delay (1 s) at that email from this address
    for node in deployment.nodes:
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
            assert (await http.get("/v2/account", headers=h)).status_code == 401
            listing = (await http.get(f"/v2/leaderboard/{board}", headers=bearer(other["token"]))).json()
            assert listing.get("records", []) == [], listing  # the player's was the only record
            refused = await http.post("/v2/account/authenticate/email", json={"email": email, "password": "pw-x-123",
                                      "create": True}, headers=basic(deployment.server_key))  # fmt: skip
            assert refused.status_code == 403, refused.text


def test_the_cli_exports_and_erases(deployment: Deployment, tmp_path) -> None:
    if deployment.kind == "cluster":
        pytest.skip("the CLI is tested against one server's database")
    with httpx.Client(base_url=deployment.url, timeout=10) as http:
        session = http.post(
            "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic(deployment.server_key),
        ).json()
        user_id = http.get("/v2/account", headers=bearer(session["token"])).json()["user"]["id"]
    env = {k: v for k, v in deployment.nodes[0].env.items() if k != "OVERWORLD_PORT"}
    out = tmp_path / "export.zip"
    done = subprocess.run(
        [sys.executable, "-m", "overworld", "account", "export", "--title", "default", user_id, "-o", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["user_id"] == user_id
    refused = subprocess.run(
        [sys.executable, "-m", "overworld", "account", "erase", "--title", "default", user_id],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 1 and "--yes" in refused.stderr
    done = subprocess.run(
        [sys.executable, "-m", "overworld", "account", "erase", "--title", "default", user_id, "--yes"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"]["account"]["users"] == 1
    missing = subprocess.run(
        [sys.executable, "-m", "overworld", "account", "export", "--title", "nope", user_id],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 1 and "no title named 'nope'" in missing.stderr
    again = subprocess.run(
        [sys.executable, "-m", "overworld", "account", "export", "--title", "default", user_id],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 1 and "User account not found." in again.stderr


async def test_server_code_export_over_rpc(deployment: Deployment) -> None:
    async with httpx.AsyncClient(base_url=deployment.url, timeout=10) as http:
        session = (
            await http.post("/v2/account/authenticate/device", json={"id": unique("device-")},
                            headers=basic(deployment.server_key))
        ).json()  # fmt: skip
        user_id = (await http.get("/v2/account", headers=bearer(session["token"]))).json()["user"]["id"]
        response = await rpc(http, deployment, "privacy_export", {"user_id": user_id})
        assert response.status_code == 200, response.text
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(response.json()["zip"])))
        assert json.loads(archive.read("account.json"))["user_id"] == user_id
