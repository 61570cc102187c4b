"""The store and the inventory: Overworld's extension under `/v2/overworld/` (docs/economy.md).

Players (session token): `GET /v2/overworld/store`, `POST /v2/overworld/store/purchase`,
`GET /v2/overworld/store/purchases`, `GET /v2/overworld/inventory`,
`POST /v2/overworld/inventory/consume`. Operators (the title's HTTP key, `?http_key=` or as the
user name of Basic auth): `/v2/overworld/admin/store[/...]` and
`/v2/overworld/admin/inventory/{user_id}/grant|revoke`. Every call goes through the hooks under its
name."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32
from overworld.api.http.routes.live_events import http_key_context
from overworld.api.operations.store import (
    ChangeInventoryRequest,
    ConsumeInventoryRequest,
    DeleteStoreEntryRequest,
    GetStoreCatalogRequest,
    GetStoreRequest,
    Inventory,
    ListInventoryRequest,
    ListStorePurchasesRequest,
    SetStoreEntryRequest,
    StoreBundle,
    StoreCatalog,
    StoreDone,
    StoreItem,
    StoreListing,
    StoreOffer,
    StorePurchase,
    StorePurchaseList,
    StorePurchaseRequest,
)
from overworld.context import CallContext

Req = Request[Any, Any, Any]
Body = dict[str, Any]


# -- players ----------------------------------------------------------------------------------------


@route(calls.GET_STORE)
async def get_store(request: Req, ctx: CallContext) -> StoreListing:
    """The catalog as the caller sees it: the items, the bundles for sale, the offers open to them."""
    return await calls.GET_STORE.run(node_of(request), ctx, GetStoreRequest())


@route(calls.STORE_PURCHASE)
async def purchase(request: Req, ctx: CallContext, data: StorePurchaseRequest) -> StorePurchase:
    """Buy a bundle or an offer with virtual currency (`idempotency_key`: a retry applies once)."""
    return await calls.STORE_PURCHASE.run(node_of(request), ctx, data)


@route(calls.LIST_STORE_PURCHASES)
async def list_purchases(
    request: Req, ctx: CallContext, limit: Annotated[int, Parameter(query="limit", **INT32, default=100)]
) -> StorePurchaseList:
    """The caller's purchases with virtual currency, newest first (1-100)."""
    req = ListStorePurchasesRequest(limit=limit)
    return await calls.LIST_STORE_PURCHASES.run(node_of(request), ctx, req)


@route(calls.LIST_INVENTORY)
async def list_inventory(request: Req, ctx: CallContext) -> Inventory:
    """The caller's items (expired ones never shown)."""
    return await calls.LIST_INVENTORY.run(node_of(request), ctx, ListInventoryRequest())


@route(calls.CONSUME_INVENTORY)
async def consume(request: Req, ctx: CallContext, data: Body) -> Inventory:
    """Use up items: `{"items": {item id: quantity}}`; all or nothing."""
    req = ConsumeInventoryRequest(items=data.get("items"))
    return await calls.CONSUME_INVENTORY.run(node_of(request), ctx, req)


client_router = Router(
    path="/",
    route_handlers=[get_store, purchase, list_purchases, list_inventory, consume],
    dependencies={"ctx": Provide(session_context)},
    tags=["store"],
)


# -- operators --------------------------------------------------------------------------------------


@route(calls.GET_STORE_CATALOG)
async def admin_catalog(request: Req, ctx: CallContext) -> StoreCatalog:
    """The title's whole catalog."""
    return await calls.GET_STORE_CATALOG.run(node_of(request), ctx, GetStoreCatalogRequest())


@route(calls.SET_STORE_ITEM)
async def admin_set_item(request: Req, ctx: CallContext, entry_id: str, data: Body) -> StoreItem:
    """Create or replace an item."""
    req = SetStoreEntryRequest(id=entry_id, definition=data)
    return await calls.SET_STORE_ITEM.run(node_of(request), ctx, req)


@route(calls.SET_STORE_BUNDLE)
async def admin_set_bundle(request: Req, ctx: CallContext, entry_id: str, data: Body) -> StoreBundle:
    """Create or replace a bundle."""
    req = SetStoreEntryRequest(id=entry_id, definition=data)
    return await calls.SET_STORE_BUNDLE.run(node_of(request), ctx, req)


@route(calls.SET_STORE_OFFER)
async def admin_set_offer(request: Req, ctx: CallContext, entry_id: str, data: Body) -> StoreOffer:
    """Create or replace an offer."""
    req = SetStoreEntryRequest(id=entry_id, definition=data)
    return await calls.SET_STORE_OFFER.run(node_of(request), ctx, req)


def _delete(kind: str, path: str) -> Any:
    @route(calls.DELETE_STORE_ENTRY, path=path, name=f"admin_delete_store_{kind}")
    async def admin_delete(request: Req, ctx: CallContext, entry_id: str) -> StoreDone:
        """Delete a catalog entry (not while a bundle or an offer uses it)."""
        req = DeleteStoreEntryRequest(kind=kind, id=entry_id)
        return await calls.DELETE_STORE_ENTRY.run(node_of(request), ctx, req)

    return admin_delete


admin_delete_item = _delete("item", "/v2/overworld/admin/store/items/{entry_id:str}")
admin_delete_bundle = _delete("bundle", "/v2/overworld/admin/store/bundles/{entry_id:str}")
admin_delete_offer = _delete("offer", "/v2/overworld/admin/store/offers/{entry_id:str}")


@route(calls.GRANT_INVENTORY)
async def admin_grant(request: Req, ctx: CallContext, user_id: str, data: Body) -> Inventory:
    """Give a player items: `{"items": {item id: quantity}, "properties": {item id: {...}}}`."""
    req = ChangeInventoryRequest(user_id=user_id, items=data.get("items"), properties=data.get("properties"))
    return await calls.GRANT_INVENTORY.run(node_of(request), ctx, req)


@route(calls.REVOKE_INVENTORY)
async def admin_revoke(request: Req, ctx: CallContext, user_id: str, data: Body) -> Inventory:
    """Take items back: `{"items": {item id: quantity}}` (as many as the player holds)."""
    req = ChangeInventoryRequest(user_id=user_id, items=data.get("items"))
    return await calls.REVOKE_INVENTORY.run(node_of(request), ctx, req)


admin_router = Router(
    path="/",
    route_handlers=[
        admin_catalog, admin_set_item, admin_set_bundle, admin_set_offer, admin_delete_item,
        admin_delete_bundle, admin_delete_offer, admin_grant, admin_revoke,
    ],
    dependencies={"ctx": Provide(http_key_context)},
    tags=["store (operators)"],
)  # fmt: skip
ROUTES = [client_router, admin_router]
