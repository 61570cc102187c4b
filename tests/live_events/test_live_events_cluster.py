"""Live events across two server processes sharing PostgreSQL and Redis: each start and end is
announced once, to the players of the audience connected to either node."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from overworld.clock import now_ms
from overworld.live_events.service import ENDED, STARTED
from tests.realtime_support import Socket, authenticate, open_socket
from tests.support import running_server

pytestmark = [pytest.mark.cluster, pytest.mark.anyio]
HTTP_KEY = {"http_key": "defaulthttpkey"}


def _host(server: Any) -> str:
    return f"127.0.0.1:{server.port}"


async def create_event(host: str, start_ms: int, end_ms: int, **fields: Any) -> dict[str, Any]:
    body = {"name": "Cluster sale", "start_time": start_ms // 1000, "end_time": end_ms // 1000, **fields}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"http://{host}/v2/overworld/admin/events", params=HTTP_KEY, json=body)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()
    return event


async def notes(sock: Socket, wait: float) -> list[dict[str, Any]]:
    """Every notification received within `wait` seconds."""
    found: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            body = await sock.push("notifications", timeout=left)
        except TimeoutError:
            break
        for n in body["notifications"]:
            n["content"] = json.loads(n["content"])
            found.append(n)
    return found


async def test_an_event_created_on_one_node_is_announced_once_on_every_node(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        alice = await open_socket(_host(a), await authenticate(_host(a), "defaultkey"))
        bob = await open_socket(_host(b), await authenticate(_host(b), "defaultkey"))
        # A config change made on A is served by B at once (B had it cached).
        async with httpx.AsyncClient() as http:
            bearer = {"Authorization": f"Bearer {bob.session['token']}"}
            assert (await http.get(f"http://{_host(b)}/v2/overworld/config", headers=bearer)).json()[
                "config"
            ] == {}
            url = f"http://{_host(a)}/v2/overworld/admin/config/motd"
            assert (await http.put(url, params=HTTP_KEY, json={"value": "hi"})).status_code == 200
            await asyncio.sleep(0.5)
            config = (await http.get(f"http://{_host(b)}/v2/overworld/config", headers=bearer)).json()
            assert config["config"] == {"motd": "hi"}
        start = (now_ms() // 1000 + 3) * 1000
        event = await create_event(_host(a), start, start + 2000)
        # Until a little after the end: one start and one end each, whichever node ran the job.
        got_a, got_b = await asyncio.gather(
            notes(alice, (start + 3500 - now_ms()) / 1000), notes(bob, (start + 3500 - now_ms()) / 1000)
        )
        for got in (got_a, got_b):
            assert [(n["code"], n["content"]["event_id"]) for n in got] == [
                (STARTED, event["id"]), (ENDED, event["id"]),
            ]  # fmt: skip
        await alice.close()
        await bob.close()


async def test_a_node_started_later_arms_events_from_the_database(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a:
        start = (now_ms() // 1000 + 8) * 1000
        event = await create_event(_host(a), start, start + 2000, config={"xp": 2})
    # A is gone; B starts afterwards and must announce the event on its own.
    with running_server(cluster_env, tmp_path) as b:
        session = await authenticate(_host(b), "defaultkey")
        bob = await open_socket(_host(b), session)
        assert now_ms() < start, "the server took too long to start for this test"
        got = await notes(bob, (start + 1000 - now_ms()) / 1000)
        assert [(n["code"], n["content"]["event_id"]) for n in got] == [(STARTED, event["id"])]
        async with httpx.AsyncClient() as http:
            config = await http.get(
                f"http://{_host(b)}/v2/overworld/config",
                headers={"Authorization": f"Bearer {session['token']}"},
            )
        assert config.json() == {"config": {"xp": 2}, "live_event_ids": [event["id"]]}
        await bob.close()
