"""Server code for the end-to-end wallet tests (tests/wallets/test_wallets_e2e.py): RPCs that
change a wallet and read it back, as a game's server code would."""

import json
import os
from typing import Any

from overworld.runtime import InitContext, Initializer, RpcContext, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("wallet_change")
    async def wallet_change(rpc: RpcContext, payload: str) -> str:
        body: dict[str, Any] = json.loads(payload)
        result = await nk.wallet_update(
            body.get("user_id", rpc.user_id), body.get("changeset"), body.get("metadata"),
            idempotency_key=body.get("key", ""),
        )  # fmt: skip
        return json.dumps({"updated": result.updated, "previous": result.previous, "pid": os.getpid()})

    @initializer.rpc("wallet_state")
    async def wallet_state(rpc: RpcContext, payload: str) -> str:
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
        return json.dumps({"wallet": json.loads(account.wallet), "ledger": ledger})

    @initializer.rpc("wallet_transfer")
    async def wallet_transfer(rpc: RpcContext, payload: str) -> str:
        body: dict[str, Any] = json.loads(payload)
        amount = body["amount"]
        results = await nk.wallets_update(
            [
                {"user_id": body["from"], "changeset": {"coins": -amount}, "metadata": {"to": body["to"]}},
                {"user_id": body["to"], "changeset": {"coins": amount}, "metadata": {"from": body["from"]}},
            ]
        )
        return json.dumps([r.updated for r in results])
