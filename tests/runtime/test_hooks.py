"""Before hooks can change or reject a call; after hooks see the response."""

from __future__ import annotations

import pytest

from overworld.errors import PermissionDenied
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


async def test_before_hook_rejects_a_banned_device(client, node, server_key):
    async def reject(ctx, request):
        if request.account.id.startswith("banned-"):
            raise PermissionDenied("This device is banned.")
        return request

    node.hooks.before("AuthenticateDevice", reject)
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("banned-")}, headers=basic(server_key)
    )
    assert response.status_code == 403 and response.json()["message"] == "This device is banned."
    ok = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(server_key)
    )
    assert ok.status_code == 200


async def test_before_hook_changes_the_request_and_after_hook_sees_the_result(client, node, server_key):
    seen = []

    async def rename(ctx, request):
        request.username = "renamed-" + request.account.id[-6:]
        return request

    async def audit(ctx, request, response):
        seen.append((ctx.title.id, request.username, response.created))

    node.hooks.before("AuthenticateDevice", rename)
    node.hooks.after("AuthenticateDevice", audit)
    device = unique("device-")
    session = (
        await client.post("/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key))
    ).json()
    account = (await client.get("/v2/account", headers=bearer(session["token"]))).json()
    assert account["user"]["username"] == "renamed-" + device[-6:]
    assert seen == [(node.default_title.id, "renamed-" + device[-6:], True)]


async def test_a_title_hook_runs_for_that_title_only(client, node, server_key):
    other = await node.titles.create(unique("other"))
    calls = []

    async def count(ctx, request):
        calls.append(ctx.title.name)
        return request

    node.hooks.before("AuthenticateDevice", count, title_id=other.id)
    for key in (server_key, other.server_key):
        response = await client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(key)
        )
        assert response.status_code == 200
    assert calls == [other.name]
