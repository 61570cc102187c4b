"""For the title `default` only: a daily reward a player claims once per UTC day."""

import json
import time

from overworld.runtime import (
    FailedPrecondition,
    InitContext,
    Initializer,
    RpcContext,
    ServerApi,
    Unauthenticated,
)

REWARD = 50


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("daily_reward")
    async def daily_reward(ctx: RpcContext, payload: str) -> str:
        if not ctx.user_id:
            raise Unauthenticated("A session is required.")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        found = await nk.storage_read([{"collection": "rewards", "key": "daily", "user_id": ctx.user_id}])
        if found and json.loads(found[0].value).get("last") == today:
            raise FailedPrecondition("Reward already claimed today.")
        await nk.storage_write(
            [
                {
                    "collection": "rewards",
                    "key": "daily",
                    "user_id": ctx.user_id,
                    "value": {"last": today},
                    # Only if nobody claimed in between: "*" when there was no object yet.
                    "version": found[0].version if found else "*",
                    "permission_write": 0,
                }
            ]
        )
        nk.event("reward_claimed", {"amount": REWARD}, user_id=ctx.user_id)
        nk.metrics_counter_add("daily_rewards")
        return json.dumps({"coins": REWARD})
