"""What a validated real-money purchase gives the player, as the purchases domain asks for it.

The purchases domain validates a receipt with its store and records the purchase; what the product
(the store's SKU) is worth in the game lives in the title's catalog (the store domain). The two
meet here: `ProductGrants` is implemented by the catalog (structurally: it does not import this
module) and handed to the purchases service by the composition root (`node.py`).

Both calls run inside the caller's transaction, the one that records the purchase or its refund,
so that the record and the grant commit together or not at all. Each is idempotent on
(`title_id`, `store`, `transaction_id`): a retried or replayed validation grants nothing more, a
second refund takes nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from overworld.db import Tx


@dataclass(frozen=True, slots=True)
class ProductGrant:
    """One store transaction of one product by one player."""

    title_id: str
    user_id: str
    product_id: str  # the store's product id (App Store / Google Play SKU, ...)
    store: str  # "apple", "google", "huawei" or "facebook_instant"
    transaction_id: str  # the store's id of this purchase (for Google, the order id)
    environment: str = "production"  # or "sandbox"
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class GrantResult:
    """What a call gave (or took back). `applied` is False when it had already been done."""

    applied: bool
    currencies: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


class ProductGrants(Protocol):
    async def grant(self, tx: Tx, grant: ProductGrant) -> GrantResult:
        """Give the player what the product is worth in the title's catalog (currencies to the
        wallet with a ledger row, items to the inventory), once per store transaction. A product
        the catalog does not know grants nothing (`applied` False, empty contents)."""
        ...

    async def revoke(self, tx: Tx, grant: ProductGrant) -> GrantResult:
        """Take back what `grant` gave for this store transaction (a refund or a revocation), once;
        a currency already spent is taken down to zero, never below."""
        ...

    async def committed(self, title_id: str, user_ids: Sequence[str]) -> None:
        """After the transaction of `grant` or `revoke` committed: what caches the players' wallets
        (every node's account cache) drops them, so that the next read sees the commit."""
        ...
