"""Validated purchases and subscriptions, as the purchases domain records and returns them.

Stores and environments are named by strings here ("apple", "google", "huawei",
"facebook_instant"; "production", "sandbox", "unknown"); the wire form's enums are numbers
(Nakama's `StoreProvider` and `StoreEnvironment`, `api/operations/purchases.py`). Times are Unix
milliseconds; 0 is "never" (a refund time of a purchase never refunded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

STORES = ("apple", "google", "huawei", "facebook_instant")  # Nakama's StoreProvider: 0, 1, 2, 3
ENVIRONMENTS = ("unknown", "sandbox", "production")  # Nakama's StoreEnvironment: 0, 1, 2


@dataclass(slots=True)
class StorePurchase:
    """One purchase as its store confirmed it (before it is recorded)."""

    store: str
    product_id: str
    transaction_id: str
    purchase_time: int
    environment: str
    provider_response: str  # the store's answer (JSON text), as Nakama keeps it
    quantity: int = 1
    refund_time: int = 0  # the store already reports it refunded or revoked
    store_ref: str = ""  # what the store's notifications name it by (Google: the purchase token)


@dataclass(slots=True)
class StoreSubscription:
    """One subscription as its store confirmed it."""

    store: str
    product_id: str
    original_transaction_id: str
    purchase_time: int
    expiry_time: int
    environment: str
    provider_response: str
    refund_time: int = 0
    store_ref: str = ""


@dataclass(slots=True)
class Purchase:
    user_id: str
    product_id: str
    transaction_id: str
    store: str
    purchase_time: int
    create_time: int
    update_time: int
    refund_time: int
    provider_response: str
    environment: str
    seen_before: bool = False


@dataclass(slots=True)
class Subscription:
    user_id: str
    product_id: str
    original_transaction_id: str
    store: str
    purchase_time: int
    create_time: int
    update_time: int
    environment: str
    expiry_time: int
    refund_time: int
    provider_response: str
    provider_notification: str = ""
    active: bool = False


@dataclass(slots=True)
class PurchasePage:
    purchases: list[Purchase] = field(default_factory=list)
    cursor: str = ""
    prev_cursor: str = ""


@dataclass(slots=True)
class SubscriptionPage:
    subscriptions: list[Subscription] = field(default_factory=list)
    cursor: str = ""
    prev_cursor: str = ""
