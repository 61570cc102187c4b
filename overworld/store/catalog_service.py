"""The title's catalog: stored in the database (the source of truth), cached per node, the caches
of every node dropped on change through pub/sub.

A node reads a title's whole catalog once and keeps it (`get`); a change made on any node drops it
at once on that node and, through the `store.catalog` topic, on the others (and every cached copy
is read again after `SNAPSHOT_TTL_MS` at the latest, should a message be lost; after pub/sub
reconnects, every copy is dropped). Changes are checked against the catalog as the database holds
it: a bundle's items and an offer's bundle must exist, an item or a bundle still used cannot be
deleted, a real-money product id belongs to one bundle per store.

Offers open to a player are decided with what the layer above says of the player
(`models.Eligibility`: the live events live for them, their audiences), never by importing it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import orjson
import structlog

from overworld.clock import now_ms
from overworld.db import Database
from overworld.db.database import Executor
from overworld.errors import FailedPrecondition, InvalidArgument, NotFound
from overworld.inventory import validation as inv
from overworld.inventory.models import ItemSpec
from overworld.store import catalog as check
from overworld.store.models import KINDS, Bundle, Catalog, Eligibility, Item, NoLiveEvents, Offer, StoreView
from overworld.store.store import StoreStore
from overworld.subsystems.pubsub.base import PubSub

log = structlog.get_logger(__name__)
SNAPSHOT_TTL_MS = 5_000
_TOPIC = "store.catalog"
_Entry = TypeVar("_Entry", Item, Bundle, Offer)


class _Snapshot:
    __slots__ = ("catalog", "loaded_at", "products")

    def __init__(self, catalog: Catalog, loaded_at: int) -> None:
        self.catalog = catalog
        self.loaded_at = loaded_at
        self.products = {
            (store, sku): b for b in catalog.bundles.values() for store, sku in b.product_ids.items()
        }


class CatalogService:
    def __init__(self, db: Database, pubsub: PubSub, eligibility: Eligibility | None = None) -> None:
        self._db = db
        self._store = StoreStore(db)
        self._pubsub = pubsub
        self.eligibility: Eligibility = eligibility or NoLiveEvents()
        self._snapshots: dict[str, _Snapshot] = {}
        self._generations: dict[str, int] = {}

    def start(self) -> None:
        self._pubsub.subscribe(_TOPIC, self._received)
        self._pubsub.on_reconnect(self._resync)

    def _received(self, payload: bytes) -> None:
        self._invalidate(orjson.loads(payload)["t"])

    async def _resync(self) -> None:
        for title_id in list(self._snapshots):
            self._invalidate(title_id)

    def _invalidate(self, title_id: str) -> None:
        self._snapshots.pop(title_id, None)
        self._generations[title_id] = self._generations.get(title_id, 0) + 1

    async def _changed(self, title_id: str) -> None:
        self._invalidate(title_id)
        await self._pubsub.publish(_TOPIC, orjson.dumps({"t": title_id}))

    # -- reads ------------------------------------------------------------------------------------

    async def _snapshot(self, title_id: str, tx: Executor | None = None) -> _Snapshot:
        """The cached catalog, read again when dropped or stale: through `tx` when given (a caller
        inside a transaction must not wait for a second connection of the pool: with every
        connection held by transactions queued on one player's row lock, that wait never ends)."""
        snapshot = self._snapshots.get(title_id)
        if snapshot is not None and now_ms() - snapshot.loaded_at < SNAPSHOT_TTL_MS:
            return snapshot
        generation = self._generations.get(title_id, 0)
        snapshot = _Snapshot(await self._load(title_id, tx), now_ms())
        if self._generations.get(title_id, 0) == generation:  # no change while reading
            self._snapshots[title_id] = snapshot
        return snapshot

    async def _load(self, title_id: str, tx: Executor | None = None) -> Catalog:
        """The catalog as the database holds it (entries were checked when stored)."""
        catalog = Catalog()
        rows = await self._store.catalog(title_id, tx)
        everything = lambda _: True  # noqa: E731  (references were checked when stored)
        for row in rows:
            definition = orjson.loads(row["definition"])
            entry_id, update_time = row["id"], int(row["update_time"])
            try:
                if row["kind"] == "item":
                    catalog.items[entry_id] = _stamped(check.item(entry_id, definition), update_time)
                elif row["kind"] == "bundle":
                    catalog.bundles[entry_id] = _stamped(
                        check.bundle(entry_id, definition, everything), update_time
                    )
                elif row["kind"] == "offer":
                    offer = check.offer(entry_id, definition, everything, everything, _as_is)
                    catalog.offers[entry_id] = _stamped(offer, update_time)
            except InvalidArgument as exc:  # never stored so; a hand-edited row is skipped, not fatal
                log.error("skipping a catalog entry that does not check", kind=row["kind"], id=entry_id,
                          error=exc.message)  # fmt: skip
        return catalog

    async def get(self, title_id: str, tx: Executor | None = None) -> Catalog:
        """The title's whole catalog (this node's cached copy); inside a transaction, pass it."""
        return (await self._snapshot(title_id, tx)).catalog

    async def item_spec(self, title_id: str, item_id: str) -> ItemSpec | None:
        """What the inventory needs of an item (`inventory.service.SpecLookup`); not inside a
        transaction (see `_snapshot`)."""
        return spec_of((await self._snapshot(title_id)).catalog.items.get(item_id))

    async def product(self, tx: Executor, title_id: str, store: str, product_id: str) -> Bundle | None:
        """The bundle a real-money product id of `store` stands for, if any (inside `tx`)."""
        return (await self._snapshot(title_id, tx)).products.get((store, product_id))

    async def view(self, title_id: str, user_id: str, now: int | None = None) -> StoreView:
        """What the player sees: every item, the enabled bundles for sale (virtual currency or
        real money), the offers open to them now."""
        catalog = await self.get(title_id)
        now = now_ms() if now is None else now
        offers = [o for o in catalog.offers.values() if o.enabled and _in_window(o, now)]
        opened = await self.open_offers(title_id, user_id, offers)
        return StoreView(
            items=list(catalog.items.values()),
            bundles=[b for b in catalog.bundles.values() if b.enabled and (b.price or b.product_ids)],
            offers=[o for o, is_open in zip(offers, opened, strict=True) if is_open],
        )

    async def open_offers(self, title_id: str, user_id: str, offers: list[Offer]) -> list[bool]:
        """For each offer (enabled and in its time window), whether it is open to the player: its
        live event is live for them, and they are in its audience."""
        if not offers:
            return []
        events = (
            await self.eligibility.live_events(title_id, user_id) if any(o.live_event_id for o in offers)
            else frozenset()
        )  # fmt: skip
        gated = [o for o in offers if o.audience]
        inside = (
            await self.eligibility.audiences(title_id, user_id, [o.audience for o in gated]) if gated else []
        )
        by_audience = {o.id: ok for o, ok in zip(gated, inside, strict=True)}
        return [
            (not o.live_event_id or o.live_event_id in events) and by_audience.get(o.id, True) for o in offers
        ]

    async def offer_open(self, title_id: str, user_id: str, offer: Offer, now: int | None = None) -> bool:
        now = now_ms() if now is None else now
        if not offer.enabled or not _in_window(offer, now):
            return False
        return (await self.open_offers(title_id, user_id, [offer]))[0]

    # -- changes (operators, server code) ---------------------------------------------------------

    async def set_item(self, title_id: str, item_id: str, definition: object) -> Item:
        item = check.item(item_id, definition)
        current = await self._load(title_id)
        old = current.items.get(item.id)
        if old is not None and old.kind != item.kind:
            used = _users_of_item(current, item.id)
            if used:
                raise FailedPrecondition(f"kind: item {item.id!r} is in {used[0]}; its kind cannot change.")
        return _stamped(item, await self._put(title_id, "item", item.id, check.item_json(item)))

    async def set_bundle(self, title_id: str, bundle_id: str, definition: object) -> Bundle:
        current = await self._load(title_id)
        bundle = check.bundle(bundle_id, definition, current.items.__contains__)
        for store, sku in bundle.product_ids.items():
            for other in current.bundles.values():
                if other.id != bundle.id and other.product_ids.get(store) == sku:
                    raise InvalidArgument(
                        f"product_ids.{store}: {sku!r} is already the product of bundle {other.id!r}."
                    )
        return _stamped(bundle, await self._put(title_id, "bundle", bundle.id, check.bundle_json(bundle)))

    async def set_offer(self, title_id: str, offer_id: str, definition: object) -> Offer:
        current = await self._load(title_id)
        offer = check.offer(
            offer_id, definition, current.items.__contains__, current.bundles.__contains__,
            self.eligibility.check_audience,
        )  # fmt: skip
        return _stamped(offer, await self._put(title_id, "offer", offer.id, check.offer_json(offer)))

    async def delete(self, title_id: str, kind: str, entry_id: str) -> None:
        """Delete an entry; NOT_FOUND if there is none, FAILED_PRECONDITION while a bundle or an
        offer uses it."""
        if kind not in KINDS:
            raise InvalidArgument(f"kind: must be one of {', '.join(KINDS)}, got {inv.shown(kind)}.")
        entry_id = inv.item_id(entry_id, "id")
        current = await self._load(title_id)
        used = (
            _users_of_item(current, entry_id) if kind == "item"
            else [f"offer {o.id!r}" for o in current.offers.values() if o.bundle_id == entry_id]
            if kind == "bundle" else []
        )  # fmt: skip
        if used:
            raise FailedPrecondition(f"id: {kind} {entry_id!r} is used by {used[0]}; change that first.")
        if not await self._store.delete(title_id, kind, entry_id):
            raise NotFound(f"No {kind} {entry_id!r} in the catalog.")
        await self._changed(title_id)

    async def _put(self, title_id: str, kind: str, entry_id: str, definition: dict[str, Any]) -> int:
        now = now_ms()
        await self._store.put(title_id, kind, entry_id, check.check_size(definition), now)
        await self._changed(title_id)
        return now


def spec_of(item: Item | None) -> ItemSpec | None:
    if item is None:
        return None
    return ItemSpec(item.id, item.kind, item.max_stack, item.duration_sec, item.properties)


def _as_is(audience: object) -> dict[str, Any]:
    return dict(audience) if isinstance(audience, dict) else {}


def _in_window(offer: Offer, now: int) -> bool:
    return offer.start_time * 1000 <= now and (not offer.end_time or now < offer.end_time * 1000)


def _users_of_item(catalog: Catalog, item_id: str) -> list[str]:
    used = [f"bundle {b.id!r}" for b in catalog.bundles.values() if item_id in b.contents.items]
    used += [f"offer {o.id!r}" for o in catalog.offers.values() if o.contents and item_id in o.contents.items]
    return used


def _stamped(entry: _Entry, update_time: int) -> _Entry:
    return dataclasses.replace(entry, update_time=update_time)
