"""nakama-js's in-app purchase calls against a running `overworld serve` (SQLite, PostgreSQL, two
nodes) whose default title's stores point at local fakes. The tests are in
tests/node/purchases.test.mjs; the receipts are made here, signed with the test's own certificate
chain and keys, and passed in OVERWORLD_IAP_FIXTURES."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.api.test_nakama_js import NODE_DIR, NODE_TIMEOUT, node_modules  # noqa: F401 - the fixture
from tests.deployments import DEPLOYMENT_PARAMS, deploy
from tests.purchases.fakes import (
    BUNDLE,
    PACKAGE,
    FakeStores,
    HuaweiKeys,
    Pki,
    apple_transaction,
    facebook_signed_request,
)
from tests.support import have_node

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not have_node(), reason="the nakama-js tests need Node.js (`node`) and `npm` on PATH"),
]
FB_SECRET = "fb-secret"


@pytest.mark.parametrize("kind", DEPLOYMENT_PARAMS)
def test_nakama_js_purchases(node_modules: Path, kind: str, tmp_path: Path) -> None:  # noqa: F811
    node = shutil.which("node")
    assert node is not None
    pki, huawei, stores = Pki.make(), HuaweiKeys(), FakeStores().start()
    try:
        config = {
            "default": {
                "apple": {"bundle_id": BUNDLE, "root_certificates": [pki.root_pem]},
                "google": {"package_name": PACKAGE, "service_account": stores.service_account,
                           "token_url": f"{stores.url}/token", "api_url": stores.url},
                "huawei": {"public_key": huawei.public_b64},
                "facebook_instant": {"app_secret": FB_SECRET},
            }
        }  # fmt: skip
        now = int(time.time() * 1000)
        huawei_purchase, huawei_signature = huawei.purchase("gems_100")
        google_subscription, _ = stores.google_subscription("vip_yearly")
        fixtures = {
            "apple": pki.sign(apple_transaction("gems_100")),
            "apple_unpersisted": pki.sign(apple_transaction("gems_500")),
            "apple_subscription": pki.sign(
                apple_transaction(
                    "vip_monthly", type="Auto-Renewable Subscription", expiresDate=now + 86_400_000
                )
            ),
            "google": stores.google_purchase("gems_100"),
            "google_subscription": google_subscription,
            "huawei_purchase": huawei_purchase,
            "huawei_signature": huawei_signature,
            "facebook": facebook_signed_request(FB_SECRET, "coins_10"),
        }
        server_key = "key-" + secrets.token_hex(8)
        env = {
            "OVERWORLD_DEFAULT_SERVER_KEY": server_key,
            "OVERWORLD_DEFAULT_HTTP_KEY": "http-" + secrets.token_hex(8),
            "OVERWORLD_PURCHASES": json.dumps(config),
        }
        with deploy(kind, tmp_path, env) as server:
            result = subprocess.run(
                [node, "--test", "--test-force-exit", "purchases.test.mjs"],
                cwd=NODE_DIR,
                env={
                    **os.environ,
                    "OVERWORLD_URL_HOST": "127.0.0.1",
                    "OVERWORLD_URL_PORT": str(server.port),
                    "OVERWORLD_SERVER_KEY": server_key,
                    "OVERWORLD_IAP_FIXTURES": json.dumps(fixtures),
                },
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT,
            )
            logs = server.logs()
    finally:
        stores.stop()
    if result.returncode != 0:
        pytest.fail(
            f"node --test exited with {result.returncode}:\n{result.stdout}\n{result.stderr}\n{logs}",
            pytrace=False,
        )
    assert "# pass 4" in result.stdout and "# fail 0" in result.stdout, result.stdout
