"""Server code for tests/parties/test_parties_end_to_end.py: a match whose label is what the
creator gives (a JSON object, arrays included), made by the RPC `create_labelled`; RPCs that
answer with `nk.party_list` and `nk.matchmaker_stats`."""

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

    @initializer.rpc("list_parties")
    async def list_parties(ctx: RpcContext, payload: str) -> str:
        args = json.loads(payload)
        parties, _cursor = await nk.party_list(
            args.get("limit", 10), query=args.get("query"), show_hidden=args.get("show_hidden", False)
        )
        return json.dumps({"ids": [p.party_id for p in parties], "hidden": [p.hidden for p in parties]})

    @initializer.rpc("matchmaker_stats")
    async def matchmaker_stats(ctx: RpcContext, payload: str) -> str:
        stats = await nk.matchmaker_stats()
        return json.dumps({"tickets": stats.ticket_count, "completions": len(stats.completions)})
