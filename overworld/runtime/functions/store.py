"""Store and inventory functions of server code (`nk.store_*`, `nk.inventory_*`), mixed into
`ServerApi`; see docs/economy.md. Errors name the field, as over REST."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from overworld.inventory.models import InventoryItem
from overworld.inventory.service import InventoryService
from overworld.store.models import Bundle, Catalog, Item, Offer, Purchase, StoreView
from overworld.store.service import StoreService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

_KINDS = {"item": "item", "items": "item", "bundle": "bundle", "bundles": "bundle", "offer": "offer",
          "offers": "offer"}  # fmt: skip


class StoreFunctions:
    """The catalog (`nk.store_catalog_get`, `nk.store_item_set`, `nk.store_bundle_set`,
    `nk.store_offer_set`, `nk.store_entry_delete`), a player's store (`nk.store_list`,
    `nk.store_purchase`, `nk.store_purchases_list`) and inventory (`nk.inventory_list`,
    `nk.inventory_grant`, `nk.inventory_consume`, `nk.inventory_revoke`). Coroutines."""

    _runtime: Runtime
    _title: Title

    @property
    def _store(self) -> StoreService:
        return self._runtime.services.store

    @property
    def _inventory(self) -> InventoryService:
        return self._runtime.services.inventory

    # -- the catalog ------------------------------------------------------------------------------

    async def store_catalog_get(self) -> Catalog:
        """The title's whole catalog: `.items`, `.bundles`, `.offers` (dicts by id)."""
        return await self._store.catalog.get(self._title.id)

    async def store_item_set(self, item_id: str, definition: Mapping[str, Any]) -> Item:
        """Create or replace an item (`name`, `kind`, `duration_sec`, `max_stack`, `category`,
        `properties`).

            await nk.store_item_set("sword", {"name": "Sword", "kind": "durable"})
        """
        return await self._store.catalog.set_item(self._title.id, item_id, definition)

    async def store_bundle_set(self, bundle_id: str, definition: Mapping[str, Any]) -> Bundle:
        """Create or replace a bundle (`contents`, `price`, `product_ids`, `limit`, ...).

        await nk.store_bundle_set("starter", {
            "contents": {"currencies": {"gold": 500}, "items": {"sword": 1}},
            "price": {"gems": 100}, "product_ids": {"apple": "com.game.starter"},
            "limit": {"total": 1},
        })
        """
        return await self._store.catalog.set_bundle(self._title.id, bundle_id, definition)

    async def store_offer_set(self, offer_id: str, definition: Mapping[str, Any]) -> Offer:
        """Create or replace an offer: a `bundle_id` at a discounted `price` (or `contents` of its
        own), for a `live_event_id`'s players and/or an `audience`, between `start_time` and
        `end_time` (Unix seconds).

            await nk.store_offer_set("halloween", {"bundle_id": "starter", "price": {"gems": 50},
                                                   "live_event_id": event.id})
        """
        return await self._store.catalog.set_offer(self._title.id, offer_id, definition)

    async def store_entry_delete(self, kind: str, entry_id: str) -> None:
        """Delete an `"item"`, `"bundle"` or `"offer"` (not while a bundle or an offer uses it)."""
        await self._store.catalog.delete(self._title.id, _KINDS.get(kind, kind), entry_id)

    # -- a player's store -------------------------------------------------------------------------

    async def store_list(self, user_id: str) -> StoreView:
        """What the player sees: `.items`, the `.bundles` for sale, the `.offers` open to them."""
        from overworld.inventory.validation import user_id as check_user

        return await self._store.catalog.view(self._title.id, check_user(user_id, "user_id"))

    async def store_purchase(
        self, user_id: str, bundle_id: str = "", offer_id: str = "", idempotency_key: str = ""
    ) -> Purchase:
        """Buy a bundle (or an offer open to the player) with virtual currency, in one transaction:
        price debited, contents granted, ledger rows and a purchase record. FAILED_PRECONDITION when
        the wallet holds too little or a limit is reached; nothing is charged or granted then.

            bought = await nk.store_purchase(ctx.user_id, bundle_id="starter", idempotency_key=key)
        """
        return await self._store.purchase(self._title.id, user_id, bundle_id, offer_id, idempotency_key)

    async def store_purchases_list(self, user_id: str, limit: int = 100) -> list[Purchase]:
        """The player's purchases with virtual currency, newest first."""
        return await self._store.purchases(self._title.id, user_id, limit)

    # -- inventory --------------------------------------------------------------------------------

    async def inventory_list(self, user_id: str) -> list[InventoryItem]:
        """The player's items that have not expired."""
        return await self._inventory.items(self._title.id, user_id)

    async def inventory_grant(
        self,
        user_id: str,
        items: Mapping[str, int],
        properties: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[InventoryItem]:
        """Give catalog items (id -> quantity), `properties` per item merged into the stacks;
        returns the changed stacks.

            await nk.inventory_grant(user_id, {"potion": 3}, {"potion": {"source": "quest"}})
        """
        return await self._inventory.grant(self._title.id, user_id, items, properties)

    async def inventory_consume(self, user_id: str, items: Mapping[str, int]) -> list[InventoryItem]:
        """Use up items; FAILED_PRECONDITION (nothing taken) when the player holds fewer."""
        return await self._inventory.consume(self._title.id, user_id, items)

    async def inventory_revoke(self, user_id: str, items: Mapping[str, int]) -> list[InventoryItem]:
        """Take items back, as many as the player holds up to the quantities given."""
        return await self._inventory.revoke(self._title.id, user_id, items)
