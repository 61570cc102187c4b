"""The realtime socket across two server processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
import pytest

from tests.realtime_support import authenticate, open_socket
from tests.support import (
    bearer,
    running_server,
)

pytestmark = [pytest.mark.cluster, pytest.mark.anyio, pytest.mark.usefixtures("socket_format")]


def _host(server) -> str:
    return f"127.0.0.1:{server.port}"


async def _eventually(probe, expected, seconds: float = 10.0) -> bool:
    """Whether `await probe()` returns `expected` within `seconds` (polled every 100 ms)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (got := await probe()) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {got!r} after {seconds} s, expected {expected!r}")
        await asyncio.sleep(0.1)
    return True


async def test_chat_status_and_parties_span_nodes(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        alice = await open_socket(_host(a), await authenticate(_host(a), "defaultkey"), status=True)
        bob = await open_socket(_host(b), await authenticate(_host(b), "defaultkey"))

        # Status: bob on B follows alice on A (once A's presences have reached B: replication is
        # asynchronous, so poll rather than guess how long it takes on a busy machine).
        async def follow_alice() -> list[str]:
            status = (await bob.request("status_follow", {"user_ids": [alice.user_id]}))["status"]
            return [p["user_id"] for p in status["presences"]]

        assert await _eventually(follow_alice, [alice.user_id])
        await alice.request("status_update", {"status": "raiding"})
        assert (await bob.push("status_presence_event"))["joins"][0]["status"] == "raiding"

        # Chat: a room with a member on each node.
        room = "r" + uuid.uuid4().hex[:8]
        channel = (await alice.request("channel_join", {"target": room, "type": 1}))["channel"]

        async def bob_joins() -> set[str]:
            joined = (await bob.request("channel_join", {"target": room, "type": 1}))["channel"]
            return {p["user_id"] for p in joined["presences"]}

        assert await _eventually(bob_joins, {alice.user_id, bob.user_id})
        while (await alice.push("channel_presence_event"))["joins"][0]["user_id"] != bob.user_id:
            pass
        ack = await alice.request("channel_message_send", {"channel_id": channel["id"], "content": '{"x":1}'})
        message = await bob.push("channel_message")
        assert message["message_id"] == ack["channel_message_ack"]["message_id"]

        # Parties: created on A, joined from B; data crosses both ways.
        party_id = (await alice.request("party_create", {"open": True, "max_size": 2}))["party"]["party_id"]
        assert "error" not in await bob.request("party_join", {"party_id": party_id})
        assert (await bob.push("party"))["leader"]["user_id"] == alice.user_id
        await bob.send({"party_data_send": {"party_id": party_id, "op_code": 1, "data": "eA=="}})
        assert (await alice.push("party_data"))["presence"]["user_id"] == bob.user_id

        # A logout made on B closes alice's socket on A.
        async with httpx.AsyncClient() as http:
            await http.post(
                f"http://{_host(b)}/v2/session/logout", json={}, headers=bearer(alice.session["token"])
            )
        code, reason = await asyncio.wait_for(alice.closed, 5)
        assert code == 1000 and "revoked" in reason
        event = await bob.push("status_presence_event")
        assert event["leaves"][0]["user_id"] == alice.user_id
        await bob.close()


async def test_presences_of_a_dead_node_disappear_from_the_others(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        alice = await open_socket(_host(a), await authenticate(_host(a), "defaultkey"))
        bob = await open_socket(_host(b), await authenticate(_host(b), "defaultkey"))
        room = "r" + uuid.uuid4().hex[:8]
        await asyncio.sleep(0.5)
        await alice.request("channel_join", {"target": room, "type": 1})
        joined = (await bob.request("channel_join", {"target": room, "type": 1}))["channel"]
        if (
            len(joined["presences"]) < 2
        ):  # alice's join may still be on its way from node A: then it comes as an event
            while alice.user_id not in [
                p["user_id"] for p in (await bob.push("channel_presence_event"))["joins"]
            ]:
                pass
        a.proc.send_signal(signal.SIGKILL)  # no goodbye: the others must notice the silence
        a.proc.wait()
        started = asyncio.get_running_loop().time()
        while True:
            event = await bob.push("channel_presence_event", timeout=10)
            if event.get("leaves"):
                break
        assert event["leaves"][0]["user_id"] == alice.user_id
        assert asyncio.get_running_loop().time() - started < 6
        await bob.close()
