"""In-app purchases against a running `overworld serve` on SQLite, on PostgreSQL and on two nodes
behind a round-robin balancer, with the title's stores configured through OVERWORLD_PURCHASES and
pointed at local fakes: 1,000 concurrent validations over HTTP (each receipt four times at once, a
quarter of them also by a second player) record each store transaction once; a store that is down
is a 503; a renewal notification reaches every node."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy
from tests.purchases.fakes import BUNDLE, PACKAGE, FakeStores, Pki, apple_notification, apple_transaction
from tests.support import basic, bearer, gather_all, unique

RECEIPTS, ATTEMPTS, PLAYERS = 250, 4, 20
DAY = 86_400_000


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.make()


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: Pki
) -> Iterator[tuple[Deployment, FakeStores]]:
    stores = FakeStores().start()
    config = {
        "default": {
            "apple": {
                "bundle_id": BUNDLE, "root_certificates": [pki.root_pem],
                "verify_receipt_url": f"{stores.url}/verifyReceipt",
                "verify_receipt_sandbox_url": f"{stores.url}/sandbox/verifyReceipt",
            },
            "google": {"package_name": PACKAGE, "service_account": stores.service_account,
                       "token_url": f"{stores.url}/token", "api_url": stores.url},
        }
    }  # fmt: skip
    env = {"OVERWORLD_PURCHASES": json.dumps(config)}
    try:
        with deploy(request.param, tmp_path_factory.mktemp(f"iap-{request.param}"), env) as deployment:
            yield deployment, stores
    finally:
        stores.stop()


async def _player(client: httpx.AsyncClient, server_key: str) -> tuple[str, dict[str, str]]:
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(server_key)
    )
    assert response.status_code == 200, response.text
    headers = bearer(response.json()["token"])
    account = await client.get("/v2/account", headers=headers)
    return account.json()["user"]["id"], headers


def test_a_thousand_concurrent_validations_record_each_transaction_once(running, pki: Pki) -> None:
    deployment, _ = running

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=deployment.url, timeout=60, limits=limits) as client:
            players = [await _player(client, deployment.server_key) for _ in range(PLAYERS)]
            rng = random.Random(11)
            owners: dict[str, str] = {}
            jobs: list[tuple[str, str, dict[str, str]]] = []
            by_tid: dict[str, list[str]] = {}
            for i in range(RECEIPTS):
                t = apple_transaction("gems_100")
                owner = rng.randrange(PLAYERS)
                owners[t["transactionId"]] = players[owner][0]
                claimants = [owner] * ATTEMPTS
                if i % 4 == 0:
                    claimants[-1] = (owner + 1) % PLAYERS
                receipt = pki.sign(t)
                jobs.extend((t["transactionId"], receipt, players[c][1]) for c in claimants)
                by_tid[t["transactionId"]] = [players[c][0] for c in claimants]
            rng.shuffle(jobs)
            new: Counter[str] = Counter()
            statuses: Counter[int] = Counter()
            holders: dict[str, set[str]] = {}  # who the validations were answered as owned by

            async def one(tid: str, receipt: str, headers: dict[str, str]) -> None:
                response = await client.post(
                    "/v2/iap/purchase/apple", json={"receipt": receipt}, headers=headers
                )
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    [p] = response.json()["validated_purchases"]
                    assert p["transaction_id"] == tid, p
                    holders.setdefault(tid, set()).add(p["user_id"])
                    if not p.get("seen_before"):
                        new[tid] += 1
                else:
                    assert response.status_code == 400, response.text
                    assert response.json()["message"] == "This purchase was validated by another user."

            await gather_all(one(*job) for job in jobs)
            assert sum(statuses.values()) == 1000 and set(statuses) <= {200, 400}, statuses
            assert sorted(new) == sorted(owners) and set(new.values()) == {1}
            assert all(len(users) == 1 for users in holders.values())  # one owner, whoever came first
            refusals = sum(  # every validation by someone other than the winner, and only those
                sum(1 for user in by_tid[tid] if user not in holders[tid]) for tid in owners
            )
            assert statuses[400] == refusals

    asyncio.run(scenario())


def test_a_store_down_is_unavailable_and_a_renewal_reaches_every_node(running, pki: Pki) -> None:
    deployment, stores = running

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as client:
            user, headers = await _player(client, deployment.server_key)
            stores.mode = "down"
            try:
                purchase = stores.google_purchase("gems_100")
                down = await client.post(
                    "/v2/iap/purchase/google", json={"purchase": purchase}, headers=headers
                )
                assert down.status_code == 503 and down.json()["code"] == 14, down.text
            finally:
                stores.mode = "up"
            ok = await client.post("/v2/iap/purchase/google", json={"purchase": purchase}, headers=headers)
            assert ok.status_code == 200, ok.text
            now = int(time.time() * 1000)
            sub = apple_transaction("vip_monthly", type="Auto-Renewable Subscription", expiresDate=now + DAY)
            first = await client.post(
                "/v2/iap/subscription/apple", json={"receipt": pki.sign(sub)}, headers=headers
            )
            assert first.status_code == 200, first.text
        renewal = {**sub, "transactionId": unique("t"), "expiresDate": now + 31 * DAY}
        body = apple_notification(pki, "DID_RENEW", renewal)
        for _ in range(2):  # two connections: through the balancer, each node gets one
            async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as client:
                response = await client.post("/webhooks/iap/apple/default", content=body)
                assert response.status_code == 200, response.text
        for _ in range(2):
            async with httpx.AsyncClient(base_url=deployment.url, timeout=30) as client:
                got = await client.get("/v2/iap/subscription/vip_monthly", headers=headers)
                assert got.status_code == 200, got.text
                assert got.json()["active"] is True and got.json()["user_id"] == user
                from overworld.clock import rfc3339

                assert got.json()["expiry_time"] == rfc3339(now + 31 * DAY)

    asyncio.run(scenario())
