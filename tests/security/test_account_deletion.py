"""Issue 15, defect 3: an account deleted while its requests are in flight leaves nothing behind,
and a write arriving after the deletion fails, even on a node that still honours the token."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import bearer, redis_prefix

pytestmark = pytest.mark.anyio


async def leftovers(node, user_id: str) -> int:
    rows = await node.db.fetch(
        "SELECT count(*) FROM storage_objects WHERE title_id = $1 AND user_id = $2",
        node.default_title.id,
        user_id,
    )
    return int(rows[0][0])


async def test_storage_writes_racing_a_deletion_leave_nothing(client, api, node):
    left = 0
    for trial in range(10):
        session = await api.device()
        h = bearer(session["token"])
        user_id = (await client.get("/v2/account", headers=h)).json()["user"]["id"]

        async def write(i: int, h: dict[str, str] = h) -> int:
            await asyncio.sleep(0.001 * (i % 5))
            body = {
                "objects": [{"collection": "c", "key": f"k{i}", "value": '{"n": 1}', "permission_read": 2}]
            }
            return (await client.put("/v2/storage", json=body, headers=h)).status_code

        async def delete(h: dict[str, str] = h, trial: int = trial) -> int:
            await asyncio.sleep(0.001 * (trial % 4))
            return (await client.delete("/v2/account", headers=h)).status_code

        results = await asyncio.gather(delete(), *(write(i) for i in range(30)))
        assert results[0] == 200
        assert set(results[1:]) <= {200, 401, 404}, results
        left += await leftovers(node, user_id)
    assert left == 0


async def test_a_write_for_a_deleted_user_fails_even_with_a_live_session(client, api, node):
    """The write's own transaction sees the user is gone: what a node whose revocation list has
    not heard of the deletion (a Redis outage) relies on."""
    session = await api.device()
    h = bearer(session["token"])
    user_id = (await client.get("/v2/account", headers=h)).json()["user"]["id"]
    await node.db.execute("DELETE FROM users WHERE title_id = $1 AND id = $2", node.default_title.id, user_id)
    body = {"objects": [{"collection": "c", "key": "k", "value": "{}"}]}
    response = await client.put("/v2/storage", json=body, headers=h)
    assert response.status_code == 404, response.text
    assert await leftovers(node, user_id) == 0


@pytest.mark.cluster
def test_two_nodes_deletion_on_one_writes_on_the_other(tmp_path):
    """Node A deletes while node B takes the user's writes: nothing is left. Then with B cut off
    from Redis (it cannot hear of the deletion, so it still honours the token) B's writes fail."""
    import asyncpg
    import httpx

    from tests.security.proxy import CuttableProxy
    from tests.security.test_outages import _port_of, _through
    from tests.support import (
        PG_URL,
        REDIS_URL,
        ServerProcess,
        basic,
        create_pg_database,
        drop_pg_database,
        run,
        unique,
    )

    if not (PG_URL and REDIS_URL):
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    database = run(create_pg_database(PG_URL))
    proxy = CuttableProxy(_port_of(REDIS_URL, 6379)).start()
    env = {
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_DATABASE_URL": database,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owdel"),
    }
    a = ServerProcess(env, tmp_path)
    b = ServerProcess({**env, "OVERWORLD_REDIS_URL": _through(REDIS_URL, proxy.port)}, tmp_path)

    async def count(user_id: str) -> int:
        conn = await asyncpg.connect(database)
        try:
            return int(
                await conn.fetchval("SELECT count(*) FROM storage_objects WHERE user_id = $1", user_id)
            )
        finally:
            await conn.close()

    def sign_up(http: httpx.Client) -> tuple[dict[str, str], str]:
        token = http.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("defaultkey")
        ).json()["token"]
        h = bearer(token)
        return h, http.get("/v2/account", headers=h).json()["user"]["id"]

    async def race(h: dict[str, str]) -> list[int]:
        async with (
            httpx.AsyncClient(base_url=a.url) as on_a,
            httpx.AsyncClient(base_url=b.url, limits=httpx.Limits(max_connections=30)) as on_b,
        ):

            async def write(i: int) -> int:
                await asyncio.sleep(0.002 * (i % 10))
                body = {"objects": [{"collection": "c", "key": f"k{i}", "value": "{}", "permission_read": 2}]}
                return (await on_b.put("/v2/storage", json=body, headers=h)).status_code

            async def delete() -> int:
                await asyncio.sleep(0.01)
                return (await on_a.delete("/v2/account", headers=h)).status_code

            return await asyncio.gather(delete(), *(write(i) for i in range(30)))

    try:
        a.start()
        b.start()
        with httpx.Client(base_url=a.url) as on_a, httpx.Client(base_url=b.url) as on_b:
            for _ in range(5):
                h, user_id = sign_up(on_a)
                results = run(race(h))
                assert results[0] == 200, results
                assert run(count(user_id)) == 0, results
            h, user_id = sign_up(on_a)
            put = {"objects": [{"collection": "c", "key": "k", "value": "{}"}]}
            assert on_b.put("/v2/storage", json=put, headers=h).status_code == 200
            proxy.cut()
            assert on_a.delete("/v2/account", headers=h).status_code == 200
            late = on_b.put("/v2/storage", json=put, headers=h)
            assert late.status_code in (401, 404), late.text
            assert run(count(user_id)) == 0
    finally:
        a.stop()
        b.stop()
        proxy.stop()
        run(drop_pg_database(PG_URL, database))


async def test_group_joins_racing_a_deletion_leave_no_membership(client, api, node):
    owner = await api.device()
    left = 0
    for trial in range(5):
        groups = []
        for i in range(10):
            created = await client.post(
                "/v2/group", json={"name": f"open-{trial}-{i}-{owner['token'][-8:]}", "open": True},
                headers=bearer(owner["token"]),
            )  # fmt: skip
            assert created.status_code == 200, created.text
            groups.append(created.json()["id"])
        session = await api.device()
        h = bearer(session["token"])
        user_id = (await client.get("/v2/account", headers=h)).json()["user"]["id"]

        async def join(group_id: str, h: dict[str, str] = h) -> int:
            return (await client.post(f"/v2/group/{group_id}/join", headers=h)).status_code

        async def delete(h: dict[str, str] = h) -> int:
            await asyncio.sleep(0.002)
            return (await client.delete("/v2/account", headers=h)).status_code

        results = await asyncio.gather(delete(), *(join(g) for g in groups))
        assert results[0] == 200
        rows = await node.db.fetch(
            "SELECT count(*) FROM group_edges WHERE title_id = $1 AND user_id = $2",
            node.default_title.id,
            user_id,
        )
        left += int(rows[0][0])
    assert left == 0
