"""Subscriptions and the stores' server notifications, on SQLite and PostgreSQL: validation,
GetSubscription and ListSubscriptions, App Store Server Notifications V2 (refunds take back the
grant, renewals extend, a redelivery acts once) and Google real-time developer notifications
(confirmed with the Play Developer API), and the title's notification hooks."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from overworld.clock import rfc3339
from overworld.runtime import ServerApi
from tests.purchases.conftest import PUSH_TOKEN, Iap
from tests.purchases.fakes import PACKAGE, _rfc3339, apple_notification, apple_transaction, pubsub_push

pytestmark = pytest.mark.anyio
DAY = 86_400_000


def _apple_webhook(iap: Iap) -> str:
    return f"/webhooks/iap/apple/{iap.node.default_title.name}"


def _google_webhook(iap: Iap, token: str = PUSH_TOKEN) -> str:
    return f"/webhooks/iap/google/{iap.node.default_title.name}?token={token}"


def _hooks(iap: Iap) -> list[tuple[str, object, dict]]:
    calls: list[tuple[str, object, dict]] = []
    for kind in ("purchase_notification_apple", "subscription_notification_apple",
                 "purchase_notification_google", "subscription_notification_google"):  # fmt: skip

        async def hook(ctx, record, payload, kind=kind):
            assert ctx.user_id == record.user_id and ctx.title_id == iap.node.default_title.id
            calls.append((kind, record, orjson.loads(payload)))

        iap.node.purchases.notification_hooks[(iap.node.default_title.id, kind)] = type(
            "Entry", (), {"fn": staticmethod(hook), "module": "test"}
        )()
    return calls


def _subscription_transaction(product: str = "vip_monthly", expires_in: int = 30 * DAY, **extra) -> dict:
    now = int(time.time() * 1000)
    return apple_transaction(
        product, type="Auto-Renewable Subscription", expiresDate=now + expires_in, **extra
    )


async def test_an_apple_subscription_is_validated_read_and_listed(iap: Iap):
    user, headers = await iap.player()
    t = _subscription_transaction()
    response = await iap.post("/v2/iap/subscription/apple", headers, {"receipt": iap.pki.sign(t)})
    assert response.status_code == 200, response.text
    s = response.json()["validated_subscription"]
    assert s["user_id"] == user and s["product_id"] == "vip_monthly" and s["active"] is True
    assert s["original_transaction_id"] == t["originalTransactionId"] and s["environment"] == 2
    assert s["expiry_time"] == rfc3339(t["expiresDate"]) and s["purchase_time"] == rfc3339(
        t["originalPurchaseDate"]
    )
    assert iap.grants.granted == []  # subscriptions grant nothing through the catalog
    got = await iap.client.get("/v2/iap/subscription/vip_monthly", headers=headers)
    assert got.status_code == 200 and got.json()["original_transaction_id"] == t["originalTransactionId"]
    missing = await iap.client.get("/v2/iap/subscription/other", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == 5
    listed = await iap.post("/v2/iap/subscription", headers, {"limit": 10})
    assert [x["product_id"] for x in listed.json()["validated_subscriptions"]] == ["vip_monthly"]
    bad = await iap.post("/v2/iap/subscription", headers, {"limit": 500})
    assert bad.status_code == 400 and "limit" in bad.json()["message"]
    _thief, thief_headers = await iap.player()
    refused = await iap.post("/v2/iap/subscription/apple", thief_headers, {"receipt": iap.pki.sign(t)})
    assert (
        refused.status_code == 400
        and refused.json()["message"] == "This subscription was validated by another user."
    )
    expired = _subscription_transaction("vip_weekly", expires_in=-DAY)
    s = (await iap.post("/v2/iap/subscription/apple", headers, {"receipt": iap.pki.sign(expired)})).json()
    assert "active" not in s["validated_subscription"]  # false: left out
    not_sub = await iap.post(
        "/v2/iap/subscription/apple", headers, {"receipt": iap.pki.sign(apple_transaction())}
    )
    assert not_sub.status_code == 400


async def test_apple_notifications_renew_and_refund_once(iap: Iap):
    hooks = _hooks(iap)
    user, headers = await iap.player()
    consumable = apple_transaction("gems_500")
    assert (
        await iap.post("/v2/iap/purchase/apple", headers, {"receipt": iap.pki.sign(consumable)})
    ).status_code == 200
    assert await iap.wallet(user) == {"gems": 500}
    refunded = {**consumable, "revocationDate": int(time.time() * 1000), "revocationReason": 0}
    body = apple_notification(iap.pki, "REFUND", refunded, notification_id="n-refund-1")
    for _ in range(2):  # delivered twice: acts once
        response = await iap.client.post(_apple_webhook(iap), content=body)
        assert response.status_code == 200, response.text
    assert await iap.wallet(user) == {"gems": 0} and len(iap.grants.revoked) == 1
    again = apple_notification(
        iap.pki, "REFUND", refunded, notification_id="n-refund-2"
    )  # a new id, same refund
    assert (await iap.client.post(_apple_webhook(iap), content=again)).status_code == 200
    assert len(iap.grants.revoked) == 1
    nk = ServerApi(iap.node.runtime, iap.node.default_title, "test")
    assert (await nk.purchase_get_by_transaction_id(consumable["transactionId"])).refund_time == refunded[
        "revocationDate"
    ]
    assert [(k, r.transaction_id) for k, r, _ in hooks] == [
        ("purchase_notification_apple", consumable["transactionId"])
    ]

    sub = _subscription_transaction(expires_in=DAY)
    await iap.post("/v2/iap/subscription/apple", headers, {"receipt": iap.pki.sign(sub)})
    renewal = {
        **sub,
        "transactionId": str(uuid.uuid4().int)[:16],
        "expiresDate": sub["expiresDate"] + 30 * DAY,
    }
    assert (
        await iap.client.post(_apple_webhook(iap), content=apple_notification(iap.pki, "DID_RENEW", renewal))
    ).status_code == 200
    s = await nk.subscription_get_by_product_id(user, "vip_monthly")
    assert s.expiry_time == renewal["expiresDate"] and s.active
    assert orjson.loads(s.provider_notification)["notificationType"] == "DID_RENEW"
    late = {**sub, "expiresDate": sub["expiresDate"]}  # an older renewal delivered late: no shortening
    await iap.client.post(_apple_webhook(iap), content=apple_notification(iap.pki, "DID_RENEW", late))
    assert (await nk.subscription_get_by_product_id(user, "vip_monthly")).expiry_time == renewal[
        "expiresDate"
    ]
    revoked = {**renewal, "revocationDate": int(time.time() * 1000)}
    await iap.client.post(_apple_webhook(iap), content=apple_notification(iap.pki, "REFUND", revoked))
    s = await nk.subscription_get_by_product_id(user, "vip_monthly")
    assert s.refund_time == revoked["revocationDate"] and not s.active
    assert [k for k, _, _ in hooks][1:] == ["subscription_notification_apple"] * 3


async def test_apple_notifications_must_verify(iap: Iap):
    user, headers = await iap.player()
    t = apple_transaction("gems_100")
    await iap.post("/v2/iap/purchase/apple", headers, {"receipt": iap.pki.sign(t)})
    from tests.purchases.fakes import Pki

    forged = apple_notification(Pki.make(), "REFUND", {**t, "revocationDate": 1})
    response = await iap.client.post(_apple_webhook(iap), content=forged)
    assert response.status_code == 400 and "signedPayload" in response.json()["message"]
    assert (await iap.client.post(_apple_webhook(iap), content=b"{")).status_code == 400
    assert (await iap.client.post(_apple_webhook(iap), content=b"{}")).status_code == 400
    assert (await iap.client.post("/webhooks/iap/apple/no-such-title", content=b"{}")).status_code == 404
    sandbox_refund = apple_notification(iap.pki, "REFUND", {**t, "revocationDate": 1}, environment="Sandbox")
    assert (await iap.client.post(_apple_webhook(iap), content=sandbox_refund)).status_code == 200
    assert await iap.wallet(user) == {"gems": 100}  # a sandbox notification never touches production
    assert iap.grants.revoked == []


async def test_google_notifications_are_confirmed_with_the_api(iap: Iap):
    hooks = _hooks(iap)
    user, headers = await iap.player()
    purchase = iap.stores.google_purchase("gems_100")
    token = orjson.loads(purchase)["purchaseToken"]
    [p] = (await iap.post("/v2/iap/purchase/google", headers, {"purchase": purchase})).json()[
        "validated_purchases"
    ]
    voided = {"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": "1",
              "voidedPurchaseNotification": {"purchaseToken": token, "orderId": p["transaction_id"], "productType": 2,
                                             "refundType": 1}}  # fmt: skip
    # Google Play still says purchased: the notification is not believed.
    assert (await iap.client.post(_google_webhook(iap), content=pubsub_push(voided))).status_code == 200
    assert await iap.wallet(user) == {"gems": 100}
    iap.stores.products[("gems_100", token)]["purchaseState"] = 1
    body = pubsub_push(voided, message_id="m-1")
    for _ in range(2):
        assert (await iap.client.post(_google_webhook(iap), content=body)).status_code == 200
    assert await iap.wallet(user) == {"gems": 0} and len(iap.grants.revoked) == 1
    assert [k for k, _, _ in hooks] == ["purchase_notification_google"]

    receipt, sub_token = iap.stores.google_subscription("vip_monthly")
    s = (await iap.post("/v2/iap/subscription/google", headers, {"receipt": receipt})).json()[
        "validated_subscription"
    ]
    assert s["store"] == 1 and s["active"] is True
    later = int(time.time() * 1000) + 60 * DAY
    iap.stores.subscriptions[sub_token]["lineItems"][0]["expiryTime"] = _rfc3339(later)
    renewed = {"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": "2",
               "subscriptionNotification": {"version": "1.0", "notificationType": 2, "purchaseToken": sub_token,
                                            "subscriptionId": "vip_monthly"}}  # fmt: skip
    assert (await iap.client.post(_google_webhook(iap), content=pubsub_push(renewed))).status_code == 200
    nk = ServerApi(iap.node.runtime, iap.node.default_title, "test")
    assert (await nk.subscription_get_by_product_id(user, "vip_monthly")).expiry_time == later
    revoked = {
        **renewed,
        "subscriptionNotification": {**renewed["subscriptionNotification"], "notificationType": 12},
    }
    assert (await iap.client.post(_google_webhook(iap), content=pubsub_push(revoked))).status_code == 200
    assert not (await nk.subscription_get_by_product_id(user, "vip_monthly")).active
    assert [k for k, _, _ in hooks][1:] == ["subscription_notification_google"] * 2

    wrong = await iap.client.post(_google_webhook(iap, "guess"), content=pubsub_push(renewed))
    assert wrong.status_code == 401
    other_app = pubsub_push({**renewed, "packageName": "com.other"})
    assert (await iap.client.post(_google_webhook(iap), content=other_app)).status_code == 400
    iap.stores.mode = "down"  # the API cannot confirm: 503, so Pub/Sub delivers it again
    assert (await iap.client.post(_google_webhook(iap), content=pubsub_push(renewed))).status_code == 503


async def test_google_notifications_of_tokens_google_forgot(iap: Iap):
    user, headers = await iap.player()
    receipt, token = iap.stores.google_subscription("vip_monthly")
    assert (await iap.post("/v2/iap/subscription/google", headers, {"receipt": receipt})).status_code == 200
    del iap.stores.subscriptions[token]
    renewed = {"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": "3",
               "subscriptionNotification": {"version": "1.0", "notificationType": 2, "purchaseToken": token,
                                            "subscriptionId": "vip_monthly"}}  # fmt: skip
    # Nothing to confirm a renewal with: acknowledged (Pub/Sub stops), nothing changes.
    assert (await iap.client.post(_google_webhook(iap), content=pubsub_push(renewed))).status_code == 200
    nk = ServerApi(iap.node.runtime, iap.node.default_title, "test")
    assert (await nk.subscription_get_by_product_id(user, "vip_monthly")).active
    voided = {"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": "4",
              "voidedPurchaseNotification": {"purchaseToken": token, "orderId": "GPA.0", "productType": 1,
                                             "refundType": 1}}  # fmt: skip
    assert (await iap.client.post(_google_webhook(iap), content=pubsub_push(voided))).status_code == 200
    s = await nk.subscription_get_by_product_id(user, "vip_monthly")
    assert s.refund_time and not s.active


async def test_a_legacy_receipts_latest_subscription_and_an_expiry_notification(iap: Iap):
    user, headers = await iap.player()
    now = int(time.time() * 1000)

    def entry(tid: str, expires: int) -> dict:
        return {"product_id": "vip_monthly", "transaction_id": tid, "original_transaction_id": "700000",
                "purchase_date_ms": str(expires - 30 * DAY), "original_purchase_date_ms": str(now - 60 * DAY),
                "expires_date_ms": str(expires), "quantity": "1"}  # fmt: skip

    receipt = iap.stores.legacy_receipt(entry("700000", now - 30 * DAY), entry("700001", now + 5 * DAY))
    response = await iap.post("/v2/iap/subscription/apple", headers, {"receipt": receipt})
    s = response.json()["validated_subscription"]
    assert s["original_transaction_id"] == "700000" and s["active"] is True
    assert s["expiry_time"] == rfc3339(now + 5 * DAY) and s["purchase_time"] == rfc3339(now - 60 * DAY)
    t = apple_transaction("vip_monthly", transaction_id="700001", originalTransactionId="700000",
                          expiresDate=now - 1000)  # fmt: skip
    body = apple_notification(iap.pki, "EXPIRED", t, subtype="VOLUNTARY")
    assert (await iap.client.post(_apple_webhook(iap), content=body)).status_code == 200
    got = (await iap.client.get("/v2/iap/subscription/vip_monthly", headers=headers)).json()
    assert got["expiry_time"] == rfc3339(now - 1000) and "active" not in got
    assert got["user_id"] == user
