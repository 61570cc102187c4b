"""An after hook: keep, per user, a server-only record of the last storage write."""

from typing import Any

from overworld.runtime import CallContext, InitContext, Initializer, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.after("WriteStorageObjects")
    async def audit(ctx: CallContext, request: Any, response: Any) -> None:
        written = [f"{obj.collection}/{obj.key}" for obj in request.objects]
        await nk.storage_write(
            [
                {
                    "collection": "audit",
                    "key": "last_write",
                    "user_id": ctx.user_id,
                    "value": {"objects": written, "client_ip": ctx.client_ip},
                    "permission_read": 0,  # server only: the player cannot read it
                    "permission_write": 0,
                }
            ]
        )
        nk.logger.info("storage written", user_id=ctx.user_id, objects=written)
