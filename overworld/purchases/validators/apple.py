"""The App Store: signed transactions (StoreKit 2, App Store Server API), the legacy
`verifyReceipt` endpoint, and App Store Server Notifications V2.

A signed transaction (or notification) is a JWS in compact form whose header carries `alg`
ES256 and `x5c`, the signing certificate chain: the leaf, Apple's intermediate, the root. It is
accepted when

- the root is, byte for byte, one of the title's configured root certificates (Apple Root CA - G3
  in production; tests configure their own);
- each certificate is directly issued (and signed) by the next, each is valid now, the
  intermediate is a CA, and the leaf and intermediate carry Apple's marker extensions
  (1.2.840.113635.100.6.11.1 on the leaf, 1.2.840.113635.100.6.2.1 on the intermediate);
- the ES256 signature of `header.payload` verifies with the leaf's key.

Nothing of the payload is believed before that.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from overworld.config import AppleStore
from overworld.errors import FailedPrecondition, InvalidArgument, Unavailable
from overworld.purchases.models import StorePurchase, StoreSubscription
from overworld.purchases.validators.common import (
    StoreHttp,
    b64decode,
    int_field,
    json_object,
    text_field,
    text_or_file,
)

STORE = "apple"
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
# verifyReceipt statuses: the receipt is a sandbox one (ask the sandbox), the service is down.
SANDBOX_RECEIPT = 21007
UNAVAILABLE_STATUSES = {21005, 21009} | set(range(21100, 21200))
MALFORMED_STATUSES = {21000, 21002, 21003}
_DER = Encoding.DER


def load_roots(pems: list[str]) -> list[bytes]:
    """The configured root certificates, as DER (what `x5c` is compared with). Raises ValueError
    for a certificate that does not load."""
    roots = []
    for value in pems:
        text = text_or_file(value)
        for block in text.split("-----END CERTIFICATE-----"):
            if "-----BEGIN CERTIFICATE-----" not in block:
                continue
            cert = x509.load_pem_x509_certificate((block + "-----END CERTIFICATE-----").encode())
            roots.append(cert.public_bytes(encoding=_DER))
    return roots


def verify_jws(token: str, roots: list[bytes], field: str, now: datetime | None = None) -> dict[str, Any]:
    """The payload of an App Store JWS, once its chain and signature verify (module docstring);
    INVALID_ARGUMENT naming `field` otherwise."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidArgument(f"{field}: not a signed App Store transaction (a JWS).")
    if not roots:
        raise FailedPrecondition("The title's App Store configuration has no root certificate.")
    head_b64, body_b64, sig_b64 = token.split(".")
    header = json_object(b64decode(head_b64, field, url=True), field)
    if header.get("alg") != "ES256":
        raise InvalidArgument(f"{field}: the JWS algorithm must be ES256.")
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or len(x5c) != 3 or not all(isinstance(c, str) for c in x5c):
        raise InvalidArgument(f"{field}: x5c must hold three certificates (leaf, intermediate, root).")
    key, valid_from, valid_until = _verified_chain(tuple(x5c), tuple(roots), field)
    at = now or datetime.now(UTC)
    if not valid_from <= at <= valid_until:
        raise InvalidArgument(f"{field}: a certificate of the chain is expired or not yet valid.")
    signature = b64decode(sig_b64, field, url=True)
    if len(signature) != 64:
        raise InvalidArgument(f"{field}: the signature is not an ES256 signature.")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, f"{head_b64}.{body_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidArgument(f"{field}: the signature does not verify.") from None
    return json_object(b64decode(body_b64, field, url=True), field)


# Chains already verified: the App Store signs every transaction with the same few certificates,
# so each chain's signatures and extensions are checked once (its validity, on every use).
_Chain = tuple[ec.EllipticCurvePublicKey, datetime, datetime]
_CHAINS: dict[tuple[tuple[str, ...], tuple[bytes, ...]], _Chain] = {}
_MAX_CHAINS = 256


def _verified_chain(x5c: tuple[str, ...], roots: tuple[bytes, ...], field: str) -> _Chain:
    """The leaf's key and the chain's common validity window, once the chain verifies."""
    found = _CHAINS.get((x5c, roots))
    if found is not None:
        return found
    try:
        chain = [x509.load_der_x509_certificate(b64decode(c, field)) for c in x5c]
    except ValueError:
        raise InvalidArgument(f"{field}: x5c holds a certificate that does not load.") from None
    leaf, intermediate, root = chain
    if not any(hmac.compare_digest(root.public_bytes(_DER), r) for r in roots):
        raise InvalidArgument(f"{field}: the certificate chain does not end at a trusted root.")
    try:
        leaf.verify_directly_issued_by(intermediate)
        intermediate.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise InvalidArgument(f"{field}: the certificate chain does not verify.") from None
    try:
        constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise InvalidArgument(f"{field}: the intermediate certificate is not a CA.")
    for cert, oid in ((leaf, LEAF_OID), (intermediate, INTERMEDIATE_OID)):
        try:
            cert.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            raise InvalidArgument(
                f"{field}: the certificate chain lacks Apple's marker extensions."
            ) from None
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidArgument(f"{field}: the signing certificate has no ES256 key.")
    valid_from = max(c.not_valid_before_utc for c in chain)
    valid_until = min(c.not_valid_after_utc for c in chain)
    if len(_CHAINS) >= _MAX_CHAINS:
        _CHAINS.clear()
    _CHAINS[(x5c, roots)] = (key, valid_from, valid_until)
    return key, valid_from, valid_until


