from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from overworld.errors import ApiError, Code
from overworld.storage.models import Ack

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@dataclass(slots=True)
class WalletUpdate:
    """One change of one user's wallet: `changeset` maps currencies to the amounts to add (negative
    to take away); `metadata` (JSON object text) is stored with the ledger row."""

    user_id: str
    changeset: dict[str, int]
    metadata: str = "{}"


@dataclass(slots=True)
class WalletUpdateResult:
    """The wallet of `user_id` after the change and before it (Nakama's `WalletUpdateResult`)."""

    user_id: str
    updated: dict[str, int]
    previous: dict[str, int]


@dataclass(slots=True)
class LedgerItem:
    """A row of the wallet ledger (Nakama's `WalletLedgerItem`); times in Unix milliseconds."""

    id: str
    user_id: str
    changeset: dict[str, int]
    metadata: dict[str, Any]
    create_time: int
    update_time: int


@dataclass(slots=True)
class LedgerPage:
    items: list[LedgerItem]
    cursor: str  # "" after the last page


@dataclass(slots=True)
class MultiUpdateResult:
    """What `multi_update` did: the storage acks and the wallet results, in the order given."""

    acks: list[Ack] = field(default_factory=list)
    wallets: list[WalletUpdateResult] = field(default_factory=list)


class WalletNegative(ApiError):
    """A change would leave a currency below zero: nothing of the update was applied (Nakama's
    `WalletNegativeError`). FAILED_PRECONDITION: the request was well formed, the balance too low."""

    code = Code.FAILED_PRECONDITION

    def __init__(self, user_id: str, currency: str, current: int, amount: int) -> None:
        super().__init__(
            f"Wallet update rejected: currency {currency!r} of user {user_id} would be negative"
            f" (balance {current}, change {amount})."
        )
        self.user_id = user_id
        self.currency = currency
        self.current = current
        self.amount = amount
