"""RPC functions registered by server code (`initializer.register_rpc`), independent of transport.

RPCs are not wrapped in before/after hooks: the function itself is server code.
"""

from __future__ import annotations

from overworld.context import CallContext, RpcContext
from overworld.errors import InvalidArgument, NotFound
from overworld.services import Services

RPC_ID_REQUIRED = "RPC ID must be set"
RPC_NOT_FOUND = "RPC function not found"


async def call_rpc(
    node: Services,
    ctx: CallContext,
    rpc_id: str,
    payload: str,
    query_params: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
) -> str:
    """Run the caller's title's RPC `rpc_id` (case-insensitive) and return its payload. The
    function sees `query_params` and `headers` as given (not copied)."""
    if not rpc_id:
        raise InvalidArgument(RPC_ID_REQUIRED)
    entry = node.runtime.rpc(ctx.title.id, rpc_id)
    if entry is None:
        raise NotFound(RPC_NOT_FOUND)
    rpc_ctx = RpcContext(
        title_id=ctx.title.id,
        title_name=ctx.title.name,
        rpc_id=entry.id,
        user_id=ctx.user_id,
        username=ctx.username,
        vars=ctx.vars,
        session_expires_at=ctx.session_expires_at,
        client_ip=ctx.client_ip,
        request_id=ctx.request_id,
        query_params={} if query_params is None else query_params,
        headers={} if headers is None else headers,
        node=node.settings.node_name,
    )
    return await node.runtime.call_rpc(entry, rpc_ctx, payload)
