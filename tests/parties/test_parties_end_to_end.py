"""Party labels and listing, party_update, matchmaker stats and label queries inside arrays, end
to end on every deployment: one server on SQLite, one on PostgreSQL, and two nodes behind a
round-robin balancer (where sockets opened one after the other sit on different nodes, so a
party's members and the players listing it are spread over both)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy_with_code
from tests.realtime_support import Socket, open_socket
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The example server code plus tests/runtime_e2e/labels.py (a match labelled by its creator)."""
    workdir = tmp_path_factory.mktemp(f"parties-{request.param}")
    with deploy_with_code(
        request.param, workdir, "labels.py", env={"OVERWORLD_MATCHMAKER_INTERVAL_MS": "200"}
    ) as running:
        yield running


class Player:
    """A signed-in player with an HTTP client and a socket, each on its own connection."""

    def __init__(self, deployment: Deployment) -> None:
        self.http = httpx.Client(base_url=deployment.url, timeout=10)
        reply = self.http.post(
            "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic(deployment.server_key),
        )
        assert reply.status_code == 200, reply.text
        self.session: dict[str, Any] = reply.json()
        self.http.headers.update(bearer(self.session["token"]))
        account = self.http.get("/v2/account").json()
        self.user_id: str = account["user"]["id"]
        self.session |= {"user_id": self.user_id, "username": account["user"]["username"]}
        self.deployment = deployment
        self.socket: Socket | None = None

    async def connect(self) -> Socket:
        self.socket = await open_socket(f"127.0.0.1:{self.deployment.port}", self.session)
        return self.socket

    def get(self, path: str, **params: Any) -> Any:
        reply = self.http.get(path, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        self.http.close()


@pytest.fixture
async def players(deployment: Deployment) -> AsyncIterator[list[Player]]:
    made: list[Player] = []
    yield made
    for player in made:
        await player.close()


async def _connected(deployment: Deployment, made: list[Player], n: int) -> list[Player]:
    new = [Player(deployment) for _ in range(n)]
    made.extend(new)
    for player in new:  # one after the other: on a cluster, alternately on each node
        await player.connect()
    return new


async def _eventually(probe: Any, expected: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while (got := probe()) != expected:
        assert asyncio.get_running_loop().time() < deadline, (
            f"still {got!r} after {seconds} s, not {expected!r}"
        )
        await asyncio.sleep(0.1)


def _ids(listing: dict[str, Any]) -> list[str]:
    return [p["party_id"] for p in listing.get("parties", [])]


def _error(reply: dict[str, Any]) -> dict[str, Any]:
    assert "error" in reply, reply
    error: dict[str, Any] = reply["error"]
    return error


async def test_parties_are_listed_by_label_query_open_and_cursor_never_hidden(
    deployment: Deployment, players: list[Player]
) -> None:
    alice, bob, carol = await _connected(deployment, players, 3)
    tag = unique("tag")
    assert alice.socket and bob.socket and carol.socket

    async def create(socket: Socket, **body: Any) -> dict[str, Any]:
        reply = await socket.request("party_create", {"max_size": 4, **body})
        assert "party" in reply, reply
        party: dict[str, Any] = reply["party"]
        return party

    label = {"tag": tag, "mode": "raid", "convo_ids": ["c1", "c2"], "level": 30}
    raid = await create(alice.socket, open=True, label=orjson.dumps(label).decode())
    assert raid["open"] is True and orjson.loads(raid["label"]) == label
    duel = await create(
        bob.socket, open=False, label=orjson.dumps({"tag": tag, "mode": "duel", "level": 5}).decode()
    )
    hidden = await create(carol.socket, open=True, hidden=True)
    assert hidden["hidden"] is True
    # Any player, on any node, lists them; hidden parties never.
    listing = carol.get("/v2/party", limit=100, query=f"+label.tag:{tag}")
    assert sorted(_ids(listing)) == sorted([raid["party_id"], duel["party_id"]])
    assert hidden["party_id"] not in _ids(carol.get("/v2/party", limit=100))
    # Server code sees them too, hidden ones when it asks (nk.party_list).
    for show_hidden, expected in (
        (False, [raid["party_id"]]),
        (True, [raid["party_id"], hidden["party_id"]]),
    ):
        body = {"limit": 100, "query": f"+label.tag:{tag} label.mode:raid", "show_hidden": show_hidden}
        if show_hidden:
            body["query"] = "*"
        made = carol.http.post("/v2/rpc/list_parties", json=orjson.dumps(body).decode())
        assert made.status_code == 200, made.text
        ids = orjson.loads(made.json()["payload"])["ids"]
        assert all(i in ids for i in expected), (ids, expected)
        assert (hidden["party_id"] in ids) is show_hidden
    raid_listed = next(p for p in listing["parties"] if p["party_id"] == raid["party_id"])
    assert raid_listed["open"] is True and raid_listed["max_size"] == 4
    assert orjson.loads(raid_listed["label"]) == label and not raid_listed.get("hidden")
    # The label query language of matches, arrays searched by element.
    assert _ids(alice.get("/v2/party", limit=10, query=f"+label.tag:{tag} +label.convo_ids:c2")) == [
        raid["party_id"]
    ]
    assert _ids(alice.get("/v2/party", limit=10, query=f"+label.tag:{tag} +label.convo_ids:c3")) == []
    assert _ids(alice.get("/v2/party", limit=10, query=f"+label.tag:{tag} +label.level:<10")) == [
        duel["party_id"]
    ]
    assert _ids(alice.get("/v2/party", limit=10, open="false", query=f"+label.tag:{tag}")) == [
        duel["party_id"]
    ]
    assert _ids(alice.get("/v2/party", limit=10, open="true", query=f"+label.tag:{tag}")) == [
        raid["party_id"]
    ]
    # Pages of one with a cursor, oldest first at equal score.
    first = alice.get("/v2/party", limit=1, query=f"+label.tag:{tag}")
    assert _ids(first) == [raid["party_id"]] and first["cursor"]
    second = alice.get("/v2/party", limit=1, query=f"+label.tag:{tag}", cursor=first["cursor"])
    assert _ids(second) == [duel["party_id"]] and not second.get("cursor")
    # Bad input names what is wrong.
    for params, words in (
        ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"query": "+label.level:>=x"}, "Invalid query"),
        ({"limit": 2, "query": f"+label.tag:{tag}", "cursor": first["cursor"]}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
    ):  # fmt: skip
        refused = alice.http.get("/v2/party", params=params)
        assert refused.status_code == 400, (params, refused.text)
        assert words in refused.json()["message"], refused.json()
    bad = await alice.socket.request("party_create", {"max_size": 2, "label": "[1]"})
    assert _error(bad)["code"] == 3 and "label" in _error(bad)["message"]
    too_long = await alice.socket.request(
        "party_create", {"max_size": 2, "label": orjson.dumps({"x": "y" * 2048}).decode()}
    )
    assert "label" in _error(too_long)["message"]
    # A party that ends is no longer listed.
    await bob.socket.request("party_close", {"party_id": duel["party_id"]})
    await _eventually(
        lambda: _ids(carol.get("/v2/party", limit=10, query=f"+label.tag:{tag}")), [raid["party_id"]]
    )


async def test_party_update_is_the_leaders_and_reaches_every_member(
    deployment: Deployment, players: list[Player]
) -> None:
    alice, bob, carol = await _connected(deployment, players, 3)
    assert alice.socket and bob.socket and carol.socket
    tag = unique("tag")
    party = (await alice.socket.request("party_create", {"open": True, "max_size": 3}))["party"]
    party_id = party["party_id"]
    assert party["label"] == "{}"
    for member in (bob, carol):
        assert member.socket
        await member.socket.request("party_join", {"party_id": party_id})
        await member.socket.push("party")
    # Only the leader.
    refused = await bob.socket.request("party_update", {"party_id": party_id, "label": "{}", "open": True})
    assert _error(refused)["code"] == 3 and "leader" in _error(refused)["message"]
    # Validated as Nakama: a hidden party has no label; the label is a JSON object.
    hidden_label = await alice.socket.request(
        "party_update", {"party_id": party_id, "label": '{"a": 1}', "hidden": True}
    )
    assert "label" in _error(hidden_label)["message"] and "hidden" in _error(hidden_label)["message"]
    assert (
        "label"
        in _error(await alice.socket.request("party_update", {"party_id": party_id, "label": "nope"}))[
            "message"
        ]
    )
    # max_size (an extension) never below the members.
    small = await alice.socket.request("party_update", {"party_id": party_id, "label": "{}", "max_size": 2})
    assert "max_size" in _error(small)["message"]
    assert (
        "max_size"
        in _error(await alice.socket.request("party_update", {"party_id": party_id, "max_size": 300}))[
            "message"
        ]
    )
    # The leader's update: every member (on any node) is told, the listing shows it.
    label = orjson.dumps({"tag": tag, "ids": ["a", "b"]}).decode()
    reply = await alice.socket.request("party_update", {"party_id": party_id, "label": label, "open": False})
    assert reply == {"cid": reply["cid"]}
    for member in (alice, bob, carol):
        assert member.socket
        update = await member.socket.push("party_update")
        assert update["party_id"] == party_id and update["label"] == label and not update.get("open")
        assert update["max_size"] == 3
    assert _ids(bob.get("/v2/party", limit=10, open="false", query=f"+label.ids:b +label.tag:{tag}")) == [
        party_id
    ]
    # Closed now: a join is a request to the leader.
    dave = (await _connected(deployment, players, 1))[0]
    assert dave.socket
    await dave.socket.request("party_join", {"party_id": party_id})
    assert (await alice.socket.push("party_join_request"))["presences"][0]["user_id"] == dave.user_id
    # Hidden: no longer listed.
    await alice.socket.request(
        "party_update", {"party_id": party_id, "hidden": True, "open": True, "max_size": 4}
    )
    assert (await carol.socket.push("party_update"))["hidden"] is True
    assert party_id not in _ids(bob.get("/v2/party", limit=100))
    # The new max_size lets one more in.
    await alice.socket.request("party_accept", {"party_id": party_id, "presence": {
        "user_id": dave.user_id, "session_id": (await alice.socket.request(
            "party_join_request_list", {"party_id": party_id}))["party_join_request"]["presences"][0]["session_id"],
        "username": dave.session["username"]}})  # fmt: skip
    joined = await dave.socket.push("party")
    assert joined["max_size"] == 4 and joined["hidden"] is True


async def test_matchmaker_stats_count_waiting_tickets_and_completions(
    deployment: Deployment, players: list[Player]
) -> None:
    alice, bob, carol = await _connected(deployment, players, 3)
    assert alice.socket and bob.socket and carol.socket
    never = f"+properties.mode:{unique('nobody')}"
    await alice.socket.request("matchmaker_add", {"min_count": 2, "max_count": 2, "query": never})

    def waiting() -> tuple[int, bool]:
        stats = carol.get("/v2/matchmaker/stats")
        return stats.get("ticket_count", 0), bool(stats.get("oldest_ticket_create_time"))

    await _eventually(waiting, (1, True))
    before = carol.get("/v2/matchmaker/stats")
    oldest = datetime.fromisoformat(before["oldest_ticket_create_time"].replace("Z", "+00:00"))
    assert abs(oldest.timestamp() - datetime.now().timestamp()) < 60
    mode = unique("mode")
    body = {
        "min_count": 2,
        "max_count": 2,
        "query": f"+properties.mode:{mode}",
        "string_properties": {"mode": mode},
    }
    await bob.socket.request("matchmaker_add", body)
    await carol.socket.request("matchmaker_add", body)
    await bob.socket.push("matchmaker_matched")
    await carol.socket.push("matchmaker_matched")

    def completed() -> int:
        return len(alice.get("/v2/matchmaker/stats").get("completions", []))

    await _eventually(completed, len(before.get("completions", [])) + 2)
    stats = alice.get("/v2/matchmaker/stats")
    assert stats["ticket_count"] == 1  # alice's, still waiting
    made = alice.http.post("/v2/rpc/matchmaker_stats", json='""')
    assert made.status_code == 200, made.text
    assert orjson.loads(made.json()["payload"]) == {"tickets": 1, "completions": len(stats["completions"])}
    for completion in stats["completions"][-2:]:
        made = datetime.fromisoformat(completion["create_time"].replace("Z", "+00:00"))
        done = datetime.fromisoformat(completion["complete_time"].replace("Z", "+00:00"))
        assert made <= done
    await alice.socket.close()  # her ticket dies with her socket
    await _eventually(lambda: carol.get("/v2/matchmaker/stats").get("ticket_count", 0), 0)


async def test_match_label_queries_search_inside_arrays(
    deployment: Deployment, players: list[Player]
) -> None:
    (alice,) = await _connected(deployment, players, 1)
    tag = unique("tag")

    def create(label: dict[str, Any]) -> str:
        made = alice.http.post("/v2/rpc/create_labelled", json=orjson.dumps(label).decode())
        assert made.status_code == 200, made.text
        match_id: str = orjson.loads(made.json()["payload"])["match_id"]
        return match_id

    both = create({"tag": tag, "convo_ids": ["c1", "c2"], "players": [{"name": "ann"}, {"name": "bob"}]})
    one = create({"tag": tag, "convo_ids": ["c2", "c3"]})

    def found(query: str) -> list[str]:
        listing = alice.get(
            "/v2/match", limit=10, authoritative="true", label="", query=f"+label.tag:{tag} {query}"
        )
        return sorted(m["match_id"] for m in listing.get("matches", []))

    await _eventually(lambda: found(""), sorted([both, one]))  # on a cluster: the index snapshots
    assert found("+label.convo_ids:c1") == [both]
    assert found("+label.convo_ids:c2") == sorted([both, one])
    assert found("+label.convo_ids:c3 -label.convo_ids:c1") == [one]
    assert found("+label.players.name:bob") == [both]
