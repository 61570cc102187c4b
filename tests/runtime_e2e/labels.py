"""Server code for tests/parties/test_parties_end_to_end.py: a match whose label is what the
creator gives (a JSON object, arrays included), made by the RPC `create_labelled`."""

import json
from typing import Any

from overworld.runtime import InitContext, Initializer, RpcContext, ServerApi


class Labelled:
    def match_init(self, ctx: Any, params: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
        return {}, 1, json.dumps(params)

    def match_join_attempt(self, ctx, dispatcher, tick, state, presence, metadata):  # type: ignore[no-untyped-def]
        return state, True, ""

    def match_join(self, ctx, dispatcher, tick, state, presences):  # type: ignore[no-untyped-def]
        return state

    def match_leave(self, ctx, dispatcher, tick, state, presences):  # type: ignore[no-untyped-def]
        return state

    def match_loop(self, ctx, dispatcher, tick, state, messages):  # type: ignore[no-untyped-def]
        return state

    def match_terminate(self, ctx, dispatcher, tick, state, grace_seconds):  # type: ignore[no-untyped-def]
        return state


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    initializer.register_match("labelled", Labelled)

    @initializer.rpc("create_labelled")
    async def create_labelled(ctx: RpcContext, payload: str) -> str:
        match_id = await nk.match_create("labelled", json.loads(payload))
        return json.dumps({"match_id": match_id})
