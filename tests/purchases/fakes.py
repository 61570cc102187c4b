"""What the purchase tests use instead of the stores: their own certificate chain and keys, JWS
signed with them, and a local HTTP server answering as the App Store's verifyReceipt, Google's
token endpoint and the Play Developer API do. Nothing here reaches the internet."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import jwt
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from overworld.db import Tx
from overworld.purchases.grants import GrantResult, ProductGrant

BUNDLE = "com.example.game"
PACKAGE = "com.example.game"
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# -- a certificate chain like Apple's ----------------------------------------------------------------


def _cert(
    subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any, *, ca: bool, oid: x509.ObjectIdentifier | None,
    days: int = 365, not_before: datetime.datetime | None = None,
) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(days=1))
        .not_valid_after((not_before or now) + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if oid is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, b"\x05\x00"), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    """A root, an intermediate carrying Apple's intermediate marker, a leaf carrying the leaf's."""

    root_key: Any
    root: x509.Certificate
    intermediate_key: Any
    intermediate: x509.Certificate
    leaf_key: Any
    leaf: x509.Certificate

    @classmethod
    def make(cls, *, leaf_oid: bool = True, leaf_expired: bool = False) -> Pki:
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = _cert("Test Root CA", root_key, None, root_key, ca=True, oid=None, days=3650)
        inter_key = ec.generate_private_key(ec.SECP256R1())
        inter = _cert("Test WWDR CA", inter_key, root, root_key, ca=True, oid=INTERMEDIATE_OID, days=1825)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30) if leaf_expired else None
        leaf = _cert("Test Store Signing", leaf_key, inter, inter_key, ca=False,
                     oid=LEAF_OID if leaf_oid else None, days=1 if leaf_expired else 365, not_before=start)  # fmt: skip
        return cls(root_key, root, inter_key, inter, leaf_key, leaf)

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, payload: dict[str, Any]) -> str:
        """A compact JWS (ES256) with the chain in x5c, as the App Store signs."""
        x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
               for c in (self.leaf, self.intermediate, self.root)]  # fmt: skip
        header = b64url(orjson.dumps({"alg": "ES256", "x5c": x5c}))
        body = b64url(orjson.dumps(payload))
        der = self.leaf_key.sign(f"{header}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def apple_transaction(
    product: str = "gems_100", *, transaction_id: str | None = None, environment: str = "Production",
    bundle: str = BUNDLE, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    tid = transaction_id or str(uuid.uuid4().int)[:16]
    now = int(time.time() * 1000)
    return {
        "transactionId": tid, "originalTransactionId": extra.pop("originalTransactionId", tid), "bundleId": bundle,
        "productId": product, "purchaseDate": now - 1000, "originalPurchaseDate": now - 1000, "quantity": 1,
        "type": "Consumable", "inAppOwnershipType": "PURCHASED", "signedDate": now, "environment": environment,
        **extra,
    }  # fmt: skip


def apple_notification(pki: Pki, kind: str, transaction: dict[str, Any], *, subtype: str = "",
                       environment: str = "Production", notification_id: str | None = None) -> bytes:  # fmt: skip
    payload = {
        "notificationType": kind, "subtype": subtype, "notificationUUID": notification_id or str(uuid.uuid4()),
        "version": "2.0", "signedDate": int(time.time() * 1000),
        "data": {"bundleId": BUNDLE, "environment": environment, "signedTransactionInfo": pki.sign(transaction)},
    }  # fmt: skip
    return orjson.dumps({"signedPayload": pki.sign(payload)})


# -- Huawei and Facebook Instant ---------------------------------------------------------------------


class HuaweiKeys:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_b64(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def purchase(self, product: str = "gems_100", order: str | None = None, **extra: Any) -> tuple[str, str]:
        data = json.dumps({
            "orderId": order or f"HW{uuid.uuid4().hex[:16]}", "productId": product, "purchaseState": 0,
            "purchaseTime": int(time.time() * 1000), "purchaseToken": uuid.uuid4().hex, "packageName": PACKAGE,
            **extra,
        })  # fmt: skip
        signature = self.key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())
        return data, base64.b64encode(signature).decode()


def facebook_signed_request(secret: str, product: str = "gems_100", payment_id: str | None = None) -> str:
    payload = b64url(orjson.dumps({
        "algorithm": "HMAC-SHA256", "app_id": "123", "is_consumed": False, "issued_at": int(time.time()),
        "payment_id": payment_id or str(uuid.uuid4().int)[:15], "product_id": product,
        "purchase_time": int(time.time()), "purchase_token": uuid.uuid4().hex,
    }))  # fmt: skip
    return f"{b64url(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())}.{payload}"


# -- the fake stores' HTTP endpoints -----------------------------------------------------------------


@dataclass
class FakeStores:
    """App Store verifyReceipt (`/verifyReceipt`, `/sandbox/verifyReceipt`), Google's token
    endpoint (`/token`) and the Play Developer API (`/androidpublisher/v3/...`), on 127.0.0.1."""

    google_key: Any = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)  # receipt -> answer (with environment)
    sandbox_receipts: set[str] = field(default_factory=set)
    products: dict[tuple[str, str], dict[str, Any]] = field(
        default_factory=dict
    )  # (product, token) -> answer
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> subscriptionsv2 answer
    shared_secret: str = "apple-secret"  # verifyReceipt's password: another one is status 21004
    mode: str = "up"  # "down": 503 everywhere; "slow": answers after `delay`
    delay: float = 3.0
    token_requests: int = 0
    api_requests: int = 0
    bad_tokens: int = 0
    issued: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeStores:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def service_account(self) -> str:
        pem = self.google_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps({"type": "service_account", "client_email": "iap@example.iam.gserviceaccount.com",
                           "private_key": pem, "private_key_id": "k1"})  # fmt: skip

    def legacy_receipt(
        self, *entries: dict[str, Any], environment: str = "Production", bundle: str = BUNDLE
    ) -> str:
        receipt = base64.b64encode(uuid.uuid4().bytes * 4).decode()
        self.receipts[receipt] = {
            "status": 0, "environment": environment,
            "receipt": {"bundle_id": bundle, "in_app": list(entries)},
            "latest_receipt_info": [e for e in entries if "expires_date_ms" in e],
        }  # fmt: skip
        if environment == "Sandbox":
            self.sandbox_receipts.add(receipt)
        return receipt

    def google_purchase(self, product: str = "gems_100", *, state: int = 0, test: bool = False) -> str:
        token = uuid.uuid4().hex
        answer: dict[str, Any] = {
            "kind": "androidpublisher#productPurchase", "purchaseTimeMillis": str(int(time.time() * 1000)),
            "purchaseState": state, "consumptionState": 0, "orderId": f"GPA.{uuid.uuid4().int % 10**16}",
            "acknowledgementState": 0, "regionCode": "US",
        }  # fmt: skip
        if test:
            answer["purchaseType"] = 0
        self.products[(product, token)] = answer
        return json.dumps({"packageName": PACKAGE, "productId": product, "purchaseToken": token})

    def google_subscription(
        self, product: str = "vip_monthly", *, expiry_ms: int | None = None
    ) -> tuple[str, str]:
        token = uuid.uuid4().hex
        expiry = expiry_ms or int(time.time() * 1000) + 30 * 86_400_000
        self.subscriptions[token] = {
            "kind": "androidpublisher#subscriptionPurchaseV2", "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "startTime": _rfc3339(int(time.time() * 1000) - 1000), "latestOrderId": f"GPA.{uuid.uuid4().int % 10**16}",
            "lineItems": [{"productId": product, "expiryTime": _rfc3339(expiry)}],
        }  # fmt: skip
        return json.dumps({"packageName": PACKAGE, "productId": product, "purchaseToken": token}), token

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if self.mode == "down":
            return 503, {"error": "down"}
        if self.mode == "slow":
            time.sleep(self.delay)
        parsed = urlparse(path)
        if parsed.path in ("/verifyReceipt", "/sandbox/verifyReceipt"):
            request = orjson.loads(body)
            receipt = request.get("receipt-data", "")
            if request.get("password") != self.shared_secret:
                return 200, {"status": 21004}
            found = self.receipts.get(receipt)
            if found is None:
                return 200, {"status": 21002}
            sandbox = parsed.path.startswith("/sandbox")
            if (receipt in self.sandbox_receipts) != sandbox:
                return 200, {"status": 21007 if not sandbox else 21008}
            return 200, found
        if parsed.path == "/token":
            form = parse_qs(body.decode())
            assertion = form.get("assertion", [""])[0]
            try:
                claims = jwt.decode(assertion, self.google_key.public_key(), algorithms=["RS256"],
                                    audience=f"{self.url}/token")  # fmt: skip
            except jwt.PyJWTError:
                return 400, {"error": "invalid_grant"}
            if form.get("grant_type") != [
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ] or "androidpublisher" not in claims.get("scope", ""):
                return 400, {"error": "invalid_grant"}
            self.token_requests += 1
            token = f"ya29.{uuid.uuid4().hex}"
            self.issued.add(token)
            return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        if parsed.path.startswith(f"/androidpublisher/v3/applications/{PACKAGE}/purchases/"):
            auth = headers.get("Authorization", "")
            if auth.removeprefix("Bearer ") not in self.issued:
                self.bad_tokens += 1
                return 401, {"error": {"code": 401}}
            self.api_requests += 1
            rest = parsed.path.split("/purchases/", 1)[1].split("/")
            if rest[0] == "products":
                found = self.products.get((unquote(rest[1]), unquote(rest[3])))
            else:
                found = self.subscriptions.get(unquote(rest[2]))
            return (200, found) if found is not None else (404, {"error": {"code": 404}})
        return 404, {"error": "not found"}


def _rfc3339(ms: int) -> str:
    return (
        datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )


def _handler(stores: FakeStores) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, answer = stores.answer(self.command, self.path, self.headers, body)
            data = orjson.dumps(answer)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def pubsub_push(payload: dict[str, Any], message_id: str | None = None) -> bytes:
    return orjson.dumps({
        "message": {"data": base64.b64encode(orjson.dumps(payload)).decode(),
                    "messageId": message_id or uuid.uuid4().hex, "publishTime": "2026-12-06T10:00:00Z"},
        "subscription": "projects/p/subscriptions/s",
    })  # fmt: skip


# -- the catalog's stand-in -----------------------------------------------------------------------------

CATALOG = {"gems_100": {"gems": 100}, "gems_500": {"gems": 500}, "coins_10": {"coins": 10}}


class WalletGrants:
    """A `ProductGrants` for tests: credits the product's currencies to the wallet column with SQL
    (and takes them back, never below zero), and records every call. It does not deduplicate:
    exactly-once is the purchases service's to keep."""

    def __init__(self) -> None:
        self.granted: list[ProductGrant] = []
        self.revoked: list[ProductGrant] = []
        self.committed_users: list[tuple[str, str]] = []
        self.fail_next = False

    async def _change(self, tx: Tx, grant: ProductGrant, sign: int) -> dict[str, int]:
        contents = {k: v * grant.quantity for k, v in CATALOG.get(grant.product_id, {}).items()}
        text = await tx.fetchval(
            "SELECT wallet FROM users WHERE title_id = $1 AND id = $2", grant.title_id, grant.user_id
        )
        wallet = orjson.loads(text or "{}")
        for currency, amount in contents.items():
            wallet[currency] = max(0, wallet.get(currency, 0) + sign * amount)
        await tx.execute(
            "UPDATE users SET wallet = $3 WHERE title_id = $1 AND id = $2",
            grant.title_id, grant.user_id, orjson.dumps(wallet).decode(),
        )  # fmt: skip
        return contents

    async def grant(self, tx: Tx, grant: ProductGrant) -> GrantResult:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the catalog failed")
        contents = await self._change(tx, grant, 1)
        self.granted.append(grant)
        return GrantResult(applied=True, currencies=contents)

    async def revoke(self, tx: Tx, grant: ProductGrant) -> GrantResult:
        contents = await self._change(tx, grant, -1)
        self.revoked.append(grant)
        return GrantResult(applied=True, currencies=contents)

    async def committed(self, title_id: str, user_ids: Sequence[str]) -> None:
        self.committed_users.extend((title_id, u) for u in user_ids)
