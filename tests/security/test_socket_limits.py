"""Rate limits and the socket cap on the realtime socket, in process on SQLite and PostgreSQL, in
both socket formats: a message kind over its limit is answered with an error envelope carrying
the frame's cid and code 8 (the socket stays open); a user over `socket_cap_per_user` is refused
the upgrade with 429 and a reason; `socket_max_per_user` at or below the cap replaces instead."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from overworld.config import Settings
from overworld.node import Node
from tests.realtime_support import authenticate, live_server, open_socket

pytestmark = pytest.mark.anyio


@pytest.fixture
def changes(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def settings(settings: Settings, changes: dict[str, Any]) -> Settings:
    base = {"socket_cap_per_user": 2, "rate_limit_calls": {"ping": {"user": "3/60s"}}}
    return msgspec.structs.replace(settings, **(base | changes))


@pytest.fixture
async def host(settings: Settings, node: Node):
    async with live_server(settings, node) as h:
        yield h


async def test_a_kind_over_its_limit_gets_an_error_with_its_cid_and_the_socket_stays(
    host, node, socket_format
):
    session = await authenticate(host, node.default_title.server_key)
    sock = await open_socket(host, session, fmt=socket_format)
    replies = [await sock.request("ping") for _ in range(4)]
    assert all("pong" in r for r in replies[:3]), replies
    refused = replies[3]
    assert refused["cid"] == "4", refused
    error = refused["error"]
    assert error["code"] == 8 and "Rate limit exceeded (ping)" in error["message"], error
    assert 15 <= int(error["context"]["retry_after"]) <= 20
    # Open still, and other kinds have their own budgets.
    answered = await sock.request("status_update", {"status": "here"})
    assert "error" not in answered, answered
    assert not sock.closed.done()
    # The budget is the user's, whichever socket the message comes on.
    second = await open_socket(host, session, fmt=socket_format)
    assert "error" in await second.request("ping")
    await second.close()
    await sock.close()


async def test_a_user_over_the_socket_cap_is_refused_with_a_reason(host, node):
    session = await authenticate(host, node.default_title.server_key)
    first, second = await open_socket(host, session), await open_socket(host, session)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{host}/ws?token={session['token']}"):
            pass
    response = refused.value.response
    assert response.status_code == 429
    body = orjson.loads(response.body)
    assert body["code"] == 8 and "Too many sockets for this user: at most 2" in body["message"], body
    # Another user is not concerned, and a closed socket makes room.
    other = await open_socket(host, await authenticate(host, node.default_title.server_key))
    await first.close()
    started = time.monotonic()
    while True:
        try:
            third = await open_socket(host, session)
            break
        except InvalidStatus:
            assert time.monotonic() - started < 10, "the closed socket did not make room"
            await asyncio.sleep(0.1)
    for sock in (second, third, other):
        await sock.close()


@pytest.mark.parametrize("changes", [{"socket_max_per_user": 2}], indirect=True)
async def test_single_socket_replaces_instead_of_refusing(host, node):
    session = await authenticate(host, node.default_title.server_key)
    first = await open_socket(host, session)
    others = [await open_socket(host, session) for _ in range(2)]  # none refused
    code, _ = await asyncio.wait_for(first.closed, 10)  # the oldest made way
    assert code == 1008
    for sock in others:
        await sock.close()


async def test_sockets_opened_at_once_never_pass_the_cap(host, node):
    """Ten upgrades of one user at once, on one node: exactly the cap (2) are accepted, the others
    refused with 429 (the check and the socket's registration happen in one turn of the event
    loop: the accept does not let another upgrade in between)."""
    session = await authenticate(host, node.default_title.server_key)

    async def attempt() -> Any:
        try:
            return await open_socket(host, session)
        except InvalidStatus as exc:
            assert exc.response.status_code == 429
            return None

    opened = await asyncio.gather(*(attempt() for _ in range(10)))
    accepted = [s for s in opened if s is not None]
    assert len(accepted) == 2
    for sock in accepted:
        await sock.close()
