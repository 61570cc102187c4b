"""The store and the inventory on SQLite and PostgreSQL: the catalog managed by operators and
server code, what a player sees, purchases with virtual currency (one transaction: debit, grant,
ledger rows, inventory, a record), idempotency keys, purchase limits, offers opened by a live event
or an audience, consume / grant / revoke / expiry, errors that name the field and grant nothing,
title isolation, real-money product grants, and concurrent purchases of one wallet."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overworld.clock import now_ms
from overworld.errors import FailedPrecondition, InvalidArgument, NotFound
from overworld.inventory.service import Grant
from overworld.node import Node
from overworld.purchases.grants import GrantResult, ProductGrant
from overworld.runtime import ServerApi, WalletNegative
from tests.conftest import Api
from tests.support import bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture
def nk(node: Node) -> ServerApi:
    return ServerApi(node.runtime, node.default_title, "tests")


def key(node: Node) -> dict[str, str]:
    return {"http_key": node.default_title.http_key}


async def new_user(api: Api, **params: Any) -> tuple[str, str]:
    session = await api.device(**params)
    account = await api.client.get("/v2/account", headers=bearer(session["token"]))
    return account.json()["user"]["id"], session["token"]


async def stock(nk: ServerApi) -> None:
    """A small catalog: a potion (consumable), a sword (durable), a boost (time-limited, 1 h)."""
    await nk.store_item_set(
        "potion", {"name": "Potion", "category": "consumables", "properties": {"heal": 50}}
    )
    await nk.store_item_set("sword", {"name": "Sword", "kind": "durable"})
    await nk.store_item_set("boost", {"name": "XP boost", "kind": "time_limited", "duration_sec": 3600})
    await nk.store_bundle_set(
        "starter",
        {"name": "Starter", "contents": {"currencies": {"gold": 500}, "items": {"potion": 3, "sword": 1}},
         "price": {"gems": 100}, "product_ids": {"apple": "com.game.starter"}},
    )  # fmt: skip
    await nk.store_bundle_set(
        "potions", {"contents": {"items": {"potion": 5}}, "price": {"gold": 20}, "product_ids": {}}
    )


async def state(api: Api, token: str) -> dict[str, Any]:
    wallet = (await api.client.get("/v2/overworld/wallet", headers=bearer(token))).json()["wallet"]
    inventory = (await api.client.get("/v2/overworld/inventory", headers=bearer(token))).json()["items"]
    ledger = (await api.client.get("/v2/overworld/wallet/ledger", headers=bearer(token))).json()["items"]
    return {"wallet": wallet, "items": {i["item_id"]: i["quantity"] for i in inventory}, "ledger": ledger}


# -- the catalog ------------------------------------------------------------------------------------


async def test_operators_manage_the_catalog_with_the_http_key(client, node):
    put = await client.put("/v2/overworld/admin/store/items/gem-pack", params=key(node),
                           json={"name": "Gem pack", "kind": "consumable", "maxStack": 10})  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json()["max_stack"] == 10 and put.json()["kind"] == "consumable"
    bundle = await client.put(
        "/v2/overworld/admin/store/bundles/b1", params=key(node),
        json={"name": "B1", "contents": {"items": {"gem-pack": 2}}, "price": {"coins": 5}},
    )  # fmt: skip
    assert bundle.status_code == 200, bundle.text
    catalog = (await client.get("/v2/overworld/admin/store", params=key(node))).json()
    assert [i["id"] for i in catalog["items"]] == ["gem-pack"]
    assert catalog["bundles"][0]["contents"] == {"currencies": {}, "items": {"gem-pack": 2}}
    # An item a bundle uses cannot be deleted; the bundle first, then the item.
    used = await client.delete("/v2/overworld/admin/store/items/gem-pack", params=key(node))
    assert used.status_code == 400 and "bundle 'b1'" in used.json()["message"]
    assert (await client.delete("/v2/overworld/admin/store/bundles/b1", params=key(node))).status_code == 200
    assert (
        await client.delete("/v2/overworld/admin/store/items/gem-pack", params=key(node))
    ).status_code == 200
    gone = await client.delete("/v2/overworld/admin/store/items/gem-pack", params=key(node))
    assert gone.status_code == 404
    assert (await client.get("/v2/overworld/admin/store")).status_code == 401
    assert (await client.get("/v2/overworld/admin/store", params={"http_key": "wrong"})).status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("items/x", {"kind": "magic"}, "kind"),
        ("items/x", {"kind": "time_limited"}, "duration_sec"),
        ("items/x", {"max_stack": 0}, "max_stack"),
        ("items/x", {"max_stack": 1.5}, "max_stack"),
        ("items/x", {"colour": "red"}, "colour"),
        ("items/bad%20id", {}, "id"),
        (
            "bundles/b",
            {"contents": {"items": {"nothing": 1}}, "price": {"gems": 1}},
            "contents.items.nothing",
        ),
        ("bundles/b", {"contents": {"currencies": {"gold": 1.5}}}, "contents.currencies.gold"),
        ("bundles/b", {"contents": {"currencies": {"gold": 2**63}}}, "contents.currencies.gold"),
        ("bundles/b", {"contents": {"currencies": {"gold": 1}}, "price": {"gems": -3}}, "price.gems"),
        ("bundles/b", {"contents": {"currencies": {"gold": 1}}, "price": {"gems": "3"}}, "price.gems"),
        ("bundles/b", {"contents": {}}, "contents"),
        (
            "bundles/b",
            {"contents": {"currencies": {"gold": 1}}, "product_ids": {"steam": "x"}},
            "product_ids",
        ),
        (
            "bundles/b",
            {"contents": {"currencies": {"gold": 1}}, "limit": {"per_period": 2}},
            "limit.period_sec",
        ),
        ("offers/o", {"bundle_id": "nope", "price": {"gems": 1}}, "bundle_id"),
        ("offers/o", {"contents": {"currencies": {"gold": 1}}}, "price"),
        (
            "offers/o",
            {"contents": {"currencies": {"gold": 1}}, "price": {"g": 1}, "audience": {"x": 1}},
            "audience",
        ),
        (
            "offers/o",
            {"contents": {"currencies": {"gold": 1}}, "price": {"g": 1}, "start_time": 10, "end_time": 5},
            "end_time",
        ),
    ],
)
async def test_bad_catalog_entries_are_400s_naming_the_field_and_store_nothing(
    client, node, path, body, field
):
    response = await client.put(f"/v2/overworld/admin/store/{path}", params=key(node), json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 3 and error["message"].startswith(field), error
    catalog = (await client.get("/v2/overworld/admin/store", params=key(node))).json()
    assert catalog == {"items": [], "bundles": [], "offers": []}


async def test_a_product_id_belongs_to_one_bundle_per_store(nk):
    await stock(nk)
    with pytest.raises(InvalidArgument, match=r"^product_ids.apple: 'com.game.starter' is already"):
        await nk.store_bundle_set(
            "copy", {"contents": {"currencies": {"gold": 1}}, "product_ids": {"apple": "com.game.starter"}}
        )


# -- purchases ----------------------------------------------------------------------------------------


async def test_a_purchase_debits_grants_writes_the_ledger_and_a_record(api, nk):
    await stock(nk)
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gems": 150})
    listing = (await api.client.get("/v2/overworld/store", headers=bearer(token))).json()
    assert {b["id"] for b in listing["bundles"]} == {"starter", "potions"}
    assert {i["id"] for i in listing["items"]} == {"potion", "sword", "boost"}
    bought = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token),
                                   json={"bundleId": "starter"})  # fmt: skip
    assert bought.status_code == 200, bought.text
    body = bought.json()
    assert body["price"] == {"gems": 100} and body["currencies"] == {"gold": 500}
    assert body["items"] == {"potion": 3, "sword": 1} and body["wallet"] == {"gems": 50, "gold": 500}
    assert body["replayed"] is False
    found = await state(api, token)
    assert found["wallet"] == {"gems": 50, "gold": 500}
    assert found["items"] == {"potion": 3, "sword": 1}
    # Two ledger rows (the price, then the currencies given) name the purchase.
    rows = [(r["changeset"], r["metadata"]) for r in found["ledger"][:2]]
    meta = {"purchase_id": body["id"], "bundle_id": "starter", "offer_id": ""}
    assert rows == [({"gold": 500}, meta), ({"gems": -100}, meta)]
    inventory = (await api.client.get("/v2/overworld/inventory", headers=bearer(token))).json()["items"]
    potion = next(i for i in inventory if i["item_id"] == "potion")
    assert potion["properties"] == {"heal": 50} and potion["expire_time"] == ""
    history = (await api.client.get("/v2/overworld/store/purchases", headers=bearer(token))).json()
    assert [p["id"] for p in history["purchases"]] == [body["id"]]
    # The durable sword is held once: a second starter bundle is refused, nothing charged.
    await nk.wallet_update(user, {"gems": 100})
    again = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token),
                                  json={"bundle_id": "starter"})  # fmt: skip
    assert again.status_code == 400 and again.json()["message"].startswith("contents.items.sword")
    assert (await state(api, token))["wallet"] == {"gems": 150, "gold": 500}


async def test_not_enough_currency_is_refused_and_nothing_is_granted(api, nk):
    await stock(nk)
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gems": 99})
    before = await state(api, token)
    response = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token),
                                     json={"bundle_id": "starter"})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 9 and response.json()["message"].startswith(
        "price.gems: not enough gems"
    )
    assert await state(api, token) == before
    assert (await api.client.get("/v2/overworld/store/purchases", headers=bearer(token))).json() == {
        "purchases": []
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "bundle_id"),
        ({"bundle_id": "starter", "offer_id": "x"}, 400, "bundle_id"),
        ({"bundle_id": "no-such"}, 404, "bundle_id"),
        ({"bundle_id": "bad id!"}, 400, "bundle_id"),
        ({"offer_id": "no-such"}, 404, "offer_id"),
        ({"bundle_id": "starter", "idempotency_key": "k" * 129}, 400, "idempotency_key"),
    ],
)
async def test_bad_purchases_are_refused_naming_the_field(api, nk, body, status, field):
    await stock(nk)
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gems": 500})
    response = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token), json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"].startswith(field), response.json()
    assert (await state(api, token))["wallet"] == {"gems": 500}


async def test_a_retried_purchase_applies_once(api, nk):
    await stock(nk)
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gold": 100})
    body = {"bundle_id": "potions", "idempotency_key": "buy-1"}
    first = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token), json=body)
    second = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token), json=body)
    assert first.status_code == second.status_code == 200
    assert second.json() == {**first.json(), "replayed": True}
    assert (await state(api, token))["wallet"] == {"gold": 80}
    assert (await state(api, token))["items"] == {"potion": 5}
    other = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token),
                                  json={"bundle_id": "starter", "idempotency_key": "buy-1"})  # fmt: skip
    assert other.status_code == 400 and other.json()["message"].startswith("idempotency_key")


async def test_purchase_limits_per_player_total_and_per_period(api, nk):
    await nk.store_item_set("chest", {})
    await nk.store_bundle_set("once", {"contents": {"items": {"chest": 1}}, "price": {"gold": 1},
                                       "limit": {"total": 1}})  # fmt: skip
    await nk.store_bundle_set("daily", {"contents": {"items": {"chest": 1}}, "price": {"gold": 1},
                                        "limit": {"per_period": 2, "period_sec": 86400}})  # fmt: skip
    (a, _), (b, _) = await new_user(api), await new_user(api)
    for user in (a, b):
        await nk.wallet_update(user, {"gold": 10})
        await nk.store_purchase(user, bundle_id="once")
        with pytest.raises(FailedPrecondition, match=r"^bundle_id: purchase limit reached \(1 per player\)"):
            await nk.store_purchase(user, bundle_id="once")
    await nk.store_purchase(a, bundle_id="daily")
    await nk.store_purchase(a, bundle_id="daily")
    with pytest.raises(FailedPrecondition, match=r"2 per 86400 seconds"):
        await nk.store_purchase(a, bundle_id="daily")
    assert (await nk.wallet_update(a, {})).updated == {"gold": 7}  # 3 bought, the refused ones free
    assert [i.quantity for i in await nk.inventory_list(a)] == [3]


async def test_offers_open_by_live_event_and_audience(api, nk, node):
    await stock(nk)
    now = now_ms() // 1000
    event = await node.live_events.create(  # times in Unix milliseconds here
        node.default_title.id, name="Halloween", start_time=(now - 60) * 1000, end_time=(now + 3600) * 1000
    )
    later = await node.live_events.create(
        node.default_title.id, name="Christmas", start_time=(now + 3600) * 1000, end_time=(now + 7200) * 1000
    )
    await nk.store_offer_set(
        "spooky", {"bundle_id": "starter", "price": {"gems": 10}, "live_event_id": event.id}
    )
    await nk.store_offer_set(
        "xmas", {"bundle_id": "starter", "price": {"gems": 5}, "live_event_id": later.id}
    )
    await nk.store_offer_set("french", {"contents": {"currencies": {"gold": 7}}, "price": {"gems": 1},
                                        "audience": {"lang": "fr"}})  # fmt: skip
    await nk.store_offer_set("expired", {"bundle_id": "potions", "price": {"gems": 1}, "end_time": now - 1})
    en, en_token = await new_user(api)
    fr, fr_token = await new_user(api, lang_tag="fr")
    await node.accounts.update_account(node.default_title, fr, _lang("fr"))
    for user in (en, fr):
        await nk.wallet_update(user, {"gems": 100})
    seen_en = (await api.client.get("/v2/overworld/store", headers=bearer(en_token))).json()["offers"]
    seen_fr = (await api.client.get("/v2/overworld/store", headers=bearer(fr_token))).json()["offers"]
    assert [o["id"] for o in seen_en] == ["spooky"]
    assert sorted(o["id"] for o in seen_fr) == ["french", "spooky"]
    assert seen_en[0]["contents"]["items"] == {"potion": 3, "sword": 1} and seen_en[0]["price"] == {
        "gems": 10
    }
    bought = await nk.store_purchase(en, offer_id="spooky")
    assert (bought.price, bought.offer_id, bought.bundle_id) == ({"gems": 10}, "spooky", "starter")
    for offer in ("xmas", "french", "expired"):
        with pytest.raises(NotFound, match=r"^offer_id: no offer"):
            await nk.store_purchase(en, offer_id=offer)
    assert (await nk.store_purchase(fr, offer_id="french")).currencies == {"gold": 7}
    # The event ends (its end moved to the past): the offer closes at once.
    await node.live_events.update(node.default_title.id, event.id, end_time=now * 1000)
    with pytest.raises(NotFound):
        await nk.store_purchase(fr, offer_id="spooky")


def _lang(tag: str) -> Any:
    from overworld.accounts.models import AccountUpdate

    return AccountUpdate(lang_tag=tag)


# -- inventory ----------------------------------------------------------------------------------------


async def test_grant_consume_revoke(api, nk, client, node):
    await stock(nk)
    user, token = await new_user(api)
    granted = await nk.inventory_grant(user, {"potion": 4}, {"potion": {"colour": "red"}})
    assert [(i.item_id, i.quantity, i.properties) for i in granted] == [
        ("potion", 4, {"heal": 50, "colour": "red"})
    ]
    used = await api.client.post("/v2/overworld/inventory/consume", headers=bearer(token),
                                 json={"items": {"potion": 3}})  # fmt: skip
    assert used.status_code == 200, used.text
    assert used.json()["items"][0]["quantity"] == 1
    too_many = await api.client.post("/v2/overworld/inventory/consume", headers=bearer(token),
                                     json={"items": {"potion": 2}})  # fmt: skip
    assert too_many.status_code == 400 and too_many.json()["message"].startswith("items.potion: not enough")
    assert (await state(api, token))["items"] == {"potion": 1}
    await nk.inventory_grant(user, {"sword": 1})
    durable = await api.client.post("/v2/overworld/inventory/consume", headers=bearer(token),
                                     json={"items": {"sword": 1}})  # fmt: skip
    assert durable.status_code == 400 and "durable" in durable.json()["message"]
    # Operators revoke (as many as held), with the HTTP key.
    revoked = await client.post(f"/v2/overworld/admin/inventory/{user}/revoke", params=key(node),
                                json={"items": {"potion": 5, "sword": 1}})  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    assert (await state(api, token))["items"] == {}
    with pytest.raises(InvalidArgument, match=r"^items.nothing: no item"):
        await nk.inventory_grant(user, {"nothing": 1})
    with pytest.raises(FailedPrecondition, match=r"^items.sword: the player would hold 2"):
        await nk.inventory_grant(user, {"sword": 2})
    assert (await state(api, token))["items"] == {}


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ({"potion": 1.5}, "items.potion"),
        ({"potion": 0}, "items.potion"),
        ({"potion": -1}, "items.potion"),
        ({"potion": 2**63}, "items.potion"),
        ({"potion": "1"}, "items.potion"),
        ({}, "items"),
        (["potion"], "items"),
        (None, "items"),
    ],
)
async def test_bad_consumes_are_400s_naming_the_field(api, nk, items, field):
    await stock(nk)
    user, token = await new_user(api)
    await nk.inventory_grant(user, {"potion": 2})
    response = await api.client.post(
        "/v2/overworld/inventory/consume", headers=bearer(token), json={"items": items}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3 and response.json()["message"].startswith(field), response.json()
    assert (await state(api, token))["items"] == {"potion": 2}


async def test_time_limited_items_expire_and_are_purged(api, nk, node):
    await stock(nk)
    user, token = await new_user(api)
    title = node.default_title.id
    spec = await node.store.catalog.item_spec(title, "boost")
    assert spec is not None
    long_ago = now_ms() - 2 * 3600 * 1000  # granted two hours ago for one hour: expired
    async with node.db.transaction() as tx:
        await node.inventory.grant_in(tx, title, user, [Grant(spec, 1)], field="items", now=long_ago)
    assert await nk.inventory_list(user) == []
    with pytest.raises(FailedPrecondition, match="not enough"):
        await nk.inventory_consume(user, {"boost": 1})
    # A new grant starts afresh (an hour from now); a second one extends it by another hour.
    [first] = await nk.inventory_grant(user, {"boost": 1})
    [second] = await nk.inventory_grant(user, {"boost": 1})
    assert first.quantity == 1 and second.quantity == 2
    assert second.expire_time == first.expire_time + 3600 * 1000
    listed = (await api.client.get("/v2/overworld/inventory", headers=bearer(token))).json()["items"]
    assert listed[0]["item_id"] == "boost" and listed[0]["expire_time"].endswith("Z")
    # Past its expiry it is purged.
    assert await node.inventory.purge(second.expire_time + 1) >= 1
    assert await node.db.fetchval("SELECT count(*) FROM inventory_items WHERE user_id = $1", user) == 0


# -- titles -----------------------------------------------------------------------------------------


async def test_titles_do_not_share_catalogs_wallets_or_inventories(api, nk, node, client):
    await stock(nk)
    other = await node.titles.create(unique("other"))
    other_nk = ServerApi(node.runtime, other, "tests")
    assert (await other_nk.store_catalog_get()).bundles == {}
    other_catalog = await client.get("/v2/overworld/admin/store", params={"http_key": other.http_key})
    assert other_catalog.json() == {"items": [], "bundles": [], "offers": []}
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"gems": 500})
    with pytest.raises(NotFound):
        await other_nk.store_purchase(user, bundle_id="starter")
    await other_nk.store_item_set("potion", {})
    with pytest.raises(NotFound):  # the user is not the other title's
        await other_nk.inventory_grant(user, {"potion": 1})
    await nk.inventory_grant(user, {"potion": 1})
    assert await other_nk.inventory_list(user) == []


# -- real money ---------------------------------------------------------------------------------------


async def test_product_grants_apply_once_and_revoke_once(api, nk, node):
    await stock(nk)
    user, token = await new_user(api)
    store = node.store
    grant = ProductGrant(node.default_title.id, user, "com.game.starter", "apple", "tx-1")

    async def run(fn: Any) -> GrantResult:
        async with node.db.transaction() as tx:
            out = await fn(tx, grant)
        return GrantResult(out.applied, out.currencies, out.items)  # the purchases domain's shape

    assert await run(store.grant) == GrantResult(True, {"gold": 500}, {"potion": 3, "sword": 1})
    assert await run(store.grant) == GrantResult(False)  # a replayed validation
    found = await state(api, token)
    assert found["wallet"] == {"gold": 500} and found["items"] == {"potion": 3, "sword": 1}
    assert found["ledger"][0]["metadata"]["transaction_id"] == "tx-1"
    await nk.inventory_consume(user, {"potion": 2})
    await nk.wallet_update(user, {"gold": -400})
    # The refund takes back what is left: gold down to zero, the potion left and the sword.
    assert await run(store.revoke) == GrantResult(True, {"gold": 100}, {"potion": 1, "sword": 1})
    assert await run(store.revoke) == GrantResult(False)
    found = await state(api, token)
    assert found["wallet"] == {"gold": 0} and found["items"] == {}
    unknown = ProductGrant(node.default_title.id, user, "com.game.unknown", "apple", "tx-2")
    async with node.db.transaction() as tx:
        assert (await store.grant(tx, unknown)).applied is False
    # A grant inside a transaction that fails is undone with it: it can be granted again.
    failing = ProductGrant(node.default_title.id, user, "com.game.starter", "apple", "tx-3")
    with pytest.raises(RuntimeError):
        async with node.db.transaction() as tx:
            await store.grant(tx, failing)
            raise RuntimeError("the purchase record could not be written")
    assert (await state(api, token))["wallet"] == {"gold": 0}
    async with node.db.transaction() as tx:
        assert (await store.grant(tx, failing)).applied is True


# -- concurrency ------------------------------------------------------------------------------------


async def test_concurrent_purchases_and_wallet_updates_of_one_wallet(api, nk, node):
    await nk.store_item_set("ticket", {})
    await nk.store_bundle_set("ticket", {"contents": {"items": {"ticket": 1}}, "price": {"gold": 3}})
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gold": 150})

    async def buy(i: int) -> str:
        try:
            await nk.store_purchase(user, bundle_id="ticket", idempotency_key=f"p{i % 150}")
        except FailedPrecondition:
            return "refused"
        return "bought"

    async def change(i: int) -> str:
        try:
            await nk.wallet_update(user, {"gold": 2 if i % 2 else -2}, {"i": i})
        except WalletNegative:
            return "refused"
        return "changed"

    jobs = [buy(i) for i in range(200)] + [change(i) for i in range(200)]
    outcomes = await asyncio.gather(*jobs)
    purchases = await nk.store_purchases_list(user, limit=100)
    assert len({p.id for p in purchases}) == len(purchases)
    bought = await node.db.fetchval("SELECT count(*) FROM store_purchases WHERE user_id = $1", user)
    [ticket] = await nk.inventory_list(user)
    assert ticket.quantity == bought <= 150  # one ticket per recorded purchase, retries applied once
    ledger = await node.db.fetch("SELECT changeset FROM wallet_ledger WHERE user_id = $1 ORDER BY seq", user)
    import orjson

    running = 0
    for row in ledger:
        running += orjson.loads(row["changeset"]).get("gold", 0)
        assert running >= 0
    assert (await state(api, token))["wallet"] == {"gold": running}
    assert running == 150 - 3 * bought + sum(
        (2 if i % 2 else -2) for i, o in enumerate(outcomes[200:]) if o == "changed"
    )


async def test_a_stale_catalog_is_read_again_without_starving_the_pool(api, nk, node, monkeypatch):
    # Every read of the catalog goes to the database (as when the cached copy is older than its
    # time to live) while more purchases of one wallet wait on its row lock than the pool has
    # connections: a purchase's transaction must not need a second connection.
    from overworld.store import catalog_service

    await nk.store_item_set("coin-bag", {})
    await nk.store_bundle_set("bag", {"contents": {"items": {"coin-bag": 1}}, "price": {"gold": 1}})
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"gold": 1000})
    monkeypatch.setattr(catalog_service, "SNAPSHOT_TTL_MS", -1)
    buys = [nk.store_purchase(user, bundle_id="bag") for _ in range(60)]
    done = await asyncio.wait_for(asyncio.gather(*buys), timeout=120)
    assert len({p.id for p in done}) == 60
    assert (await nk.inventory_list(user))[0].quantity == 60


async def test_hooks_wrap_purchases_and_a_before_hook_can_refuse_one(api, nk, node):
    await stock(nk)
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gold": 100})
    seen: list[tuple[str, str]] = []

    async def before(ctx, request):
        if request.bundle_id == "starter":
            return None  # refused: nothing is bought
        return request

    async def after(ctx, request, response):
        seen.append((ctx.user_id, response.id))

    node.hooks.before("StorePurchase", before, node.default_title.id)
    node.hooks.after("StorePurchase", after, node.default_title.id)
    refused = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token),
                                    json={"bundle_id": "starter"})  # fmt: skip
    assert refused.status_code != 200
    bought = await api.client.post("/v2/overworld/store/purchase", headers=bearer(token),
                                   json={"bundle_id": "potions"})  # fmt: skip
    assert bought.status_code == 200, bought.text
    assert seen == [(user, bought.json()["id"])]
    assert (await state(api, token))["items"] == {"potion": 5}


async def test_deleting_an_account_deletes_its_items_and_purchases(api, nk, node):
    await stock(nk)
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"gold": 100})
    await nk.store_purchase(user, bundle_id="potions")
    await node.accounts.delete_account(node.default_title, user)
    for table in ("inventory_items", "store_purchases"):
        assert await node.db.fetchval(f"SELECT count(*) FROM {table} WHERE user_id = $1", user) == 0


async def test_a_retry_is_answered_after_the_offer_closed(api, nk):
    await stock(nk)
    await nk.store_offer_set("flash", {"bundle_id": "potions", "price": {"gold": 5}})
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"gold": 50})
    first = await nk.store_purchase(user, offer_id="flash", idempotency_key="order-1")
    await nk.store_entry_delete("offer", "flash")
    again = await nk.store_purchase(user, offer_id="flash", idempotency_key="order-1")
    assert (again.id, again.replayed, again.wallet) == (first.id, True, {"gold": 45})
    with pytest.raises(NotFound):
        await nk.store_purchase(user, offer_id="flash", idempotency_key="order-2")


async def test_concurrent_purchases_never_pass_a_limit_or_a_key_twice(api, nk):
    # Purchases arriving together share a batch: each sees those before it.
    await nk.store_item_set("crown", {"max_stack": 100})
    await nk.store_bundle_set("crown", {"contents": {"items": {"crown": 1}}, "price": {"gold": 1},
                                        "limit": {"total": 2}})  # fmt: skip
    await nk.store_bundle_set("crown-x", {"contents": {"items": {"crown": 1}}, "price": {"gold": 1}})
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"gold": 100})
    limited = await asyncio.gather(
        *(nk.store_purchase(user, bundle_id="crown") for _ in range(6)), return_exceptions=True
    )
    assert sum(1 for r in limited if not isinstance(r, BaseException)) == 2
    assert all(isinstance(r, FailedPrecondition) for r in limited if isinstance(r, BaseException))
    keyed = await asyncio.gather(*(nk.store_purchase(user, bundle_id="crown-x", idempotency_key="same")
                                   for _ in range(6)))  # fmt: skip
    assert len({p.id for p in keyed}) == 1 and sum(not p.replayed for p in keyed) == 1
    assert (await nk.inventory_list(user))[0].quantity == 3
    assert (await nk.wallet_update(user, {})).updated == {"gold": 97}
