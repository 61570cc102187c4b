"""Facebook Instant Games payments: a purchase's `signedRequest` is
`base64url(HMAC-SHA256(app secret, payload)).payload`, the payload being base64url JSON with
`algorithm` HMAC-SHA256, `payment_id`, `product_id`, `purchase_time` (Unix seconds)."""

from __future__ import annotations

import hashlib
import hmac

from overworld.config import FacebookInstantStore
from overworld.errors import InvalidArgument
from overworld.purchases.models import StorePurchase
from overworld.purchases.validators.common import b64decode, int_field, json_object, text_field

STORE = "facebook_instant"
FIELD = "signed_request"


class FacebookInstantValidator:
    def __init__(self, config: FacebookInstantStore) -> None:
        self._secret = config.app_secret.encode()

    def purchase(self, signed_request: str) -> StorePurchase:
        if not isinstance(signed_request, str) or signed_request.count(".") != 1:
            raise InvalidArgument(f"{FIELD}: expected signature.payload.")
        sig_b64, payload_b64 = signed_request.split(".")
        signature = b64decode(sig_b64, FIELD, url=True)
        payload_bytes = b64decode(payload_b64, FIELD, url=True)
        expected = hmac.new(self._secret, payload_b64.encode("ascii", "replace"), hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise InvalidArgument(f"{FIELD}: the signature does not verify with the title's app secret.")
        payload = json_object(payload_bytes, FIELD)
        if str(payload.get("algorithm", "")).upper() != "HMAC-SHA256":
            raise InvalidArgument(f"{FIELD}: the algorithm must be HMAC-SHA256.")
        return StorePurchase(
            store=STORE,
            product_id=text_field(payload, "product_id", FIELD),
            transaction_id=text_field(payload, "payment_id", FIELD),
            purchase_time=int_field(payload, "purchase_time", FIELD, 0) * 1000,
            environment="production",
            provider_response=payload_bytes.decode("utf-8", "replace"),
            store_ref=text_field(payload, "purchase_token", FIELD, required=False),
        )
