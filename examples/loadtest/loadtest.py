"""Server code for `overworld loadtest`: what the leaderboard scenarios need on the target.

Load this folder as server code (`OVERWORLD_RUNTIME_PATH=examples/loadtest`, or copy this file into
your runtime folder). It creates the leaderboard `loadtest` at start and offers the RPC
`loadtest_setup`, which creates another leaderboard by id (what `overworld loadtest --setup
--leaderboard ID` calls, with the title's http key; players cannot call it):

    curl -X POST "http://127.0.0.1:7350/v2/rpc/loadtest_setup?http_key=defaulthttpkey&unwrap" \
        -d '{"leaderboard": "loadtest"}'
"""

from __future__ import annotations

import json

from overworld.runtime import (
    InitContext,
    Initializer,
    InvalidArgument,
    PermissionDenied,
    RpcContext,
    ServerApi,
)

BOARD = "loadtest"


async def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    await nk.leaderboard_create(BOARD, sort_order="desc", operator="best")

    @initializer.rpc("loadtest_setup")
    async def loadtest_setup(ctx: RpcContext, payload: str) -> str:
        if ctx.user_id:
            raise PermissionDenied("loadtest_setup needs the http key")
        try:
            board = str(json.loads(payload or "{}").get("leaderboard") or BOARD)
        except (ValueError, AttributeError):
            raise InvalidArgument('expects {"leaderboard": "<id>"}') from None
        created = await nk.leaderboard_create(board, sort_order="desc", operator="best")
        return json.dumps({"leaderboard": board, "created": created})
