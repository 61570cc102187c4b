"""A validated purchase grants what the title's catalog says its product is worth, with the node's
own wiring (`CatalogGrants` in node.py, no test double): the bundle whose `product_ids` name the
product gives its currencies to the wallet and its items to the inventory, once whatever the
retries, and a refund takes them back once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from overworld.api.http.app import create_app
from overworld.config import Settings
from overworld.node import Node
from overworld.runtime import ServerApi
from tests.purchases.conftest import Iap, iap_settings, store_config
from tests.purchases.fakes import FakeStores, HuaweiKeys, Pki, apple_notification, apple_transaction

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shop(settings: Settings, pki: Pki, stores: FakeStores, huawei: HuaweiKeys) -> AsyncIterator[Iap]:
    configured = iap_settings(settings, store_config(pki, stores, huawei))
    node = await Node.start(configured)  # the catalog grants, as in production
    try:
        app = create_app(configured, node=node)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield Iap(node, client, None, stores, pki, huawei)  # type: ignore[arg-type]
    finally:
        await node.close()


async def test_a_validated_purchase_grants_its_catalog_bundle_once_and_a_refund_takes_it_back(shop: Iap):
    nk = ServerApi(shop.node.runtime, shop.node.default_title, "test")
    await nk.store_item_set("dragon", {"name": "Dragon skin", "kind": "durable"})
    await nk.store_bundle_set(
        "gem-chest",
        {
            "contents": {"currencies": {"gems": 500}, "items": {"dragon": 1}},
            "product_ids": {"apple": "chest_1"},
        },
    )
    user, headers = await shop.player()
    receipt = shop.pki.sign(apple_transaction("chest_1"))
    # The same receipt validated five times at once, then once more: granted once.
    answers = await asyncio.gather(
        *(shop.post("/v2/iap/purchase/apple", headers, {"receipt": receipt}) for _ in range(5))
    )
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    again = await shop.post("/v2/iap/purchase/apple", headers, {"receipt": receipt})
    assert again.json()["validated_purchases"][0]["seen_before"] is True
    assert await shop.wallet(user) == {"gems": 500}
    items = {i.item_id: i.quantity for i in await nk.inventory_list(user)}
    assert items == {"dragon": 1}
    ledger = await nk.wallet_ledger_list(user)
    assert [item.changeset for item in ledger.items] == [{"gems": 500}]

    # A product no bundle names is recorded and grants nothing.
    other = await shop.post(
        "/v2/iap/purchase/apple", headers, {"receipt": shop.pki.sign(apple_transaction("unknown_sku"))}
    )
    assert other.status_code == 200 and await shop.wallet(user) == {"gems": 500}

    # Refunded after 200 gems were spent: the rest of the gems and the item are taken back, once.
    await nk.wallet_update(user, {"gems": -200})
    transaction = apple_transaction("chest_1")
    transaction["transactionId"] = answers[0].json()["validated_purchases"][0]["transaction_id"]
    refunded = {**transaction, "revocationDate": int(time.time() * 1000), "revocationReason": 0}
    webhook = f"/webhooks/iap/apple/{shop.node.default_title.name}"
    for n in range(2):
        body = apple_notification(shop.pki, "REFUND", refunded, notification_id=f"refund-{n}")
        assert (await shop.client.post(webhook, content=body)).status_code == 200
    assert await shop.wallet(user) == {"gems": 0}
    assert await nk.inventory_list(user) == []


async def test_the_account_caches_drop_the_player_once_the_grant_committed(shop: Iap):
    """Every node's account cache (`AccountService.changed`, which waits for the peers) drops the
    player after the purchase and its grant committed, before the answer: so the player's next
    read, on any node, sees the new wallet. Dropped before the commit, a read in between could
    cache the old wallet again."""
    nk = ServerApi(shop.node.runtime, shop.node.default_title, "test")
    await nk.store_bundle_set(
        "gems", {"contents": {"currencies": {"gems": 300}}, "product_ids": {"apple": "g_1"}}
    )
    user, headers = await shop.player()
    accounts = shop.node.accounts
    real_changed = accounts.changed
    seen: list[tuple[list[tuple[str, str]], dict[str, int]]] = []

    async def changed(keys):  # type: ignore[no-untyped-def]
        # what another connection reads at that moment: committed or not
        seen.append((list(keys), await shop.wallet(user)))
        await real_changed(keys)

    accounts.changed = changed  # type: ignore[method-assign]
    try:
        receipt = shop.pki.sign(apple_transaction("g_1"))
        answer = await shop.post("/v2/iap/purchase/apple", headers, {"receipt": receipt})
    finally:
        del accounts.changed
    assert answer.status_code == 200, answer.text
    title = shop.node.default_title.id
    assert seen == [([(title, user)], {"gems": 300})]
    account = await shop.client.get("/v2/account", headers=headers)
    assert account.json()["wallet"] == '{"gems":300}'
