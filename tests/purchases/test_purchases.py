"""Purchases over REST against local fake stores, on SQLite and PostgreSQL: each store's
verification, Nakama's wire shapes, seen_before and another user's receipt, persist, errors
(malformed receipts, bad signatures, a store down), and the grant given once."""

from __future__ import annotations

import base64
import json
import time

import orjson
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from overworld.errors import ApiError, Code
from overworld.runtime import ServerApi
from tests.purchases.conftest import FB_SECRET, Iap
from tests.purchases.fakes import Pki, apple_transaction, facebook_signed_request

pytestmark = pytest.mark.anyio
APPLE = "/v2/iap/purchase/apple"


def _error(response, status: int, code: int, field: str = "") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["error"] == body["message"], body
    assert field in body["message"], body
    return str(body["message"])


# -- the App Store: signed transactions ---------------------------------------------------------------


async def test_a_signed_apple_transaction_is_validated_recorded_and_granted_once(iap: Iap):
    user, headers = await iap.player()
    t = apple_transaction("gems_100")
    receipt = iap.pki.sign(t)
    first = await iap.post(APPLE, headers, {"receipt": receipt})
    assert first.status_code == 200, first.text
    [p] = first.json()["validated_purchases"]
    assert (
        p["user_id"] == user and p["product_id"] == "gems_100" and p["transaction_id"] == t["transactionId"]
    )
    assert "store" not in p  # APPLE_APP_STORE is 0: left out, as protojson does
    assert p["environment"] == 2  # PRODUCTION
    assert "seen_before" not in p
    assert p["refund_time"] == "1970-01-01T00:00:00Z"
    assert p["purchase_time"].endswith("Z") and p["create_time"] and p["update_time"]
    assert orjson.loads(p["provider_response"])["transactionId"] == t["transactionId"]
    assert await iap.wallet(user) == {"gems": 100}
    again = await iap.post(APPLE, headers, {"receipt": receipt, "persist": True})
    [seen] = again.json()["validated_purchases"]
    assert seen["seen_before"] is True and seen["create_time"] == p["create_time"]
    assert await iap.wallet(user) == {"gems": 100}
    assert len(iap.grants.granted) == 1
    g = iap.grants.granted[0]
    assert (g.store, g.transaction_id, g.environment, g.user_id) == (
        "apple",
        t["transactionId"],
        "production",
        user,
    )


async def test_another_users_receipt_is_refused_and_grants_nothing(iap: Iap):
    owner, owner_headers = await iap.player()
    thief, thief_headers = await iap.player()
    receipt = iap.pki.sign(apple_transaction("gems_500"))
    assert (await iap.post(APPLE, owner_headers, {"receipt": receipt})).status_code == 200
    message = _error(await iap.post(APPLE, thief_headers, {"receipt": receipt}), 400, 9)
    assert message == "This purchase was validated by another user."
    assert await iap.wallet(thief) == {} and await iap.wallet(owner) == {"gems": 500}


async def test_persist_false_validates_without_recording_or_granting(iap: Iap):
    user, headers = await iap.player()
    receipt = iap.pki.sign(apple_transaction("gems_100"))
    response = await iap.post(APPLE, headers, {"receipt": receipt, "persist": False})
    [p] = response.json()["validated_purchases"]
    assert "seen_before" not in p and "create_time" not in p
    assert await iap.wallet(user) == {} and iap.grants.granted == []
    [p] = (await iap.post(APPLE, headers, {"receipt": receipt})).json()["validated_purchases"]
    assert "seen_before" not in p and await iap.wallet(user) == {"gems": 100}


