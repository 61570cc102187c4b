"""Google Play: the Play Developer API with the title's service account.

The service account signs a JWT (RS256) asking for the androidpublisher scope and trades it at
the token endpoint for an access token (OAuth 2.0 JWT bearer grant, RFC 7523), kept until a
minute before it expires. Purchases are confirmed with purchases.products.get, subscriptions
with purchases.subscriptionsv2.get; real-time developer notifications (Pub/Sub push) are only a
prompt to fetch the purchase again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt
import orjson

from overworld.config import GoogleStore
from overworld.errors import FailedPrecondition, InvalidArgument, Unavailable
from overworld.purchases.models import StorePurchase, StoreSubscription
from overworld.purchases.validators.common import (
    StoreHttp,
    b64decode,
    int_field,
    json_object,
    refused,
    rfc3339_ms,
    text_field,
    text_or_file,
)

STORE = "google"
NAME = "Google Play"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
PURCHASED, CANCELED, PENDING = 0, 1, 2  # purchases.products purchaseState
TEST = 0  # purchases.products purchaseType: a license tester's purchase
SUBSCRIPTION_REVOKED = 12  # subscriptionNotification.notificationType


@dataclass(slots=True)
class Receipt:
    product_id: str
    purchase_token: str


@dataclass(slots=True)
class Notification:
    """A real-time developer notification (the Pub/Sub message's data)."""

    id: str  # the Pub/Sub messageId
    payload: dict[str, Any]
    purchase_token: str
    kind: str  # "subscription", "one_time", "voided", "test"
    notification_type: int
    order_id: str  # voided purchases name it
    product_type: int  # voided purchases: 1 subscription, 2 one-time


def order_root(order_id: str) -> str:
    """A subscription's first order id: renewals are `GPA.1234-...-12345..3`."""
    return order_id.split("..", 1)[0]


class GoogleValidator:
    def __init__(self, config: GoogleStore, http: StoreHttp) -> None:
        self.config = config
        self._http = http
        account = (
            json_object(text_or_file(config.service_account), "service_account")
            if config.service_account
            else {}
        )
        self._email = str(account.get("client_email", ""))
        self._key = str(account.get("private_key", ""))
        self._key_id = str(account.get("private_key_id", ""))
        if config.service_account and not (self._email and self._key):
            raise ValueError("the service account JSON needs client_email and private_key")
        self._token = ""  # nosec B105 # an empty token: none fetched yet
        self._token_expiry = 0.0
        self._token_lock = asyncio.Lock()
        self.token_requests = 0  # tests read it: the token is cached

    # -- receipts ---------------------------------------------------------------------------------

    @staticmethod
    def receipt(text: str, field: str) -> Receipt:
        """The product and token of a purchase as the client has it: Google's purchase JSON
        (`productId`, `purchaseToken`), as such or wrapped (`{"json": "..."}`, Unity IAP's
        `{"Payload": "..."}`)."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument(f"{field}: must be a non-empty string.")
        obj = json_object(text, field)
        for _ in range(3):
            inner = obj.get("Payload", obj.get("json"))
            if isinstance(inner, str) and "purchaseToken" not in obj:
                obj = json_object(inner, field)
            else:
                break
        product = obj.get("productId") or obj.get("subscriptionId")
        if not product and isinstance(obj.get("productIds"), list) and obj["productIds"]:
            product = obj["productIds"][0]
        if not isinstance(product, str) or not product:
            raise InvalidArgument(f"{field}: productId is missing.")
        return Receipt(product_id=product, purchase_token=text_field(obj, "purchaseToken", field))

    def _check_package(self, text: str, field: str) -> None:
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        package = obj.get("packageName") if isinstance(obj, dict) else None
        if package not in (None, self.config.package_name):
            raise FailedPrecondition(f"{field}: the purchase is of another app ({package!r}).")

    # -- the API ----------------------------------------------------------------------------------

    async def access_token(self) -> str:
        if self._token and time.time() < self._token_expiry:
            return self._token
        async with self._token_lock:
            if self._token and time.time() < self._token_expiry:
                return self._token
            if not self._email:
                raise FailedPrecondition("The title's Google Play configuration has no service account.")
            now = int(time.time())
            claims = {
                "iss": self._email,
                "scope": SCOPE,
                "aud": self.config.token_url,
                "iat": now,
                "exp": now + 3600,
            }
            headers = {"kid": self._key_id} if self._key_id else None
            try:
                assertion = jwt.encode(claims, self._key, algorithm="RS256", headers=headers)
            except (ValueError, TypeError, jwt.PyJWTError):
                raise FailedPrecondition("The title's Google service account key cannot sign.") from None
            self.token_requests += 1
            status, body, text = await self._http.json(
                NAME, "POST", self.config.token_url,
                data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            )  # fmt: skip
            if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
                raise refused("Google's token endpoint", status, text)
            expires_in = body.get("expires_in", 3600)
            self._token = body["access_token"]
            self._token_expiry = time.time() + max(0, int(expires_in) - 60)
            return self._token

    async def _get(self, path: str, field: str) -> tuple[dict[str, Any], str]:
        package = quote(self.config.package_name, safe="")
        url = f"{self.config.api_url.rstrip('/')}/androidpublisher/v3/applications/{package}/{path}"
        for attempt in range(2):
            token = await self.access_token()
            status, body, text = await self._http.json(
                NAME, "GET", url, headers={"Authorization": f"Bearer {token}"}
            )
            if status == 401 and attempt == 0:  # the cached token was revoked: get another once
                self._token = ""  # nosec B105 # an empty token: none fetched yet
                continue
            if status in (400, 404, 410):
                raise InvalidArgument(f"{field}: Google Play does not know this purchase (HTTP {status}).")
            if status != 200 or not isinstance(body, dict):
                raise refused(NAME, status, text)
            return body, text
        raise Unavailable("Google Play refused a fresh access token; try again later.")

    async def product(self, receipt: Receipt, field: str = "purchase") -> tuple[dict[str, Any], str]:
        product, token = quote(receipt.product_id, safe=""), quote(receipt.purchase_token, safe="")
        return await self._get(f"purchases/products/{product}/tokens/{token}", field)

    async def subscription_v2(self, token: str, field: str = "receipt") -> tuple[dict[str, Any], str]:
        return await self._get(f"purchases/subscriptionsv2/tokens/{quote(token, safe='')}", field)

    # -- validation -------------------------------------------------------------------------------

    async def purchase(self, text: str) -> StorePurchase:
        receipt = self.receipt(text, "purchase")
        self._check_package(text, "purchase")
        body, raw = await self.product(receipt)
        state = int_field(body, "purchaseState", "purchase", PURCHASED)
        if state == PENDING:
            raise FailedPrecondition("purchase: the purchase is pending payment.")
        if state != PURCHASED:
            raise FailedPrecondition("purchase: the purchase was canceled.")
        return StorePurchase(
            store=STORE,
            product_id=receipt.product_id,
            transaction_id=text_field(body, "orderId", "purchase", required=False) or receipt.purchase_token,
            purchase_time=int_field(body, "purchaseTimeMillis", "purchase", 0),
            environment="sandbox" if body.get("purchaseType") == TEST else "production",
            provider_response=raw,
            quantity=max(1, int_field(body, "quantity", "purchase", 1)),
            store_ref=receipt.purchase_token,
        )

    async def subscription(self, text: str) -> StoreSubscription:
        receipt = self.receipt(text, "receipt")
        self._check_package(text, "receipt")
        body, raw = await self.subscription_v2(receipt.purchase_token)
        return self.subscription_of(body, raw, receipt.purchase_token, receipt.product_id)

    @staticmethod
    def subscription_of(
        body: dict[str, Any], raw: str, token: str, product_id: str = ""
    ) -> StoreSubscription:
        if body.get("subscriptionState") == "SUBSCRIPTION_STATE_PENDING":
            raise FailedPrecondition("receipt: the subscription is pending payment.")
        items = [i for i in body.get("lineItems") or [] if isinstance(i, dict)]
        item = next((i for i in items if i.get("productId") == product_id), items[0] if items else None)
        if item is None:
            raise FailedPrecondition("receipt: Google Play lists no product for this subscription.")
        order = text_field(body, "latestOrderId", "receipt", required=False)
        return StoreSubscription(
            store=STORE,
            product_id=text_field(item, "productId", "receipt"),
            original_transaction_id=order_root(order) if order else token,
            purchase_time=rfc3339_ms(body.get("startTime"), "receipt") if body.get("startTime") else 0,
            expiry_time=rfc3339_ms(item.get("expiryTime"), "receipt") if item.get("expiryTime") else 0,
            environment="sandbox" if "testPurchase" in body else "production",
            provider_response=raw,
            store_ref=token,
        )

    # -- notifications ----------------------------------------------------------------------------

    def notification(self, body: bytes) -> Notification:
        """A Pub/Sub push of a real-time developer notification."""
        outer = json_object(body, "message")
        message = outer.get("message")
        if not isinstance(message, dict):
            raise InvalidArgument("message: missing.")
        message_id = text_field(message, "messageId", "message", required=False) or text_field(
            message, "message_id", "message"
        )
        data = json_object(
            b64decode(text_field(message, "data", "message.data"), "message.data"), "message.data"
        )
        if data.get("packageName") != self.config.package_name:
            raise FailedPrecondition(
                f"message.data: the notification is of another app ({data.get('packageName')!r})."
            )
        kinds = (
            ("subscription", "subscriptionNotification"),
            ("one_time", "oneTimeProductNotification"),
            ("voided", "voidedPurchaseNotification"),
        )
        for kind, key in kinds:
            inner = data.get(key)
            if isinstance(inner, dict):
                return Notification(
                    id=message_id, payload=data, kind=kind,
                    purchase_token=text_field(inner, "purchaseToken", f"message.data.{key}"),
                    notification_type=int_field(inner, "notificationType", f"message.data.{key}", 0),
                    order_id=text_field(inner, "orderId", f"message.data.{key}", required=False),
                    product_type=int_field(inner, "productType", f"message.data.{key}", 0),
                )  # fmt: skip
        return Notification(
            id=message_id, payload=data, kind="test", purchase_token="", notification_type=0, order_id="",  # nosec B106 # an empty purchase token of a test notification
            product_type=0,
        )  # fmt: skip
