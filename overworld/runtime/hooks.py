"""Before and after hooks around every API call, keyed by the call's Nakama name
(`AuthenticateDevice`, `GetAccount`, `WriteStorageObjects`, ...).

A before hook receives the context and the request and returns the request to use (changed or
not); it rejects the call by raising an `ApiError`. An after hook receives the context, the
request and the response; its errors are logged and never change the response already made.
With no hook registered for a call, wrapping it costs one dict lookup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from overworld.context import CallContext

log = structlog.get_logger(__name__)
Req = TypeVar("Req")
Resp = TypeVar("Resp")
BeforeHook = Callable[[CallContext, Any], Awaitable[Any]]
AfterHook = Callable[[CallContext, Any, Any], Awaitable[None]]


class Hooks:
    def __init__(self) -> None:
        self._before: dict[str, list[BeforeHook]] = defaultdict(list)
        self._after: dict[str, list[AfterHook]] = defaultdict(list)

    def before(self, call: str, hook: BeforeHook) -> None:
        self._before[call].append(hook)

    def after(self, call: str, hook: AfterHook) -> None:
        self._after[call].append(hook)

    async def call(
        self, name: str, ctx: CallContext, request: Req, handler: Callable[[Req], Awaitable[Resp]]
    ) -> Resp:
        for hook in self._before.get(name, ()):
            request = await hook(ctx, request)
            if request is None:
                raise RuntimeError(f"before hook for {name} returned no request")
        response = await handler(request)
        for after in self._after.get(name, ()):
            try:
                await after(ctx, request, response)
            except Exception:
                log.exception("after hook failed", call=name)
        return response
