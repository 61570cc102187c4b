"""Wallets, the ledger and multi-updates, with Nakama's rules.

Every change is all or nothing: the updates of one call apply together or, if one of them would
leave a currency below zero or beyond int64 or names an unknown user, none does. Each applied
update becomes a ledger row (with `update_ledger`). A call made with an idempotency key is recorded
with its result in the same transaction, so a retry returns that result instead of applying again.

Concurrency. The calls of server code arrive concurrently; they are applied in batches (a group
commit): the calls that arrive while a batch is being written form the next one, up to
`max_batch`, with at most `max_in_flight` batches in flight. A batch is one transaction: it locks
the rows of every user it touches in one sorted order (so that transactions, on this node or
another, never wait for each other in a cycle), reads the wallets, applies its calls one after the
other in Python (a call that fails is left out and told its error; the others are unaffected),
then writes each changed wallet once, the ledger rows and the idempotency records with one
statement each. A hot wallet changed by a thousand calls at once is then written a few times, not
a thousand, and the balance can never go below zero because every change is checked against the
balance under the row lock. `multi_update` (which also writes accounts and storage objects, whose
failures abort a PostgreSQL transaction) runs in a transaction of its own, taking the same locks
in the same order first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import structlog

from overworld import cursors
from overworld.accounts.models import AccountUpdate
from overworld.accounts.service import AccountService
from overworld.clock import now_ms
from overworld.db import Database, Tx
from overworld.db.turns import TurnBatcher
from overworld.errors import ApiError, Code, InvalidArgument, NotFound
from overworld.ids import parse_uuid
from overworld.storage.models import SYSTEM_USER, Ack, ObjectWrite
from overworld.storage.service import StorageService
from overworld.titles.models import Title
from overworld.wallets import validation as check
from overworld.wallets.models import (
    INT64_MAX,
    LedgerItem,
    LedgerPage,
    MultiUpdateResult,
    WalletNegative,
    WalletUpdate,
    WalletUpdateResult,
)
from overworld.wallets.store import (
    LedgerIds,
    LedgerRow,
    RequestKey,
    RequestRow,
    WalletKey,
    WalletStore,
    dumps,
    ledger_item,
)

log = structlog.get_logger(__name__)
BAD_CURSOR = "Invalid wallet ledger cursor."
LEDGER_ITEM_NOT_FOUND = "Wallet ledger item not found."
Wallets = dict[WalletKey, dict[str, int]]


class _Raced(Exception):
    """Another transaction recorded one of the batch's idempotency keys meanwhile: run it again."""


@dataclass(slots=True)
class _Job:
    """One call's wallet updates, applied all or none."""

    title_id: str
    updates: list[WalletUpdate]
    prefix: str  # how the call names its updates in errors: "" (wallet_update) or "updates", ...
    ledger: bool
    request: RequestKey | None = None
    request_hash: str = ""

    def field(self, index: int, name: str) -> str:
        return f"{self.prefix}[{index}].{name}" if self.prefix else name


