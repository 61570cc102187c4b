"""Server code for `overworld loadtest`: what the leaderboard and purchases scenarios need on the
target.

Load this folder as server code (`OVERWORLD_RUNTIME_PATH=examples/loadtest`, or copy this file into
your runtime folder). At start it creates the leaderboard `loadtest` and, in the store, the item
`loadtest_token` and the bundle `loadtest_token` (one token for one `loadtest_coins`, a currency
and an item that exist for the load test only). It offers two RPCs that need the title's http key
(players cannot call them):

- `loadtest_setup` creates another leaderboard by id (what `overworld loadtest --setup
  --leaderboard ID` calls):

      curl -X POST "http://127.0.0.1:7350/v2/rpc/loadtest_setup?http_key=defaulthttpkey&unwrap" \
          -d '{"leaderboard": "loadtest"}'

- `loadtest_fund` gives a load-test account the `loadtest_coins` for `purchases` bundles (at most
  1,000,000); the generator calls it once per player of the `purchases` scenario. It refuses any
  account but the load test's own (a device id starting `lt-`, or an email `lt-...@loadtest.invalid`),
  and `key` makes a retry grant once:

      curl -X POST "http://127.0.0.1:7350/v2/rpc/loadtest_fund?http_key=defaulthttpkey&unwrap" \
          -d '{"user_id": "<id>", "purchases": 30, "key": "fund-1"}'

Nothing here is open to a game's players: the currency is granted only through the http key, and
buys nothing but the load test's token.
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
CURRENCY = "loadtest_coins"
ITEM = "loadtest_token"
BUNDLE = "loadtest_token"  # what the generator buys (POST /v2/overworld/store/purchase)
PRICE = 1
MAX_PURCHASES = 1_000_000  # what one loadtest_fund call may pay for


def _payload(payload: str, expects: str) -> dict[str, object]:
    try:
        data = json.loads(payload or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidArgument(f"expects {expects}")
    return data


def _load_test_account(devices: list[str], email: str) -> bool:
    return any(d.startswith("lt-") for d in devices) or (
        email.startswith("lt-") and email.endswith("@loadtest.invalid")
    )


async def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    await nk.leaderboard_create(BOARD, sort_order="desc", operator="best")
    await nk.store_item_set(ITEM, {"name": "Load-test token", "category": "loadtest"})
    await nk.store_bundle_set(
        BUNDLE,
        {"name": "Load-test token", "category": "loadtest", "contents": {"items": {ITEM: 1}},
         "price": {CURRENCY: PRICE}},
    )  # fmt: skip

    @initializer.rpc("loadtest_setup")
    async def loadtest_setup(ctx: RpcContext, payload: str) -> str:
        if ctx.user_id:
            raise PermissionDenied("loadtest_setup needs the http key")
        board = str(_payload(payload, '{"leaderboard": "<id>"}').get("leaderboard") or BOARD)
        created = await nk.leaderboard_create(board, sort_order="desc", operator="best")
        return json.dumps({"leaderboard": board, "created": created})

    @initializer.rpc("loadtest_fund")
    async def loadtest_fund(ctx: RpcContext, payload: str) -> str:
        if ctx.user_id:
            raise PermissionDenied("loadtest_fund needs the http key")
        expects = '{"user_id": "<id>", "purchases": <0 to 1000000>, "key": "<idempotency key>"}'
        data = _payload(payload, expects)
        user_id, purchases, key = data.get("user_id"), data.get("purchases", 0), data.get("key", "")
        if not isinstance(user_id, str) or not user_id:
            raise InvalidArgument("user_id: expects the id of a load-test account")
        if type(purchases) is not int or not 0 <= purchases <= MAX_PURCHASES:
            raise InvalidArgument(f"purchases: expects a whole number from 0 to {MAX_PURCHASES}")
        if not isinstance(key, str):
            raise InvalidArgument("key: expects text")
        account = await nk.account_get(user_id)
        if not _load_test_account([d.id for d in account.devices], account.email):
            raise PermissionDenied("loadtest_fund only funds load-test accounts (device id lt-...)")
        if purchases == 0:  # the generator's check that this RPC is there
            return json.dumps({"user_id": user_id, "granted": {}})
        granted = {CURRENCY: purchases * PRICE}
        await nk.wallet_update(user_id, granted, {"loadtest": "fund"}, idempotency_key=key)
        return json.dumps({"user_id": user_id, "granted": granted})
