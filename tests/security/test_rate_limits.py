"""Rate limits on the API (docs/security.md#rate-limits), in process on SQLite and PostgreSQL:
each limit kicks in at its number and recovers, per address, per user and per title, on the fast
path, the framework's routes and RPCs alike, answered with HTTP 429, `Retry-After` and Nakama's
error body (code 8); titles do not share budgets; the sign-up limit per address. Sockets and the
cluster are in test_rate_limits_e2e.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from overworld.api.http.app import create_app
from overworld.config import ConfigError, Settings, load_settings
from overworld.node import Node
from overworld.titles.models import Title
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture
def limits(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings a test changes (indirect parameter), on top of the test settings."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def settings(settings: Settings, limits: dict[str, Any]) -> Settings:
    return msgspec.structs.replace(settings, **limits)


def with_settings(**changes: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("limits", [changes], indirect=True, ids=["limits"])


class Clients:
    """HTTP clients of the node's app, each from an address of its own choosing."""

    def __init__(self, node: Node, settings: Settings) -> None:
        self.app = create_app(settings, node=node)
        self.open: list[httpx.AsyncClient] = []

    def at(self, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver.local")
        self.open.append(client)
        return client


@pytest.fixture
async def clients(node: Node, settings: Settings) -> AsyncIterator[Clients]:
    made = Clients(node, settings)
    yield made
    for client in made.open:
        await client.aclose()


async def sign_up(http: httpx.AsyncClient, title: Title, device: str | None = None) -> str:
    response = await http.post(
        "/v2/account/authenticate/device", json={"id": device or unique("device-")},
        headers=basic(title.server_key),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def assert_limited(response: httpx.Response, call: str) -> int:
    """A rate limit's answer: 429, Retry-After in whole seconds, Nakama's body with code 8."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"error", "code", "message"} and body["code"] == 8, body
    assert body["message"] == body["error"] and call in body["message"], body
    retry = int(response.headers["retry-after"])
    assert retry >= 1 and f"retry in {retry} s" in body["message"]
    assert response.headers["cache-control"] == "no-store"  # and the security headers
    return retry


@with_settings(rate_limit_calls={"GetAccount": {"user": "3/60s"}})
async def test_a_users_limit_on_a_fast_path_call(clients, node):
    http = clients.at("198.51.100.1")
    alice, bob = await sign_up(http, node.default_title), await sign_up(http, node.default_title)
    statuses = [(await http.get("/v2/account", headers=bearer(alice))).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    retry = assert_limited(await http.get("/v2/account", headers=bearer(alice)), "GetAccount")
    assert 15 <= retry <= 20  # one token of 3 per 60 s comes back in 20 s
    assert (await http.get("/v2/account", headers=bearer(bob))).status_code == 200  # his own budget
    # Other calls of alice's are not limited by this one.
    assert (
        await http.get("/v2/user", params={"usernames": "nobody"}, headers=bearer(alice))
    ).status_code == 200


@with_settings(rate_limit_calls={"GetUsers": {"user": "2/60s"}, "rpc": {"user": "2/60s"}})
async def test_a_users_limit_on_a_framework_route_and_on_rpcs(clients, node):
    http = clients.at("198.51.100.2")
    token = await sign_up(http, node.default_title)
    for _ in range(2):
        assert (
            await http.get("/v2/user", params={"usernames": "nobody"}, headers=bearer(token))
        ).status_code == 200
    assert_limited(
        await http.get("/v2/user", params={"usernames": "nobody"}, headers=bearer(token)), "GetUsers"
    )
    for _ in range(2):  # no such RPC: answered 404, and counted all the same
        assert (await http.post("/v2/rpc/nothing", json="{}", headers=bearer(token))).status_code == 404
    assert_limited(await http.post("/v2/rpc/nothing", json="{}", headers=bearer(token)), "rpc")


@with_settings(rate_limit_calls={"AuthenticateCustom": {"address": "3/60s"}})
async def test_an_address_limit_spares_other_addresses(clients, node):
    here, there = clients.at("198.51.100.3"), clients.at("2001:db8:1:2::5")
    key = basic(node.default_title.server_key)

    async def custom(http: httpx.AsyncClient) -> httpx.Response:
        return await http.post(
            "/v2/account/authenticate/custom", json={"id": unique("custom-id-")}, headers=key
        )

    assert [(await custom(here)).status_code for _ in range(3)] == [200] * 3
    assert_limited(await custom(here), "AuthenticateCustom")
    assert (await custom(there)).status_code == 200
    # An IPv6 client counts by its /64: another address of the same network shares the budget.
    neighbour = clients.at("2001:db8:1:2::99")
    assert [(await custom(neighbour)).status_code for _ in range(2)] == [200, 200]
    assert_limited(await custom(there), "AuthenticateCustom")


@with_settings(rate_limit_calls={"ListFriends": {"title": "3/60s"}})
async def test_a_titles_limit_is_its_own(clients, node):
    other = await node.titles.create(unique("other"))
    http = clients.at("198.51.100.4")
    a1, a2 = await sign_up(http, node.default_title), await sign_up(http, node.default_title)
    b1 = await sign_up(http, other)
    for token in (a1, a2, a1):
        assert (await http.get("/v2/friend", headers=bearer(token))).status_code == 200
    assert_limited(await http.get("/v2/friend", headers=bearer(a2)), "ListFriends")  # the title's
    for _ in range(3):  # title A's traffic has not spent title B's budget
        assert (await http.get("/v2/friend", headers=bearer(b1))).status_code == 200
    assert_limited(await http.get("/v2/friend", headers=bearer(b1)), "ListFriends")


@with_settings(rate_limit_calls={"ListGroups": {"user": "2/2s"}})
async def test_a_limit_recovers_at_its_rate(clients, node):
    http = clients.at("198.51.100.5")
    token = await sign_up(http, node.default_title)
    for _ in range(2):
        assert (await http.get("/v2/group", headers=bearer(token))).status_code == 200
    refused = await http.get("/v2/group", headers=bearer(token))
    assert assert_limited(refused, "ListGroups") == 1
    started = time.monotonic()
    while (await http.get("/v2/group", headers=bearer(token))).status_code == 429:
        assert time.monotonic() - started < 10, "the limit did not recover"
        await asyncio.sleep(0.1)
    assert time.monotonic() - started > 0.5  # not before (about) a token's time


@with_settings(
    rate_limit_address="off", rate_limit_user="off", rate_limit_calls={"GetAccount": {"user": "off"}}
)
async def test_limits_can_be_turned_off(clients, node):
    assert not node.limits.enabled
    http = clients.at("198.51.100.6")
    token = await sign_up(http, node.default_title)
    statuses = {(await http.get("/v2/account", headers=bearer(token))).status_code for _ in range(300)}
    assert statuses == {200}


@with_settings(rate_limit_calls={"GetAccount": {"user": "2/60s"}}, rate_limits=False)
async def test_the_switch_turns_every_call_limit_off(clients, node):
    http = clients.at("198.51.100.7")
    token = await sign_up(http, node.default_title)
    assert {(await http.get("/v2/account", headers=bearer(token))).status_code for _ in range(5)} == {200}


@with_settings(signup_limit_address="3/h")
async def test_sign_ups_per_address(clients, node):
    http, elsewhere = clients.at("198.51.100.8"), clients.at("198.51.100.9")
    title = node.default_title
    devices = [unique("device-") for _ in range(4)]
    for device in devices[:3]:
        await sign_up(http, title, device)
    refused = await http.post(
        "/v2/account/authenticate/device", json={"id": devices[3]}, headers=basic(title.server_key)
    )
    assert refused.status_code == 429 and refused.json()["code"] == 8
    assert "Too many accounts created from this address" in refused.json()["message"]
    assert 1100 <= int(refused.headers["retry-after"]) <= 1200  # one sign-up every 20 minutes
    email = await http.post(
        "/v2/account/authenticate/email", json={"email": f"{unique('e')}@example.com", "password": "secret-pw"},
        headers=basic(title.server_key),
    )  # fmt: skip
    assert email.status_code == 429  # every way of signing up
    await sign_up(http, title, devices[0])  # logging in is not signing up
    await sign_up(elsewhere, title, devices[3])  # another address has its own
    other = await node.titles.create(unique("other"))
    await sign_up(http, other)  # and so has another title


@with_settings(signup_limit_address="1/h")
async def test_loopback_has_no_address_budget(clients, node):
    http = clients.at("127.0.0.1")
    for _ in range(3):
        await sign_up(http, node.default_title)


def test_bad_rate_settings_are_refused_naming_the_setting():
    with pytest.raises(ConfigError, match=r"rate_limit_user.*not a rate like 100/s"):
        load_settings(environ={"OVERWORLD_RATE_LIMIT_USER": "lots"})
    with pytest.raises(
        ConfigError, match=r"rate_limit_calls\['GetAccount'\]\['everyone'\]: the scope is one of"
    ):
        load_settings(environ={"OVERWORLD_RATE_LIMIT_CALLS": "GetAccount:everyone=5/s"})
    parsed = load_settings(
        environ={"OVERWORLD_RATE_LIMIT_CALLS": "GetAccount:user=5/s,address=off;rpc:user=1/m"}
    )
    assert parsed.rate_limit_calls == {
        "GetAccount": {"user": "5/s", "address": "off"},
        "rpc": {"user": "1/m"},
    }


@with_settings(rate_limit_calls={"GetAcount": {"user": "5/s"}})
async def test_an_override_for_an_unknown_call_stops_the_start(settings):
    with pytest.raises(ConfigError, match="'GetAcount' is neither a call name"):
        await Node.start(settings)


async def test_socket_call_names_stand_for_their_kinds(settings):
    from overworld.node import rate_limits
    from overworld.subsystems.ratelimit import EmbeddedRateLimiter

    changed = msgspec.structs.replace(
        settings, rate_limit_calls={"MatchDataSend": {"user": "off"}, "Rpc": {"address": "1/s"}}
    )
    limits = rate_limits(changed, EmbeddedRateLimiter())
    assert limits.rates("match_data_send")[1] is None
    assert str(limits.rates("rpc")[0]) == "1/s"
    assert str(limits.rates("GetAccount")[1]) == "100/s"  # the defaults
