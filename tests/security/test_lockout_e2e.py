"""Issue 15, defects 1 and 2, end to end on `overworld serve`: parallel password guesses across
nodes, and X-Forwarded-For believed only from configured proxies."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.deployments import DEPLOYMENT_PARAMS, deploy
from tests.support import basic, unique

URL = "/v2/account/authenticate/email"


async def _guess_at_once(base: str, email: str, n: int) -> list[int]:
    # One connection per request: behind the balancer they alternate between the two nodes.
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        bodies = [{"email": email, "password": f"wrong guess {i}"} for i in range(n - 1)]
        bodies.append({"email": email, "password": "the right one"})
        responses = await asyncio.gather(
            *(http.post(URL, json=b, headers=basic("defaultkey")) for b in bodies)
        )
    return [r.status_code for r in responses]


@pytest.mark.parametrize("kind", DEPLOYMENT_PARAMS)
def test_parallel_guesses_are_limited_on_every_node(kind, tmp_path):
    with deploy(kind, tmp_path, {"OVERWORLD_LOCKOUT_ACCOUNT_FAILURES": "5"}) as d:
        email = f"{unique('race')}@example.com"
        signed_up = httpx.post(
            d.url + URL, json={"email": email, "password": "the right one"}, headers=basic("defaultkey")
        )
        assert signed_up.status_code == 200
        statuses = asyncio.run(_guess_at_once(d.url, email, 60))
        assert statuses.count(401) + statuses.count(200) <= 5, statuses
        assert statuses.count(429) >= 55
        if kind == "cluster":
            assert d.balancer is not None and d.balancer.connections >= 60


def _wrong(url: str, email: str, forwarded: str) -> int:
    return httpx.post(
        url + URL,
        json={"email": email, "password": "a wrong password"},
        headers={**basic("defaultkey"), "X-Forwarded-For": forwarded},
    ).status_code


def test_forwarded_addresses_are_ignored_unless_from_a_configured_proxy(tmp_path):
    no_delays = {"OVERWORLD_LOCKOUT_DELAY_SEC": "0"}  # the count limits on their own
    with deploy("sqlite", tmp_path / "default", no_delays) as d:
        email = f"{unique('fwd')}@example.com"
        httpx.post(
            d.url + URL, json={"email": email, "password": "the right one"}, headers=basic("defaultkey")
        )
        # A client choosing a new X-Forwarded-For for each guess is still one address.
        statuses = [_wrong(d.url, email, f"192.0.2.{i}") for i in range(8)]
        assert statuses == [401] * 5 + [429] * 3
    with deploy(
        "sqlite", tmp_path / "proxied", {"OVERWORLD_TRUSTED_PROXIES": "127.0.0.0/8, ::1", **no_delays}
    ) as d:
        email = f"{unique('fwd')}@example.com"
        httpx.post(
            d.url + URL, json={"email": email, "password": "the right one"}, headers=basic("defaultkey")
        )
        # Behind a configured proxy, each forwarded client counts on its own.
        assert [_wrong(d.url, email, f"192.0.2.{i}") for i in range(8)] == [401] * 8
        assert [_wrong(d.url, email, "198.51.100.9") for _ in range(6)] == [401] * 5 + [429]
        ok = httpx.post(
            d.url + URL,
            json={"email": email, "password": "the right one"},
            headers={**basic("defaultkey"), "X-Forwarded-For": "203.0.113.5"},
        )
        assert ok.status_code == 200