class WalletService:
    def __init__(
        self,
        db: Database,
        accounts: AccountService,
        storage: StorageService,
        max_batch: int = 512,
        max_in_flight: int = 2,
    ) -> None:
        self._db = db
        self._store = WalletStore(db)
        self._accounts = accounts
        self._storage = storage
        self._ids = LedgerIds()
        self._batcher: TurnBatcher[_Job, list[WalletUpdateResult]] = TurnBatcher(
            self._flush, max_batch, max_in_flight, "wallet batch failed, retrying its calls one by one"
        )
        self.batches = 0  # transactions written (tests and benchmarks read it)

    async def close(self) -> None:
        """Wait for the batches in flight (their callers are waiting for them)."""
        await self._batcher.close()

    # -- reads ------------------------------------------------------------------------------------

    async def wallet(self, title_id: str, user_id: str) -> dict[str, int]:
        """The user's wallet; NOT_FOUND for an unknown user."""
        text = await self._store.wallet(title_id, check.user_id(user_id, "user_id"))
        if text is None:
            raise NotFound("User account not found.")
        wallet: dict[str, int] = orjson.loads(text)
        return wallet

    async def ledger_list(
        self, title_id: str, user_id: str, limit: int = 100, cursor: str = ""
    ) -> LedgerPage:
        """One page of the user's ledger, newest first; an unknown user's is empty."""
        user_id = check.user_id(user_id, "user_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidArgument("limit: must be an integer from 1 to 100.")
        before: int | None = None
        if cursor:
            owner, seq = cursors.decode(cursor, (str, int), BAD_CURSOR)
            if owner != user_id:  # a cursor of another user's ledger
                raise InvalidArgument(BAD_CURSOR)
            before = int(seq)
        rows = await self._store.ledger(title_id, user_id, limit + 1, before)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = cursors.encode([user_id, int(rows[-1]["seq"])]) if more else ""
        return LedgerPage(items=[ledger_item(r) for r in rows], cursor=next_cursor)

    async def ledger_update(self, title_id: str, item_id: str, metadata: str) -> LedgerItem:
        """Merge `metadata` (a JSON object) into a ledger item's metadata (its top-level keys replace
        the item's, as Nakama does); returns the item. NOT_FOUND if there is no such item."""
        parsed_id = parse_uuid(item_id) if isinstance(item_id, str) else None
        if parsed_id is None:
            raise InvalidArgument(f"item_id: invalid ledger item ID {check.shown(item_id)}, must be a UUID.")
        extra = orjson.loads(check.metadata(metadata, "metadata"))
        now = now_ms()
        async with self._db.transaction() as tx:
            row = await self._store.lock_ledger_item(tx, title_id, str(parsed_id))
            if row is None:
                raise NotFound(LEDGER_ITEM_NOT_FOUND)
            item = ledger_item(row)
            item.metadata.update(extra)
            text = dumps(item.metadata)
            if len(text.encode()) > check.MAX_METADATA_BYTES:
                raise InvalidArgument(
                    f"metadata: the merged metadata would exceed {check.MAX_METADATA_BYTES} bytes."
                )
            await self._store.set_ledger_metadata(tx, title_id, item.id, text, now)
        item.update_time = now
        return item

    # -- changes ----------------------------------------------------------------------------------

    async def update(
        self,
        title_id: str,
        updates: list[WalletUpdate],
        update_ledger: bool = True,
        idempotency_key: str = "",
        *,
        single: bool = False,
    ) -> list[WalletUpdateResult]:
        """Apply checked updates (`validation.update`/`validation.updates`) atomically; one result per
        update, in order. `single`: one user's update (`wallet_update`), whose idempotency key is
        that user's and whose errors name `user_id`, `changeset`; otherwise a call's
        (`wallets_update`): the key is the title's, errors name `updates[i]...`."""
        if len(updates) > check.MAX_UPDATES:
            raise InvalidArgument(f"updates: at most {check.MAX_UPDATES} per call.")
        if not updates:
            return []
        key = check.idempotency_key(idempotency_key)
        job = _Job(title_id, updates, "" if single else "updates", bool(update_ledger))
        if key:
            scope = updates[0].user_id if single else SYSTEM_USER
            job.request = (title_id, scope, key)
            job.request_hash = check.request_hash("wallets", _described(updates), job.ledger)
        return await self._batcher.submit(job)

    async def _flush(self, jobs: list[_Job]) -> list[list[WalletUpdateResult] | ApiError]:
        """One batch (`TurnBatcher`: a failure of the whole batch runs its calls one at a time,
        so that only the one at fault fails)."""
        outcome = await self._with_retries(jobs)
        changed = {(j.title_id, u.user_id) for j, o in zip(jobs, outcome, strict=True) if isinstance(o, list)
                   for u in j.updates}  # fmt: skip
        if changed:  # the callers read their write through any node once answered
            try:
                await self._accounts.changed(sorted(changed))
            except Exception:  # the change feed still tells every node
                log.exception("telling the account caches of wallet changes failed")
        return outcome

    async def _with_retries(self, jobs: list[_Job]) -> list[list[WalletUpdateResult] | ApiError]:
        for _ in range(3):
            try:
                return await self._transact(jobs)
            except _Raced:
                continue
        raise ApiError(
            "Wallet update could not be applied: idempotency keys in concurrent use.", Code.ABORTED
        )

    async def _transact(self, jobs: list[_Job]) -> list[list[WalletUpdateResult] | ApiError]:
        keys = sorted({(j.title_id, u.user_id) for j in jobs for u in j.updates})
        outcome: list[list[WalletUpdateResult] | ApiError] = []
        self.batches += 1
        async with self._db.transaction() as tx:
            wallets = await self._locked(tx, keys)
            now = now_ms()  # once the locks are held: the time the changes apply
            before = dict(wallets)
            recorded = await self._store.requests(tx, [j.request for j in jobs if j.request])
            ledger: list[LedgerRow] = []
            records: list[RequestRow] = []
            for job in jobs:
                try:
                    outcome.append(self._run_job(job, wallets, ledger, recorded, records, now))
                except ApiError as exc:
                    outcome.append(exc)
            await self._write(tx, wallets, before, ledger, records, now)
        return outcome

    def _run_job(
        self,
        job: _Job,
        wallets: Wallets,
        ledger: list[LedgerRow],
        recorded: dict[RequestKey, tuple[str, str]],
        records: list[RequestRow],
        now: int,
    ) -> list[WalletUpdateResult]:
        if job.request is not None:
            seen = recorded.get(job.request)
            if seen is not None:
                return _replayed(job, seen)[0]
        results = self._apply(job, wallets, ledger, now)
        if job.request is not None:
            text = dumps({"wallets": [_result_json(r) for r in results]})
            recorded[job.request] = (job.request_hash, text)
            records.append(RequestRow(*job.request, job.request_hash, text, now))
        return results

    async def _locked(self, tx: Tx, keys: list[WalletKey]) -> Wallets:
        raw = await self._store.lock(tx, keys)
        return {k: orjson.loads(v) for k, v in raw.items()}

    async def _write(
        self,
        tx: Tx,
        wallets: Wallets,
        before: Wallets,
        ledger: list[LedgerRow],
        records: list[RequestRow],
        now: int,
    ) -> None:
        changed = {k: dumps(w) for k, w in wallets.items() if w is not before[k]}
        if await self._store.save(tx, changed, ledger, records, now) != len(records):
            raise _Raced()

    def _apply(
        self, job: _Job, wallets: Wallets, ledger: list[LedgerRow], now: int
    ) -> list[WalletUpdateResult]:
        """Apply the job's updates to `wallets` (locked), all or none, and add its ledger rows;
        raises the ApiError of the first update that cannot apply, leaving `wallets` as it was."""
        scratch: Wallets = {}
        results: list[WalletUpdateResult] = []
        rows: list[LedgerRow] = []
        for index, update in enumerate(job.updates):
            key = (job.title_id, update.user_id)
            current = scratch.get(key)
            if current is None:
                base = wallets.get(key)
                if base is None:
                    raise InvalidArgument(
                        f"{job.field(index, 'user_id')}: no user {update.user_id} in this title."
                    )
                current = scratch[key] = dict(base)
            previous = dict(current)
            for currency, amount in update.changeset.items():
                balance = current.get(currency, 0)
                value = balance + amount
                if value < 0:
                    raise WalletNegative(update.user_id, currency, balance, amount)
                if value > INT64_MAX:
                    raise InvalidArgument(
                        f"{job.field(index, 'changeset')}.{currency}: the balance would be"
                        f" {check.shown(value)}, beyond int64."
                    )
                current[currency] = value
            results.append(WalletUpdateResult(update.user_id, dict(current), previous))
            if job.ledger:
                rows.append(
                    LedgerRow(job.title_id, self._ids.new(), update.user_id, dumps(update.changeset),
                              update.metadata, now)
                )  # fmt: skip
        wallets.update(scratch)
        ledger.extend(rows)
        return results

    # -- inside another domain's transaction ------------------------------------------------------

    async def lock_in(self, tx: Tx, title_id: str, user_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Lock the users' rows in `tx` (in the one order every wallet transaction takes them, so
        none waits for another in a cycle) and read their wallets: user id -> wallet; an unknown
        user is left out. A domain that changes a wallet with other rows in one transaction (a
        store purchase) takes this lock first, before any row of its own."""
        keys = sorted({(title_id, u) for u in user_ids})
        return {user_id: wallet for (_, user_id), wallet in (await self._locked(tx, keys)).items()}

    async def update_in(
        self,
        tx: Tx,
        title_id: str,
        updates: list[WalletUpdate],
        update_ledger: bool = True,
        locked: dict[str, dict[str, int]] | None = None,
        prefix: str = "",
    ) -> list[WalletUpdateResult]:
        """Apply checked updates inside `tx`, all or none, with their ledger rows: the same rules as
        `update` (never below zero nor beyond int64; an unknown user is INVALID_ARGUMENT). `locked`:
        the wallets `lock_in` returned in this transaction (else the rows are locked here). Errors
        name `<prefix>[i].<field>` (or the bare field without `prefix`). The caller commits, then
        calls `committed` so that every node's account cache sees the new wallets."""
        if not updates:
            return []
        if locked is None:
            locked = await self.lock_in(tx, title_id, [u.user_id for u in updates])
        wallets: Wallets = {(title_id, u): w for u, w in locked.items()}
        before = dict(wallets)
        now = now_ms()
        ledger: list[LedgerRow] = []
        job = _Job(title_id, updates, prefix, bool(update_ledger))
        results = self._apply(job, wallets, ledger, now)
        await self._write(tx, wallets, before, ledger, [], now)
        for (_, user_id), wallet in wallets.items():
            locked[user_id] = wallet
        return results

    async def changes_in(self, tx: Tx, keys: Sequence[WalletKey]) -> WalletChanges:
        """Lock the rows of these (title id, user id) in `tx` (in the one order) and read their
        wallets, for changes applied in memory one call at a time (`WalletChanges.apply`, all or
        none each) and written together (`WalletChanges.write`): a batch of another domain's
        calls (store purchases) in one transaction."""
        wallets = await self._locked(tx, sorted(set(keys)))
        return WalletChanges(self, wallets, now_ms())

    async def committed(self, title_id: str, user_ids: Sequence[str]) -> None:
        """After a transaction that ran `update_in` committed: the account caches of every node
        drop these users (their `wallet` changed)."""
        try:
            await self._accounts.changed(sorted({(title_id, u) for u in user_ids}))
        except Exception:  # the change feed still tells every node
            log.exception("telling the account caches of wallet changes failed")

    # -- multi_update -----------------------------------------------------------------------------

    async def multi_update(
        self,
        title: Title,
        account_updates: Sequence[tuple[str, AccountUpdate]],
        storage_writes: list[ObjectWrite],
        wallet_updates: list[WalletUpdate],
        update_ledger: bool = True,
        idempotency_key: str = "",
    ) -> MultiUpdateResult:
        """Account updates, storage writes and wallet updates in one transaction: all or none.
        User ids must be checked; the accounts' and objects' fields are checked here."""
        if len(wallet_updates) > check.MAX_UPDATES or len(account_updates) > check.MAX_UPDATES:
            raise InvalidArgument(
                f"account_updates, wallet_updates: at most {check.MAX_UPDATES} each per call."
            )
        key = check.idempotency_key(idempotency_key)
        job = _Job(title.id, list(wallet_updates), "wallet_updates", bool(update_ledger))
        if key:
            job.request = (title.id, SYSTEM_USER, key)
            job.request_hash = check.request_hash(
                "multi", [[u, _account_json(a)] for u, a in account_updates],
                [_object_json(o) for o in storage_writes], _described(wallet_updates), job.ledger,
            )  # fmt: skip
        # Every user whose row this transaction holds, locked first in one order: the storage
        # objects' owners too (their writes hold the rows; taking them later could deadlock).
        owners = {str(p) for o in storage_writes if (p := parse_uuid(o.user_id)) is not None}
        users = (
            {u for u, _ in account_updates} | {u.user_id for u in wallet_updates} | (owners - {SYSTEM_USER})
        )
        keys = sorted((title.id, u) for u in users)
        # Objects in one order too (their row locks), acks back in the order given.
        order = sorted(range(len(storage_writes)), key=lambda i: _object_order(storage_writes[i]))
        for _ in range(3):
            try:
                result = await self._multi(title, keys, account_updates, storage_writes, order, job)
            except _Raced:
                continue
            await self._accounts.changed(keys)
            return result
        raise ApiError("Multi update could not be applied: idempotency key in concurrent use.", Code.ABORTED)

    async def _multi(
        self,
        title: Title,
        keys: list[WalletKey],
        account_updates: Sequence[tuple[str, AccountUpdate]],
        storage_writes: list[ObjectWrite],
        order: list[int],
        job: _Job,
    ) -> MultiUpdateResult:
        async with self._db.transaction() as tx:
            wallets = await self._locked(tx, keys)
            now = now_ms()
            if job.request is not None:
                seen = (await self._store.requests(tx, [job.request])).get(job.request)
                if seen is not None:
                    replayed, replayed_acks = _replayed(job, seen)
                    return MultiUpdateResult(acks=replayed_acks, wallets=replayed)
            for index, (user_id, update) in enumerate(account_updates):
                if (title.id, user_id) not in wallets:
                    raise InvalidArgument(
                        f"account_updates[{index}].user_id: no user {user_id} in this title."
                    )
                await self._accounts.update_account_in(tx, title, user_id, update)
            acks: list[Ack] = [Ack("", "", "", "", 0, 0)] * len(storage_writes)
            written = await self._storage.write_in(tx, title.id, None, [storage_writes[i] for i in order])
            for position, ack in zip(order, written, strict=True):
                acks[position] = ack
            before = dict(wallets)
            ledger: list[LedgerRow] = []
            results = self._apply(job, wallets, ledger, now)
            records: list[RequestRow] = []
            if job.request is not None:
                text = dumps(
                    {"acks": [_ack_json(a) for a in acks], "wallets": [_result_json(r) for r in results]}
                )
                records.append(RequestRow(*job.request, job.request_hash, text, now))
            await self._write(tx, wallets, before, ledger, records, now)
        return MultiUpdateResult(acks=acks, wallets=results)

    # -- account deletion -------------------------------------------------------------------------

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """A deletion step (`accounts.on_delete`): the user's ledger and idempotency records. The
        deletion locked the user's row first, so a wallet change in flight committed before (its
        ledger rows are deleted here) or finds no user."""
        await self._store.delete_user(tx, title_id, user_id)


# -- results as recorded for idempotent retries ---------------------------------------------------


def _described(updates: Sequence[WalletUpdate]) -> list[object]:
    return [[u.user_id, u.changeset, u.metadata] for u in updates]


def _account_json(a: AccountUpdate) -> list[object]:
    return [a.username, a.display_name, a.avatar_url, a.lang_tag, a.location, a.timezone, a.metadata]


def _object_json(o: ObjectWrite) -> list[object]:
    return [o.collection, o.key, o.user_id, o.value, o.version, o.permission_read, o.permission_write]


def _object_order(o: ObjectWrite) -> tuple[str, str, str]:
    return (o.collection, o.key, o.user_id)


def _result_json(r: WalletUpdateResult) -> dict[str, object]:
    return {"user_id": r.user_id, "updated": r.updated, "previous": r.previous}


def _ack_json(a: Ack) -> list[object]:
    return [a.collection, a.key, a.version, a.user_id, a.create_time, a.update_time]


def _replayed(job: _Job, seen: tuple[str, str]) -> tuple[list[WalletUpdateResult], list[Ack]]:
    """The recorded outcome of the job's idempotency key; INVALID_ARGUMENT if the key was used for
    another request."""
    request_hash, text = seen
    if request_hash != job.request_hash:
        if job.request is None:
            raise InvalidArgument("idempotency_key: it was used before for a different change.")
        raise InvalidArgument(f"idempotency_key: {job.request[2]!r} was used before for a different change.")
    data = orjson.loads(text)
    results = [WalletUpdateResult(r["user_id"], r["updated"], r["previous"]) for r in data["wallets"]]
    return results, [Ack(*a) for a in data.get("acks", [])]


class WalletChanges:
    """Wallets locked in one transaction, changed in memory (`apply`: one call's updates, all or
    none, with their ledger rows), written once (`write`)."""

    def __init__(self, service: WalletService, wallets: Wallets, now: int) -> None:
        self._service = service
        self._wallets = wallets
        self._before = dict(wallets)
        self._ledger: list[LedgerRow] = []
        self.now = now

    def wallet(self, title_id: str, user_id: str) -> dict[str, int] | None:
        """The wallet as it stands (None: no such user, or not locked here)."""
        return self._wallets.get((title_id, user_id))

    def apply(
        self, title_id: str, updates: list[WalletUpdate], update_ledger: bool = True, prefix: str = ""
    ) -> list[WalletUpdateResult]:
        """Apply one call's checked updates, all or none (the rules of `WalletService.update`);
        raises the error of the first that cannot apply, changing nothing."""
        job = _Job(title_id, updates, prefix, bool(update_ledger))
        return self._service._apply(job, self._wallets, self._ledger, self.now)

    async def write(self, tx: Tx) -> None:
        await self._service._write(tx, self._wallets, self._before, self._ledger, [], self.now)
        self._before = dict(self._wallets)
        self._ledger = []
