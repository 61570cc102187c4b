"""A player's wallet and ledger over REST (Overworld's extension, docs/economy.md): read-only; only
server code changes wallets."""

from __future__ import annotations

from typing import Any

import msgspec

from overworld.clock import rfc3339
from overworld.context import CallContext
from overworld.services import Services
from overworld.wallets.models import LedgerItem


class Wire(msgspec.Struct, kw_only=True):
    """Base of this extension's messages (every field is written, defaults too)."""


class GetWalletRequest(Wire):
    pass


class Wallet(Wire):
    wallet: dict[str, int]  # currency -> amount (JSON numbers, as in the account's `wallet`)


class ListWalletLedgerRequest(Wire):
    limit: int = 100
    cursor: str = ""


class WalletLedgerItem(Wire):
    id: str
    changeset: dict[str, int]
    metadata: dict[str, Any]
    create_time: str
    update_time: str

    @classmethod
    def of(cls, item: LedgerItem) -> WalletLedgerItem:
        return cls(
            id=item.id,
            changeset=item.changeset,
            metadata=item.metadata,
            create_time=rfc3339(item.create_time),
            update_time=rfc3339(item.update_time),
        )


class WalletLedgerList(Wire):
    items: list[WalletLedgerItem]
    cursor: str


async def get_wallet(node: Services, ctx: CallContext, _: GetWalletRequest) -> Wallet:
    return Wallet(wallet=await node.wallets.wallet(ctx.title.id, ctx.user_id))


async def list_wallet_ledger(
    node: Services, ctx: CallContext, req: ListWalletLedgerRequest
) -> WalletLedgerList:
    page = await node.wallets.ledger_list(ctx.title.id, ctx.user_id, req.limit, req.cursor)
    return WalletLedgerList(items=[WalletLedgerItem.of(i) for i in page.items], cursor=page.cursor)
