"""Friends over REST, with Nakama's edge rules: invitations, accepting, blocking, listing, cursors."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from overworld.friends.models import FriendAccepted, FriendBlocked, FriendRequest
from overworld.node import Node
from overworld.runtime import ServerApi
from tests.conftest import Api
from tests.support import bearer, unique

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


async def add(
    client: httpx.AsyncClient, who: Player, *others: Player, by: str = "ids", status: int = 200
) -> Any:
    values = [o.id if by == "ids" else o.username for o in others]
    response = await client.post("/v2/friend", params={by: values}, headers=who.auth)
    assert response.status_code == status, response.text
    return response.json()


async def friends(client: httpx.AsyncClient, who: Player, **params: Any) -> dict[str, Any]:
    response = await client.get("/v2/friend", params=params, headers=who.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def states(listing: dict[str, Any]) -> dict[str, int]:
    return {f["user"]["id"]: f["state"] for f in listing.get("friends", [])}


async def edge_count(client: httpx.AsyncClient, who: Player) -> int:
    account = (await client.get("/v2/account", headers=who.auth)).json()
    return int(account["user"].get("edge_count", 0))


async def test_invite_then_accept_makes_friends_both_ways(client, api: Api):
    alice, bob = await player(api, client), await player(api, client)
    assert await add(client, alice, bob) == {}
    assert states(await friends(client, alice)) == {bob.id: 1}
    assert states(await friends(client, bob)) == {alice.id: 2}
    # Adding again changes nothing.
    await add(client, alice, bob)
    assert states(await friends(client, alice)) == {bob.id: 1}

    await add(client, bob, alice, by="usernames")
    listing = await friends(client, alice)
    [entry] = listing["friends"]
    # state is a wrapped int in Nakama's API: present even at 0.
    assert entry["state"] == 0 and "update_time" in entry and entry["metadata"] == "{}"
    assert entry["user"]["id"] == bob.id and entry["user"]["username"] == bob.username
    assert states(await friends(client, bob)) == {alice.id: 0}
    assert await edge_count(client, alice) == 1 and await edge_count(client, bob) == 1


async def test_rejections_and_unknown_users_as_nakama(client, api: Api):
    me, other = await player(api, client), await player(api, client)

    async def expect(method: str, path: str, params: dict[str, Any], message: str) -> None:
        response = await client.request(method, path, params=params, headers=me.auth)
        assert response.status_code == 400, response.text
        assert response.json() == {"error": message, "code": 3, "message": message}

    await expect("POST", "/v2/friend", {"ids": [me.id]}, "Cannot add self as friend.")
    await expect("POST", "/v2/friend", {"ids": [me.id.upper()]}, "Cannot add self as friend.")
    await expect("POST", "/v2/friend", {"usernames": [me.username]}, "Cannot add self as friend.")
    await expect("POST", "/v2/friend", {"ids": ["nope"]}, "Invalid user ID 'nope'.")
    await expect(
        "POST", "/v2/friend", {"ids": [str(uuid.UUID(int=0))]}, f"Invalid user ID '{uuid.UUID(int=0)}'."
    )
    await expect("POST", "/v2/friend", {"usernames": [""]}, "Username must not be empty.")
    await expect(
        "POST", "/v2/friend", {"usernames": ["nobody-" + unique()]}, "No valid ID or username was provided."
    )
    await expect("DELETE", "/v2/friend", {"ids": [me.id]}, "Cannot delete self.")
    await expect("POST", "/v2/friend/block", {"usernames": [me.username]}, "Cannot block self.")
    await expect(
        "POST",
        "/v2/friend/block",
        {"usernames": ["nobody-" + unique()]},
        "No valid ID or username was provided.",
    )
    await expect("GET", "/v2/friend", {"limit": 0}, "Invalid limit - limit must be between 1 and 1000.")
    await expect("GET", "/v2/friend", {"limit": 1001}, "Invalid limit - limit must be between 1 and 1000.")
    await expect("GET", "/v2/friend", {"state": 4}, "Invalid state - state must be between 0 and 3.")
    await expect("GET", "/v2/friend", {"cursor": "garbage"}, "Cursor is invalid.")

    # Nothing asked is fine; unknown ids are ignored; deleting strangers is fine.
    assert (await client.post("/v2/friend", headers=me.auth)).status_code == 200
    assert (
        await client.post("/v2/friend", params={"ids": [str(uuid.uuid4())]}, headers=me.auth)
    ).status_code == 200
    deleted = await client.delete(
        "/v2/friend", params={"usernames": ["nobody"], "ids": [other.id]}, headers=me.auth
    )
    assert deleted.status_code == 200 and deleted.json() == {}
    assert await friends(client, me) == {}
    # Not a session: refused.
    assert (await client.get("/v2/friend")).status_code == 401


async def test_listing_pages_with_cursors_and_state_filter(client, api: Api):
    me = await player(api, client)
    invited = [await player(api, client) for _ in range(4)]
    inviters = [await player(api, client) for _ in range(2)]
    await add(client, me, *invited)
    for p in inviters:
        await add(client, p, me)
    await add(client, me, inviters[0])  # accept one

    seen: list[tuple[str, int]] = []
    cursor = ""
    while True:
        page = await friends(client, me, limit=2, **({"cursor": cursor} if cursor else {}))
        seen.extend((f["user"]["id"], f["state"]) for f in page["friends"])
        assert len(page["friends"]) <= 2
        cursor = page.get("cursor", "")
        if not cursor:
            break
    # Every relationship exactly once, ordered by state then age.
    assert [s for _, s in seen] == [0, 1, 1, 1, 1, 2]
    assert [i for i, s in seen if s == 1] == [p.id for p in invited]
    assert {i for i, _ in seen} == {p.id for p in invited + inviters}

    first = await friends(client, me, state=1, limit=3)
    assert [f["user"]["id"] for f in first["friends"]] == [p.id for p in invited[:3]]
    rest = await friends(client, me, state=1, limit=3, cursor=first["cursor"])
    assert [f["user"]["id"] for f in rest["friends"]] == [invited[3].id] and "cursor" not in rest
    # A cursor from another state filter is refused.
    mismatch = await client.get("/v2/friend", params={"state": 2, "cursor": first["cursor"]}, headers=me.auth)
    assert mismatch.status_code == 400 and mismatch.json()["message"] == "Cursor is invalid."


async def test_blocking(client, node: Node, api: Api):
    alice, bob = await player(api, client), await player(api, client)
    title = node.default_title.id
    await add(client, alice, bob)
    await add(client, bob, alice)
    blocked = await client.post("/v2/friend/block", params={"ids": [bob.id]}, headers=alice.auth)
    assert blocked.status_code == 200
    assert states(await friends(client, alice)) == {bob.id: 3}
    assert await friends(client, bob) == {}  # bob's edge to alice is gone
    assert await node.friends.is_blocked(title, bob.id, by_user_id=alice.id)
    assert not await node.friends.is_blocked(title, alice.id, by_user_id=bob.id)
    assert await edge_count(client, alice) == 1 and await edge_count(client, bob) == 0

    # Neither can befriend the other while the block stands.
    await add(client, bob, alice)
    await add(client, alice, bob)
    assert states(await friends(client, alice)) == {bob.id: 3}
    assert await friends(client, bob) == {}
    # Bob deleting alice does not lift her block; alice deleting bob does.
    await client.delete("/v2/friend", params={"ids": [alice.id]}, headers=bob.auth)
    assert states(await friends(client, alice)) == {bob.id: 3}
    await client.delete("/v2/friend", params={"ids": [bob.id]}, headers=alice.auth)
    assert await friends(client, alice) == {}
    assert await edge_count(client, alice) == 0
    await add(client, bob, alice)
    assert states(await friends(client, alice)) == {bob.id: 2}

    # Blocking a stranger makes a one-sided edge; both blocking each other keeps both blocks.
    carol = await player(api, client)
    await client.post("/v2/friend/block", params={"usernames": [carol.username]}, headers=alice.auth)
    await client.post("/v2/friend/block", params={"ids": [alice.id]}, headers=carol.auth)
    assert states(await friends(client, alice))[carol.id] == 3
    assert states(await friends(client, carol)) == {alice.id: 3}
    assert await node.friends.state(title, carol.id, alice.id) == 3


async def test_adding_each_other_at_once_makes_friends(client, api: Api):
    pairs = [(await player(api, client), await player(api, client)) for _ in range(6)]
    await asyncio.gather(*(add(client, a, b) for a, b in pairs), *(add(client, b, a) for a, b in pairs))
    for a, b in pairs:
        assert states(await friends(client, a)) == {b.id: 0}
        assert states(await friends(client, b)) == {a.id: 0}
        assert await edge_count(client, a) == 1 and await edge_count(client, b) == 1


async def test_metadata_is_kept_on_the_adding_side(client, api: Api):
    alice, bob = await player(api, client), await player(api, client)
    response = await client.post(
        "/v2/friend", params={"ids": [bob.id], "metadata": '{"met": "lobby"}'}, headers=alice.auth
    )
    assert response.status_code == 200
    assert (await friends(client, alice))["friends"][0]["metadata"] == '{"met": "lobby"}'
    assert (await friends(client, bob))["friends"][0]["metadata"] == "{}"
    await client.post("/v2/friend", params={"ids": [alice.id], "metadata": '{"since": 1}'}, headers=bob.auth)
    assert (await friends(client, bob))["friends"][0]["metadata"] == '{"since":1}'
    bad = await client.post("/v2/friend", params={"ids": [bob.id], "metadata": "[1]"}, headers=alice.auth)
    assert bad.status_code == 400


async def test_friends_of_friends(client, api: Api):
    me, bob, carol, dave, erin = [await player(api, client) for _ in range(5)]

    async def befriend(a: Player, b: Player) -> None:
        await add(client, a, b)
        await add(client, b, a)

    await befriend(me, bob)
    await befriend(bob, carol)
    await befriend(bob, dave)
    await befriend(me, dave)  # already my friend: not suggested
    await befriend(dave, erin)
    await add(client, bob, erin)  # only an invitation: not a friend of bob

    found: list[tuple[str, str]] = []
    cursor = ""
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v2/friend/friends", params=params, headers=me.auth)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend((f["referrer"], f["user"]["id"]) for f in page.get("friends_of_friends", []))
        cursor = page.get("cursor", "")
        if not cursor:
            break
    assert sorted(found) == sorted([(bob.id, carol.id), (dave.id, erin.id)])
    bad = await client.get("/v2/friend/friends", params={"limit": 101}, headers=me.auth)
    assert bad.status_code == 400


async def test_listeners_hear_requests_accepts_and_blocks(client, node: Node, api: Api):
    heard: list[object] = []
    node.friends.on_friend_request(heard.append)
    node.friends.on_friend_accepted(heard.append)
    node.friends.on_friend_blocked(heard.append)

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    node.friends.on_friend_request(broken)  # its failure reaches nobody
    alice, bob = await player(api, client), await player(api, client)
    title = node.default_title.id
    await add(client, alice, bob)
    await add(client, bob, alice)
    await client.post("/v2/friend/block", params={"ids": [alice.id]}, headers=bob.auth)
    assert heard == [
        FriendRequest(title, alice.id, alice.username, bob.id),
        FriendAccepted(title, bob.id, bob.username, alice.id),
        FriendBlocked(title, bob.id, alice.id),
    ]


async def test_deleting_an_account_removes_its_edges(client, api: Api):
    gone, friend, inviter, blocker = [await player(api, client) for _ in range(4)]
    await add(client, gone, friend)
    await add(client, friend, gone)
    await add(client, inviter, gone)
    await client.post("/v2/friend/block", params={"ids": [gone.id]}, headers=blocker.auth)
    assert (await client.delete("/v2/account", headers=gone.auth)).status_code == 200
    for p in (friend, inviter, blocker):
        assert await friends(client, p) == {}
        assert await edge_count(client, p) == 0


async def test_server_api_friends(client, node: Node, api: Api):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    alice, bob, carol = [await player(api, client) for _ in range(3)]
    await nk.friends_add(alice.id, ids=[bob.id], metadata={"via": "rpc"})
    await nk.friends_add(bob.id, usernames=[alice.username])
    await nk.friends_block(alice.id, ids=[carol.id])
    page = await nk.friends_list(alice.id)
    assert [(f.user.id, f.state) for f in page.friends] == [(bob.id, 0), (carol.id, 3)]
    assert page.friends[0].metadata == '{"via":"rpc"}'
    only = await nk.friends_list(alice.id, state=3)
    assert [f.user.username for f in only.friends] == [carol.username]
    await nk.friends_delete(alice.id, ids=[bob.id, carol.id])
    assert (await nk.friends_list(alice.id)).friends == []
    assert (await nk.friends_list(bob.id)).friends == []