async def test_a_tampered_or_foreign_signed_transaction_is_a_400_naming_the_receipt(iap: Iap):
    user, headers = await iap.player()
    t = apple_transaction("gems_100")
    head, _body, sig = iap.pki.sign(t).split(".")
    richer = base64.urlsafe_b64encode(orjson.dumps({**t, "productId": "gems_500"})).decode().rstrip("=")
    assert "signature does not verify" in _error(
        await iap.post(APPLE, headers, {"receipt": f"{head}.{richer}.{sig}"}), 400, 3, "receipt"
    )
    other = Pki.make()  # a chain that does not end at the configured root
    assert "trusted root" in _error(
        await iap.post(APPLE, headers, {"receipt": other.sign(t)}), 400, 3, "receipt"
    )
    no_marker = Pki.make(leaf_oid=False)
    iap.node.purchases.apple(iap.node.default_title.id)._roots.append(
        no_marker.root.public_bytes(Encoding.DER)
    )
    assert "marker" in _error(
        await iap.post(APPLE, headers, {"receipt": no_marker.sign(t)}), 400, 3, "receipt"
    )
    expired = Pki.make(leaf_expired=True)
    iap.node.purchases.apple(iap.node.default_title.id)._roots.append(expired.root.public_bytes(Encoding.DER))
    assert "expired" in _error(
        await iap.post(APPLE, headers, {"receipt": expired.sign(t)}), 400, 3, "receipt"
    )
    foreign = iap.pki.sign(apple_transaction("gems_100", bundle="com.other.app"))
    _error(await iap.post(APPLE, headers, {"receipt": foreign}), 400, 9, "receipt")
    _error(await iap.post(APPLE, headers, {"receipt": "not a receipt!"}), 400, 3, "receipt")
    _error(await iap.post(APPLE, headers, {"receipt": ""}), 400, 3, "receipt")
    wrong_type = await iap.post(APPLE, headers, {"receipt": 12})
    assert wrong_type.status_code == 400 and "receipt" in wrong_type.text
    assert await iap.wallet(user) == {} and iap.grants.granted == []


async def test_sandbox_and_production_are_kept_apart(iap: Iap):
    user, headers = await iap.player()
    sandbox = iap.pki.sign(apple_transaction("gems_100", environment="Sandbox"))
    [p] = (await iap.post(APPLE, headers, {"receipt": sandbox})).json()["validated_purchases"]
    assert p["environment"] == 1
    assert iap.grants.granted[0].environment == "sandbox"
    iap.node.purchases.apple(iap.node.default_title.id).config.environments = ["production"]
    refused = await iap.post(
        APPLE, headers, {"receipt": iap.pki.sign(apple_transaction("gems_100", environment="Sandbox"))}
    )
    assert _error(refused, 400, 9) == "Sandbox purchases are not accepted for this title."
    assert await iap.wallet(user) == {"gems": 100}


# -- the App Store: the legacy receipt endpoint ---------------------------------------------------------


def _in_app(product: str, tid: str, **extra) -> dict:
    now = int(time.time() * 1000)
    return {"product_id": product, "transaction_id": tid, "original_transaction_id": tid, "quantity": "1",
            "purchase_date_ms": str(now), **extra}  # fmt: skip


async def test_a_legacy_receipt_grants_each_of_its_purchases_and_asks_the_sandbox_when_told(iap: Iap):
    user, headers = await iap.player()
    receipt = iap.stores.legacy_receipt(_in_app("gems_100", "1000001"), _in_app("coins_10", "1000002"))
    found = (await iap.post(APPLE, headers, {"receipt": receipt})).json()["validated_purchases"]
    assert sorted(p["transaction_id"] for p in found) == ["1000001", "1000002"]
    assert all(p["environment"] == 2 for p in found)
    assert await iap.wallet(user) == {"gems": 100, "coins": 10}
    sandbox = iap.stores.legacy_receipt(_in_app("gems_100", "2000001"), environment="Sandbox")
    [p] = (await iap.post(APPLE, headers, {"receipt": sandbox})).json()["validated_purchases"]
    assert p["environment"] == 1 and await iap.wallet(user) == {"gems": 200, "coins": 10}
    unknown = base64.b64encode(b"unknown receipt").decode()
    _error(await iap.post(APPLE, headers, {"receipt": unknown}), 400, 3, "receipt")


