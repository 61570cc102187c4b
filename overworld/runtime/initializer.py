"""`Initializer`: what a module's `init` uses to register its functions for one title."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from overworld.context import CallContext
from overworld.runtime.contexts import Event, EventContext, RpcContext
from overworld.runtime.hooks import CALLS

if TYPE_CHECKING:
    from overworld.runtime.loader import LoadedModule
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

# Each may be a plain function or a coroutine function (`async def`).
RpcFunction = Callable[[RpcContext, str], "str | Awaitable[str | None] | None"]
BeforeFunction = Callable[[CallContext, Any], Any]  # returns the request, or None to keep it
AfterFunction = Callable[[CallContext, Any, Any], Any]
EventFunction = Callable[[EventContext, Event], Any]
F = TypeVar("F", bound=Callable[..., Any])
MAX_ID = 128


class Initializer:
    """Registers a module's RPCs, hooks and event handlers for the title its `init` runs for.

    Only usable while `init` runs; each `register_*` has a decorator form:

        @initializer.rpc("echo")
        def echo(ctx, payload): return payload
    """

    def __init__(self, runtime: Runtime, title: Title, module: LoadedModule, title_module: bool) -> None:
        self._runtime = runtime
        self._title = title
        self._module = module
        self._title_module = title_module
        self._open = True

    def close(self) -> None:
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("functions can be registered only while the module's init runs")

    def register_rpc(self, id: str, fn: RpcFunction) -> None:
        """`fn(ctx: RpcContext, payload: str) -> str | None`, called by `/v2/rpc/{id}`. Ids are
        case-insensitive; a title's own module may replace a shared module's RPC of the same id."""
        self._check_open()
        if not isinstance(id, str) or not 1 <= len(id) <= MAX_ID:
            raise ValueError(f"RPC id must be 1-{MAX_ID} characters, got {id!r}")
        _check_callable(fn, f"RPC {id!r}")
        self._runtime.add_rpc(self._title, id.lower(), fn, self._module, self._title_module)

    def register_before(self, call: str, fn: BeforeFunction) -> None:
        """`fn(ctx: CallContext, request) -> request | None` before the API call `call`
        (e.g. "AuthenticateDevice"); raise an `ApiError` to reject the call."""
        self._check_open()
        _check_call(call)
        _check_callable(fn, f"before hook {call!r}")
        self._runtime.add_before(self._title, call, fn, self._module)

    def register_after(self, call: str, fn: AfterFunction) -> None:
        """`fn(ctx: CallContext, request, response) -> None` after the API call `call` succeeded."""
        self._check_open()
        _check_call(call)
        _check_callable(fn, f"after hook {call!r}")
        self._runtime.add_after(self._title, call, fn, self._module)

    def register_event(self, name: str, fn: EventFunction) -> None:
        """`fn(ctx: EventContext, event: Event) -> None` for each event `name` ("*": every event),
        run in the background."""
        self._check_open()
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_ID:
            raise ValueError(f"event name must be 1-{MAX_ID} characters, got {name!r}")
        _check_callable(fn, f"event handler {name!r}")
        self._runtime.add_event(self._title, name, fn, self._module)

    # Decorator forms.

    def rpc(self, id: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.register_rpc(id, fn)
            return fn

        return register

    def before(self, call: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.register_before(call, fn)
            return fn

        return register

    def after(self, call: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.register_after(call, fn)
            return fn

        return register

    def event(self, name: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.register_event(name, fn)
            return fn

        return register


def _check_call(call: str) -> None:
    if call not in CALLS:
        raise ValueError(f"no API call named {call!r}; hooks exist for: {', '.join(sorted(CALLS))}")


def _check_callable(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what}: expected a function, got {type(fn).__name__}")
