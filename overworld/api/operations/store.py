"""The store and the inventory over REST (Overworld's extension, docs/economy.md): for players
(what they can buy, buying with virtual currency, their purchases, their inventory, consuming)
and for operators with the title's HTTP key (the catalog, granting and revoking items)."""

from __future__ import annotations

from typing import Any

import msgspec

from overworld.clock import rfc3339
from overworld.context import CallContext
from overworld.inventory.models import InventoryItem as DomainInventoryItem
from overworld.services import Services
from overworld.store import models as m


class Wire(msgspec.Struct, kw_only=True):
    """Base of this extension's messages (every field is written, defaults too)."""


class StoreContents(Wire):
    currencies: dict[str, int]
    items: dict[str, int]

    @classmethod
    def of(cls, c: m.Contents) -> StoreContents:
        return cls(currencies=c.currencies, items=c.items)


class StoreLimit(Wire):
    total: int
    per_period: int
    period_sec: int

    @classmethod
    def of(cls, lim: m.Limit) -> StoreLimit:
        return cls(total=lim.total, per_period=lim.per_period, period_sec=lim.period_sec)


class StoreItem(Wire):
    id: str
    name: str
    kind: str
    duration_sec: int
    max_stack: int
    category: str
    properties: dict[str, Any]
    update_time: str

    @classmethod
    def of(cls, i: m.Item) -> StoreItem:
        return cls(id=i.id, name=i.name, kind=i.kind, duration_sec=i.duration_sec, max_stack=i.max_stack,
                   category=i.category, properties=i.properties,
                   update_time=rfc3339(i.update_time))  # fmt: skip


class StoreBundle(Wire):
    id: str
    name: str
    category: str
    properties: dict[str, Any]
    contents: StoreContents
    price: dict[str, int]
    product_ids: dict[str, str]
    limit: StoreLimit
    enabled: bool
    update_time: str

    @classmethod
    def of(cls, b: m.Bundle) -> StoreBundle:
        return cls(id=b.id, name=b.name, category=b.category, properties=b.properties,
                   contents=StoreContents.of(b.contents), price=b.price, product_ids=b.product_ids,
                   limit=StoreLimit.of(b.limit), enabled=b.enabled,
                   update_time=rfc3339(b.update_time))  # fmt: skip


class StoreOffer(Wire):
    id: str
    name: str
    category: str
    properties: dict[str, Any]
    bundle_id: str  # "" when the offer has contents of its own
    contents: StoreContents  # what it gives (its bundle's, or its own)
    price: dict[str, int]
    live_event_id: str
    audience: dict[str, Any]
    start_time: int  # Unix seconds, 0: open
    end_time: int
    limit: StoreLimit
    enabled: bool
    update_time: str

    @classmethod
    def of(cls, o: m.Offer, catalog: m.Catalog) -> StoreOffer:
        return cls(id=o.id, name=o.name, category=o.category, properties=o.properties, bundle_id=o.bundle_id,
                   contents=StoreContents.of(catalog.contents_of(o)), price=o.price,
                   live_event_id=o.live_event_id, audience=o.audience, start_time=o.start_time,
                   end_time=o.end_time, limit=StoreLimit.of(o.limit), enabled=o.enabled,
                   update_time=rfc3339(o.update_time))  # fmt: skip


class GetStoreRequest(Wire):
    pass


class StoreListing(Wire):
    items: list[StoreItem]
    bundles: list[StoreBundle]
    offers: list[StoreOffer]


class StorePurchaseRequest(Wire):
    bundle_id: str = ""
    offer_id: str = ""
    idempotency_key: str = ""


class StorePurchase(Wire):
    id: str
    bundle_id: str
    offer_id: str
    price: dict[str, int]
    currencies: dict[str, int]
    items: dict[str, int]
    wallet: dict[str, int]  # after the purchase
    create_time: str
    replayed: bool

    @classmethod
    def of(cls, p: m.Purchase) -> StorePurchase:
        return cls(id=p.id, bundle_id=p.bundle_id, offer_id=p.offer_id, price=p.price,
                   currencies=p.currencies, items=p.items, wallet=p.wallet,
                   create_time=rfc3339(p.create_time), replayed=p.replayed)  # fmt: skip


class ListStorePurchasesRequest(Wire):
    limit: int = 100


class StorePurchaseList(Wire):
    purchases: list[StorePurchase]


class InventoryItem(Wire):
    item_id: str
    quantity: int
    properties: dict[str, Any]
    expire_time: str  # "" for an item that does not expire
    create_time: str
    update_time: str

    @classmethod
    def of(cls, i: DomainInventoryItem) -> InventoryItem:
        return cls(item_id=i.item_id, quantity=i.quantity, properties=i.properties,
                   expire_time=rfc3339(i.expire_time) if i.expire_time else "",
                   create_time=rfc3339(i.create_time), update_time=rfc3339(i.update_time))  # fmt: skip


