"""Server code used by tests/runtime/test_runtime.py on top of examples/runtime (copied in by the fixture)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from overworld.runtime import (
    ApiError,
    CallContext,
    Event,
    EventContext,
    InitContext,
    Initializer,
    RpcContext,
    ServerApi,
)


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("whoami")
    def whoami(rpc: RpcContext, payload: str) -> str:
        return json.dumps(
            {
                "title": rpc.title_name,
                "title_id": rpc.title_id,
                "rpc_id": rpc.rpc_id,
                "user_id": rpc.user_id,
                "username": rpc.username,
                "vars": rpc.vars,
                "client_ip": rpc.client_ip,
                "query_params": rpc.query_params,
                "headers": sorted(rpc.headers),
                "payload": payload,
                "init_title": ctx.title_name,
            }
        )

    @initializer.rpc("fail")
    def fail(rpc: RpcContext, payload: str) -> str:
        wanted = json.loads(payload)
        raise ApiError(wanted["message"], wanted["code"])

    @initializer.rpc("crash")
    def crash(rpc: RpcContext, payload: str) -> str:
        raise ValueError("secret detail 42")

    @initializer.rpc("not_a_string")
    def not_a_string(rpc: RpcContext, payload: str) -> Any:
        return 42

    @initializer.rpc("nothing")
    async def nothing(rpc: RpcContext, payload: str) -> None:
        return None

    @initializer.rpc("slow")
    async def slow(rpc: RpcContext, payload: str) -> str:
        await asyncio.sleep(30)
        return "too late"

    @initializer.rpc("emit")
    def emit(rpc: RpcContext, payload: str) -> str:
        nk.event("thing_happened", {"payload": payload}, user_id=rpc.user_id)
        return ""

    @initializer.event("thing_happened")
    async def on_thing(event_ctx: EventContext, event: Event) -> None:
        await nk.storage_write(
            [
                {
                    "collection": "events",
                    "key": event.name,
                    "user_id": event_ctx.user_id,
                    "value": {"properties": event.properties, "title": event_ctx.title_name},
                }
            ]
        )

    @initializer.event("thing_happened")
    def broken_handler(event_ctx: EventContext, event: Event) -> None:
        raise RuntimeError("an event handler failing must not matter to anyone")

    @initializer.rpc("read_object")
    async def read_object(rpc: RpcContext, payload: str) -> str:
        wanted = json.loads(payload)
        found = await nk.storage_read([wanted])
        return json.dumps([obj.value for obj in found])

    def shout(call: CallContext, request: Any) -> Any:
        if request.display_name:
            request.display_name = request.display_name.upper()  # changed in place
        return request

    initializer.register_before("UpdateAccount", shout)

    def disabled(call: CallContext, request: Any) -> None:
        return None  # as in Nakama: the call is turned off for clients

    initializer.register_before("DeleteFriends", disabled)

    async def explode(call: CallContext, request: Any) -> Any:
        if request.id.startswith("explode"):
            raise KeyError("hidden hook detail")
        return request

    initializer.register_before("LinkCustom", explode)
