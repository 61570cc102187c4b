"""Nakama's in-app purchase messages (api.proto: ValidatePurchase*, ValidatedPurchase,
ValidatedSubscription, SubscriptionList). `persist` is a wrapped bool (absent: true); `store` and
`environment` are enums, written as numbers (StoreProvider: APPLE_APP_STORE 0, GOOGLE_PLAY_STORE 1,
HUAWEI_APP_GALLERY 2, FACEBOOK_INSTANT_STORE 3; StoreEnvironment: UNKNOWN 0, SANDBOX 1,
PRODUCTION 2) and left out at 0 like every default; times are RFC 3339 strings."""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message


class ValidatePurchaseAppleRequest(Message):
    receipt: str = ""
    persist: bool | None = None


class ValidateSubscriptionAppleRequest(Message):
    receipt: str = ""
    persist: bool | None = None


class ValidatePurchaseGoogleRequest(Message):
    purchase: str = ""
    persist: bool | None = None


class ValidateSubscriptionGoogleRequest(Message):
    receipt: str = ""
    persist: bool | None = None


class ValidatePurchaseHuaweiRequest(Message):
    purchase: str = ""
    signature: str = ""
    persist: bool | None = None


class ValidatePurchaseFacebookInstantRequest(Message):
    signed_request: str = ""
    persist: bool | None = None


class ValidatedPurchase(Message):
    user_id: str = ""
    product_id: str = ""
    transaction_id: str = ""
    store: int = 0
    purchase_time: str = ""
    create_time: str = ""
    update_time: str = ""
    refund_time: str = ""
    provider_response: str = ""
    environment: int = 0
    seen_before: bool = False


class ValidatePurchaseResponse(Message):
    validated_purchases: list[ValidatedPurchase] = msgspec.field(default_factory=list)


class ValidatedSubscription(Message):
    user_id: str = ""
    product_id: str = ""
    original_transaction_id: str = ""
    store: int = 0
    purchase_time: str = ""
    create_time: str = ""
    update_time: str = ""
    environment: int = 0
    expiry_time: str = ""
    refund_time: str = ""
    provider_response: str = ""
    provider_notification: str = ""
    active: bool = False


class ValidateSubscriptionResponse(Message):
    validated_subscription: ValidatedSubscription | None = None


class GetSubscriptionRequest(Message):
    product_id: str = ""


class ListSubscriptionsRequest(Message):
    limit: int | None = None
    cursor: str = ""


class SubscriptionList(Message):
    validated_subscriptions: list[ValidatedSubscription] = msgspec.field(default_factory=list)
    cursor: str = ""
    prev_cursor: str = ""
