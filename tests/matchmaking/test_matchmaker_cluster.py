"""The matchmaker across two server processes sharing PostgreSQL and Redis: one pool, one
matcher at a time, takeover when the matcher's node dies, no ticket matched twice."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.realtime_support import Socket, authenticate, open_socket
from tests.support import REDIS_URL, running_server

pytestmark = [pytest.mark.cluster, pytest.mark.anyio, pytest.mark.usefixtures("socket_format")]


def _host(server: Any) -> str:
    return f"127.0.0.1:{server.port}"


async def _user(server: Any) -> Socket:
    return await open_socket(_host(server), await authenticate(_host(server), "defaultkey"))


async def _add(sock: Socket, mode: str) -> str:
    body = {
        "min_count": 2,
        "max_count": 2,
        "query": f"+properties.mode:{mode}",
        "string_properties": {"mode": mode},
    }
    reply = await sock.request("matchmaker_add", body)
    ticket: str = reply["matchmaker_ticket"]["ticket"]
    return ticket


async def _collect(sockets: list[Socket], expected: int, seconds: float) -> dict[str, list[dict[str, Any]]]:
    """The matchmaker_matched messages received, by ticket, until `expected` arrived."""
    out: dict[str, list[dict[str, Any]]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    count = 0
    while count < expected and loop.time() < deadline:
        for s in sockets:
            while not s.pushes.empty():
                message = s.pushes.get_nowait()
                if "matchmaker_matched" in message:
                    out.setdefault(message["matchmaker_matched"]["ticket"], []).append(
                        message["matchmaker_matched"]
                    )
                    count += 1
        await asyncio.sleep(0.05)
    return out


async def test_one_pool_across_nodes_and_takeover_when_the_matcher_dies(cluster_env, tmp_path):
    env = cluster_env | {"OVERWORLD_MATCHMAKER_INTERVAL_MS": "200"}
    redis = aioredis.from_url(REDIS_URL)
    lease_key = f"{env['OVERWORLD_REDIS_PREFIX']}:mm:lease"
    try:
        with (
            running_server(env | {"OVERWORLD_NODE_NAME": "alpha"}, tmp_path) as a,
            running_server(env | {"OVERWORLD_NODE_NAME": "beta"}, tmp_path) as b,
        ):
            await asyncio.sleep(0.5)
            # Pairs made of one player on each node, many tickets at once: each matched exactly once.
            mode = "m" + uuid.uuid4().hex[:8]
            on_a = [await _user(a) for _ in range(8)]
            on_b = [await _user(b) for _ in range(8)]
            tickets = await asyncio.gather(*(_add(s, mode) for s in on_a + on_b))
            got = await _collect(on_a + on_b, 16, 10)
            assert set(got) == set(tickets)
            assert all(len(messages) == 1 for messages in got.values())
            for messages in got.values():
                assert len(messages[0]["users"]) == 2 and messages[0]["token"]
            # A pair across nodes: alice on A and bob on B.
            mode = "x" + uuid.uuid4().hex[:8]
            alice, bob = await _user(a), await _user(b)
            await _add(alice, mode)
            await _add(bob, mode)
            ma, mb = await alice.push("matchmaker_matched"), await bob.push("matchmaker_matched")
            users = {u["presence"]["user_id"] for u in ma["users"]}
            assert users == {alice.user_id, bob.user_id} and ma["token"] == mb["token"]

            # Kill the matcher's node without a goodbye: the other takes the lease and matches.
            holder = (await redis.get(lease_key)).decode()
            dead, alive = (a, b) if holder.startswith("alpha") else (b, a)
            assert holder.startswith(("alpha", "beta"))
            carol, dave = await _user(alive), await _user(alive)
            mode = "k" + uuid.uuid4().hex[:8]
            assert dead.proc is not None
            dead.proc.send_signal(signal.SIGKILL)
            dead.proc.wait()
            loop = asyncio.get_running_loop()
            started = loop.time()
            await _add(carol, mode)
            await _add(dave, mode)
            matched = await carol.push("matchmaker_matched", timeout=10)
            assert {u["presence"]["user_id"] for u in matched["users"]} == {carol.user_id, dave.user_id}
            assert loop.time() - started < 6
            new_holder = (await redis.get(lease_key)).decode()
            assert new_holder != holder
            await dave.push("matchmaker_matched")
            for s in [carol, dave]:
                await s.close()
    finally:
        await _drop_keys(redis, env["OVERWORLD_REDIS_PREFIX"])


async def test_a_dead_nodes_waiting_ticket_is_swept_and_matching_goes_on(cluster_env, tmp_path):
    env = cluster_env | {"OVERWORLD_MATCHMAKER_INTERVAL_MS": "200"}
    prefix = env["OVERWORLD_REDIS_PREFIX"]
    redis = aioredis.from_url(REDIS_URL)
    lease_key = f"{prefix}:mm:lease"

    async def waiting(ticket: str) -> bool:
        async for key in redis.scan_iter(f"{prefix}:mm:*:t"):
            if await redis.hexists(key, ticket):
                return True
        return False

    try:
        with (
            running_server(env | {"OVERWORLD_NODE_NAME": "alpha"}, tmp_path) as a,
            running_server(env | {"OVERWORLD_NODE_NAME": "beta"}, tmp_path) as b,
        ):
            loop = asyncio.get_running_loop()
            for _ in range(100):
                if await redis.get(lease_key) is not None:
                    break
                await asyncio.sleep(0.1)
            holder = (await redis.get(lease_key)).decode()
            matcher, doomed = (a, b) if holder.startswith("alpha") else (b, a)
            # A player on the node that will die waits for a partner nobody else wants.
            lonely = await _user(doomed)
            ticket = await _add(lonely, "z" + uuid.uuid4().hex[:8])
            await asyncio.sleep(0.5)
            assert await waiting(ticket)
            assert doomed.proc is not None
            doomed.proc.send_signal(signal.SIGKILL)  # no disconnect, no goodbye
            doomed.proc.wait()
            killed = loop.time()
            # Gone from the store within a few seconds of the presence timeout (2 s here).
            for _ in range(60):
                if not await waiting(ticket):
                    break
                await asyncio.sleep(0.2)
            assert not await waiting(ticket)
            assert loop.time() - killed < 2 + 6
            # A new pair still matches, on the surviving node.
            carol, dave = await _user(matcher), await _user(matcher)
            mode = "n" + uuid.uuid4().hex[:8]
            await _add(carol, mode)
            await _add(dave, mode)
            matched = await carol.push("matchmaker_matched", timeout=10)
            assert {u["presence"]["user_id"] for u in matched["users"]} == {carol.user_id, dave.user_id}
            await dave.push("matchmaker_matched")
            for s in [carol, dave]:
                await s.close()
    finally:
        await _drop_keys(redis, prefix)


async def _drop_keys(redis, prefix: str) -> None:
    """Remove the test's Redis keys and close the client."""
    keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
