"""A player's inventory: grant, consume, revoke, list; time-limited items expire.

One row per (player, item) holds the quantity (at most the item's `max_stack`), the stack's
properties (the catalog item's, merged with those given at grant) and its expiry. A time-limited
item's grant sets its expiry to `duration_sec` per unit after the later of now and its current
expiry (a second grant extends it). Reads never show an expired item; a scheduled job
(`PURGE_CRON`, run once across the cluster) deletes them, and a grant to an expired stack starts
it afresh.

Every change runs in one transaction that locks the owner's `users` row first: the order the
wallet takes too, so a purchase (wallet, then inventory) and an inventory change of one player
apply one after the other and never deadlock. `grant_in` / `take_in` run inside a caller's
transaction that already holds that lock (a purchase, a real-money grant).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from overworld.clock import now_ms
from overworld.db import Database, Tx
from overworld.errors import FailedPrecondition, InvalidArgument, NotFound
from overworld.inventory import validation as check
from overworld.inventory.models import InventoryItem, ItemSpec, NotEnough
from overworld.inventory.store import InventoryStore, StackRow, inventory_item
from overworld.subsystems.scheduler.base import Scheduler

log = structlog.get_logger(__name__)
SpecLookup = Callable[[str, str], Awaitable[ItemSpec | None]]  # (title id, item id) -> the catalog's
PURGE_JOB = "inventory.purge"
PURGE_CRON = "*/10 * * * *"


@dataclass(slots=True)
class Grant:
    spec: ItemSpec
    quantity: int
    properties: dict[str, Any] | None = None


class InventoryService:
    def __init__(self, db: Database, specs: SpecLookup, scheduler: Scheduler | None = None) -> None:
        self._db = db
        self._store = InventoryStore(db)
        self._specs = specs
        self._scheduler = scheduler

    def start(self) -> None:
        """Purge expired items on schedule (every node adds the job; one runs each time)."""
        if self._scheduler is not None:
            self._scheduler.add(PURGE_JOB, PURGE_CRON, self._purge_job)

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.remove(PURGE_JOB)

    async def _purge_job(self, fire_ms: int) -> None:
        count = await self.purge(fire_ms)
        if count:
            log.info("purged expired inventory items", count=count)

    async def purge(self, now: int | None = None) -> int:
        return await self._store.purge(now_ms() if now is None else now)

    # -- reads ------------------------------------------------------------------------------------

    async def items(self, title_id: str, user_id: str) -> list[InventoryItem]:
        """The player's items that have not expired, by item id."""
        return await self._store.items(title_id, check.user_id(user_id, "user_id"), now_ms())

    # -- changes in their own transaction ---------------------------------------------------------

    async def grant(
        self,
        title_id: str,
        user_id: str,
        items: Mapping[str, int],
        properties: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[InventoryItem]:
        """Give the player `items` (catalog item id -> quantity), with `properties` per item merged
        into the stacks'; returns the changed stacks. Unknown items, a stack beyond its max:
        nothing is granted."""
        user_id = check.user_id(user_id, "user_id")
        wanted = check.quantities(items, "items")
        extra = check.item_properties(properties, wanted, "properties")
        grants = [Grant(await self._spec(title_id, item_id, f"items.{item_id}"), n, extra.get(item_id))
                  for item_id, n in wanted.items()]  # fmt: skip
        async with self._db.transaction() as tx:
            await self._lock(tx, title_id, user_id)
            return await self.grant_in(tx, title_id, user_id, grants, field="items")

    async def consume(self, title_id: str, user_id: str, items: Mapping[str, int]) -> list[InventoryItem]:
        """Take `items` the player uses up; FAILED_PRECONDITION (nothing taken) when they hold fewer
        than asked or an item is durable. Returns the stacks after (quantity 0: gone)."""
        user_id = check.user_id(user_id, "user_id")
        wanted = check.quantities(items, "items")
        for item_id in wanted:
            spec = await self._specs(title_id, item_id)
            if spec is not None and spec.kind == "durable":
                raise FailedPrecondition(f"items.{item_id}: a durable item is not consumed.")
        async with self._db.transaction() as tx:
            await self._lock(tx, title_id, user_id)
            return await self.take_in(tx, title_id, user_id, wanted, strict=True, field="items")

    async def revoke(self, title_id: str, user_id: str, items: Mapping[str, int]) -> list[InventoryItem]:
        """Take `items` back (an operator's or server code's correction): as many as the player
        holds, up to the quantity given. Returns the stacks after (quantity 0: gone)."""
        user_id = check.user_id(user_id, "user_id")
        wanted = check.quantities(items, "items")
        async with self._db.transaction() as tx:
            await self._lock(tx, title_id, user_id)
            return await self.take_in(tx, title_id, user_id, wanted, strict=False, field="items")

    async def _lock(self, tx: Tx, title_id: str, user_id: str) -> None:
        if not await self._store.lock_user(tx, title_id, user_id):
            raise NotFound("User account not found.")

    async def _spec(self, title_id: str, item_id: str, field: str) -> ItemSpec:
        spec = await self._specs(title_id, item_id)
        if spec is None:
            raise InvalidArgument(f"{field}: no item {item_id!r} in the catalog.")
        return spec

    # -- inside a caller's transaction (the owner's row locked) -----------------------------------

    def changes(self, tx: Tx) -> InventoryChanges:
        """Changes of many players' stacks planned in memory inside `tx` (each player's row locked)
        and written together (`InventoryChanges.write`): a batch of purchases."""
        return InventoryChanges(self._store, tx)

    async def grant_in(
        self,
        tx: Tx,
        title_id: str,
        user_id: str,
        grants: list[Grant],
        *,
        field: str,
        clamp: bool = False,
        now: int | None = None,
        added: dict[str, int] | None = None,
    ) -> list[InventoryItem]:
        """Add the grants to the player's stacks. Beyond an item's `max_stack`: FAILED_PRECONDITION
        naming `<field>.<item>` (nothing granted), or with `clamp` the stack is filled to its max.
        `added`, if given, is told how many of each item were added."""
        now = now_ms() if now is None else now
        changes = self.changes(tx)
        await changes.load(title_id, user_id, [g.spec.id for g in grants])
        rows = changes.plan(title_id, user_id, grants, field=field, clamp=clamp, now=now, added=added)
        changes.apply(title_id, user_id, rows)
        await changes.write(now)
        return [InventoryItem(r.item_id, r.quantity, orjson.loads(r.properties), r.expire_time,
                              r.create_time, now) for r in rows]  # fmt: skip

    async def take_in(
        self,
        tx: Tx,
        title_id: str,
        user_id: str,
        items: Mapping[str, int],
        *,
        strict: bool,
        field: str,
        now: int | None = None,
        taken: dict[str, int] | None = None,
    ) -> list[InventoryItem]:
        """Take quantities from the player's stacks: `strict`, all or FAILED_PRECONDITION
        (`NotEnough`, naming `<field>.<item>`); otherwise as many as are held. Returns the stacks
        after, with quantity 0 for those emptied (deleted)."""
        now = now_ms() if now is None else now
        current = await self._store.stacks(tx, title_id, user_id, list(items))
        rows: list[StackRow] = []
        after: list[InventoryItem] = []
        for item_id, wanted in items.items():
            row = current.get(item_id)
            live = row is not None and (row["expire_time"] == 0 or row["expire_time"] > now)
            held = int(row["quantity"]) if row is not None and live else 0
            if wanted > held and strict:
                raise NotEnough(f"{field}.{item_id}", item_id, held, wanted)
            if row is None:
                continue
            if not live:  # expired: gone either way
                rows.append(StackRow(item_id, 0, "{}", 0, 0))
                continue
            quantity = held - min(wanted, held)
            if taken is not None and held > quantity:
                taken[item_id] = taken.get(item_id, 0) + held - quantity
            item = inventory_item(row)
            item.quantity, item.update_time = quantity, now
            rows.append(StackRow(item_id, quantity, row["properties"], item.expire_time, item.create_time))
            after.append(item)
        await self._store.write(tx, title_id, user_id, rows, now)
        return after

    # -- account deletion -------------------------------------------------------------------------

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """A deletion step (`accounts.on_delete`): the user's items."""
        await self._store.delete_user(tx, title_id, user_id)


class InventoryChanges:
    """Grants to players' stacks planned in memory inside one transaction (each owner's row locked
    first), then written together: `load` the stacks, `plan` a grant (checked, nothing changed
    when it fails), `apply` the plan, and at the end `write`."""

    def __init__(self, store: InventoryStore, tx: Tx) -> None:
        self._store = store
        self._tx = tx
        self._stacks: dict[tuple[str, str, str], StackRow | None] = {}  # as they stand, with plans applied
        self._changed: dict[tuple[str, str], dict[str, StackRow]] = {}

    async def load_many(self, keys: list[tuple[str, str, str]]) -> None:
        """Load the stacks of many (title id, user id, item id) at once."""
        missing = sorted({k for k in keys if k not in self._stacks})
        if not missing:
            return
        rows = await self._store.stacks_many(self._tx, missing)
        for key in missing:
            row = rows.get(key)
            self._stacks[key] = (
                None if row is None else StackRow(key[2], int(row["quantity"]), row["properties"],
                                                  int(row["expire_time"]), int(row["create_time"]))
            )  # fmt: skip

    async def load(self, title_id: str, user_id: str, item_ids: list[str]) -> None:
        missing = [i for i in item_ids if (title_id, user_id, i) not in self._stacks]
        if not missing:
            return
        rows = await self._store.stacks(self._tx, title_id, user_id, missing)
        for item_id in missing:
            row = rows.get(item_id)
            self._stacks[(title_id, user_id, item_id)] = (
                None if row is None else StackRow(item_id, int(row["quantity"]), row["properties"],
                                                  int(row["expire_time"]), int(row["create_time"]))
            )  # fmt: skip

    def plan(
        self,
        title_id: str,
        user_id: str,
        grants: list[Grant],
        *,
        field: str,
        clamp: bool = False,
        now: int,
        added: dict[str, int] | None = None,
    ) -> list[StackRow]:
        """The stacks after the grants (loaded first); FAILED_PRECONDITION naming
        `<field>.<item>` beyond an item's `max_stack` unless `clamp`. Changes nothing."""
        merged: dict[str, Grant] = {}
        for g in grants:
            seen = merged.get(g.spec.id)
            if seen is None:
                merged[g.spec.id] = Grant(g.spec, g.quantity, dict(g.properties or {}))
            else:
                seen.quantity += g.quantity
                (seen.properties or {}).update(g.properties or {})
        rows: list[StackRow] = []
        counted: dict[str, int] = {}
        for item_id, g in merged.items():
            row = self._stacks[(title_id, user_id, item_id)]
            live = row is not None and (row.expire_time == 0 or row.expire_time > now)
            held = row.quantity if row is not None and live else 0
            quantity = held + g.quantity
            if quantity > g.spec.max_stack:
                if not clamp:
                    raise FailedPrecondition(
                        f"{field}.{item_id}: the player would hold {quantity}, more than the item's"
                        f" max_stack {g.spec.max_stack}."
                    )
                quantity = g.spec.max_stack
            if quantity == held:
                continue
            counted[item_id] = quantity - held
            props: dict[str, Any] = (
                orjson.loads(row.properties) if row is not None and live else dict(g.spec.properties)
            )
            props.update(g.properties or {})
            expire = 0
            if g.spec.kind == "time_limited":
                base = max(now, row.expire_time) if row is not None and live else now
                expire = base + g.spec.duration_sec * 1000 * (quantity - held)
            created = row.create_time if row is not None and live else now
            rows.append(StackRow(item_id, quantity, check.dumps(props), expire, created))
        if added is not None:
            for item_id, n in counted.items():
                added[item_id] = added.get(item_id, 0) + n
        return rows

    def apply(self, title_id: str, user_id: str, rows: list[StackRow]) -> None:
        changed = self._changed.setdefault((title_id, user_id), {})
        for r in rows:
            self._stacks[(title_id, user_id, r.item_id)] = r
            changed[r.item_id] = r

    async def write(self, now: int) -> None:
        rows = [(t, u, r) for (t, u), changed in self._changed.items() for r in changed.values()]
        await self._store.write_many(self._tx, rows, now)
        self._changed.clear()
