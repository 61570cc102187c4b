"""In-app purchases and subscriptions over REST (Nakama's `/v2/iap/...`, with the session token),
and the stores' server notifications (webhooks outside the API, one URL per title, authenticated
by the store's signature or by fetching the purchase from the store: docs/economy.md)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, post
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.context import CallContext
from overworld.errors import NotFound
from overworld.protocol import purchases as iw
from overworld.services import Services
from overworld.titles.models import Title

Req = Request[Any, Any, Any]


@route(calls.VALIDATE_PURCHASE_APPLE)
async def validate_purchase_apple(
    request: Req, ctx: CallContext, data: iw.ValidatePurchaseAppleRequest
) -> iw.ValidatePurchaseResponse:
    """Validate an App Store receipt (a signed transaction, or a legacy base64 receipt)."""
    return await calls.VALIDATE_PURCHASE_APPLE.run(node_of(request), ctx, data)


@route(calls.VALIDATE_PURCHASE_GOOGLE)
async def validate_purchase_google(
    request: Req, ctx: CallContext, data: iw.ValidatePurchaseGoogleRequest
) -> iw.ValidatePurchaseResponse:
    """Validate a Google Play purchase (its JSON: productId, purchaseToken)."""
    return await calls.VALIDATE_PURCHASE_GOOGLE.run(node_of(request), ctx, data)


@route(calls.VALIDATE_PURCHASE_HUAWEI)
async def validate_purchase_huawei(
    request: Req, ctx: CallContext, data: iw.ValidatePurchaseHuaweiRequest
) -> iw.ValidatePurchaseResponse:
    """Validate a Huawei AppGallery purchase (InAppPurchaseData and its signature)."""
    return await calls.VALIDATE_PURCHASE_HUAWEI.run(node_of(request), ctx, data)


@route(calls.VALIDATE_PURCHASE_FACEBOOK_INSTANT)
async def validate_purchase_facebook_instant(
    request: Req, ctx: CallContext, data: iw.ValidatePurchaseFacebookInstantRequest
) -> iw.ValidatePurchaseResponse:
    """Validate a Facebook Instant Games purchase (its signed request)."""
    return await calls.VALIDATE_PURCHASE_FACEBOOK_INSTANT.run(node_of(request), ctx, data)


@route(calls.VALIDATE_SUBSCRIPTION_APPLE)
async def validate_subscription_apple(
    request: Req, ctx: CallContext, data: iw.ValidateSubscriptionAppleRequest
) -> iw.ValidateSubscriptionResponse:
    """Validate an App Store subscription receipt."""
    return await calls.VALIDATE_SUBSCRIPTION_APPLE.run(node_of(request), ctx, data)


@route(calls.VALIDATE_SUBSCRIPTION_GOOGLE)
async def validate_subscription_google(
    request: Req, ctx: CallContext, data: iw.ValidateSubscriptionGoogleRequest
) -> iw.ValidateSubscriptionResponse:
    """Validate a Google Play subscription (its JSON: productId, purchaseToken)."""
    return await calls.VALIDATE_SUBSCRIPTION_GOOGLE.run(node_of(request), ctx, data)


@route(calls.GET_SUBSCRIPTION)
async def get_subscription(request: Req, ctx: CallContext, product_id: str) -> iw.ValidatedSubscription:
    """The caller's subscription to a product (the latest-expiring one)."""
    return await calls.GET_SUBSCRIPTION.run(
        node_of(request), ctx, iw.GetSubscriptionRequest(product_id=product_id)
    )


@route(calls.LIST_SUBSCRIPTIONS)
async def list_subscriptions(
    request: Req, ctx: CallContext, data: iw.ListSubscriptionsRequest
) -> iw.SubscriptionList:
    """The caller's subscriptions, newest first, a page (1-100) at a time."""
    return await calls.LIST_SUBSCRIPTIONS.run(node_of(request), ctx, data)


# -- store server notifications ------------------------------------------------------------------


async def _title(node: Services, name: str) -> Title:
    title = next((t for t in node.titles.all() if t.name == name), None) or await node.titles.find_by_name(
        name
    )
    if title is None or title.disabled:
        raise NotFound("Title not found.")
    return title


@post("/webhooks/iap/apple/{title:str}", status_code=200, tags=["purchases"])
async def apple_notification(request: Req, title: str) -> dict[str, str]:
    """App Store Server Notifications V2 for a title (`{"signedPayload": "..."}`)."""
    node = node_of(request)
    await node.purchases.apple_notification(await _title(node, title), await request.body())
    return {}


@post("/webhooks/iap/google/{title:str}", status_code=200, tags=["purchases"])
async def google_notification(
    request: Req, title: str, token: Annotated[str, Parameter(query="token", default="")]
) -> dict[str, str]:
    """Google Play real-time developer notifications for a title (a Pub/Sub push)."""
    node = node_of(request)
    await node.purchases.google_notification(await _title(node, title), await request.body(), token)
    return {}


ROUTES = [
    Router(
        path="/",
        route_handlers=[
            validate_purchase_apple,
            validate_purchase_google,
            validate_purchase_huawei,
            validate_purchase_facebook_instant,
            validate_subscription_apple,
            validate_subscription_google,
            get_subscription,
            list_subscriptions,
        ],
        dependencies={"ctx": Provide(session_context)},
        tags=["purchases"],
    ),
    apple_notification,
    google_notification,
]
