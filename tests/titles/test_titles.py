"""Titles are isolated: keys, sessions and data of one title never reach another."""

from __future__ import annotations

import pytest

from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


async def test_same_device_in_two_titles_is_two_accounts_and_nothing_crosses(client, node):
    other = await node.titles.create(unique("other"))
    device = unique("device-")

    async def login(key: str) -> dict[str, str]:
        response = await client.post(
            "/v2/account/authenticate/device", json={"id": device}, headers=basic(key)
        )
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    a = await login(node.default_title.server_key)
    b = await login(other.server_key)
    assert a["created"] is True and b["created"] is True
    a_user = (await client.get("/v2/account", headers=bearer(a["token"]))).json()["user"]
    b_user = (await client.get("/v2/account", headers=bearer(b["token"]))).json()["user"]
    assert a_user["id"] != b_user["id"]

    # A's public and private objects are invisible from B's session, even named exactly.
    await client.put(
        "/v2/storage",
        json={"objects": [
            {"collection": "shared", "key": "k", "value": '{"title": "A"}', "permission_read": 2},
        ]},
        headers=bearer(a["token"]),
    )  # fmt: skip
    read = await client.post(
        "/v2/storage",
        json={"object_ids": [{"collection": "shared", "key": "k", "user_id": a_user["id"]}]},
        headers=bearer(b["token"]),
    )
    assert read.json() == {}
    listed = await client.get("/v2/storage/shared", params={"limit": 100}, headers=bearer(b["token"]))
    assert listed.json() == {}
    listed_user = await client.get(
        f"/v2/storage/shared/{a_user['id']}", params={"limit": 100}, headers=bearer(b["token"])
    )
    assert listed_user.json() == {}

    # Users of A cannot be found from B, by id or by username.
    users = await client.get(
        "/v2/user",
        params=[("ids", a_user["id"]), ("usernames", a_user["username"])],
        headers=bearer(b["token"]),
    )
    assert users.json() == {}

    # B cannot delete or overwrite A's objects (its writes land in its own space).
    await client.put(
        "/v2/storage/delete",
        json={"object_ids": [{"collection": "shared", "key": "k"}]},
        headers=bearer(b["token"]),
    )
    still = await client.post(
        "/v2/storage",
        json={"object_ids": [{"collection": "shared", "key": "k", "user_id": a_user["id"]}]},
        headers=bearer(a["token"]),
    )
    assert len(still.json()["objects"]) == 1

    # A's username can be taken in B: usernames are unique per title.
    rename = await client.put(
        "/v2/account", json={"username": a_user["username"]}, headers=bearer(b["token"])
    )
    assert rename.status_code == 200


async def test_tokens_and_refresh_tokens_do_not_cross_titles(client, node):
    other = await node.titles.create(unique("other"))
    a = (
        await client.post(
            "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic(node.default_title.server_key),
        )
    ).json()
    # A's refresh token presented with B's server key is refused.
    refresh = await client.post(
        "/v2/account/session/refresh", json={"token": a["refresh_token"]}, headers=basic(other.server_key)
    )
    assert refresh.status_code == 401
    # A token re-signed with A's secret but claiming B's title fails verification.
    import jwt

    payload = jwt.decode(a["token"], options={"verify_signature": False})
    forged = jwt.encode(
        payload, node.default_title.token_secret, algorithm="HS256", headers={"kid": other.id}
    )
    assert (await client.get("/v2/account", headers=bearer(forged))).status_code == 401


async def test_title_names_and_keys_are_validated(node):
    from overworld.errors import AlreadyExists, InvalidArgument

    with pytest.raises(InvalidArgument):
        await node.titles.create("Bad Name!")
    with pytest.raises(AlreadyExists):
        await node.titles.create(node.default_title.name)
    with pytest.raises(AlreadyExists):
        await node.titles.create(unique("dup"), server_key=node.default_title.server_key)
    with pytest.raises(InvalidArgument):
        await node.titles.create(unique("short"), server_key="tiny")
