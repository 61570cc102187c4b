"""Account profile, users lookup, linking and unlinking, deletion."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


async def test_get_account_shape(client, api: Api):
    device = unique("device-")
    session = await api.device(device, username=unique("u"))
    response = await client.get("/v2/account", headers=bearer(session["token"]))
    assert response.status_code == 200
    body = response.json()
    assert body["devices"] == [{"id": device}]
    assert body["wallet"] == "{}"
    user = body["user"]
    assert set(user) >= {"id", "username", "lang_tag", "metadata", "create_time", "update_time"}
    assert user["create_time"].endswith("Z") and "T" in user["create_time"]
    assert "email" not in body and "custom_id" not in body and "online" not in user


async def test_update_account_and_read_back(client, api: Api):
    session = await api.device()
    headers = bearer(session["token"])
    update = {
        "display_name": "Ada",
        "avatar_url": "https://example.com/a.png",
        "lang_tag": "pt-BR",
        "location": "Lisbon",
        "timezone": "Europe/Lisbon",
        "username": unique("ada"),
    }
    response = await client.put("/v2/account", json=update, headers=headers)
    assert response.status_code == 200 and response.json() == {}
    user = (await client.get("/v2/account", headers=headers)).json()["user"]
    assert {k: user[k] for k in update} == update
    # Fields left out stay; an empty string clears.
    await client.put("/v2/account", json={"location": ""}, headers=headers)
    user = (await client.get("/v2/account", headers=headers)).json()["user"]
    assert "location" not in user and user["display_name"] == "Ada"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "has\ttab"),
        ("username", "x" * 129),
        ("display_name", "x" * 256),
        ("avatar_url", "x" * 513),
        ("lang_tag", "not a tag!"),
        ("timezone", "x" * 256),
    ],
)
async def test_update_account_rejects_bad_fields_and_changes_nothing(client, api: Api, field, value):
    session = await api.device()
    headers = bearer(session["token"])
    before = (await client.get("/v2/account", headers=headers)).json()
    response = await client.put(
        "/v2/account", json={"display_name": "Changed", field: value}, headers=headers
    )
    assert response.status_code == 400 and response.json()["code"] == 3
    assert (await client.get("/v2/account", headers=headers)).json() == before


@pytest.mark.parametrize("avatar", ["avatar_07", "ftp://example.com/a.png", "x" * 512])
async def test_avatar_url_takes_any_text_up_to_nakamas_limit(client, api: Api, avatar):
    # Nakama stores what it is given (games often name a built-in avatar rather than a URL).
    headers = bearer((await api.device())["token"])
    response = await client.put("/v2/account", json={"avatar_url": avatar}, headers=headers)
    assert response.status_code == 200, response.text
    assert (await client.get("/v2/account", headers=headers)).json()["user"]["avatar_url"] == avatar


async def test_username_must_stay_unique(client, api: Api):
    taken = unique("taken")
    await api.device(username=taken)
    session = await api.device()
    response = await client.put("/v2/account", json={"username": taken}, headers=bearer(session["token"]))
    # Nakama answers INVALID_ARGUMENT for a taken username on update (ALREADY_EXISTS at sign-up).
    assert response.status_code == 400 and response.json()["message"] == "Username is already in use."


async def test_get_users_by_id_and_username(client, api: Api):
    a = await api.device(username=unique("a"))
    b_name = unique("b")
    await api.device(username=b_name)
    me = await api.device()
    account_a = (await client.get("/v2/account", headers=bearer(a["token"]))).json()["user"]
    response = await client.get(
        "/v2/user",
        params=[("ids", account_a["id"]), ("usernames", b_name), ("usernames", "nobody-here")],
        headers=bearer(me["token"]),
    )
    assert response.status_code == 200
    users = response.json()["users"]
    assert {u["username"] for u in users} == {account_a["username"], b_name}
    assert all("email" not in u for u in users)
    bad = await client.get("/v2/user", params={"ids": "not-a-uuid"}, headers=bearer(me["token"]))
    assert bad.status_code == 400
    empty = await client.get("/v2/user", headers=bearer(me["token"]))
    assert empty.status_code == 200 and empty.json() == {}


async def test_link_and_unlink_identifiers(client, api: Api, server_key):
    session = await api.device()
    headers = bearer(session["token"])
    second_device = unique("device-")
    custom = unique("custom-")
    email = f"{unique('e')}@example.com"
    assert (
        await client.post("/v2/account/link/device", json={"id": second_device}, headers=headers)
    ).status_code == 200
    assert (
        await client.post("/v2/account/link/custom", json={"id": custom}, headers=headers)
    ).status_code == 200
    linked = await client.post(
        "/v2/account/link/email", json={"email": email, "password": "long enough"}, headers=headers
    )
    assert linked.status_code == 200
    account = (await client.get("/v2/account", headers=headers)).json()
    assert len(account["devices"]) == 2 and account["custom_id"] == custom and account["email"] == email
    # Each linked identifier now logs into the same account.
    via_email = await client.post(
        "/v2/account/authenticate/email",
        json={"email": email, "password": "long enough"},
        params={"create": "false"},
        headers=basic(server_key),
    )
    assert via_email.status_code == 200 and "created" not in via_email.json()
    for path, body in (
        ("device", {"id": second_device}),
        ("custom", {"id": custom}),
        ("email", {"email": email}),
    ):
        response = await client.post(f"/v2/account/unlink/{path}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    account = (await client.get("/v2/account", headers=headers)).json()
    assert len(account["devices"]) == 1 and "custom_id" not in account and "email" not in account


async def test_cannot_unlink_the_last_identifier(client, api: Api):
    device = unique("device-")
    session = await api.device(device)
    response = await client.post(
        "/v2/account/unlink/device", json={"id": device}, headers=bearer(session["token"])
    )
    assert response.status_code == 403
    assert response.json()["code"] == 7  # PERMISSION_DENIED, as Nakama answers
    assert (await client.get("/v2/account", headers=bearer(session["token"]))).json()["devices"] == [
        {"id": device}
    ]


async def test_concurrent_unlinks_never_leave_zero_identifiers(client, api: Api):
    first = unique("device-")
    session = await api.device(first)
    headers = bearer(session["token"])
    second = unique("device-")
    await client.post("/v2/account/link/device", json={"id": second}, headers=headers)
    results = await asyncio.gather(
        client.post("/v2/account/unlink/device", json={"id": first}, headers=headers),
        client.post("/v2/account/unlink/device", json={"id": second}, headers=headers),
    )
    assert sorted(r.status_code for r in results) == [200, 403]
    assert len((await client.get("/v2/account", headers=headers)).json()["devices"]) == 1


async def test_link_identifier_owned_by_someone_else_is_already_exists(client, api: Api):
    other_device = unique("device-")
    await api.device(other_device)
    session = await api.device()
    response = await client.post(
        "/v2/account/link/device", json={"id": other_device}, headers=bearer(session["token"])
    )
    assert response.status_code == 409 and response.json()["code"] == 6


async def test_delete_account_removes_data_and_ends_sessions(client, api: Api, server_key):
    device = unique("device-")
    session = await api.device(device)
    headers = bearer(session["token"])
    await client.put(
        "/v2/storage", json={"objects": [{"collection": "c", "key": "k", "value": "{}"}]}, headers=headers
    )
    assert (await client.delete("/v2/account", headers=headers)).status_code == 200
    assert (await client.get("/v2/account", headers=headers)).status_code == 401
    refresh = await client.post(
        "/v2/account/session/refresh", json={"token": session["refresh_token"]}, headers=basic(server_key)
    )
    assert refresh.status_code == 401
    # The device is free again: logging in with it makes a new, empty account.
    again = await client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key)
    )
    assert again.json()["created"] is True
    listing = await client.get("/v2/storage/c", params={"limit": 10}, headers=bearer(again.json()["token"]))
    assert listing.json() == {}


async def test_banned_account_cannot_log_in(client, api: Api, node, server_key):
    device = unique("device-")
    session = await api.device(device)
    user_id = (await client.get("/v2/account", headers=bearer(session["token"]))).json()["user"]["id"]
    await node.db.execute(
        "UPDATE users SET disable_time = $3 WHERE title_id = $1 AND id = $2",
        node.default_title.id,
        user_id,
        1,
    )
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key)
    )
    assert response.status_code == 403 and response.json()["message"] == "User account banned."