class ListInventoryRequest(Wire):
    pass


class Inventory(Wire):
    items: list[InventoryItem]


class ConsumeInventoryRequest(Wire):
    items: Any = None  # item id -> quantity (checked by the service, which names the field)


class GetStoreCatalogRequest(Wire):
    pass


class StoreCatalog(Wire):
    items: list[StoreItem]
    bundles: list[StoreBundle]
    offers: list[StoreOffer]


class SetStoreEntryRequest(Wire):
    id: str
    definition: Any = None  # the entry's JSON object (docs/economy.md)


class DeleteStoreEntryRequest(Wire):
    kind: str  # "item", "bundle" or "offer"
    id: str


class StoreDone(Wire):
    pass


class ChangeInventoryRequest(Wire):
    user_id: str
    items: Any = None  # item id -> quantity
    properties: Any = None  # grants: item id -> properties merged into the stack


# -- players ----------------------------------------------------------------------------------------


async def get_store(node: Services, ctx: CallContext, _: GetStoreRequest) -> StoreListing:
    view = await node.store.catalog.view(ctx.title.id, ctx.user_id)
    catalog = await node.store.catalog.get(ctx.title.id)
    return StoreListing(
        items=[StoreItem.of(i) for i in view.items],
        bundles=[StoreBundle.of(b) for b in view.bundles],
        offers=[StoreOffer.of(o, catalog) for o in view.offers],
    )


async def purchase(node: Services, ctx: CallContext, req: StorePurchaseRequest) -> StorePurchase:
    bought = await node.store.purchase(
        ctx.title.id, ctx.user_id, req.bundle_id, req.offer_id, req.idempotency_key
    )
    return StorePurchase.of(bought)


async def list_purchases(
    node: Services, ctx: CallContext, req: ListStorePurchasesRequest
) -> StorePurchaseList:
    found = await node.store.purchases(ctx.title.id, ctx.user_id, req.limit)
    return StorePurchaseList(purchases=[StorePurchase.of(p) for p in found])


async def list_inventory(node: Services, ctx: CallContext, _: ListInventoryRequest) -> Inventory:
    items = await node.inventory.items(ctx.title.id, ctx.user_id)
    return Inventory(items=[InventoryItem.of(i) for i in items])


async def consume_inventory(node: Services, ctx: CallContext, req: ConsumeInventoryRequest) -> Inventory:
    items = await node.inventory.consume(ctx.title.id, ctx.user_id, req.items)
    return Inventory(items=[InventoryItem.of(i) for i in items])


# -- operators --------------------------------------------------------------------------------------


async def get_catalog(node: Services, ctx: CallContext, _: GetStoreCatalogRequest) -> StoreCatalog:
    catalog = await node.store.catalog.get(ctx.title.id)
    return StoreCatalog(
        items=[StoreItem.of(i) for i in catalog.items.values()],
        bundles=[StoreBundle.of(b) for b in catalog.bundles.values()],
        offers=[StoreOffer.of(o, catalog) for o in catalog.offers.values()],
    )


async def set_item(node: Services, ctx: CallContext, req: SetStoreEntryRequest) -> StoreItem:
    return StoreItem.of(await node.store.catalog.set_item(ctx.title.id, req.id, req.definition))


async def set_bundle(node: Services, ctx: CallContext, req: SetStoreEntryRequest) -> StoreBundle:
    return StoreBundle.of(await node.store.catalog.set_bundle(ctx.title.id, req.id, req.definition))


async def set_offer(node: Services, ctx: CallContext, req: SetStoreEntryRequest) -> StoreOffer:
    offer = await node.store.catalog.set_offer(ctx.title.id, req.id, req.definition)
    catalog = await node.store.catalog.get(ctx.title.id)
    return StoreOffer.of(offer, catalog)


async def delete_entry(node: Services, ctx: CallContext, req: DeleteStoreEntryRequest) -> StoreDone:
    await node.store.catalog.delete(ctx.title.id, req.kind, req.id)
    return StoreDone()


async def grant_inventory(node: Services, ctx: CallContext, req: ChangeInventoryRequest) -> Inventory:
    items = await node.inventory.grant(ctx.title.id, req.user_id, req.items, req.properties)
    return Inventory(items=[InventoryItem.of(i) for i in items])


async def revoke_inventory(node: Services, ctx: CallContext, req: ChangeInventoryRequest) -> Inventory:
    items = await node.inventory.revoke(ctx.title.id, req.user_id, req.items)
    return Inventory(items=[InventoryItem.of(i) for i in items])
