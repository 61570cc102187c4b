"""Buying with virtual currency, purchase limits, and what real-money products grant.

A purchase is one transaction: lock the buyer's wallet row (the wallet's own lock, in the order
every wallet transaction takes it), find an earlier purchase with the same idempotency key (a
retry returns it and applies nothing), check the purchase limits (counted under that lock, so two
concurrent purchases cannot both take the last one), debit the price and credit the currencies
given (ledger rows naming the purchase), add the items to the inventory, record the purchase.
Any error rolls all of it back: nothing is charged or granted. The balance can never go below
zero (checked under the lock), and since every change of one player's wallet or inventory holds
that row first, no two transactions wait for each other in a cycle.

Real money: `grant` / `revoke` implement `purchases.grants.ProductGrants` structurally (this
domain is below purchases and does not import it). They run inside the purchase domain's
transaction; `store_product_grants` holds one row per (title, store, transaction), so a
transaction grants once and is revoked once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import structlog
from uuid_utils import uuid7

from overworld.clock import now_ms
from overworld.db import Database, Tx
from overworld.db.turns import TurnBatcher
from overworld.errors import ApiError, FailedPrecondition, InvalidArgument, NotFound
from overworld.inventory import validation as inv
from overworld.inventory.models import ItemSpec
from overworld.inventory.service import Grant, InventoryChanges, InventoryService
from overworld.store.catalog_service import CatalogService, spec_of
from overworld.store.models import Catalog, Contents, GrantOutcome, Limit, ProductGrantLike, Purchase
from overworld.store.store import PurchaseRow, StoreStore
from overworld.wallets import validation as wallet_check
from overworld.wallets.models import WalletNegative, WalletUpdate
from overworld.wallets.service import WalletChanges, WalletService

MAX_PURCHASES_LISTED = 100
log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Sale:
    """What is being bought, as the catalog says now."""

    source: str  # "bundle:<id>" or "offer:<id>"
    field: str  # the request field that named it
    bundle_id: str
    offer_id: str
    price: dict[str, int]
    contents: Contents
    limit: Limit
    specs: list[tuple[ItemSpec, int]]  # the items given, as the catalog says now


@dataclass(eq=False, slots=True)
class _Job:
    """One purchase waiting for its batch."""

    title_id: str
    user_id: str
    key: str
    request_hash: str
    sale: _Sale
    purchase_id: str


@dataclass(slots=True)
class _Batch:
    """What a batch's purchases so far have done, for those after them in the same transaction."""

    now: int
    records: list[PurchaseRow] = field(default_factory=list)
    keys: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)  # -> (hash, result)
    recorded: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)  # before it
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (title, user, source) -> n