def environment_of(value: Any) -> str:
    return {"Sandbox": "sandbox", "Production": "production"}.get(value, "unknown")


@dataclass(slots=True)
class Notification:
    """A verified App Store Server Notification V2."""

    id: str  # notificationUUID
    type: str  # notificationType: REFUND, REVOKE, DID_RENEW, EXPIRED, ...
    subtype: str
    environment: str
    payload: dict[str, Any]  # the decoded notification, with data.signedTransactionInfo decoded
    transaction: dict[str, Any] | None  # the decoded signedTransactionInfo


class AppleValidator:
    def __init__(self, config: AppleStore, http: StoreHttp) -> None:
        self.config = config
        self._http = http
        self._roots = load_roots(config.root_certificates)

    # -- signed transactions --------------------------------------------------------------------

    def transaction(self, token: str, field: str) -> dict[str, Any]:
        payload = verify_jws(token, self._roots, field)
        if payload.get("bundleId") != self.config.bundle_id:
            raise FailedPrecondition(
                f"{field}: the transaction is of another app ({payload.get('bundleId')!r})."
            )
        return payload

    def _purchase_of(self, t: dict[str, Any], field: str) -> StorePurchase:
        return StorePurchase(
            store=STORE,
            product_id=text_field(t, "productId", field),
            transaction_id=text_field(t, "transactionId", field),
            purchase_time=int_field(t, "purchaseDate", field),
            environment=environment_of(t.get("environment")),
            provider_response=orjson.dumps(t).decode(),
            quantity=max(1, int_field(t, "quantity", field, 1)),
            refund_time=int_field(t, "revocationDate", field, 0),
        )

    def _subscription_of(self, t: dict[str, Any], field: str) -> StoreSubscription:
        return StoreSubscription(
            store=STORE,
            product_id=text_field(t, "productId", field),
            original_transaction_id=text_field(t, "originalTransactionId", field),
            purchase_time=int_field(t, "originalPurchaseDate", field, int_field(t, "purchaseDate", field, 0)),
            expiry_time=int_field(t, "expiresDate", field, 0),
            environment=environment_of(t.get("environment")),
            provider_response=orjson.dumps(t).decode(),
            refund_time=int_field(t, "revocationDate", field, 0),
        )

    # -- validation -----------------------------------------------------------------------------

    async def purchases(self, receipt: str, password: str = "") -> list[StorePurchase]:
        """A signed transaction's purchase, or every in-app purchase of a legacy receipt."""
        if _is_jws(receipt):
            return [self._purchase_of(self.transaction(receipt, "receipt"), "receipt")]
        response, raw = await self._verify_receipt(receipt, password)
        environment = environment_of(response.get("environment"))
        found: dict[str, StorePurchase] = {}
        for entry in _entries(response):
            if not isinstance(entry, dict) or "transaction_id" not in entry:
                continue
            p = StorePurchase(
                store=STORE,
                product_id=text_field(entry, "product_id", "receipt"),
                transaction_id=text_field(entry, "transaction_id", "receipt"),
                purchase_time=int_field(entry, "purchase_date_ms", "receipt", 0),
                environment=environment,
                provider_response=raw,
                quantity=max(1, int_field(entry, "quantity", "receipt", 1)),
                refund_time=int_field(entry, "cancellation_date_ms", "receipt", 0),
            )
            found.setdefault(p.transaction_id, p)
        if not found:
            raise FailedPrecondition("receipt: the App Store receipt holds no in-app purchase.")
        return list(found.values())

    async def subscription(self, receipt: str, password: str = "") -> StoreSubscription:
        """A signed subscription transaction, or the latest-expiring subscription of a receipt."""
        if _is_jws(receipt):
            t = self.transaction(receipt, "receipt")
            if not t.get("expiresDate"):
                raise FailedPrecondition("receipt: the transaction is not of a subscription.")
            return self._subscription_of(t, "receipt")
        response, raw = await self._verify_receipt(receipt, password)
        entries = [e for e in _entries(response) if isinstance(e, dict) and e.get("expires_date_ms")]
        if not entries:
            raise FailedPrecondition("receipt: the App Store receipt holds no subscription.")
        latest = max(entries, key=lambda e: int_field(e, "expires_date_ms", "receipt"))
        return StoreSubscription(
            store=STORE,
            product_id=text_field(latest, "product_id", "receipt"),
            original_transaction_id=text_field(latest, "original_transaction_id", "receipt"),
            purchase_time=int_field(
                latest,
                "original_purchase_date_ms",
                "receipt",
                int_field(latest, "purchase_date_ms", "receipt", 0),
            ),
            expiry_time=int_field(latest, "expires_date_ms", "receipt"),
            environment=environment_of(response.get("environment")),
            provider_response=raw,
            refund_time=int_field(latest, "cancellation_date_ms", "receipt", 0),
        )

    async def _verify_receipt(self, receipt: str, password: str = "") -> tuple[dict[str, Any], str]:
        """The legacy endpoint's answer: production first, the sandbox when it says the receipt is
        a sandbox one (status 21007), as Apple asks."""
        if not isinstance(receipt, str) or not receipt.strip():
            raise InvalidArgument("receipt: must be a non-empty string.")
        b64decode(receipt, "receipt")  # a receipt is base64: refuse anything else before asking Apple
        body: dict[str, Any] = {"receipt-data": receipt.strip(), "exclude-old-transactions": False}
        if password or self.config.shared_secret:
            body["password"] = password or self.config.shared_secret
        response, raw = await self._post(self.config.verify_receipt_url, body)
        if response.get("status") == SANDBOX_RECEIPT:
            response, raw = await self._post(self.config.verify_receipt_sandbox_url, body)
        status = response.get("status")
        if status in UNAVAILABLE_STATUSES or response.get("is-retryable") is True:
            raise Unavailable(f"the App Store is unavailable (status {status}); try again later.")
        if status in MALFORMED_STATUSES:
            raise InvalidArgument(f"receipt: the App Store could not read the receipt (status {status}).")
        if status != 0:
            raise FailedPrecondition(f"receipt: the App Store refused the receipt (status {status}).")
        data = response.get("receipt")
        if not isinstance(data, dict) or data.get("bundle_id") != self.config.bundle_id:
            bundle = data.get("bundle_id") if isinstance(data, dict) else None
            raise FailedPrecondition(f"receipt: the receipt is of another app ({bundle!r}).")
        return response, raw

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        status, answer, text = await self._http.json("the App Store", "POST", url, content=orjson.dumps(body))
        if status != 200 or not isinstance(answer, dict):
            raise Unavailable(f"the App Store answered HTTP {status}; try again later.")
        return answer, text

    # -- notifications --------------------------------------------------------------------------

    def notification(self, body: bytes) -> Notification:
        """A verified App Store Server Notification V2 (`{"signedPayload": "..."}`)."""
        outer = json_object(body, "signedPayload")
        signed = outer.get("signedPayload")
        if not isinstance(signed, str):
            raise InvalidArgument("signedPayload: missing.")
        payload = verify_jws(signed, self._roots, "signedPayload")
        data = payload.get("data")
        if not isinstance(data, dict):
            data = {}
        if data.get("bundleId") not in (None, self.config.bundle_id):
            raise FailedPrecondition(
                f"signedPayload: the notification is of another app ({data.get('bundleId')!r})."
            )
        transaction = None
        if isinstance(data.get("signedTransactionInfo"), str):
            transaction = self.transaction(data["signedTransactionInfo"], "signedTransactionInfo")
            data = {**data, "signedTransactionInfo": transaction}
        if isinstance(data.get("signedRenewalInfo"), str):
            renewal = verify_jws(data["signedRenewalInfo"], self._roots, "signedRenewalInfo")
            data = {**data, "signedRenewalInfo": renewal}
        payload = {**payload, "data": data}
        return Notification(
            id=text_field(payload, "notificationUUID", "signedPayload"),
            type=text_field(payload, "notificationType", "signedPayload"),
            subtype=text_field(payload, "subtype", "signedPayload", required=False),
            environment=environment_of(data.get("environment")),
            payload=payload,
            transaction=transaction,
        )

    def purchase_of(self, transaction: dict[str, Any]) -> StorePurchase:
        return self._purchase_of(transaction, "signedTransactionInfo")

    def subscription_of(self, transaction: dict[str, Any]) -> StoreSubscription:
        return self._subscription_of(transaction, "signedTransactionInfo")


def _is_jws(receipt: str) -> bool:
    return isinstance(receipt, str) and receipt.count(".") == 2 and receipt.startswith("eyJ")


def _entries(response: dict[str, Any]) -> list[Any]:
    receipt = response.get("receipt")
    in_app = receipt.get("in_app") if isinstance(receipt, dict) else None
    latest = response.get("latest_receipt_info")
    return [*(in_app if isinstance(in_app, list) else []), *(latest if isinstance(latest, list) else [])]
