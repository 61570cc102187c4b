"""Matches across two server processes sharing PostgreSQL and Redis: an authoritative match on
node B joined from node A, and a relayed match with a player on each node."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest

from tests.realtime_support import Socket, authenticate, open_socket
from tests.support import ROOT, bearer, running_server

pytestmark = [pytest.mark.cluster, pytest.mark.anyio, pytest.mark.usefixtures("socket_format")]


def _host(server: Any) -> str:
    return f"127.0.0.1:{server.port}"


async def _send(sock: Socket, match_id: str, op_code: int, data: bytes) -> None:
    body = {"match_id": match_id, "op_code": op_code, "data": base64.b64encode(data).decode()}
    await sock.send({"match_data_send": body})


async def _data(sock: Socket, op_code: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            message = await sock.push("match_data")
            if message.get("op_code") == op_code:
                return message


async def _rpc(host: str, token: str, rpc: str, payload: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"http://{host}/v2/rpc/{rpc}", content=json.dumps(json.dumps(payload)), headers=bearer(token)
        )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = json.loads(response.json()["payload"])
    return result


async def test_authoritative_match_on_node_b_joined_from_node_a(cluster_env, tmp_path):
    env = {**cluster_env, "OVERWORLD_RUNTIME_PATH": str(ROOT / "examples" / "runtime")}
    with running_server(env, tmp_path) as a, running_server(env, tmp_path) as b:
        alice = await open_socket(_host(a), await authenticate(_host(a), "defaultkey"))
        bob = await open_socket(_host(b), await authenticate(_host(b), "defaultkey"))
        await asyncio.sleep(0.5)  # the nodes exchange presence snapshots when they start
        match_id = (await _rpc(_host(b), bob.session["token"], "create_arena", {"mode": "ranked"}))[
            "match_id"
        ]

        joined = (await alice.request("match_join", {"match_id": match_id}))["match"]  # A asks B
        assert joined["authoritative"] is True and json.loads(joined["label"])["mode"] == "ranked"
        rejected = await alice.request(
            "match_join", {"match_id": match_id, "metadata": {"role": "spectator"}}
        )
        assert "error" not in rejected  # already in: the handler is not asked again
        assert "error" not in await bob.request("match_join", {"match_id": match_id})

        # Alice's moves go from A to the handler on B, whose broadcasts reach both nodes.
        await _send(alice, match_id, 1, b"north")
        for sock in (alice, bob):
            moved = await _data(sock, "2")
            assert (
                moved["presence"]["user_id"] == alice.user_id and base64.b64decode(moved["data"]) == b"north"
            )
        await _send(bob, match_id, 1, b"south")
        assert (await _data(alice, "2"))["presence"]["user_id"] == bob.user_id

        # Node A lists the match of node B (snapshots over pub/sub), with its size, and signals it.
        async with httpx.AsyncClient() as http:
            for _ in range(50):
                listed = await http.get(
                    f"http://{_host(a)}/v2/match",
                    params={"limit": 10, "query": "+label.mode:ranked label.players:>=2"},
                    headers=bearer(alice.session["token"]),
                )
                matches = listed.json().get("matches", [])
                if matches and json.loads(matches[0]["label"])["players"] == 2:
                    break
                await asyncio.sleep(0.1)
        assert [m["match_id"] for m in matches] == [match_id] and matches[0]["size"] == 2
        signalled = await _rpc(_host(a), alice.session["token"], "arena_signal", {"match_id": match_id})
        assert signalled["moves"] == 2 and signalled["players"] == 2

        # A spectator is refused by the handler on B, with its reason.
        carol = await open_socket(_host(a), await authenticate(_host(a), "defaultkey"))
        refused = await carol.request("match_join", {"match_id": match_id, "metadata": {"role": "spectator"}})
        assert refused["error"] == {"code": 5, "message": "Spectators are not allowed"}

        # Alice leaves on A: the match on B hears of it, bob sees it.
        await alice.request("match_leave", {"match_id": match_id})
        while True:
            event = await bob.push("match_presence_event")
            if any(p["user_id"] == alice.user_id for p in event.get("leaves", [])):
                break
        for sock in (alice, bob, carol):
            await sock.close()


async def test_relayed_match_spans_two_nodes(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        alice = await open_socket(_host(a), await authenticate(_host(a), "defaultkey"))
        bob = await open_socket(_host(b), await authenticate(_host(b), "defaultkey"))
        await asyncio.sleep(0.5)
        match_id = (await alice.request("match_create"))["match"]["match_id"]
        for _ in range(50):  # alice's presence reaches node B's tracker replica
            joined = await bob.request("match_join", {"match_id": match_id})
            if "match" in joined:
                break
            await asyncio.sleep(0.05)
        assert [p["user_id"] for p in joined["match"]["presences"]] == [alice.user_id]
        while True:
            event = await alice.push("match_presence_event")
            if any(p["user_id"] == bob.user_id for p in event.get("joins", [])):
                break
        await _send(alice, match_id, 3, b"from A")
        got = await bob.push("match_data")
        assert got["presence"]["user_id"] == alice.user_id and base64.b64decode(got["data"]) == b"from A"
        await _send(bob, match_id, 4, b"from B")
        assert (await alice.push("match_data"))["op_code"] == "4"
        await bob.no_push("match_data")  # no echo
        await alice.close()
        await bob.close()