async def test_a_store_that_is_down_or_slow_is_unavailable_and_nothing_is_granted(iap: Iap):
    user, headers = await iap.player()
    receipt = iap.stores.legacy_receipt(_in_app("gems_100", "3000001"))
    iap.stores.mode = "down"
    _error(await iap.post(APPLE, headers, {"receipt": receipt}), 503, 14)
    google = iap.stores.google_purchase("gems_100")
    _error(await iap.post("/v2/iap/purchase/google", headers, {"purchase": google}), 503, 14)
    iap.stores.mode, iap.stores.delay = "slow", 10.0  # beyond the 5 s limit the tests configure
    _error(await iap.post(APPLE, headers, {"receipt": receipt}), 503, 14)
    iap.stores.mode = "up"
    assert await iap.wallet(user) == {} and iap.grants.granted == []
    assert (await iap.post(APPLE, headers, {"receipt": receipt})).status_code == 200
    assert await iap.wallet(user) == {"gems": 100}


async def test_a_failing_grant_records_nothing(iap: Iap):
    user, headers = await iap.player()
    receipt = iap.pki.sign(apple_transaction("gems_100"))
    iap.grants.fail_next = True
    assert (await iap.post(APPLE, headers, {"receipt": receipt})).status_code == 500
    [p] = (await iap.post(APPLE, headers, {"receipt": receipt})).json()["validated_purchases"]
    assert "seen_before" not in p and await iap.wallet(user) == {"gems": 100}


# -- Google Play ------------------------------------------------------------------------------------


async def test_google_purchases_use_a_cached_service_account_token(iap: Iap):
    user, headers = await iap.player()
    for _ in range(2):
        purchase = iap.stores.google_purchase("gems_100")
        [p] = (await iap.post("/v2/iap/purchase/google", headers, {"purchase": purchase})).json()[
            "validated_purchases"
        ]
        assert p["store"] == 1 and p["environment"] == 2 and p["transaction_id"].startswith("GPA.")
    assert iap.stores.token_requests == 1 and iap.stores.api_requests == 2
    assert await iap.wallet(user) == {"gems": 200}
    test = iap.stores.google_purchase("coins_10", test=True)
    [p] = (await iap.post("/v2/iap/purchase/google", headers, {"purchase": test})).json()[
        "validated_purchases"
    ]
    assert p["environment"] == 1
    wrapped = json.dumps({"json": iap.stores.google_purchase("coins_10"), "signature": "x"})
    assert (await iap.post("/v2/iap/purchase/google", headers, {"purchase": wrapped})).status_code == 200
    assert await iap.wallet(user) == {"gems": 200, "coins": 20}


async def test_google_refusals_name_the_field(iap: Iap):
    user, headers = await iap.player()
    path = "/v2/iap/purchase/google"
    canceled = iap.stores.google_purchase("gems_100", state=1)
    assert "canceled" in _error(await iap.post(path, headers, {"purchase": canceled}), 400, 9, "purchase")
    unknown = json.dumps({"productId": "gems_100", "purchaseToken": "nope"})
    _error(await iap.post(path, headers, {"purchase": unknown}), 400, 3, "purchase")
    _error(await iap.post(path, headers, {"purchase": "{not json"}), 400, 3, "purchase")
    _error(
        await iap.post(path, headers, {"purchase": json.dumps({"productId": "x"})}), 400, 3, "purchaseToken"
    )
    other_app = json.dumps({"packageName": "com.other", "productId": "gems_100", "purchaseToken": "t"})
    _error(await iap.post(path, headers, {"purchase": other_app}), 400, 9, "purchase")
    assert await iap.wallet(user) == {}


# -- Huawei and Facebook Instant -------------------------------------------------------------------------


async def test_huawei_purchases_verify_their_signature(iap: Iap):
    user, headers = await iap.player()
    path = "/v2/iap/purchase/huawei"
    data, signature = iap.huawei.purchase("gems_100")
    [p] = (await iap.post(path, headers, {"purchase": data, "signature": signature})).json()[
        "validated_purchases"
    ]
    assert p["store"] == 2 and p["environment"] == 2 and await iap.wallet(user) == {"gems": 100}
    forged = data.replace("gems_100", "gems_500")
    _error(await iap.post(path, headers, {"purchase": forged, "signature": signature}), 400, 3, "signature")
    _error(await iap.post(path, headers, {"purchase": data, "signature": "%%%"}), 400, 3, "signature")
    _error(await iap.post(path, headers, {"purchase": "[1]", "signature": signature}), 400, 3, "purchase")
    sandbox, sandbox_sig = iap.huawei.purchase("coins_10", purchaseType=0)
    [p] = (await iap.post(path, headers, {"purchase": sandbox, "signature": sandbox_sig})).json()[
        "validated_purchases"
    ]
    assert p["environment"] == 1 and await iap.wallet(user) == {"gems": 100, "coins": 10}


