"""`route`: the Litestar route handler of an API call's REST binding (overworld.api.calls).

    @route(calls.GET_ACCOUNT)  # GET /v2/account
    async def get_account(request: Req, ctx: CallContext) -> Account:
        return await calls.GET_ACCOUNT.run(node_of(request), ctx, Empty())

The method and the path come from the call's binding; the function decodes the request's
parameters and body into the call's request message, and its docstring and types make the OpenAPI
document. Every answer is 200, as in Nakama's gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.types import AnyCallable

from overworld.api.calls import Call

_DECORATORS: dict[str, type[HTTPRouteHandler]] = {"GET": get, "POST": post, "PUT": put, "DELETE": delete}


def route(
    call: Call[Any, Any], method: str = "", path: str = "", **options: Any
) -> Callable[[AnyCallable], HTTPRouteHandler]:
    """The decorator of the route serving `call` at its REST binding (the one with `method` and/or
    `path`, for a call with several); `options` are Litestar's (dependencies, tags, ...)."""
    binding = call.binding(method, path)
    if binding.method != "GET":
        options.setdefault("status_code", 200)  # not Litestar's 201 and 204
    return _DECORATORS[binding.method](binding.path, **options)
