"""Server code for the end-to-end data protection tests (tests/privacy/test_privacy_e2e.py): a
support tool's RPCs that erase and export a player, and one that writes a leaderboard record."""

import base64
import json
from typing import Any

from overworld.runtime import InitContext, Initializer, RpcContext, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("privacy_erase")
    async def erase(rpc: RpcContext, payload: str) -> str:
        return json.dumps(await nk.account_erase(json.loads(payload)["user_id"]))

    @initializer.rpc("privacy_export")
    async def export(rpc: RpcContext, payload: str) -> str:
        data = await nk.account_export(json.loads(payload)["user_id"])
        assert isinstance(data, bytes)
        return json.dumps({"zip": base64.b64encode(data).decode()})

    @initializer.rpc("privacy_score")
    async def score(rpc: RpcContext, payload: str) -> str:
        body: dict[str, Any] = json.loads(payload)
        await nk.leaderboard_create(body["board"])
        await nk.leaderboard_record_write(body["board"], body["user_id"], "", body["score"])
        return "{}"
