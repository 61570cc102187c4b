"""An authoritative match: the "arena" handler, and an RPC that starts one.

Players send op code 1 (a move, any bytes); every tick the match broadcasts op code 2 with each
move it received (sender set), and op code 3 "tick <n>" every 10 ticks. At most 8 players; a
join with metadata {"role": "spectator"} is refused. The label is JSON, so listings can query it:
`GET /v2/match?limit=10&authoritative=true&query=%2Blabel.mode:ranked`; its `usernames` array
is searched by element, so `+label.usernames:alice` finds the arena Alice plays in.

    curl -X POST "http://127.0.0.1:7350/v2/rpc/create_arena?http_key=defaulthttpkey" -d '"{\\"mode\\":\\"ranked\\"}"'
"""

from __future__ import annotations

import json
from typing import Any

from overworld.runtime import InitContext, Initializer, RpcContext, ServerApi

MAX_PLAYERS = 8
MOVE, MOVES, CLOCK = 1, 2, 3


class Arena:
    """One instance per match (a class is instantiated for each match)."""

    def match_init(self, ctx: Any, params: dict[str, Any]) -> tuple[dict[str, Any], int, str]:
        state = {"mode": params.get("mode", "casual"), "players": {}, "moves": 0}
        return state, 10, self._label(state)

    def match_join_attempt(self, ctx, dispatcher, tick, state, presence, metadata):  # type: ignore[no-untyped-def]
        if metadata.get("role") == "spectator":
            return state, False, "Spectators are not allowed"
        if len(state["players"]) >= MAX_PLAYERS:
            return state, False, "Match is full"
        return state, True, ""

    def match_join(self, ctx, dispatcher, tick, state, presences):  # type: ignore[no-untyped-def]
        for p in presences:
            state["players"][p.session_id] = p.username
        dispatcher.match_label_update(self._label(state))
        return state

    def match_leave(self, ctx, dispatcher, tick, state, presences):  # type: ignore[no-untyped-def]
        for p in presences:
            state["players"].pop(p.session_id, None)
        dispatcher.match_label_update(self._label(state))
        return state

    def match_loop(self, ctx, dispatcher, tick, state, messages):  # type: ignore[no-untyped-def]
        for m in messages:
            if m.op_code == MOVE:
                state["moves"] += 1
                dispatcher.broadcast_message(MOVES, m.data, sender=m.sender)
        if tick % 10 == 0:
            dispatcher.broadcast_message(CLOCK, f"tick {tick}")
        return state

    def match_terminate(self, ctx, dispatcher, tick, state, grace_seconds):  # type: ignore[no-untyped-def]
        dispatcher.broadcast_message(CLOCK, "server stopping")
        return state

    def match_signal(self, ctx, dispatcher, tick, state, data):  # type: ignore[no-untyped-def]
        return state, json.dumps({"moves": state["moves"], "players": len(state["players"]), "data": data})

    @staticmethod
    def _label(state: dict[str, Any]) -> str:
        players = len(state["players"])
        usernames = sorted(state["players"].values())
        return json.dumps(
            {"mode": state["mode"], "players": players, "open": players < MAX_PLAYERS, "usernames": usernames}
        )


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    initializer.register_match("arena", Arena)

    @initializer.rpc("create_arena")
    async def create_arena(ctx: RpcContext, payload: str) -> str:
        params = json.loads(payload) if payload else {}
        match_id = await nk.match_create("arena", params)
        return json.dumps({"match_id": match_id})

    @initializer.rpc("arena_signal")
    async def arena_signal(ctx: RpcContext, payload: str) -> str:
        request = json.loads(payload)
        return await nk.match_signal(request["match_id"], request.get("data", ""))
