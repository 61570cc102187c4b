"""Exactly once under load: 1,000 concurrent validations (each receipt validated several times at
once, some by two users) grant each store transaction once, on SQLite, on PostgreSQL, and across
two nodes sharing PostgreSQL and Redis. The grants go through a `ProductGrants` that credits the
wallet with SQL and does not deduplicate: a second grant would show in the balances."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import msgspec
import pytest

from overworld.config import Settings
from overworld.errors import ApiError
from overworld.node import Node
from tests.purchases.conftest import Iap, iap_settings, store_config
from tests.purchases.fakes import CATALOG, FakeStores, HuaweiKeys, Pki, WalletGrants, apple_transaction
from tests.support import REDIS_URL, redis_prefix, unique

pytestmark = pytest.mark.anyio
RECEIPTS, ATTEMPTS, USERS = 250, 4, 20


async def _users(node: Node, count: int) -> list[str]:
    title = node.default_title
    found = []
    for _ in range(count):
        found.append((await node.accounts.authenticate_device(title, unique("device-"), True)).user_id)
    return found


async def _storm(
    nodes: list[Node], users: list[str], pki: Pki
) -> tuple[dict[str, str], Counter[str], Counter[str]]:
    """Validate RECEIPTS receipts ATTEMPTS times each at once (a quarter of them also by a second
    user), spread over `nodes`; returns each transaction's intended owner, how many validations
    were new per transaction, and the outcomes."""
    rng = random.Random(7)
    owners: dict[str, str] = {}
    jobs = []
    for i in range(RECEIPTS):
        t = apple_transaction(rng.choice(list(CATALOG)))
        receipt = pki.sign(t)
        owner = rng.choice(users)
        owners[t["transactionId"]] = owner
        claimants = [owner] * ATTEMPTS
        if i % 4 == 0:
            claimants[-1] = rng.choice([u for u in users if u != owner])
        jobs.extend((receipt, user) for user in claimants)
    rng.shuffle(jobs)
    new: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()

    async def one(index: int, receipt: str, user: str) -> None:
        node = nodes[index % len(nodes)]
        try:
            [p] = await node.purchases.validate_purchase_apple(node.default_title.id, user, receipt)
        except ApiError as exc:
            outcomes[exc.message] += 1
            return
        outcomes["seen_before" if p.seen_before else "new"] += 1
        if not p.seen_before:
            new[p.transaction_id] += 1
            new["owner:" + p.transaction_id + ":" + p.user_id] += 1

    await asyncio.gather(*(one(i, r, u) for i, (r, u) in enumerate(jobs)))
    assert len(jobs) == RECEIPTS * ATTEMPTS == 1000
    return owners, new, outcomes


async def _check(nodes: list[Node], grants: list[WalletGrants], owners: dict[str, str], new: Counter[str],
                 outcomes: Counter[str]) -> None:  # fmt: skip
    assert all(new[tid] == 1 for tid in owners), "a transaction granted twice or never"
    granted = [g for fake in grants for g in fake.granted]
    assert sorted(g.transaction_id for g in granted) == sorted(owners)  # once each, on whichever node
    assert outcomes["new"] == RECEIPTS
    assert (
        outcomes["new"] + outcomes["seen_before"] + outcomes["This purchase was validated by another user."]
        == 1000
    )
    # The balances are the sums of what each transaction's first validator was granted.
    expected: dict[str, Counter[str]] = {}
    for g in granted:
        expected.setdefault(g.user_id, Counter()).update(CATALOG[g.product_id])
    node = nodes[0]
    for user, wallet in expected.items():
        assert await node.wallets.wallet(node.default_title.id, user) == dict(wallet)
    page = await node.purchases.list_purchases(node.default_title.id, "", 100)
    assert len(page.purchases) == 100 and page.cursor


async def test_a_thousand_concurrent_validations_grant_each_transaction_once(iap: Iap):
    users = await _users(iap.node, USERS)
    owners, new, outcomes = await _storm([iap.node], users, iap.pki)
    await _check([iap.node], [iap.grants], owners, new, outcomes)


@pytest.mark.cluster
async def test_two_nodes_grant_each_transaction_once(
    settings: Settings, pki: Pki, stores: FakeStores, huawei: HuaweiKeys
):
    if not settings.is_postgres or not REDIS_URL:
        pytest.skip("two nodes need PostgreSQL and OVERWORLD_TEST_REDIS_URL")
    clustered = msgspec.structs.replace(
        iap_settings(settings, store_config(pki, stores, huawei)),
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix("owiap"),
    )
    grants = [WalletGrants(), WalletGrants()]
    nodes = [await Node.start(clustered, grants=grants[0])]
    try:
        nodes.append(await Node.start(clustered, grants=grants[1]))
        users = await _users(nodes[0], USERS)
        owners, new, outcomes = await _storm(nodes, users, pki)
        await _check(nodes, grants, owners, new, outcomes)
        assert all(fake.granted for fake in grants)  # both nodes did some of the work
    finally:
        for node in reversed(nodes):
            await node.close()
