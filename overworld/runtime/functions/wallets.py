"""Wallet functions of server code (`nk.wallet_*`, `nk.wallets_update`, `nk.multi_update`), mixed
into `ServerApi`. Nakama's names and rules; see docs/economy.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from overworld.accounts.models import AccountUpdate
from overworld.errors import InvalidArgument
from overworld.storage.models import ObjectWrite
from overworld.wallets import validation as check
from overworld.wallets.models import (
    LedgerItem,
    LedgerPage,
    MultiUpdateResult,
    WalletUpdate,
    WalletUpdateResult,
)
from overworld.wallets.service import WalletService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

_ACCOUNT_FIELDS = frozenset(f.name for f in dataclasses.fields(AccountUpdate))


class WalletFunctions:
    """`nk.wallet_update`, `nk.wallets_update`, `nk.wallet_ledger_list`, `nk.wallet_ledger_update`,
    `nk.multi_update` (coroutines)."""

    _runtime: Runtime
    _title: Title

    @property
    def _wallets(self) -> WalletService:
        return self._runtime.services.wallets

    async def wallet_update(
        self,
        user_id: str,
        changeset: Mapping[str, int],
        metadata: Mapping[str, Any] | str | None = None,
        update_ledger: bool = True,
        idempotency_key: str = "",
    ) -> WalletUpdateResult:
        """Add `changeset` (currency -> int64 amount, negative to take away) to the user's wallet;
        returns the wallet `.updated` and `.previous`. FAILED_PRECONDITION (`WalletNegative`) if a
        currency would go below zero, INVALID_ARGUMENT naming the field for bad input or an unknown
        user; nothing is applied then. `metadata` goes to the ledger row (with `update_ledger`).
        With an `idempotency_key` (per user), a retry returns the first call's result.

            result = await nk.wallet_update(ctx.user_id, {"coins": -50}, {"item": "sword"})
        """
        update = check.update(user_id, changeset, metadata)
        [result] = await self._wallets.update(
            self._title.id, [update], update_ledger, idempotency_key, single=True
        )
        return result

    async def wallets_update(
        self,
        updates: Sequence[WalletUpdate | Mapping[str, Any]],
        update_ledger: bool = True,
        idempotency_key: str = "",
    ) -> list[WalletUpdateResult]:
        """Several users' updates (mappings with `user_id`, `changeset`, `metadata`), all applied
        or none; one result per update. The `idempotency_key` is the title's (not a user's).

            await nk.wallets_update([
                {"user_id": buyer, "changeset": {"gold": -100}, "metadata": {"trade": trade_id}},
                {"user_id": seller, "changeset": {"gold": 100}, "metadata": {"trade": trade_id}},
            ])
        """
        checked = check.updates(updates, "updates")
        return await self._wallets.update(self._title.id, checked, update_ledger, idempotency_key)

    async def wallet_ledger_list(self, user_id: str, limit: int = 100, cursor: str = "") -> LedgerPage:
        """One page (1-100 items) of the user's wallet ledger, newest first: `.items` (`id`,
        `user_id`, `changeset`, `metadata`, `create_time`, `update_time`) and `.cursor` ("" after
        the last page).

            page = await nk.wallet_ledger_list(ctx.user_id, limit=20)
        """
        return await self._wallets.ledger_list(self._title.id, user_id, limit, cursor)

    async def wallet_ledger_update(self, item_id: str, metadata: Mapping[str, Any] | str) -> LedgerItem:
        """Merge `metadata` into a ledger item's metadata (top-level keys replace); returns the item.

        item = await nk.wallet_ledger_update(item_id, {"refunded": True})
        """
        return await self._wallets.ledger_update(
            self._title.id, item_id, check.metadata(metadata, "metadata")
        )

    async def multi_update(
        self,
        account_updates: Sequence[Mapping[str, Any]] = (),
        storage_writes: Sequence[ObjectWrite | Mapping[str, Any]] = (),
        wallet_updates: Sequence[WalletUpdate | Mapping[str, Any]] = (),
        update_ledger: bool = True,
        idempotency_key: str = "",
    ) -> MultiUpdateResult:
        """Account updates (mappings with `user_id` and the fields of `account_update`), storage
        writes (as for `storage_write`) and wallet updates (as for `wallets_update`) in one
        transaction: all or none. Returns `.acks` and `.wallets`.

            done = await nk.multi_update(
                account_updates=[{"user_id": uid, "metadata": {"vip": True}}],
                storage_writes=[{"collection": "vip", "key": "since", "user_id": uid, "value": {"t": 1}}],
                wallet_updates=[{"user_id": uid, "changeset": {"gems": -500}}],
            )
        """
        accounts = [_account_update(a, i) for i, a in enumerate(account_updates)]
        objects = [_object_write(o, i) for i, o in enumerate(storage_writes)]
        wallets = check.updates(wallet_updates, "wallet_updates")
        return await self._wallets.multi_update(
            self._title, accounts, objects, wallets, update_ledger, idempotency_key
        )


def _account_update(value: Mapping[str, Any], index: int) -> tuple[str, AccountUpdate]:
    name = f"account_updates[{index}]"
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{name}: must be a mapping with user_id and the fields to change.")
    unknown = sorted(str(k) for k in value if k != "user_id" and k not in _ACCOUNT_FIELDS)
    if unknown:
        raise InvalidArgument(f"{name}: unknown field(s) {', '.join(unknown)}.")
    fields = {k: v for k, v in value.items() if k != "user_id"}
    meta = fields.get("metadata")
    if meta is not None and not isinstance(meta, str):
        fields["metadata"] = check.metadata(meta, f"{name}.metadata")
    for key, field_value in fields.items():
        if field_value is not None and not isinstance(field_value, str):
            raise InvalidArgument(f"{name}.{key}: must be text.")
    return check.user_id(value.get("user_id"), f"{name}.user_id"), AccountUpdate(**fields)


def _object_write(value: ObjectWrite | Mapping[str, Any], index: int) -> ObjectWrite:
    if isinstance(value, ObjectWrite):
        obj = dataclasses.replace(value)
    else:
        try:
            obj = ObjectWrite(**value)
        except TypeError as exc:
            raise InvalidArgument(f"storage_writes[{index}]: {exc}.") from None
    raw: Any = obj.value  # a dict is welcome too
    if not isinstance(raw, str):
        obj.value = orjson.dumps(raw).decode()
    return obj