async def test_facebook_instant_purchases_verify_their_signed_request(iap: Iap):
    user, headers = await iap.player()
    path = "/v2/iap/purchase/facebookinstant"
    signed = facebook_signed_request(FB_SECRET, "gems_500", payment_id="990001")
    [p] = (await iap.post(path, headers, {"signed_request": signed})).json()["validated_purchases"]
    assert (p["store"], p["transaction_id"], p["product_id"]) == (3, "990001", "gems_500")
    assert await iap.wallet(user) == {"gems": 500}
    forged = facebook_signed_request("another secret", "gems_500")
    _error(await iap.post(path, headers, {"signed_request": forged}), 400, 3, "signed_request")
    _error(await iap.post(path, headers, {"signedRequest": "abc"}), 400, 3, "signed_request")


async def test_a_store_the_title_has_not_configured_refuses(iap: Iap, settings):
    _user, headers = await iap.player()
    iap.node.purchases._stores.clear()
    message = _error(await iap.post(APPLE, headers, {"receipt": iap.pki.sign(apple_transaction())}), 400, 9)
    assert message == "Apple IAP is not configured for this title."


# -- server functions and reads ----------------------------------------------------------------------------


async def test_server_functions_validate_and_read_purchases(iap: Iap):
    user, _ = await iap.player()
    nk = ServerApi(iap.node.runtime, iap.node.default_title, "test")
    t = apple_transaction("gems_100")
    [p] = await nk.purchase_validate_apple(user, iap.pki.sign(t))
    assert p.user_id == user and not p.seen_before and await iap.wallet(user) == {"gems": 100}
    data, signature = iap.huawei.purchase("coins_10")
    await nk.purchase_validate_huawei(user, signature, data)
    await nk.purchase_validate_facebook_instant(user, facebook_signed_request(FB_SECRET, "coins_10"))
    await nk.purchase_validate_google(user, iap.stores.google_purchase("coins_10"))
    found = await nk.purchase_get_by_transaction_id(t["transactionId"])
    assert found.user_id == user and found.product_id == "gems_100"
    first = await nk.purchases_list(user, limit=3)
    assert len(first.purchases) == 3 and first.cursor
    rest = await nk.purchases_list(user, limit=3, cursor=first.cursor)
    assert len(rest.purchases) == 1 and rest.cursor == ""
    listed = {p.transaction_id for p in first.purchases + rest.purchases}
    assert len(listed) == 4 and t["transactionId"] in listed
    with pytest.raises(Exception, match="Invalid cursor"):
        await nk.purchases_list("", limit=3, cursor=first.cursor)  # another listing's cursor
    with pytest.raises(Exception, match="user_id"):
        await nk.purchase_validate_apple("not-a-user", iap.pki.sign(apple_transaction()))


async def test_a_deleted_accounts_receipts_stay_used(iap: Iap):
    _user, headers = await iap.player()
    receipt = iap.pki.sign(apple_transaction("gems_100"))
    assert (await iap.post(APPLE, headers, {"receipt": receipt})).status_code == 200
    assert (await iap.client.delete("/v2/account", headers=headers)).status_code == 200
    _, new_headers = await iap.player()
    _error(await iap.post(APPLE, new_headers, {"receipt": receipt}), 400, 9)


async def test_the_legacy_shared_secret_can_be_overridden_by_server_code(iap: Iap):
    user, _ = await iap.player()
    nk = ServerApi(iap.node.runtime, iap.node.default_title, "test")
    receipt = iap.stores.legacy_receipt(_in_app("gems_100", "4000001"))
    with pytest.raises(ApiError, match="status 21004") as refused:
        await nk.purchase_validate_apple(user, receipt, password_override="another-secret")
    assert refused.value.code == Code.FAILED_PRECONDITION
    iap.stores.shared_secret = "rotated-secret"
    [p] = await nk.purchase_validate_apple(user, receipt, password_override="rotated-secret")
    assert not p.seen_before and await iap.wallet(user) == {"gems": 100}
