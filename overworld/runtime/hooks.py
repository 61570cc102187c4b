"""Before and after hooks around every API call, keyed by the call's Nakama name
(`AuthenticateDevice`, `GetAccount`, `WriteStorageObjects`, ...) and optionally by title.

The names are those of the API's registry (`overworld.api.calls.NAMES`), given to `Hooks` when
the node builds it: a hook can be registered for those only, so a misspelt name fails at start
instead of silently never running.

A before hook receives the context and the request and returns the request to use (changed or
not); it rejects the call by raising an `ApiError`. An after hook receives the context, the
request and the response; its errors are logged and never change the response already made.

A hook registered with a `title_id` runs only for that title's calls; one registered without runs
for every title (global hooks run first). With no hook registered at all, wrapping a call costs
one attribute test; with some registered, one dict lookup per call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import structlog

from overworld.context import CallContext

log = structlog.get_logger(__name__)
Req = TypeVar("Req")
Resp = TypeVar("Resp")
BeforeHook = Callable[[CallContext, Any], Awaitable[Any]]
AfterHook = Callable[[CallContext, Any, Any], Awaitable[None]]
Chain = tuple[tuple[BeforeHook, ...], tuple[AfterHook, ...]]

_EMPTY: Chain = ((), ())


class Hooks:
    def __init__(self, calls: Iterable[str]) -> None:
        self.calls: frozenset[str] = frozenset(calls)  # the API calls that can have hooks
        self._before: dict[tuple[str | None, str], list[BeforeHook]] = defaultdict(list)
        self._after: dict[tuple[str | None, str], list[AfterHook]] = defaultdict(list)
        self._chains: dict[tuple[str, str], Chain] = {}
        self._any = False

    def check(self, call: str) -> None:
        """Raise ValueError unless `call` names an API call."""
        if call not in self.calls:
            raise ValueError(f"no API call named {call!r}; hooks exist for: {', '.join(sorted(self.calls))}")

    def before(self, call: str, hook: BeforeHook, title_id: str | None = None) -> None:
        """Run `hook` before `call`: for the title `title_id` only, or for every title."""
        self.check(call)
        self._before[(title_id, call)].append(hook)
        self._changed()

    def after(self, call: str, hook: AfterHook, title_id: str | None = None) -> None:
        """Run `hook` after `call` succeeded: for the title `title_id` only, or for every title."""
        self.check(call)
        self._after[(title_id, call)].append(hook)
        self._changed()

    def remove(self, call: str, hook: BeforeHook | AfterHook, title_id: str | None = None) -> None:
        """Unregister a before or after hook registered with these arguments (if it is)."""
        for table in (self._before, self._after):
            hooks: list[Any] | None = table.get((title_id, call))
            if hooks is not None and hook in hooks:
                hooks.remove(hook)
                if not hooks:
                    del table[(title_id, call)]
        self._chains.clear()
        self._any = bool(self._before or self._after)

    def _changed(self) -> None:
        self._any = True
        self._chains.clear()

    def _chain(self, title_id: str, name: str) -> Chain:
        key = (title_id, name)
        chain = self._chains.get(key)
        if chain is None:
            befores = (*self._before.get((None, name), ()), *self._before.get(key, ()))
            afters = (*self._after.get((None, name), ()), *self._after.get(key, ()))
            chain = self._chains[key] = (befores, afters) if befores or afters else _EMPTY
        return chain

    async def call(
        self, name: str, ctx: CallContext, request: Req, handler: Callable[[Req], Awaitable[Resp]]
    ) -> Resp:
        if not self._any:
            return await handler(request)
        befores, afters = self._chain(ctx.title.id, name)
        for hook in befores:
            request = await hook(ctx, request)
            if request is None:
                raise RuntimeError(f"before hook for {name} returned no request")
        response = await handler(request)
        for after in afters:
            try:
                await after(ctx, request, response)
            except Exception:
                log.exception("after hook failed", call=name)
        return response
