"""The API's operations, independent of transport.

Each function takes the node, the caller's context and Nakama's request message and returns
Nakama's response message. `call()` runs one under its Nakama name through the before/after
hooks. The HTTP routes, the HTTP fast path and (later) the realtime socket are adapters that
decode a request, resolve the caller and call these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from overworld.context import CallContext
from overworld.services import Services

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Operation = Callable[[Services, CallContext, Any], Awaitable[Any]]


async def call(
    name: str,
    op: Callable[[Services, CallContext, Req], Awaitable[Resp]],
    node: Services,
    ctx: CallContext,
    request: Req,
) -> Resp:
    async def run(req: Req) -> Resp:
        return await op(node, ctx, req)

    return await node.hooks.call(name, ctx, request, run)
