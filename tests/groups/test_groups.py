"""Groups over REST with Nakama's role rules; listing with cursors; limits under concurrency; titles."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from overworld.groups.models import (
    CHANNEL_GROUP_ADD,
    CHANNEL_GROUP_BAN,
    CHANNEL_GROUP_JOIN,
    CHANNEL_GROUP_KICK,
    CHANNEL_GROUP_LEAVE,
    GroupDeleted,
    GroupJoinRequest,
    GroupMembershipChanged,
    GroupUsersAdded,
)
from overworld.node import Node
from overworld.runtime import ApiError, Code, ServerApi
from tests.conftest import Api
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


@dataclass
class Player:
    id: str
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


async def player(api: Api, client: httpx.AsyncClient) -> Player:
    name = unique("u")
    session = await api.device(username=name)
    account = (await client.get("/v2/account", headers=bearer(session["token"]))).json()
    return Player(id=account["user"]["id"], username=name, token=session["token"])


async def create(client: httpx.AsyncClient, who: Player, status: int = 200, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v2/group", json={"name": unique("g"), **fields}, headers=who.auth)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(
    client: httpx.AsyncClient,
    who: Player,
    group: dict[str, Any],
    action: str,
    *users: Player,
    status: int = 200,
) -> dict[str, Any]:
    params = {"user_ids": [u.id for u in users]} if users else None
    response = await client.post(f"/v2/group/{group['id']}/{action}", params=params, headers=who.auth)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def members(
    client: httpx.AsyncClient, who: Player, group: dict[str, Any], **params: Any
) -> dict[str, int]:
    response = await client.get(f"/v2/group/{group['id']}/user", params=params, headers=who.auth)
    assert response.status_code == 200, response.text
    return {u["user"]["id"]: u["state"] for u in response.json().get("group_users", [])}


async def edge_count(node: Node, group: dict[str, Any]) -> int:
    [found] = await node.groups.get(node.default_title.id, [group["id"]])
    return found.edge_count


def error(response: httpx.Response, status: int, code: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": message, "code": code, "message": message}


async def test_create_and_read_back(client, api: Api):
    owner = await player(api, client)
    name = unique("Night Owls ")
    group = await create(client, owner, name=name, description="late players", max_count=30)
    assert (
        group["name"] == name and group["creator_id"] == owner.id and group["description"] == "late players"
    )
    # open is a wrapped bool in Nakama's API: present even when false.
    assert group["open"] is False and group["edge_count"] == 1 and group["max_count"] == 30
    assert group["lang_tag"] == "en" and group["metadata"] == "{}" and group["create_time"]
    uuid.UUID(group["id"])
    assert await members(client, owner, group) == {owner.id: 0}

    taken = await client.post("/v2/group", json={"name": name}, headers=owner.auth)
    error(taken, 409, 6, "Group name is in use.")
    error(await client.post("/v2/group", json={}, headers=owner.auth), 400, 3, "Group name must be set.")
    error(
        await client.post("/v2/group", json={"name": unique(), "max_count": -1}, headers=owner.auth),
        400, 3, "Group max count must be >= 1 when set.",
    )  # fmt: skip
    assert (await create(client, owner))["max_count"] == 100


async def test_join_open_and_closed_groups(client, node: Node, api: Api):
    owner, joiner, asker = [await player(api, client) for _ in range(3)]
    public = await create(client, owner, open=True)
    private = await create(client, owner)
    assert await act(client, joiner, public, "join") == {}
    assert await members(client, owner, public) == {owner.id: 0, joiner.id: 2}
    assert await edge_count(node, public) == 2
    await act(client, joiner, public, "join")  # again: nothing changes
    assert await edge_count(node, public) == 2

    await act(client, asker, private, "join")
    assert await members(client, owner, private) == {owner.id: 0, asker.id: 3}
    assert await edge_count(node, private) == 1
    assert await node.groups.member_state(node.default_title.id, private["id"], asker.id) == 3
    await act(client, owner, private, "add", asker)  # accept the request
    assert await members(client, owner, private) == {owner.id: 0, asker.id: 2}
    assert await edge_count(node, private) == 2

    missing = await client.post(f"/v2/group/{uuid.uuid4()}/join", headers=joiner.auth)
    error(missing, 404, 5, "Group not found.")
    error(
        await client.post("/v2/group/nope/join", headers=joiner.auth), 400, 3, "Group ID must be a valid ID."
    )


async def test_joins_never_pass_max_count(client, node: Node, api: Api):
    owner = await player(api, client)
    group = await create(client, owner, open=True, max_count=3)
    crowd = [await player(api, client) for _ in range(6)]
    responses = await asyncio.gather(
        *(client.post(f"/v2/group/{group['id']}/join", headers=p.auth) for p in crowd)
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 400, 400, 400, 400]
    assert all(r.json()["message"] == "Group is full." for r in responses if r.status_code == 400)
    assert await edge_count(node, group) == 3
    assert len(await members(client, owner, group)) == 3
    # Adding more is refused as a whole.
    late = await player(api, client)
    error(
        await client.post(f"/v2/group/{group['id']}/add", params={"user_ids": [late.id]}, headers=owner.auth),
        400, 3, "Group is full.",
    )  # fmt: skip


async def test_leave_and_the_last_superadmin(client, node: Node, api: Api):
    owner, other = await player(api, client), await player(api, client)
    group = await create(client, owner, open=True)
    error(
        await client.post(f"/v2/group/{group['id']}/leave", headers=owner.auth),
        400, 3, "Cannot leave group when you are the last superadmin.",
    )  # fmt: skip
    await act(client, other, group, "join")
    await act(client, owner, group, "promote", other)  # member -> admin
    await act(client, owner, group, "promote", other)  # admin -> superadmin
    assert await members(client, owner, group) == {owner.id: 0, other.id: 0}
    await act(client, owner, group, "leave")
    assert await members(client, other, group) == {other.id: 0}
    assert await edge_count(node, group) == 1
    await act(client, owner, group, "leave")  # not a member: nothing happens
    # Withdrawing a join request leaves the count alone.
    closed = await create(client, other)
    await act(client, owner, closed, "join")
    await act(client, owner, closed, "leave")
    assert await members(client, other, closed) == {other.id: 0} and await edge_count(node, closed) == 1


async def test_role_rules(client, node: Node, api: Api):
    boss, admin1, admin2, member1, member2, member3 = [await player(api, client) for _ in range(6)]
    group = await create(client, boss, open=True)
    for p in (admin1, admin2, member1, member2, member3):
        await act(client, p, group, "join")
    await act(client, boss, group, "promote", admin1, admin2)
    assert await members(client, boss, group) == {
        boss.id: 0, admin1.id: 1, admin2.id: 1, member1.id: 2, member2.id: 2, member3.id: 2,
    }  # fmt: skip

    # Members manage nobody.
    for action in ("add", "kick", "ban", "promote", "demote"):
        denied = await client.post(
            f"/v2/group/{group['id']}/{action}", params={"user_ids": [member2.id]}, headers=member1.auth
        )
        error(denied, 404, 5, "Group not found or permission denied.")
    # Admins may not touch admins or superadmins, and may promote members to admin only.
    await act(client, admin1, group, "kick", admin2, boss)
    await act(client, admin1, group, "ban", admin2, boss)
    await act(client, admin1, group, "promote", admin2)
    await act(client, admin1, group, "demote", boss)
    assert (await members(client, boss, group))[admin2.id] == 1
    assert (await members(client, boss, group))[boss.id] == 0
    await act(client, admin1, group, "promote", member1)
    assert (await members(client, boss, group))[member1.id] == 1
    await act(client, admin1, group, "demote", member1)  # admins demote admins
    assert (await members(client, boss, group))[member1.id] == 2
    await act(client, admin1, group, "demote", member1)  # never below member
    assert (await members(client, boss, group))[member1.id] == 2
    await act(client, admin1, group, "kick", member1)
    assert member1.id not in await members(client, boss, group)
    # Nobody acts on themself.
    await act(client, admin1, group, "promote", admin1)
    assert (await members(client, boss, group))[admin1.id] == 1

    # The superadmin kicks admins and makes superadmins, who may then demote each other.
    await act(client, boss, group, "kick", admin2)
    await act(client, boss, group, "promote", admin1)
    assert (await members(client, boss, group))[admin1.id] == 0
    await act(client, admin1, group, "demote", boss)
    assert (await members(client, boss, group))[boss.id] == 1
    # The last superadmin is never demoted, kicked or banned, even by server code.
    nk = ServerApi(node.runtime, node.default_title, "tests")
    await nk.group_users_demote(group["id"], [admin1.id])
    await nk.group_users_kick(group["id"], [admin1.id])
    await nk.group_users_ban(group["id"], [admin1.id])
    assert (await members(client, boss, group))[admin1.id] == 0
    assert await edge_count(node, group) == 4  # admin1, boss, member2, member3

    # Update: superadmins and admins; delete: superadmins only.
    update = await client.put(f"/v2/group/{group['id']}", json={"description": "x"}, headers=member2.auth)
    error(update, 404, 5, "Group not found or you're not allowed to update.")
    removal = await client.delete(f"/v2/group/{group['id']}", headers=boss.auth)  # boss is an admin now
    error(removal, 400, 3, "Group not found or you're not allowed to delete.")
    assert (
        await client.put(f"/v2/group/{group['id']}", json={"open": False}, headers=boss.auth)
    ).status_code == 200
    assert (await client.delete(f"/v2/group/{group['id']}", headers=admin1.auth)).status_code == 200
    assert await members(client, admin1, group) == {}
    assert await node.groups.member_state(node.default_title.id, group["id"], member2.id) is None
    listed = await client.get(f"/v2/user/{member2.id}/group", headers=member2.auth)
    assert listed.json() == {}


async def test_bans(client, node: Node, api: Api):
    owner, troll, requester = [await player(api, client) for _ in range(3)]
    group = await create(client, owner, open=True)
    await act(client, troll, group, "join")
    await act(client, owner, group, "ban", troll, requester)  # requester has no state: not banned
    assert await members(client, owner, group) == {owner.id: 0}
    assert await members(client, owner, group, state=4) == {troll.id: 4}
    assert await edge_count(node, group) == 1
    # A banned user cannot come back by joining, nor be added; its groups list leaves it out.
    await act(client, troll, group, "join")
    await act(client, owner, group, "add", troll)
    assert await members(client, owner, group, state=4) == {troll.id: 4}
    assert (await client.get(f"/v2/user/{troll.id}/group", headers=troll.auth)).json() == {}
    assert (
        await client.get(f"/v2/user/{troll.id}/group", params={"state": 4}, headers=troll.auth)
    ).json() == {}
    await act(client, troll, group, "leave")  # nothing happens
    assert await members(client, owner, group, state=4) == {troll.id: 4}
    # Kicking lifts the ban.
    await act(client, owner, group, "kick", troll)
    await act(client, troll, group, "join")
    assert (await members(client, owner, group))[troll.id] == 2
    # Banning a join request declines it without touching the count.
    closed = await create(client, owner)
    await act(client, requester, closed, "join")
    await act(client, owner, closed, "ban", requester)
    assert await members(client, owner, closed, state=4) == {requester.id: 4}
    assert await edge_count(node, closed) == 1


async def test_add_users_is_all_or_nothing(client, node: Node, api: Api):
    owner, a, b = [await player(api, client) for _ in range(3)]
    group = await create(client, owner)
    response = await client.post(
        f"/v2/group/{group['id']}/add",
        params={"user_ids": [a.id, str(uuid.uuid4()), b.id]},
        headers=owner.auth,
    )
    error(response, 400, 3, "One or more users not found.")
    assert await members(client, owner, group) == {owner.id: 0}
    invalid = await client.post(
        f"/v2/group/{group['id']}/add", params={"user_ids": ["x"]}, headers=owner.auth
    )
    error(invalid, 400, 3, "User ID must be a valid ID.")
    await act(client, owner, group, "add", a, b, owner)
    assert await members(client, owner, group) == {owner.id: 0, a.id: 2, b.id: 2}
    assert await edge_count(node, group) == 3
    demote = await client.post(f"/v2/group/{group['id']}/demote", headers=owner.auth)
    error(demote, 400, 3, "User IDs must be set.")


async def test_update(client, api: Api):
    owner = await player(api, client)
    group = await create(client, owner, description="old", avatar_url="https://example.com/a.png")
    other = await create(client, owner)
    path = f"/v2/group/{group['id']}"
    new_name = unique("renamed ")
    response = await client.put(
        path, json={"name": new_name, "description": "", "lang_tag": "fr", "open": True}, headers=owner.auth
    )
    assert response.status_code == 200 and response.json() == {}
    listing = await client.get(f"/v2/user/{owner.id}/group", headers=owner.auth)
    [updated] = [g["group"] for g in listing.json()["user_groups"] if g["group"]["id"] == group["id"]]
    assert updated["name"] == new_name and updated["lang_tag"] == "fr" and updated["open"] is True
    assert "description" not in updated and updated["avatar_url"] == "https://example.com/a.png"

    error(
        await client.put(path, json={"name": other["name"]}, headers=owner.auth),
        400,
        3,
        "Group name is in use.",
    )
    error(
        await client.put(path, json={}, headers=owner.auth), 400, 3, "Specify at least one field to update."
    )
    error(
        await client.put(path, json={"name": ""}, headers=owner.auth), 400, 3, "Group name cannot be empty."
    )
    error(
        await client.put(path, json={"lang_tag": ""}, headers=owner.auth),
        400,
        3,
        "Group language cannot be empty.",
    )


async def test_listing_groups(client, api: Api):
    owner = await player(api, client)
    prefix = unique("Zeta")
    big = await create(client, owner, name=f"{prefix} Big", open=True, lang_tag="de")
    small = await create(client, owner, name=f"{prefix} small", lang_tag="de")
    await create(client, owner, name=f"other {prefix}")
    for _ in range(2):
        await act(client, await player(api, client), big, "join")

    async def names(**params: Any) -> tuple[list[str], str]:
        response = await client.get("/v2/group", params=params, headers=owner.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        return [g["name"] for g in body.get("groups", [])], body.get("cursor", "")

    # Name: a trailing % matches a prefix, case-insensitively; default limit is 1.
    first, cursor = await names(name=f"{prefix.lower()}%")
    assert first == [f"{prefix} Big"] and cursor
    second, cursor = await names(name=f"{prefix.lower()}%", cursor=cursor)
    assert second == [f"{prefix} small"] and cursor == ""
    assert (await names(name=f"%{prefix} small", limit=10))[0] == [f"{prefix} small"]  # leading % ignored
    assert (await names(name=f"{prefix} Big", limit=10))[0] == [f"{prefix} Big"]

    # Filters: language, open, at most `members` members; biggest first.
    assert (await names(lang_tag="de", limit=100))[0][:2] == [f"{prefix} Big", f"{prefix} small"]
    assert f"{prefix} small" not in (await names(lang_tag="de", open=True, limit=100))[0]
    assert f"{prefix} Big" not in (await names(lang_tag="de", members=2, limit=100))[0]
    assert f"{prefix} small" in (await names(lang_tag="de", open=False, members=1, limit=100))[0]
    # Paging a filtered listing visits each group once.
    seen: list[str] = []
    cursor = ""
    while True:
        page, cursor = await names(lang_tag="de", limit=1, **({"cursor": cursor} if cursor else {}))
        seen.extend(page)
        if not cursor:
            break
    assert seen.count(f"{prefix} Big") == 1 and seen.count(f"{prefix} small") == 1
    assert small["id"] != big["id"]

    combined = await client.get("/v2/group", params={"name": "x%", "open": "true"}, headers=owner.auth)
    error(combined, 400, 3, "name filter cannot be combined with any other filter")
    error(await client.get("/v2/group", params={"limit": 101}, headers=owner.auth), 400, 3,
          "Invalid limit - limit must be between 1 and 100.")  # fmt: skip
    error(await client.get("/v2/group", params={"cursor": "junk"}, headers=owner.auth), 400, 3,
          "Malformed cursor was used.")  # fmt: skip


async def test_member_and_user_group_listings_page(client, api: Api):
    owner = await player(api, client)
    group = await create(client, owner, open=True)
    joined = [await player(api, client) for _ in range(4)]
    for p in joined:
        await act(client, p, group, "join")
    await act(client, owner, group, "promote", joined[3])
    seen: list[tuple[str, int]] = []
    cursor = ""
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/v2/group/{group['id']}/user", params=params, headers=joined[0].auth)
        body = response.json()
        seen.extend((u["user"]["id"], u["state"]) for u in body["group_users"])
        cursor = body.get("cursor", "")
        if not cursor:
            break
    assert seen == [(owner.id, 0), (joined[3].id, 1), *[(p.id, 2) for p in joined[:3]]]
    bad = await client.get(f"/v2/group/{group['id']}/user", params={"state": 5}, headers=owner.auth)
    error(bad, 400, 3, "Invalid state - state must be between 0 and 4.")

    more = [await create(client, owner) for _ in range(2)]
    page = (await client.get(f"/v2/user/{owner.id}/group", params={"limit": 2}, headers=owner.auth)).json()
    rest = (
        await client.get(
            f"/v2/user/{owner.id}/group", params={"limit": 2, "cursor": page["cursor"]}, headers=owner.auth
        )
    ).json()
    ids = [g["group"]["id"] for g in page["user_groups"] + rest["user_groups"]]
    assert ids == [group["id"], *[g["id"] for g in more]] and "cursor" not in rest
    assert all(g["state"] == 0 for g in page["user_groups"])
    error(await client.get("/v2/user/nope/group", headers=owner.auth), 400, 3, "User ID must be a valid ID.")


async def test_listeners(client, node: Node, api: Api):
    heard: list[object] = []
    node.groups.on_join_request(heard.append)
    node.groups.on_users_added(heard.append)
    node.groups.on_membership_changed(heard.append)
    node.groups.on_group_deleted(heard.append)
    title = node.default_title.id
    owner, admin, asker = [await player(api, client) for _ in range(3)]
    group = await create(client, owner)
    await act(client, owner, group, "add", admin)
    await act(client, owner, group, "promote", admin)
    heard.clear()
    await act(client, asker, group, "join")
    await act(client, admin, group, "add", asker)
    await act(client, owner, group, "kick", asker)
    await client.put(f"/v2/group/{group['id']}", json={"open": True}, headers=owner.auth)
    await act(client, asker, group, "join")
    await act(client, owner, group, "ban", asker)
    await act(client, admin, group, "leave")
    await client.delete(f"/v2/group/{group['id']}", headers=owner.auth)
    gid = group["id"]
    assert heard == [
        GroupJoinRequest(title, gid, group["name"], asker.id, asker.username, (owner.id, admin.id)),
        GroupUsersAdded(title, gid, group["name"], admin.id, (asker.id,)),
        GroupMembershipChanged(title, gid, CHANNEL_GROUP_ADD, asker.id, asker.username),
        GroupMembershipChanged(title, gid, CHANNEL_GROUP_KICK, asker.id, asker.username),
        GroupMembershipChanged(title, gid, CHANNEL_GROUP_JOIN, asker.id, asker.username),
        GroupMembershipChanged(title, gid, CHANNEL_GROUP_BAN, asker.id, asker.username),
        GroupMembershipChanged(title, gid, CHANNEL_GROUP_LEAVE, admin.id, admin.username),
        GroupDeleted(title, gid),
    ]


async def test_deleting_an_account_leaves_its_groups(client, node: Node, api: Api):
    owner, co_owner, member = [await player(api, client) for _ in range(3)]
    alone = await create(client, owner)
    shared = await create(client, owner, open=True)
    elsewhere = await create(client, co_owner, open=True)
    await act(client, co_owner, shared, "join")
    await act(client, owner, shared, "promote", co_owner)
    await act(client, owner, shared, "promote", co_owner)
    await act(client, member, alone, "join")  # a join request in the group that goes
    await act(client, owner, elsewhere, "join")
    assert (await client.delete("/v2/account", headers=owner.auth)).status_code == 200
    # Its only-superadmin group is gone; the others lose a member.
    assert await node.groups.get(node.default_title.id, [alone["id"]]) == []
    assert await members(client, co_owner, shared) == {co_owner.id: 0}
    assert await edge_count(node, shared) == 1
    assert await members(client, co_owner, elsewhere) == {co_owner.id: 0}
    assert await edge_count(node, elsewhere) == 1
    assert (await client.get(f"/v2/user/{member.id}/group", headers=member.auth)).json() == {}


async def test_server_api_groups(client, node: Node, api: Api):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    owner, a, b = [await player(api, client) for _ in range(3)]
    group = await nk.group_create(
        owner.id, unique("srv"), open=False, metadata={"region": "eu"}, max_count=10
    )
    assert group.metadata == '{"region":"eu"}' and group.max_count == 10 and not group.open
    await nk.group_user_join(group.id, a.id)  # closed: a request
    await nk.group_users_add(group.id, [a.id, b.id])
    page = await nk.group_users_list(group.id)
    assert [(u.user.id, u.state) for u in page.group_users] == [(owner.id, 0), (a.id, 2), (b.id, 2)]
    # With a caller id, that user's rights apply.
    with pytest.raises(ApiError) as denied:
        await nk.group_users_kick(group.id, [b.id], caller_id=a.id)
    assert denied.value.code == Code.NOT_FOUND
    await nk.group_users_promote(group.id, [a.id])
    await nk.group_users_kick(group.id, [b.id], caller_id=a.id)
    await nk.group_user_leave(group.id, a.id)
    await nk.group_update(group.id, name=unique("renamed"), metadata={"region": "us"}, max_count=5)
    [fetched] = await nk.groups_get_id([group.id])
    assert fetched.metadata == '{"region":"us"}' and fetched.max_count == 5 and fetched.edge_count == 1
    assert [g.group.id for g in (await nk.user_groups_list(owner.id)).user_groups] == [group.id]
    assert (await nk.groups_list(name=fetched.name)).groups[0].id == group.id
    with pytest.raises(ApiError) as missing:
        await nk.group_update(str(uuid.uuid4()), open=True)
    assert missing.value.code == Code.NOT_FOUND
    await nk.group_delete(group.id)
    assert await nk.groups_get_id([group.id]) == []


async def test_titles_are_isolated(client, node: Node, api: Api):
    owner, friend = await player(api, client), await player(api, client)
    group = await create(client, owner, open=True, name=unique("Shared name "))
    await client.post("/v2/friend", params={"ids": [friend.id]}, headers=owner.auth)

    other = await node.titles.create(unique("other"))
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(other.server_key)
    )
    outsider = bearer(response.json()["token"])
    # A's groups, members and friends cannot be seen, joined or reached from B.
    assert (await client.get("/v2/group", params={"name": group["name"]}, headers=outsider)).json() == {}
    assert (await client.get("/v2/group", params={"limit": 100}, headers=outsider)).json() == {}
    assert (await client.get(f"/v2/group/{group['id']}/user", headers=outsider)).json() == {}
    assert (await client.get(f"/v2/user/{owner.id}/group", headers=outsider)).json() == {}
    error(await client.post(f"/v2/group/{group['id']}/join", headers=outsider), 404, 5, "Group not found.")
    # The same name is free in B; A's users are unknown there.
    same = await client.post("/v2/group", json={"name": group["name"]}, headers=outsider)
    assert same.status_code == 200 and same.json()["id"] != group["id"]
    assert (await client.post("/v2/friend", params={"ids": [owner.id]}, headers=outsider)).status_code == 200
    assert (await client.get("/v2/friend", headers=outsider)).json() == {}
    assert (await client.get("/v2/friend/friends", headers=outsider)).json() == {}
    add = await client.post(
        f"/v2/group/{same.json()['id']}/add", params={"user_ids": [owner.id]}, headers=outsider
    )
    error(add, 400, 3, "One or more users not found.")
    # A is untouched.
    assert await members(client, owner, group) == {owner.id: 0}
    assert {
        f["user"]["id"] for f in (await client.get("/v2/friend", headers=owner.auth)).json()["friends"]
    } == {friend.id}
