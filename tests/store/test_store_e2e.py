"""The store end to end on every deployment (one server on SQLite, one on PostgreSQL, two nodes
behind a round-robin balancer): a thousand concurrent purchases and wallet updates of one wallet,
some retried with their idempotency key, end with an exact ledger, never a negative balance and
never a double grant; bad input is a 400 naming the field and grants nothing; a catalog change on
one node reaches the other."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy_with_code
from tests.support import basic, bearer, gather_all, unique

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The example server code plus tests/runtime_e2e/wallets.py and store.py. The per-user rate
    limit is raised: one player sends some 300 purchases in a second or two here (the economy's
    concurrency is under test, not the abuse limits), and the default 100/s refused them with 429
    whenever the machine was fast enough."""
    workdir = tmp_path_factory.mktemp(f"store-{request.param}")
    limits = {"OVERWORLD_RATE_LIMIT_USER": "100000/s"}
    with deploy_with_code(request.param, workdir, "wallets.py", "store.py", env=limits) as running:
        yield running


def new_player(deployment: Deployment) -> tuple[str, str]:
    with httpx.Client(base_url=deployment.url, timeout=10) as http:
        session = http.post(
            "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic(deployment.server_key),
        ).json()
        account = http.get("/v2/account", headers=bearer(session["token"])).json()
    return account["user"]["id"], session["token"]


def admin(deployment: Deployment) -> dict[str, str]:
    return {"http_key": deployment.http_key}


async def rpc(http: httpx.AsyncClient, deployment: Deployment, name: str, body: Any) -> httpx.Response:
    return await http.post(
        f"/v2/rpc/{name}", params={"http_key": deployment.http_key, "unwrap": ""}, content=json.dumps(body)
    )


async def put(http: httpx.AsyncClient, deployment: Deployment, path: str, body: Any) -> None:
    response = await http.put(f"/v2/overworld/admin/store/{path}", params=admin(deployment), json=body)
    assert response.status_code == 200, response.text


async def test_a_thousand_concurrent_purchases_and_wallet_updates_of_one_wallet(
    deployment: Deployment,
) -> None:
    item, bundle = unique("ticket-"), unique("tickets-")
    user_id, token = new_player(deployment)
    rng = random.Random(14)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=deployment.url, timeout=120, limits=limits) as http:
        await put(http, deployment, f"items/{item}", {"name": "Ticket"})
        await put(
            http, deployment, f"bundles/{bundle}", {"contents": {"items": {item: 1}}, "price": {"coins": 3}}
        )
        start = await rpc(
            http, deployment, "wallet_change", {"user_id": user_id, "changeset": {"coins": 600}}
        )
        assert start.status_code == 200, start.text
        changes = {i: rng.choice((2, -2, 5, -1)) for i in range(500)}
        retried = set(rng.sample(range(500), 100))  # purchases sent twice, as a client retrying
        calls: list[tuple[str, int]] = [("buy", i) for i in range(500)] + [("buy", i) for i in retried]
        calls += [("change", i) for i in range(500)]
        rng.shuffle(calls)
        gate = asyncio.Semaphore(32)

        async def one(kind: str, i: int) -> httpx.Response:
            async with gate:
                if kind == "buy":  # half by the player over REST, half by server code
                    if i % 2:
                        return await http.post(
                            "/v2/overworld/store/purchase", headers=bearer(token),
                            json={"bundleId": bundle, "idempotencyKey": f"buy-{i}"},
                        )  # fmt: skip
                    body = {"user_id": user_id, "bundle_id": bundle, "key": f"buy-{i}"}
                    return await rpc(http, deployment, "store_buy", body)
                body = {"user_id": user_id, "changeset": {"coins": changes[i]}, "metadata": {"i": i}}
                return await rpc(http, deployment, "wallet_change", body)

        responses = await gather_all(one(*c) for c in calls)
        bought: dict[int, set[str]] = {}
        changed: set[int] = set()
        for (kind, i), response in zip(calls, responses, strict=True):
            if response.status_code != 200:  # the only refusal: not enough coins
                assert response.status_code == 400 and response.json()["code"] == 9, response.text
                continue
            if kind == "buy":
                bought.setdefault(i, set()).add(response.json()["id"])
            else:
                changed.add(i)
        assert all(len(ids) == 1 for ids in bought.values())  # a retry answers the same purchase
        assert bought and changed
        found = (await rpc(http, deployment, "store_state", {"user_id": user_id})).json()
        purchase_ids = [
            row["metadata"]["purchase_id"] for row in found["ledger"] if "purchase_id" in row["metadata"]
        ]
        assert sorted(purchase_ids) == sorted(next(iter(ids)) for ids in bought.values())  # one row each
        assert found["items"] == {item: len(bought)}  # no double grant
        assert sorted(r["metadata"]["i"] for r in found["ledger"] if "i" in r["metadata"]) == sorted(changed)
        balance = 600 - 3 * len(bought) + sum(changes[i] for i in changed)
        assert found["wallet"] == {"coins": balance}
        running = 0
        for row in reversed(found["ledger"]):  # oldest first: never below zero
            running += row["changeset"]["coins"]
            assert running >= 0
        assert running == balance


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bundle_id": 5}, "bundle_id"),
        ({"bundle_id": "x", "offer_id": "y"}, "bundle_id"),
        ({"idempotency_key": "k" * 200, "bundle_id": "x"}, "idempotency_key"),
    ],
)
async def test_bad_purchases_are_400s_naming_the_field_and_grant_nothing(deployment, body, field) -> None:
    user_id, token = new_player(deployment)
    async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as http:
        response = await http.post("/v2/overworld/store/purchase", headers=bearer(token), json=body)
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["code"] == 3 and field in error["message"], error
        found = (await rpc(http, deployment, "store_state", {"user_id": user_id})).json()
        assert found == {"wallet": {}, "ledger": [], "items": {}}


async def test_a_catalog_change_reaches_every_node(deployment: Deployment) -> None:
    item, bundle = unique("gem-"), unique("gems-")
    _, token = new_player(deployment)
    async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as first:
        await put(first, deployment, f"items/{item}", {})
        await put(
            first, deployment, f"bundles/{bundle}", {"contents": {"items": {item: 1}}, "price": {"coins": 3}}
        )
        async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as second:  # the other node
            assert await price_seen(second, token, bundle) == {"coins": 3}
            await put(
                first,
                deployment,
                f"bundles/{bundle}",
                {"contents": {"items": {item: 1}}, "price": {"coins": 9}},
            )
            for _ in range(100):  # pub/sub delivers within milliseconds; wait a few seconds at most
                if await price_seen(second, token, bundle) == {"coins": 9}:
                    break
                await asyncio.sleep(0.05)
            assert await price_seen(second, token, bundle) == {"coins": 9}


async def price_seen(http: httpx.AsyncClient, token: str, bundle: str) -> dict[str, int] | None:
    listing = (await http.get("/v2/overworld/store", headers=bearer(token))).json()
    return next((b["price"] for b in listing["bundles"] if b["id"] == bundle), None)
