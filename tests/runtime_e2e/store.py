"""Server code for the end-to-end store tests (tests/store/test_store_e2e.py): what a player holds,
read back through `nk`, as a game's server code would."""

import json
import os
from typing import Any

from overworld.runtime import InitContext, Initializer, RpcContext, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("store_state")
    async def store_state(rpc: RpcContext, payload: str) -> str:
        user_id = json.loads(payload)["user_id"]
        account = await nk.account_get(user_id)
        ledger: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await nk.wallet_ledger_list(user_id, limit=100, cursor=cursor)
            ledger += [{"id": i.id, "changeset": i.changeset, "metadata": i.metadata} for i in page.items]
            cursor = page.cursor
            if not cursor:
                break
        items = {i.item_id: i.quantity for i in await nk.inventory_list(user_id)}
        return json.dumps({"wallet": json.loads(account.wallet), "ledger": ledger, "items": items})

    @initializer.rpc("store_buy")
    async def store_buy(rpc: RpcContext, payload: str) -> str:
        body: dict[str, Any] = json.loads(payload)
        bought = await nk.store_purchase(
            body["user_id"], bundle_id=body.get("bundle_id", ""), idempotency_key=body.get("key", "")
        )
        return json.dumps({"id": bought.id, "wallet": bought.wallet, "pid": os.getpid()})
