"""The per-title store settings (a TOML table, or JSON in OVERWORLD_PURCHASES; certificates and
keys inline or in files; a key that does not load stops the start naming the setting), the
notification hooks registered by server code, and a Google access token replaced when revoked."""

from __future__ import annotations

import json
import time

import msgspec
import pytest

from overworld.config import AppleStore, ConfigError, HuaweiStore, TitleStores, load_settings
from overworld.node import Node
from tests.purchases.conftest import Iap, iap_settings, store_config
from tests.purchases.fakes import (
    BUNDLE,
    FakeStores,
    HuaweiKeys,
    Pki,
    WalletGrants,
    apple_notification,
    apple_transaction,
)

pytestmark = pytest.mark.anyio


def test_the_stores_are_read_from_json_in_the_environment():
    value = {"arena": {"apple": {"bundle_id": BUNDLE, "environments": ["production"]},
                       "facebook_instant": {"app_secret": "s"}}}  # fmt: skip
    settings = load_settings(environ={"OVERWORLD_PURCHASES": json.dumps(value)})
    stores = settings.purchases["arena"]
    assert stores.apple is not None and stores.apple.environments == ["production"]
    assert stores.apple.verify_receipt_url == "https://buy.itunes.apple.com/verifyReceipt"
    assert stores.google is None and stores.facebook_instant is not None
    with pytest.raises(ConfigError, match="OVERWORLD_PURCHASES"):
        load_settings(environ={"OVERWORLD_PURCHASES": "{not json"})
    with pytest.raises(ConfigError, match="purchases"):
        load_settings(environ={"OVERWORLD_PURCHASES": json.dumps({"arena": {"apple": {"bundle": "x"}}})})
    with pytest.raises(ConfigError, match="purchases"):
        load_settings(environ={"OVERWORLD_PURCHASES": json.dumps({"arena": {"apple": {
            "bundle_id": "x", "environments": ["staging"]}}})})  # fmt: skip


def test_the_stores_are_read_from_a_toml_file(tmp_path):
    path = tmp_path / "overworld.toml"
    path.write_text(
        '[purchases.arena.apple]\nbundle_id = "com.example.game"\nroot_certificates = ["/etc/apple.pem"]\n'
        '[purchases.arena.huawei]\npublic_key = "MIIB"\n'
    )
    settings = load_settings(str(path), environ={})
    assert settings.purchases["arena"].apple == AppleStore(
        bundle_id="com.example.game", root_certificates=["/etc/apple.pem"]
    )
    assert settings.purchases["arena"].huawei == HuaweiStore(public_key="MIIB")


async def test_keys_load_from_files_and_a_bad_one_stops_the_start(
    settings, tmp_path, pki: Pki, huawei: HuaweiKeys
):
    pem = tmp_path / "root.pem"
    pem.write_text(pki.root_pem)
    good = iap_settings(
        settings, TitleStores(apple=AppleStore(bundle_id=BUNDLE, root_certificates=[str(pem)]))
    )
    node = await Node.start(good, grants=WalletGrants())
    try:
        assert node.purchases.apple(node.default_title.id)._roots  # the file's certificate
    finally:
        await node.close()
    broken = iap_settings(settings, TitleStores(huawei=HuaweiStore(public_key="bm90IGEga2V5")))
    with pytest.raises(ConfigError, match=r"purchases\['.*'\]\.huawei"):
        await Node.start(broken, grants=WalletGrants())
    bad_pem = iap_settings(settings, TitleStores(apple=AppleStore(bundle_id=BUNDLE, root_certificates=[
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])))  # fmt: skip
    with pytest.raises(ConfigError, match=r"\.apple"):
        await Node.start(bad_pem, grants=WalletGrants())


HOOKS_MODULE = """
def init(ctx, nk, initializer):
    async def refunded(ctx, purchase, payload):
        await nk.wallet_update(purchase.user_id, {"refund_notices": 1})

    async def renewed(ctx, subscription, payload):
        await nk.wallet_update(subscription.user_id, {"renewal_notices": 1})

    initializer.register_purchase_notification_apple(refunded)
    initializer.register_subscription_notification_apple(renewed)
"""


async def test_server_code_hears_of_notifications(
    settings, tmp_path, pki: Pki, stores: FakeStores, huawei: HuaweiKeys
):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "iap_hooks.py").write_text(HOOKS_MODULE)
    configured = msgspec.structs.replace(
        iap_settings(settings, store_config(pki, stores, huawei)), runtime_path=str(folder)
    )
    grants = WalletGrants()
    node = await Node.start(configured, grants=grants)
    try:
        title = node.default_title
        user = (await node.accounts.authenticate_device(title, "device-hooks-1", True)).user_id
        t = apple_transaction("gems_100")
        await node.purchases.validate_purchase_apple(title.id, user, pki.sign(t))
        await node.purchases.apple_notification(
            title, apple_notification(pki, "REFUND", {**t, "revocationDate": 5})
        )
        now = int(time.time() * 1000)
        sub = apple_transaction("vip", type="Auto-Renewable Subscription", expiresDate=now + 1000)
        await node.purchases.validate_subscription_apple(title.id, user, pki.sign(sub))
        renewal = {**sub, "transactionId": "renewal-1", "expiresDate": now + 86_400_000}
        await node.purchases.apple_notification(title, apple_notification(pki, "DID_RENEW", renewal))
        wallet = await node.wallets.wallet(title.id, user)
        assert wallet == {"gems": 0, "refund_notices": 1, "renewal_notices": 1}
    finally:
        await node.close()


async def test_a_revoked_google_token_is_replaced_once(iap: Iap):
    user, headers = await iap.player()
    first = iap.stores.google_purchase("gems_100")
    assert (await iap.post("/v2/iap/purchase/google", headers, {"purchase": first})).status_code == 200
    iap.stores.issued.clear()  # Google forgets the token the server holds
    second = iap.stores.google_purchase("gems_100")
    assert (await iap.post("/v2/iap/purchase/google", headers, {"purchase": second})).status_code == 200
    assert iap.stores.token_requests == 2 and iap.stores.bad_tokens == 1
    assert await iap.wallet(user) == {"gems": 200}


def test_inline_keys_are_never_mistaken_for_file_paths(tmp_path) -> None:
    """A base64 key (Huawei's public key) is longer than a file name may be: it is the key
    itself, not a path. With no '/' in it (one key in a few hundred) the path check raised
    ENAMETOOLONG and the server refused to start (found by a CI run)."""
    from overworld.purchases.validators.common import text_or_file

    key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "qCVBN9nj4e95KPP+" * 20  # no "/" in 364 characters
    assert text_or_file(key) == key
    pem = tmp_path / "root.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")
    assert text_or_file(str(pem)).startswith("-----BEGIN CERTIFICATE-----")
