"""Huawei AppGallery (IAP): the purchase data (InAppPurchaseData, JSON text) is signed by Huawei
with SHA256withRSA; the signature verifies with the title's IAP public key. Nothing is asked of
Huawei's servers."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from overworld.config import HuaweiStore
from overworld.errors import FailedPrecondition, InvalidArgument
from overworld.purchases.models import StorePurchase
from overworld.purchases.validators.common import b64decode, int_field, json_object, text_field, text_or_file

STORE = "huawei"
PURCHASED = 0  # purchaseState
SANDBOX = 0  # purchaseType: a sandbox purchase (absent in production)


def load_public_key(value: str) -> rsa.RSAPublicKey:
    """PEM (text or file), or the base64 DER that AppGallery Connect shows."""
    text = text_or_file(value).strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        key = serialization.load_der_public_key(b64decode(text, "public_key"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Huawei IAP public key must be an RSA key")
    return key


class HuaweiValidator:
    def __init__(self, config: HuaweiStore) -> None:
        self.config = config
        self._key = load_public_key(config.public_key)

    def purchase(self, purchase: str, signature: str) -> StorePurchase:
        if not isinstance(purchase, str) or not purchase.strip():
            raise InvalidArgument("purchase: must be a non-empty string.")
        if not isinstance(signature, str) or not signature.strip():
            raise InvalidArgument("signature: must be a non-empty string.")
        data = json_object(purchase, "purchase")
        try:
            self._key.verify(
                b64decode(signature, "signature"), purchase.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise InvalidArgument("signature: does not verify with the title's Huawei public key.") from None
        if int_field(data, "purchaseState", "purchase", PURCHASED) != PURCHASED:
            raise FailedPrecondition("purchase: the purchase is not in the purchased state.")
        return StorePurchase(
            store=STORE,
            product_id=text_field(data, "productId", "purchase"),
            transaction_id=text_field(data, "orderId", "purchase"),
            purchase_time=int_field(data, "purchaseTime", "purchase", 0),
            environment="sandbox" if data.get("purchaseType") == SANDBOX else "production",
            provider_response=purchase,
            quantity=max(1, int_field(data, "quantity", "purchase", 1)),
            store_ref=text_field(data, "purchaseToken", "purchase", required=False),
        )
