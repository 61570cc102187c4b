"""Wallets end to end on every deployment (one server on SQLite, one on PostgreSQL, two nodes behind
a round-robin balancer): a thousand concurrent changes of one wallet through an RPC of server code,
some of them retried with their idempotency key, end with an exact ledger and never a negative
balance; bad input is a 400 naming the field and changes nothing."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy_with_code
from tests.support import basic, bearer, gather_all, unique

pytestmark = pytest.mark.anyio
INT64 = 2**63 - 1


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The example server code plus tests/runtime_e2e/wallets.py (RPCs that change and read wallets)."""
    workdir = tmp_path_factory.mktemp(f"wallets-{request.param}")
    with deploy_with_code(request.param, workdir, "wallets.py") as running:
        yield running


def new_player(deployment: Deployment) -> tuple[str, str]:
    """A new account: its user id and session token."""
    with httpx.Client(base_url=deployment.url, timeout=10) as http:
        session = http.post(
            "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic(deployment.server_key),
        ).json()
        account = http.get("/v2/account", headers=bearer(session["token"])).json()
    return account["user"]["id"], session["token"]


async def rpc(http: httpx.AsyncClient, deployment: Deployment, name: str, body: Any) -> httpx.Response:
    return await http.post(
        f"/v2/rpc/{name}", params={"http_key": deployment.http_key, "unwrap": ""}, content=json.dumps(body)
    )


async def state(http: httpx.AsyncClient, deployment: Deployment, user_id: str) -> dict[str, Any]:
    response = await rpc(http, deployment, "wallet_state", {"user_id": user_id})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_thousand_concurrent_changes_of_one_wallet(deployment: Deployment) -> None:
    user_id, token = new_player(deployment)
    rng = random.Random(1000)
    changes = [rng.choice((3, -5, -1, 2)) for _ in range(1000)]
    keys = [f"change-{i}" for i in range(1000)]
    retried = set(rng.sample(range(1000), 100))  # sent twice, as a client retrying after a timeout
    calls = [*range(1000), *retried]
    rng.shuffle(calls)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=deployment.url, timeout=60, limits=limits) as http:
        gate = asyncio.Semaphore(32)

        async def change(i: int) -> httpx.Response:
            async with gate:
                body = {
                    "user_id": user_id,
                    "changeset": {"coins": changes[i]},
                    "metadata": {"i": i},
                    "key": keys[i],
                }
                return await rpc(http, deployment, "wallet_change", body)

        responses = await gather_all(change(i) for i in calls)
        by_call: dict[int, list[httpx.Response]] = {}
        for i, response in zip(calls, responses, strict=True):
            by_call.setdefault(i, []).append(response)
        applied: set[int] = set()
        for i, answers in by_call.items():
            for response in answers:
                if response.status_code == 200:
                    applied.add(i)
                else:  # the only refusal: the balance would go negative
                    assert response.status_code == 400, response.text
                    assert response.json()["code"] == 9 and "negative" in response.json()["message"]
            ok = [r.json() for r in answers if r.status_code == 200]
            # A retry of an applied change answers the first result; it never applies twice.
            assert all((r["updated"], r["previous"]) == (ok[0]["updated"], ok[0]["previous"]) for r in ok)
            for r in ok:
                assert r["updated"]["coins"] == r["previous"].get("coins", 0) + changes[i] >= 0
        assert applied and len(applied) < 1000  # some refused: the wallet was empty at times
        if deployment.kind == "cluster":  # both nodes served changes of this one wallet
            assert len({r.json()["pid"] for r in responses if r.status_code == 200}) == 2
        balance = sum(changes[i] for i in applied)
        found = await state(http, deployment, user_id)
        assert sorted(item["metadata"]["i"] for item in found["ledger"]) == sorted(applied)
        assert sum(item["changeset"]["coins"] for item in found["ledger"]) == balance
        running = 0
        for item in reversed(found["ledger"]):  # oldest first
            running += item["changeset"]["coins"]
            assert running >= 0
        # The account as the player's client reads it, through either node: every node dropped
        # its cached copy before the changes were answered.
        for _ in range(4):
            account = await http.get("/v2/account", headers=bearer(token))
            wallet = json.loads(account.json()["wallet"])
            assert wallet == {"coins": balance}


async def test_concurrent_transfers_between_wallets_conserve_the_total(deployment: Deployment) -> None:
    # Transfers in both directions between the same wallets at once, on both nodes of a cluster:
    # each locks its two users' rows in one order, so none deadlocks, and none overdraws.
    users = [new_player(deployment)[0] for _ in range(4)]
    rng = random.Random(4)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=deployment.url, timeout=60, limits=limits) as http:
        for user in users:
            grant = await rpc(
                http, deployment, "wallet_change", {"user_id": user, "changeset": {"coins": 50}}
            )
            assert grant.status_code == 200, grant.text
        transfers = [(*rng.sample(users, 2), rng.randint(1, 30)) for _ in range(400)]
        gate = asyncio.Semaphore(16)

        async def transfer(giver: str, taker: str, amount: int) -> httpx.Response:
            async with gate:
                body = {"from": giver, "to": taker, "amount": amount}
                return await rpc(http, deployment, "wallet_transfer", body)

        responses = await gather_all(transfer(*t) for t in transfers)
        assert all(r.status_code == 200 or r.json()["code"] == 9 for r in responses), [
            r.text for r in responses if r.status_code != 200
        ][:3]
        done = [t for t, r in zip(transfers, responses, strict=True) if r.status_code == 200]
        assert len(done) > 100
        expected = dict.fromkeys(users, 50)
        for giver, taker, amount in done:
            expected[giver] -= amount
            expected[taker] += amount
        for user in users:
            found = await state(http, deployment, user)
            assert sum(item["changeset"]["coins"] for item in found["ledger"]) == expected[user] >= 0
        assert sum(expected.values()) == 200


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"changeset": {"coins": 1.5}}, "changeset.coins", 3),
        ({"changeset": {"coins": "10"}}, "changeset.coins", 3),
        ({"changeset": {"coins": 2**63}}, "changeset.coins", 3),
        ({"changeset": {"coins": INT64 - 1}, "user_id": "unknown"}, "user_id", 3),
        ({"changeset": {"coins": INT64}}, "changeset.coins", 3),  # the balance would pass int64
        ({"changeset": {"coins": -100}}, "", 9),
    ],
)
async def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    deployment: Deployment, body: dict[str, Any], field: str, code: int
) -> None:
    user_id, _ = new_player(deployment)
    async with httpx.AsyncClient(base_url=deployment.url, timeout=10) as http:
        first = await rpc(http, deployment, "wallet_change", {"user_id": user_id, "changeset": {"coins": 10}})
        assert first.status_code == 200, first.text
        if body.get("user_id") == "unknown":
            body = body | {"user_id": str(uuid.uuid4())}
        response = await rpc(http, deployment, "wallet_change", {"user_id": user_id} | body)
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["code"] == code and error["message"] == error["error"]
        assert error["message"].startswith(f"{field}:") if field else "'coins'" in error["message"]
        found = await state(http, deployment, user_id)
        assert found["wallet"] == {"coins": 10} and len(found["ledger"]) == 1
