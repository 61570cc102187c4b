"""Fixtures of the purchase tests: the fake stores, a node whose title is configured with them,
and its REST client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from overworld.api.http.app import create_app
from overworld.config import (
    AppleStore,
    FacebookInstantStore,
    GoogleStore,
    HuaweiStore,
    Settings,
    TitleStores,
)
from overworld.node import Node
from tests.purchases.fakes import BUNDLE, PACKAGE, FakeStores, HuaweiKeys, Pki, WalletGrants
from tests.support import basic, bearer, unique

FB_SECRET = "fb-app-secret"
PUSH_TOKEN = "push-secret"


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki.make()


@pytest.fixture(scope="session")
def huawei() -> HuaweiKeys:
    return HuaweiKeys()


@pytest.fixture
def stores() -> Iterator[FakeStores]:
    fake = FakeStores().start()
    yield fake
    fake.stop()


def store_config(pki: Pki, stores: FakeStores, huawei: HuaweiKeys) -> TitleStores:
    return TitleStores(
        apple=AppleStore(
            bundle_id=BUNDLE, root_certificates=[pki.root_pem], shared_secret="apple-secret",
            verify_receipt_url=f"{stores.url}/verifyReceipt",
            verify_receipt_sandbox_url=f"{stores.url}/sandbox/verifyReceipt",
        ),
        google=GoogleStore(
            package_name=PACKAGE, service_account=stores.service_account, token_url=f"{stores.url}/token",
            api_url=stores.url, notification_token=PUSH_TOKEN,
        ),
        huawei=HuaweiStore(public_key=huawei.public_b64),
        facebook_instant=FacebookInstantStore(app_secret=FB_SECRET),
    )  # fmt: skip


def iap_settings(settings: Settings, config: TitleStores) -> Settings:
    return msgspec.structs.replace(
        settings, purchases={settings.default_title: config}, purchases_store_timeout_ms=5000
    )


@dataclass
class Iap:
    node: Node
    client: httpx.AsyncClient
    grants: WalletGrants
    stores: FakeStores
    pki: Pki
    huawei: HuaweiKeys

    async def player(self) -> tuple[str, dict[str, str]]:
        """A new player: (user id, the headers of its session)."""
        response = await self.client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")},
            headers=basic(self.node.default_title.server_key),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        account = await self.client.get("/v2/account", headers=bearer(token))
        return account.json()["user"]["id"], bearer(token)

    async def wallet(self, user_id: str) -> dict[str, int]:
        return await self.node.wallets.wallet(self.node.default_title.id, user_id)

    async def post(self, path: str, headers: dict[str, str], body: Any) -> httpx.Response:
        return await self.client.post(path, json=body, headers=headers)


@pytest.fixture
async def iap(settings: Settings, pki: Pki, stores: FakeStores, huawei: HuaweiKeys) -> AsyncIterator[Iap]:
    grants = WalletGrants()
    configured = iap_settings(settings, store_config(pki, stores, huawei))
    node = await Node.start(configured, grants=grants)
    try:
        app = create_app(configured, node=node)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield Iap(node, client, grants, stores, pki, huawei)
    finally:
        await node.close()
