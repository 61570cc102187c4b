"""The node's server code: loads the modules, keeps what they registered per title, and calls it.

Each module's `init` runs once per title it serves (shared modules: every title, including ones
created while the node runs; a title folder's modules: that title), with a `ServerApi` and an
`Initializer` bound to that title, so everything a module registers or touches is the title's.

Module functions may be plain or `async`. Coroutines get `runtime_timeout_ms` to finish and are
cancelled after that (DEADLINE_EXCEEDED); plain functions run directly on the event loop, cannot
be interrupted and must not block.

What a title's modules register is collected in a `TitleCode` and put in place at once, so
`reload` (setting `runtime_reload`) can swap a title's RPCs, hooks, events and cron jobs for new
ones between two requests, or keep the old ones if the new code fails to load.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter

from overworld.clock import now_ms
from overworld.context import CallContext, CronContext, Event, EventContext, InitContext, RpcContext
from overworld.errors import ApiError, Code, NotFound
from overworld.ops.outages import Outages
from overworld.runtime.hooks import AfterHook, BeforeHook, Hooks
from overworld.runtime.initializer import Initializer
from overworld.runtime.loader import LoadedCode, LoadedModule, RuntimeLoadError, import_code, load_error
from overworld.runtime.server_api import ServerApi
from overworld.subsystems.scheduler import Cron, Scheduler
from overworld.titles.models import Title

if TYPE_CHECKING:
    import httpx

    from overworld.runtime.services import ServerServices

log = structlog.get_logger(__name__)
INTERNAL = "Internal server error"
DEADLINE = "Deadline exceeded"
DISABLED = "Requested resource was not found."  # Nakama's answer when a before hook returns nothing
RPC_CALLS = Counter("overworld_rpc_calls_total", "RPC calls by id and result", ["rpc", "code"])


@dataclass(frozen=True, slots=True)
class RpcEntry:
    id: str
    fn: Callable[..., Any]
    module: str
    title_module: bool  # registered by the title's own module (may replace a shared one)


@dataclass(frozen=True, slots=True)
class EventEntry:
    fn: Callable[..., Any]
    module: str


@dataclass(frozen=True, slots=True)
class CronEntry:
    name: str
    cron: Cron
    fn: Callable[..., Any]
    module: str
    nk: ServerApi


@dataclass(slots=True)
class TitleCode:
    """Everything the modules registered for one title."""

    rpcs: dict[str, RpcEntry] = field(default_factory=dict)
    events: dict[str, list[EventEntry]] = field(default_factory=dict)
    before: list[tuple[str, BeforeHook]] = field(default_factory=list)
    after: list[tuple[str, AfterHook]] = field(default_factory=list)
    crons: dict[str, CronEntry] = field(default_factory=dict)


class _Deadline(Exception):
    pass


class _Failed(ApiError):
    """A module function failed or timed out, and it has been logged."""


def _message(exc: Exception) -> str:
    """What the caller is told of an unexpected exception: its message (Nakama sends a Go error's
    `Error()` or a Lua error's message), never the traceback; its type when it has no message."""
    return str(exc) or type(exc).__name__


class Runtime:
    def __init__(
        self,
        *,
        services: ServerServices,
        hooks: Hooks,
        scheduler: Scheduler,
        timeout_ms: int = 5000,
        node_name: str = "",
        rpc_error_messages: bool = True,
        outages: Outages | None = None,
    ) -> None:
        """`rpc_error_messages`: an RPC or a before hook that raises an unexpected exception
        answers with the exception's message (as Nakama answers with a Go or Lua error's text),
        else with "Internal server error" only. `outages`: the node's, which tells an exception
        raised because the database or Redis is unreachable (UNAVAILABLE) from a bug."""
        self.services = services
        self.hooks = hooks
        self.scheduler = scheduler
        self.timeout = timeout_ms / 1000
        self.node_name = node_name
        self.rpc_error_messages = rpc_error_messages
        self.outages = outages
        self.runtime_path = ""
        self.code = LoadedCode()
        self._titles: dict[str, Title] = {}  # every title seen, by id
        self._by_title: dict[str, TitleCode] = {}  # what is in place, by title id
        self._lock = asyncio.Lock()  # one load, reload or new title at a time
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._rpc_series: dict[tuple[str, Code], Any] = {}

    # -- loading --------------------------------------------------------------------------------

    async def load(self, runtime_path: str, titles: Iterable[Title]) -> None:
        """Import the modules under `runtime_path` and run their `init` for `titles`; any
        failure is a `RuntimeLoadError` naming the file and line."""
        self.runtime_path = runtime_path
        self.code = import_code(runtime_path)
        self._titles.update((title.id, title) for title in titles)
        if not self.code.shared and not self.code.titles:
            if runtime_path:
                log.warning("no server modules found", runtime_path=runtime_path)
            return
        try:
            built = [(title, await self._build(self.code, title)) for title in self._titles.values()]
        except BaseException:
            self.code.unload()
            raise
        for title, code in built:
            self._install(title, code)
        log.info(
            "server code loaded",
            runtime_path=runtime_path,
            shared=[m.name for m in self.code.shared],
            titles=sorted(self.code.titles),
        )

    async def reload(self) -> bool:
        """Import the modules again and run their `init` for every title, then put what they
        registered in place of the old, title by title. If the new code fails to load, the old
        code keeps running and the error (file and line) is logged: returns False."""
        async with self._lock:
            importlib.invalidate_caches()
            try:
                code = import_code(self.runtime_path)
                try:
                    built = [(title, await self._build(code, title)) for title in self._titles.values()]
                except BaseException:
                    code.unload()
                    raise
            except RuntimeLoadError as exc:
                log.error(
                    "server code reload failed, the previous code keeps running",
                    error=exc.message,
                    path=exc.path,
                    line=exc.line,
                )
                return False
            old, self.code = self.code, code
            for title, new in built:
                self._install(title, new)
            old.unload()
        log.info(
            "server code reloaded",
            shared=[m.name for m in code.shared],
            titles=sorted(code.titles),
        )
        return True

    def watch(self, interval_sec: float = 0.5) -> None:
        """Reload whenever a file under `runtime_path` changes (setting `runtime_reload`)."""
        from overworld.runtime.reload import watch

        if self.runtime_path and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(
                watch(self, Path(self.runtime_path), interval_sec), name="runtime-reload"
            )

    async def add_title(self, title: Title) -> None:
        """Run the modules' `init` for a title created while the node runs."""
        async with self._lock:
            if title.id in self._titles:
                return
            self._titles[title.id] = title
            if not self.code.shared and not self.code.titles:
                return
            try:
                self._install(title, await self._build(self.code, title))
            except RuntimeLoadError as exc:
                log.error("server code failed for a new title", title=title.name, error=exc.message)

    async def _build(self, code: LoadedCode, title: Title) -> TitleCode:
        into = TitleCode()
        for module in code.shared:
            await self._init_module(code, title, module, False, into)
        for module in code.titles.get(title.name, ()):
            await self._init_module(code, title, module, True, into)
        return into

    async def _init_module(
        self, code: LoadedCode, title: Title, module: LoadedModule, title_module: bool, into: TitleCode
    ) -> None:
        if module.init is None:
            return
        ctx = InitContext(
            title_id=title.id,
            title_name=title.name,
            module=module.name,
            path=module.path,
            node=self.node_name,
        )
        initializer = Initializer(self, title, module, title_module, into)
        try:
            result = module.init(ctx, ServerApi(self, title, module.name), initializer)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            root = code.root or Path(module.path).parent
            raise load_error(
                exc, root, f"init of server module {module.name!r} for title {title.name!r}"
            ) from None
        finally:
            initializer.close()

    def _install(self, title: Title, new: TitleCode) -> None:
        """Put `new` in place of what the title had (no await: a request sees old or new)."""
        old = self._by_title.get(title.id) or TitleCode()
        self._by_title[title.id] = new
        for call, before in old.before:
            self.hooks.remove(call, before, title.id)
        for call, after in old.after:
            self.hooks.remove(call, after, title.id)
        for call, before in new.before:
            self.hooks.before(call, before, title_id=title.id)
        for call, after in new.after:
            self.hooks.after(call, after, title_id=title.id)
        for name in old.crons.keys() - new.crons.keys():
            self.scheduler.remove(f"{title.id}:{name}")
        for job in new.crons.values():
            self.scheduler.add(f"{title.id}:{job.name}", job.cron, partial(self._run_cron, title, job))

    # -- registration (called through the Initializer) ------------------------------------------

    def add_rpc(
        self, into: TitleCode, rpc_id: str, fn: Callable[..., Any], module: LoadedModule, title_module: bool
    ) -> None:
        existing = into.rpcs.get(rpc_id)
        if existing is not None and (existing.title_module or not title_module):
            raise ValueError(f"RPC {rpc_id!r} is already registered by module {existing.module!r}")
        into.rpcs[rpc_id] = RpcEntry(rpc_id, fn, module.name, title_module)

    def add_before(self, into: TitleCode, call: str, fn: Callable[..., Any], module: LoadedModule) -> None:
        name = module.name

        async def before(ctx: CallContext, request: Any) -> Any:
            result = await self._guarded(
                fn, (ctx, request), "before hook", call, name, ctx.title.name, expose=self.rpc_error_messages
            )
            if result is None:  # as in Nakama: the hook disabled the call
                log.warning("before hook rejected the call", call=call, module=name, title=ctx.title.name)
                raise NotFound(DISABLED)
            return result

        into.before.append((call, before))

    def add_after(self, into: TitleCode, call: str, fn: Callable[..., Any], module: LoadedModule) -> None:
        name = module.name

        async def after(ctx: CallContext, request: Any, response: Any) -> None:
            try:
                await self._guarded(fn, (ctx, request, response), "after hook", call, name, ctx.title.name)
            except ApiError as exc:  # an after hook cannot change the response already made
                _log_refusal(exc, "after hook", call, name, ctx.title.name)

        into.after.append((call, after))

    def add_event(self, into: TitleCode, event: str, fn: Callable[..., Any], module: LoadedModule) -> None:
        into.events.setdefault(event, []).append(EventEntry(fn, module.name))

    def add_cron(
        self,
        into: TitleCode,
        title: Title,
        name: str,
        cron: Cron,
        fn: Callable[..., Any],
        module: LoadedModule,
    ) -> None:
        existing = into.crons.get(name)
        if existing is not None:
            raise ValueError(f"cron job {name!r} is already registered by module {existing.module!r}")
        into.crons[name] = CronEntry(name, cron, fn, module.name, ServerApi(self, title, module.name))

    # -- calling --------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        result = fn(*args)
        if inspect.isawaitable(result):
            timer = asyncio.timeout(self.timeout)
            try:
                async with timer:
                    result = await result
            except TimeoutError:
                if timer.expired():
                    raise _Deadline() from None
                raise
        return result

    async def _guarded(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kind: str,
        name: str,
        module: str,
        title: str,
        expose: bool = False,
    ) -> Any:
        """Call a module function: ApiErrors pass, a timeout is DEADLINE_EXCEEDED, a failure to
        reach the database or Redis is UNAVAILABLE (counted and logged once per outage by
        `Outages`), anything else is logged (with the module and function) and becomes INTERNAL:
        with the exception's message when `expose`, else a bare "Internal server error"."""
        try:
            return await self._call(fn, args)
        except ApiError as exc:
            code: Any = exc.code  # server code may have passed a plain int
            if not isinstance(code, Code):
                try:
                    exc.code = Code(code)
                except ValueError:
                    exc.code = Code.UNKNOWN
            raise
        except _Deadline:
            log.warning(f"{kind} timed out", name=name, module=module, title=title, timeout_sec=self.timeout)
            raise _Failed(DEADLINE, Code.DEADLINE_EXCEEDED) from None
        except Exception as exc:
            unavailable = self.outages.unavailable(exc) if self.outages is not None else None
            if unavailable is not None:  # not a bug in the function: logged by Outages
                raise _Failed(unavailable.message, Code.UNAVAILABLE) from None
            log.exception(f"{kind} failed", name=name, module=module, title=title)
            raise _Failed(_message(exc) if expose else INTERNAL, Code.INTERNAL) from None

    def rpc(self, title_id: str, rpc_id: str) -> RpcEntry | None:
        code = self._by_title.get(title_id)
        return None if code is None else code.rpcs.get(rpc_id.lower())

    async def call_rpc(self, entry: RpcEntry, ctx: RpcContext, payload: str) -> str:
        """Run an RPC; its result is the response payload ("" for None)."""
        code = Code.OK
        try:
            result = await self._guarded(
                entry.fn, (ctx, payload), "rpc", entry.id, entry.module, ctx.title_name,
                expose=self.rpc_error_messages,
            )  # fmt: skip
            if result is None:
                return ""
            if not isinstance(result, str):
                log.error(
                    "rpc returned a non-string",
                    name=entry.id,
                    module=entry.module,
                    title=ctx.title_name,
                    type=type(result).__name__,
                )
                raise _Failed(INTERNAL, Code.INTERNAL)
            return result
        except ApiError as exc:
            code = exc.code
            raise
        finally:
            self._count(entry.id, code)

    def _count(self, rpc_id: str, code: Code) -> None:
        series = self._rpc_series.get((rpc_id, code))
        if series is None:
            series = self._rpc_series[(rpc_id, code)] = RPC_CALLS.labels(rpc_id, code.name)
        series.inc()

    # -- events ---------------------------------------------------------------------------------

    def emit(
        self,
        title: Title,
        name: str,
        properties: dict[str, Any],
        user_id: str = "",
        *,
        external: bool = False,
    ) -> None:
        """Hand an event to the title's handlers, each in a background task."""
        code = self._by_title.get(title.id)
        by_name = None if code is None else code.events
        if not by_name:
            return
        handlers = [*by_name.get(name, ()), *by_name.get("*", ())]
        if not handlers:
            return
        ctx = EventContext(title_id=title.id, title_name=title.name, user_id=user_id, node=self.node_name)
        event = Event(name=name, properties=properties, timestamp=now_ms(), external=external)
        loop = asyncio.get_running_loop()
        for handler in handlers:
            task = loop.create_task(self._run_event(handler, ctx, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_event(self, handler: EventEntry, ctx: EventContext, event: Event) -> None:
        try:
            await self._guarded(
                handler.fn, (ctx, event), "event handler", event.name, handler.module, ctx.title_name
            )
        except ApiError as exc:
            _log_refusal(exc, "event handler", event.name, handler.module, ctx.title_name)

    async def _run_cron(self, title: Title, job: CronEntry, fire_ms: int) -> None:
        ctx = CronContext(
            title_id=title.id,
            title_name=title.name,
            job=job.name,
            scheduled_time=fire_ms,
            node=self.node_name,
        )
        try:
            await self._guarded(job.fn, (ctx, job.nk), "cron job", job.name, job.module, title.name)
        except ApiError as exc:
            _log_refusal(exc, "cron job", job.name, job.module, title.name)

    def account_created(self, title: Title, user_id: str, username: str, method: str) -> None:
        """AccountService's on_created callback: the built-in `account_created` event."""
        self.emit(
            title, "account_created", {"user_id": user_id, "username": username, "method": method}, user_id
        )

    async def drain(self) -> None:
        """Wait for the event handlers running now (and any they start) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- resources ------------------------------------------------------------------------------

    def http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient()
        return self._http

    async def close(self) -> None:
        """Give running event handlers the time limit to finish, then cancel them."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=self.timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.code.unload()


def _log_refusal(exc: ApiError, kind: str, name: str, module: str, title: str) -> None:
    if not isinstance(exc, _Failed):
        log.warning(
            f"{kind} failed", name=name, module=module, title=title, code=exc.code.name, error=exc.message
        )
