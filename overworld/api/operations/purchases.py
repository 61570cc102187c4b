"""In-app purchases and subscriptions (Nakama's `/v2/iap/...`): the caller's receipts, validated
with the title's stores, recorded and granted once (docs/economy.md)."""

from __future__ import annotations

from overworld.api import convert
from overworld.context import CallContext
from overworld.errors import InvalidArgument
from overworld.protocol import purchases as wire
from overworld.purchases.models import Purchase
from overworld.services import Services


def _persist(value: bool | None) -> bool:
    return True if value is None else value


def _purchases(found: list[Purchase]) -> wire.ValidatePurchaseResponse:
    return wire.ValidatePurchaseResponse(validated_purchases=[convert.validated_purchase(p) for p in found])


async def validate_purchase_apple(
    node: Services, ctx: CallContext, req: wire.ValidatePurchaseAppleRequest
) -> wire.ValidatePurchaseResponse:
    found = await node.purchases.validate_purchase_apple(
        ctx.title.id, ctx.user_id, req.receipt, _persist(req.persist)
    )
    return _purchases(found)


async def validate_purchase_google(
    node: Services, ctx: CallContext, req: wire.ValidatePurchaseGoogleRequest
) -> wire.ValidatePurchaseResponse:
    found = await node.purchases.validate_purchase_google(
        ctx.title.id, ctx.user_id, req.purchase, _persist(req.persist)
    )
    return _purchases(found)


async def validate_purchase_huawei(
    node: Services, ctx: CallContext, req: wire.ValidatePurchaseHuaweiRequest
) -> wire.ValidatePurchaseResponse:
    found = await node.purchases.validate_purchase_huawei(
        ctx.title.id, ctx.user_id, req.purchase, req.signature, _persist(req.persist)
    )
    return _purchases(found)


async def validate_purchase_facebook_instant(
    node: Services, ctx: CallContext, req: wire.ValidatePurchaseFacebookInstantRequest
) -> wire.ValidatePurchaseResponse:
    found = await node.purchases.validate_purchase_facebook_instant(
        ctx.title.id, ctx.user_id, req.signed_request, _persist(req.persist)
    )
    return _purchases(found)


async def validate_subscription_apple(
    node: Services, ctx: CallContext, req: wire.ValidateSubscriptionAppleRequest
) -> wire.ValidateSubscriptionResponse:
    found = await node.purchases.validate_subscription_apple(
        ctx.title.id, ctx.user_id, req.receipt, _persist(req.persist)
    )
    return wire.ValidateSubscriptionResponse(validated_subscription=convert.validated_subscription(found))


async def validate_subscription_google(
    node: Services, ctx: CallContext, req: wire.ValidateSubscriptionGoogleRequest
) -> wire.ValidateSubscriptionResponse:
    found = await node.purchases.validate_subscription_google(
        ctx.title.id, ctx.user_id, req.receipt, _persist(req.persist)
    )
    return wire.ValidateSubscriptionResponse(validated_subscription=convert.validated_subscription(found))


async def get_subscription(
    node: Services, ctx: CallContext, req: wire.GetSubscriptionRequest
) -> wire.ValidatedSubscription:
    found = await node.purchases.get_subscription(ctx.title.id, ctx.user_id, req.product_id)
    return convert.validated_subscription(found)


async def list_subscriptions(
    node: Services, ctx: CallContext, req: wire.ListSubscriptionsRequest
) -> wire.SubscriptionList:
    limit = 100 if req.limit is None else req.limit
    if isinstance(limit, bool) or not 1 <= limit <= 100:
        raise InvalidArgument("limit: must be an integer from 1 to 100.")
    page = await node.purchases.list_subscriptions(ctx.title.id, ctx.user_id, limit, req.cursor)
    return wire.SubscriptionList(
        validated_subscriptions=[convert.validated_subscription(s) for s in page.subscriptions],
        cursor=page.cursor, prev_cursor=page.prev_cursor,
    )  # fmt: skip
