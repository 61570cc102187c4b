"""Server code for the end-to-end client behaviour tests (tests/api/test_client_behaviours.py)."""

from typing import Any

from overworld.runtime import CallContext, Event, EventContext, InitContext, Initializer, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    def disable(ctx: CallContext, request: Any) -> Any:
        return None  # a before hook that returns nothing rejects the call, as in Nakama

    initializer.register_before("DeleteFriends", disable)

    @initializer.event("e2e_scored")
    async def remember(ctx: EventContext, event: Event) -> None:
        await nk.storage_write(
            [
                {
                    "collection": "e2e_events",
                    "key": event.name,
                    "user_id": ctx.user_id,
                    "value": {"properties": dict(event.properties), "external": event.external},
                    "permission_read": 1,
                    "permission_write": 0,
                }
            ]
        )
