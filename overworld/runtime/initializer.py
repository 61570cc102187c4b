"""`Initializer`: what a module's `init` uses to register its functions for one title."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from overworld.context import CallContext, CronContext, Event, EventContext, RpcContext
from overworld.subsystems.scheduler.cron import CronError, parse_cron

if TYPE_CHECKING:
    from overworld.runtime.loader import LoadedModule
    from overworld.runtime.runtime import Runtime, TitleCode
    from overworld.runtime.server_api import ServerApi
    from overworld.titles.models import Title

# Each may be a plain function or a coroutine function (`async def`).
RpcFunction = Callable[[RpcContext, str], "str | Awaitable[str | None] | None"]
BeforeFunction = Callable[[CallContext, Any], Any]  # returns the request, or None to keep it
AfterFunction = Callable[[CallContext, Any, Any], Any]
EventFunction = Callable[[EventContext, Event], Any]
CronFunction = Callable[[CronContext, "ServerApi"], Any]
F = TypeVar("F", bound=Callable[..., Any])
MAX_ID = 128


class Initializer:
    """Registers a module's RPCs, hooks, event handlers and cron jobs for the title its `init`
    runs for.

    Only usable while `init` runs; each `register_*` has a decorator form:

        @initializer.rpc("echo")
        def echo(ctx, payload): return payload
    """

    def __init__(
        self, runtime: Runtime, title: Title, module: LoadedModule, title_module: bool, into: TitleCode
    ) -> None:
        self._runtime = runtime
        self._title = title
        self._module = module
        self._title_module = title_module
        self._into = into  # what the title's modules register, put in place once all have run
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
        self._runtime.add_rpc(self._into, id.lower(), fn, self._module, self._title_module)

    def register_before(self, call: str, fn: BeforeFunction) -> None:
        """`fn(ctx: CallContext, request) -> request | None` before the API call `call`
        (e.g. "AuthenticateDevice"); raise an `ApiError` to reject the call."""
        self._check_open()
        self._runtime.hooks.check(call)
        _check_callable(fn, f"before hook {call!r}")
        self._runtime.add_before(self._into, call, fn, self._module)

    def register_after(self, call: str, fn: AfterFunction) -> None:
        """`fn(ctx: CallContext, request, response) -> None` after the API call `call` succeeded."""
        self._check_open()
        self._runtime.hooks.check(call)
        _check_callable(fn, f"after hook {call!r}")
        self._runtime.add_after(self._into, call, fn, self._module)

    def register_event(self, name: str, fn: EventFunction) -> None:
        """`fn(ctx: EventContext, event: Event) -> None` for each event `name` ("*": every event),
        run in the background."""
        self._check_open()
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_ID:
            raise ValueError(f"event name must be 1-{MAX_ID} characters, got {name!r}")
        _check_callable(fn, f"event handler {name!r}")
        self._runtime.add_event(self._into, name, fn, self._module)

    def register_cron(self, name: str, cron: str, fn: CronFunction) -> None:
        """`fn(ctx: CronContext, nk: ServerApi) -> None` at each time of the cron expression
        `cron` (UTC; 5 fields, or 6 with seconds first): once per time across a cluster."""
        self._check_open()
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_ID:
            raise ValueError(f"cron job name must be 1-{MAX_ID} characters, got {name!r}")
        _check_callable(fn, f"cron job {name!r}")
        try:
            schedule = parse_cron(cron)
        except CronError as exc:
            raise CronError(f"cron job {name!r}: {exc}") from None
        self._runtime.add_cron(self._into, self._title, name, schedule, fn, self._module)

    # == leaderboards and tournaments (overworld.leaderboards) ====================================

    def register_leaderboard_reset(self, fn: Callable[..., Any], top: int = 100) -> None:
        """`fn(ctx: EventContext, leaderboard: Leaderboard, reset: int, standings: list[Record])`
        when a leaderboard of this title resets (`reset`: the closed period's expiry, Unix seconds,
        usable as `expiry` to list it), on one node; `standings`: its best `top` records (0-10,000).
        One function per title: registering again replaces it."""
        self._register_leaderboard_hook("leaderboard_reset", fn, top)

    def register_tournament_end(self, fn: Callable[..., Any], top: int = 100) -> None:
        """`fn(ctx, tournament: Leaderboard, end: int, reset: int, standings: list[Record])` when a
        tournament's active window closes (times in Unix seconds), on one node."""
        self._register_leaderboard_hook("tournament_end", fn, top)

    def register_tournament_reset(self, fn: Callable[..., Any], top: int = 100) -> None:
        """`fn(ctx, tournament: Leaderboard, end: int, reset: int, standings: list[Record])` when a
        tournament's period expires (its next window starts with no records), on one node."""
        self._register_leaderboard_hook("tournament_reset", fn, top)

    def _register_leaderboard_hook(self, kind: str, fn: Callable[..., Any], top: int) -> None:
        from overworld.runtime.functions.leaderboards import register_hook

        self._check_open()
        _check_callable(fn, f"{kind} hook")
        register_hook(self._runtime, self._title, kind, fn, self._module.name, top)

    # == end of leaderboards and tournaments ======================================================

    def register_match(self, name: str, handler: Any) -> None:
        """An authoritative match handler, started by `nk.match_create(name, params)`: a module,
        object or class (one instance per match) with `match_init`, `match_join_attempt`,
        `match_join`, `match_leave`, `match_loop` and optionally `match_terminate` and
        `match_signal` (docs/matches.md)."""
        from overworld.runtime.functions.matches import register_match

        self._check_open()
        register_match(self._runtime, self._title, name, handler, self._module.name)

    # == matchmaker (overworld.matchmaking) ========================================================

    def register_matchmaker_matched(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx: EventContext, entries: list[MatchmakerEntry]) -> str | None` when the
        matchmaker forms a match of this title: return a match id (e.g. from `nk.match_create`)
        for an authoritative match, or None for a relayed one (its errors are logged and give a
        relayed match, as in Nakama). One function per title: registering again replaces it."""
        self._register_matchmaker_hook("matched", fn)

    def register_matchmaker_override(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx: EventContext, proposed: list[list[MatchmakerEntry]]) -> list[list[MatchmakerEntry]]`
        before the matches of a pass form: return the matches to form (drop one to veto it,
        regroup the entries of several; tickets left out keep waiting). Entries of a party's
        ticket go together (a match takes whole tickets)."""
        self._register_matchmaker_hook("override", fn)

    def register_matchmaker_backfilled(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx: EventContext, match_id: str, entries: list[MatchmakerEntry]) -> None` after
        waiting tickets filled (part of) a backfill request (`nk.matchmaker_backfill`): the
        players sent to `match_id` (already told `matchmaker_matched`). The matched hook is not
        called for backfills (the match exists). Errors are logged. One function per title."""
        self._register_matchmaker_hook("backfilled", fn)

    def register_matchmaker_queue(self, queue: str, rules: Any = None, **options: Any) -> None:
        """Rules of a matchmaking queue (tickets with string property `queue`; "" for tickets
        without one): a `QueueRules`, or its fields as keywords (skill_window, skill_window_growth,
        skill_window_max, relax_after_sec, relaxed_min_count, region_property, region_relax_sec,
        max_latency_ms, teams, skill_property). See docs/matchmaking.md."""
        from overworld.runtime.functions.matchmaking import register_queue

        self._check_open()
        register_queue(self._runtime, self._title, queue, rules, options)

    def _register_matchmaker_hook(self, kind: str, fn: Callable[..., Any]) -> None:
        from overworld.runtime.functions.matchmaking import register_hook

        self._check_open()
        _check_callable(fn, f"matchmaker {kind} hook")
        register_hook(self._runtime, self._title, kind, fn, self._module.name)

    # == end of matchmaker =======================================================================

    # == in-app purchase notifications (overworld.purchases) ========================================

    def register_purchase_notification_apple(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx: EventContext, purchase: Purchase, provider_payload: str)` after an App Store
        Server Notification about a recorded purchase (a refund or revocation: `refund_time` set,
        its grant taken back) was acted on; `provider_payload`: the decoded notification (JSON)."""
        self._register_notification_hook("purchase_notification_apple", fn)

    def register_subscription_notification_apple(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx: EventContext, subscription: Subscription, provider_payload: str)` after an App
        Store notification about a recorded subscription (renewal, expiry, refund) was acted on."""
        self._register_notification_hook("subscription_notification_apple", fn)

    def register_purchase_notification_google(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx, purchase: Purchase, provider_payload: str)` after a Google Play notification
        about a recorded purchase (voided: refunded, its grant taken back) was acted on."""
        self._register_notification_hook("purchase_notification_google", fn)

    def register_subscription_notification_google(self, fn: Callable[..., Any]) -> None:
        """`fn(ctx, subscription: Subscription, provider_payload: str)` after a Google Play
        notification about a recorded subscription (renewed, revoked, expired...) was acted on."""
        self._register_notification_hook("subscription_notification_google", fn)

    def _register_notification_hook(self, kind: str, fn: Callable[..., Any]) -> None:
        from overworld.runtime.functions.purchases import register_notification_hook

        self._check_open()
        _check_callable(fn, f"{kind} hook")
        register_notification_hook(self._runtime, self._title, kind, fn, self._module.name)

    # == end of in-app purchase notifications ====================================================

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

    def cron(self, name: str, cron: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.register_cron(name, cron, fn)
            return fn

        return register


def _check_callable(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what}: expected a function, got {type(fn).__name__}")
