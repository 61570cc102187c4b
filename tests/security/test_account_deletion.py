"""Issue 15, defect 3: an account deleted while its requests are in flight leaves nothing behind,
and a write arriving after the deletion fails, even on a node that still honours the token."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import bearer

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
