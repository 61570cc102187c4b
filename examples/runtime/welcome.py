"""Event handlers: give every new account a starting profile object, and log custom events."""

from overworld.runtime import Event, EventContext, InitContext, Initializer, ServerApi

STARTING_COINS = 100


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.event("account_created")
    async def welcome(ctx: EventContext, event: Event) -> None:
        await nk.storage_write(
            [
                {
                    "collection": "profile",
                    "key": "start",
                    "user_id": ctx.user_id,
                    "value": {"coins": STARTING_COINS, "signed_up_with": event.properties["method"]},
                    "permission_read": 1,  # the player can read it...
                    "permission_write": 0,  # ...but only the server can change it
                }
            ]
        )

    @initializer.event("*")
    def log_event(ctx: EventContext, event: Event) -> None:
        nk.logger.info("event", name=event.name, user_id=ctx.user_id, properties=event.properties)