class StoreService:
    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        wallets: WalletService,
        inventory: InventoryService,
        max_batch: int = 256,
        max_in_flight: int = 2,
    ) -> None:
        self._db = db
        self._store = StoreStore(db)
        self.catalog = catalog
        self._wallets = wallets
        self._inventory = inventory
        self._batcher: TurnBatcher[_Job, Purchase] = TurnBatcher(
            self._flush, max_batch, max_in_flight, "purchase batch failed, retrying its purchases one by one"
        )

    # -- buying with virtual currency ---------------------------------------------------------------

    async def purchase(
        self, title_id: str, user_id: str, bundle_id: str = "", offer_id: str = "", idempotency_key: str = ""
    ) -> Purchase:
        """Buy a bundle at its price, or an offer open to the player at the offer's. Exactly one of
        `bundle_id` and `offer_id`. With an `idempotency_key` (the player's), a retry returns the
        first purchase (`replayed`) and charges nothing."""
        user_id = inv.user_id(user_id, "user_id")
        key = wallet_check.idempotency_key(idempotency_key)
        source = _source(bundle_id, offer_id)
        request_hash = wallet_check.request_hash("purchase", source)
        if key:  # a retry is answered even if what it bought is no longer for sale
            seen = await self._store.purchase_by_key(self._db, title_id, user_id, key)
            if seen is not None:
                return _replayed(seen["request_hash"], seen["result"], request_hash, key)
        sale = await self._sale(title_id, user_id, bundle_id, offer_id)
        return await self._batcher.submit(_Job(title_id, user_id, key, request_hash, sale, str(uuid7())))

    # Purchases are written in batches (a group commit, as wallet updates are): those that arrive
    # while a batch is written form the next one, up to `max_batch`, `max_in_flight` at a time. A
    # batch is one transaction: it locks every buyer's row in one sorted order, applies each
    # purchase in turn in memory (one that fails is left out and told its error; the others are
    # unaffected), then writes the wallets, the ledger, the stacks and the records once.

    async def close(self) -> None:
        """Wait for the purchases in flight (their callers are waiting for them)."""
        await self._batcher.close()

    async def _flush(self, jobs: list[_Job]) -> list[Purchase | ApiError]:
        """One batch (`TurnBatcher`: a failure of the whole batch, which no purchase's checks
        foresaw, runs its purchases one at a time, so that only the one at fault fails)."""
        outcome = await self._transact(jobs)
        bought: dict[str, set[str]] = {}
        for job, result in zip(jobs, outcome, strict=True):
            if isinstance(result, Purchase) and not result.replayed:
                bought.setdefault(job.title_id, set()).add(job.user_id)
        for title_id, users in bought.items():  # the callers read their wallets through any node
            await self._wallets.committed(title_id, sorted(users))
        return outcome

    async def _transact(self, jobs: list[_Job]) -> list[Purchase | ApiError]:
        outcome: list[Purchase | ApiError] = []
        async with self._db.transaction() as tx:
            wallets = await self._wallets.changes_in(tx, [(j.title_id, j.user_id) for j in jobs])
            stacks = self._inventory.changes(tx)
            batch = _Batch(wallets.now)
            await stacks.load_many([(j.title_id, j.user_id, s.id) for j in jobs for s, _ in j.sale.specs])
            keyed = [(j.title_id, j.user_id, j.key) for j in jobs if j.key]
            batch.recorded = await self._store.purchases_by_keys(tx, keyed) if keyed else {}
            for job in jobs:
                try:
                    outcome.append(await self._apply(tx, job, wallets, stacks, batch))
                except ApiError as exc:
                    outcome.append(exc)
            await wallets.write(tx)
            await stacks.write(wallets.now)
            await self._store.add_purchases(tx, batch.records)
        return outcome

    async def _apply(
        self, tx: Tx, job: _Job, wallets: WalletChanges, stacks: InventoryChanges, batch: _Batch
    ) -> Purchase:
        title_id, user_id, sale, now = job.title_id, job.user_id, job.sale, batch.now
        wallet = wallets.wallet(title_id, user_id)
        if wallet is None:
            raise NotFound("User account not found.")
        if job.key:
            seen = batch.keys.get((title_id, user_id, job.key)) or batch.recorded.get(
                (title_id, user_id, job.key)
            )
            if seen is not None:
                return _replayed(seen[0], seen[1], job.request_hash, job.key)
        await self._check_limit(tx, job, batch)
        meta = inv.dumps(
            {"purchase_id": job.purchase_id, "bundle_id": sale.bundle_id, "offer_id": sale.offer_id}
        )
        updates = [WalletUpdate(user_id, {c: -a for c, a in sale.price.items()}, meta)]
        if sale.contents.currencies:
            updates.append(WalletUpdate(user_id, dict(sale.contents.currencies), meta))
        grants = [Grant(spec, n) for spec, n in sale.specs]
        planned = []
        if grants:  # checked first; applied once the wallet change is
            await stacks.load(title_id, user_id, [g.spec.id for g in grants])
            planned = stacks.plan(title_id, user_id, grants, field="contents.items", now=now)
        try:
            results = wallets.apply(title_id, updates)
        except WalletNegative as exc:
            price = sale.price.get(exc.currency, 0)
            raise FailedPrecondition(
                f"price.{exc.currency}: not enough {exc.currency} (balance {exc.current}, price {price})."
            ) from None
        stacks.apply(title_id, user_id, planned)
        purchase = Purchase(
            id=job.purchase_id, user_id=user_id, bundle_id=sale.bundle_id, offer_id=sale.offer_id,
            price=sale.price, currencies=sale.contents.currencies, items=sale.contents.items,
            wallet=dict(results[-1].updated), create_time=now,
        )  # fmt: skip
        text = inv.dumps(_purchase_json(purchase))
        batch.records.append(PurchaseRow(title_id, job.purchase_id, user_id, job.key or job.purchase_id,
                                         job.request_hash, sale.source, text, now))  # fmt: skip
        if job.key:
            batch.keys[(title_id, user_id, job.key)] = (job.request_hash, text)
        counted = (title_id, user_id, sale.source)
        batch.counts[counted] = batch.counts.get(counted, 0) + 1
        return purchase

    async def _sale(self, title_id: str, user_id: str, bundle_id: str, offer_id: str) -> _Sale:
        catalog = await self.catalog.get(title_id)
        if bundle_id:
            bundle = catalog.bundles.get(inv.item_id(bundle_id, "bundle_id"))
            if bundle is None or not bundle.enabled:
                raise NotFound(f"bundle_id: no bundle {bundle_id!r} for sale.")
            if not bundle.price:
                raise FailedPrecondition(f"bundle_id: bundle {bundle_id!r} is not sold for virtual currency.")
            return _Sale(f"bundle:{bundle.id}", "bundle_id", bundle.id, "", bundle.price, bundle.contents,
                         bundle.limit, _specs(catalog, bundle.contents))  # fmt: skip
        offer = catalog.offers.get(inv.item_id(offer_id, "offer_id"))
        if offer is None or not await self.catalog.offer_open(title_id, user_id, offer):
            raise NotFound(f"offer_id: no offer {offer_id!r} open to this player.")
        contents = catalog.contents_of(offer)
        return _Sale(f"offer:{offer.id}", "offer_id", offer.bundle_id, offer.id, offer.price, contents,
                     offer.limit, _specs(catalog, contents))  # fmt: skip

    async def _check_limit(self, tx: Tx, job: _Job, batch: _Batch) -> None:
        """The player's purchases of this bundle or offer: those committed, and this batch's."""
        sale, lim = job.sale, job.sale.limit
        if lim.none:
            return
        here = batch.counts.get((job.title_id, job.user_id, sale.source), 0)
        if lim.total:
            total = await self._store.count(tx, job.title_id, job.user_id, sale.source, 0)
            if total + here >= lim.total:
                raise FailedPrecondition(f"{sale.field}: purchase limit reached ({lim.total} per player).")
        if lim.per_period:
            since = batch.now - lim.period_sec * 1000 + 1
            recent = await self._store.count(tx, job.title_id, job.user_id, sale.source, since)
            if recent + here >= lim.per_period:
                raise FailedPrecondition(
                    f"{sale.field}: purchase limit reached ({lim.per_period} per {lim.period_sec} seconds)."
                )

    async def purchases(self, title_id: str, user_id: str, limit: int = 100) -> list[Purchase]:
        """The player's purchases with virtual currency, newest first."""
        user_id = inv.user_id(user_id, "user_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PURCHASES_LISTED:
            raise InvalidArgument(f"limit: must be an integer from 1 to {MAX_PURCHASES_LISTED}.")
        rows = await self._store.purchases(title_id, user_id, limit)
        return [_purchase(orjson.loads(r["result"])) for r in rows]

    # -- real money (purchases.grants.ProductGrants, structurally) --------------------------------

    async def grant(self, tx: Tx, grant: ProductGrantLike) -> GrantOutcome:
        """Give what the product's bundle contains (times `quantity`), once per store transaction:
        currencies to the wallet with a ledger row, items to the inventory (a stack at its
        `max_stack` stays there). A product the catalog does not know grants nothing."""
        catalog = await self.catalog.get(grant.title_id, tx)
        bundle = await self.catalog.product(tx, grant.title_id, grant.store, grant.product_id)
        if bundle is None:
            return GrantOutcome(False)
        quantity = max(1, int(grant.quantity))
        locked = await self._wallets.lock_in(tx, grant.title_id, [grant.user_id])
        if grant.user_id not in locked:
            raise NotFound("User account not found.")
        now = now_ms()
        if not await self._store.add_grant(
            tx, grant.title_id, grant.store, grant.transaction_id, grant.user_id, grant.product_id, "{}", now
        ):
            return GrantOutcome(False)
        currencies = {c: a * quantity for c, a in bundle.contents.currencies.items()}
        contents = Contents(currencies, {i: n * quantity for i, n in bundle.contents.items.items()})
        meta = inv.dumps({"store": grant.store, "transaction_id": grant.transaction_id,
                          "product_id": grant.product_id, "bundle_id": bundle.id})  # fmt: skip
        if currencies:
            await self._wallets.update_in(
                tx, grant.title_id, [WalletUpdate(grant.user_id, currencies, meta)], locked=locked
            )
        added: dict[str, int] = {}
        grants = [Grant(spec, n) for spec, n in _specs(catalog, contents)]
        if grants:
            await self._inventory.grant_in(
                tx, grant.title_id, grant.user_id, grants, field="items", clamp=True, now=now, added=added
            )
        await self._store.set_grant_contents(
            tx,
            grant.title_id,
            grant.store,
            grant.transaction_id,
            inv.dumps({"currencies": currencies, "items": added}),
        )
        return GrantOutcome(True, currencies, added)

    async def revoke(self, tx: Tx, grant: ProductGrantLike) -> GrantOutcome:
        """Take back what `grant` gave for this store transaction, once: each currency down to zero
        at most, the items the player still holds."""
        locked = await self._wallets.lock_in(tx, grant.title_id, [grant.user_id])
        now = now_ms()
        row = await self._store.revoke_grant(tx, grant.title_id, grant.store, grant.transaction_id, now)
        if row is None:
            return GrantOutcome(False)
        if row["user_id"] != grant.user_id or grant.user_id not in locked:
            raise FailedPrecondition(
                f"user_id: store transaction {grant.transaction_id!r} was granted to another player."
            )
        given = orjson.loads(row["contents"])
        wallet = locked[grant.user_id]
        taken = {c: min(int(a), wallet.get(c, 0)) for c, a in given.get("currencies", {}).items()}
        taken = {c: a for c, a in taken.items() if a > 0}
        meta = inv.dumps({"store": grant.store, "transaction_id": grant.transaction_id,
                          "product_id": grant.product_id, "revoked": True})  # fmt: skip
        if taken:
            await self._wallets.update_in(
                tx, grant.title_id, [WalletUpdate(grant.user_id, {c: -a for c, a in taken.items()}, meta)],
                locked=locked,
            )  # fmt: skip
        items_taken: dict[str, int] = {}
        items = {i: int(n) for i, n in given.get("items", {}).items() if int(n) > 0}
        if items:
            await self._inventory.take_in(
                tx,
                grant.title_id,
                grant.user_id,
                items,
                strict=False,
                field="items",
                now=now,
                taken=items_taken,
            )
        return GrantOutcome(True, taken, items_taken)

    async def committed(self, title_id: str, user_ids: Sequence[str]) -> None:
        """After the caller's transaction of `grant` or `revoke` committed: every node's account
        cache drops the players (their `wallet` changed)."""
        await self._wallets.committed(title_id, user_ids)

    # -- account deletion ---------------------------------------------------------------------------

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """A deletion step (`accounts.on_delete`): the user's purchase and grant records."""
        await self._store.delete_user(tx, title_id, user_id)


def _source(bundle_id: object, offer_id: object) -> str:
    """What a purchase asks for: "bundle:<id>" or "offer:<id>" (its purchase limits' key too)."""
    if not isinstance(bundle_id, str):
        raise InvalidArgument("bundle_id: must be text.")
    if not isinstance(offer_id, str):
        raise InvalidArgument("offer_id: must be text.")
    if bool(bundle_id) == bool(offer_id):
        raise InvalidArgument("bundle_id: give either a bundle_id or an offer_id.")
    if bundle_id:
        return f"bundle:{inv.item_id(bundle_id, 'bundle_id')}"
    return f"offer:{inv.item_id(offer_id, 'offer_id')}"


def _replayed(recorded_hash: str, result: str, request_hash: str, key: str) -> Purchase:
    """The recorded purchase of an idempotency key; INVALID_ARGUMENT if it was another purchase."""
    if recorded_hash != request_hash:
        raise InvalidArgument(f"idempotency_key: {key!r} was used before for a different purchase.")
    return _purchase(orjson.loads(result), replayed=True)


def _specs(catalog: Catalog, contents: Contents) -> list[tuple[ItemSpec, int]]:
    """The items given, with what the inventory needs of each (resolved before a transaction)."""
    found: list[tuple[ItemSpec, int]] = []
    for item_id, quantity in contents.items.items():
        spec = spec_of(catalog.items.get(item_id))
        if spec is None:  # the catalog refuses to delete an item in use: only a hand-edited row
            raise FailedPrecondition(f"contents.items.{item_id}: no item {item_id!r} in the catalog.")
        found.append((spec, quantity))
    return found


def _purchase_json(p: Purchase) -> dict[str, object]:
    return {"id": p.id, "user_id": p.user_id, "bundle_id": p.bundle_id, "offer_id": p.offer_id,
            "price": p.price, "currencies": p.currencies, "items": p.items, "wallet": p.wallet,
            "create_time": p.create_time}  # fmt: skip


def _purchase(data: dict[str, object], replayed: bool = False) -> Purchase:
    return Purchase(**data, replayed=replayed)  # type: ignore[arg-type]
