"""An authoritative match on its home node: the server code's handler, its state and its loop.

One asyncio task per match calls `match_loop` at the match's tick rate. Ticks are scheduled on
absolute times (start + n / tick_rate), so a slow tick does not shift the ones after it; a match
more than one tick behind skips the ticks it missed instead of running them back to back.

Joins and leaves (presence changes on the match stream, from any node) and client messages are
queued and handed to the handler at the start of the next tick: `match_join` / `match_leave`,
then `match_loop` with the messages. Join attempts and signals run as they arrive, never during
another handler call of the same match. A handler call that raises, or returns None instead of
a state, ends that match only.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from overworld.protocol import matches as wire
from overworld.protocol.presence import UserPresence
from overworld.protocol.streams import Mode, Stream
from overworld.realtime import codec
from overworld.subsystems.presence.base import Presence, PresenceMeta

if TYPE_CHECKING:
    from overworld.matches.service import MatchService
    from overworld.titles.models import Title

log = structlog.get_logger(__name__)
MAX_TICK_RATE = 60
MAX_LABEL_BYTES = 2048
MAX_QUEUE = 1024  # client messages waiting for the next tick; more are dropped
APPROVAL_TTL_SEC = 30.0  # a join the handler approved must be tracked within this time
HOOKS = (
    "match_init", "match_join_attempt", "match_join", "match_leave", "match_loop", "match_terminate",
    "match_signal",
)  # fmt: skip
_NO_META = PresenceMeta("")


class MatchEnded(Exception):
    pass


@dataclass(frozen=True, slots=True)
class MatchPresence:
    """A player in a match, as the handler sees it."""

    user_id: str
    session_id: str
    username: str
    node: str

    def wire(self) -> UserPresence:
        return UserPresence(user_id=self.user_id, session_id=self.session_id, username=self.username)

    def as_list(self) -> list[str]:
        return [self.user_id, self.session_id, self.username, self.node]

    @classmethod
    def of(cls, p: Presence) -> MatchPresence:
        return cls(p.user_id, p.session_id, p.meta.username, p.node)


@dataclass(frozen=True, slots=True)
class MatchMessage:
    """A message a player sent to the match (`match_data_send`), given to `match_loop`."""

    sender: MatchPresence
    op_code: int
    data: bytes
    reliable: bool
    receive_time_ms: int


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What a match handler is told about its match; `nk` is the title's server API."""

    title_id: str
    title_name: str
    match_id: str
    node: str
    module: str  # the name the handler was registered under
    nk: Any
    logger: Any
    params: dict[str, Any] = field(default_factory=dict)  # as given to match_create


@dataclass(slots=True)
class HandlerEntry:
    name: str
    handler: Any  # a module, an object, or a class (instantiated for each match)
    module: str
    nk: Any  # the server functions its matches are given (a ServerApi of the handler's title)

    def functions(self) -> dict[str, Callable[..., Any]]:
        target = self.handler() if isinstance(self.handler, type) else self.handler
        fns: dict[str, Callable[..., Any]] = {}
        for hook in HOOKS:
            fn = getattr(target, hook, None)
            if fn is None and hook in ("match_signal", "match_terminate"):
                continue
            if not callable(fn):
                raise TypeError(f"match handler {self.name!r} has no function {hook}")
            fns[hook] = fn
        return fns


def check_handler(name: str, handler: Any) -> None:
    """Raise TypeError when `handler` lacks one of the required functions."""
    missing = [h for h in HOOKS[:5] if not callable(getattr(handler, h, None))]
    if missing:
        raise TypeError(f"match handler {name!r} lacks {', '.join(missing)}")


def data_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else bytes(data)


class Dispatcher:
    """Given to every handler function: what the match can do to its players."""

    __slots__ = ("_deferred", "_match")

    def __init__(self, match: AuthoritativeMatch) -> None:
        self._match = match
        self._deferred: list[tuple[Sequence[Presence] | None, codec.Frame]] = []

    def broadcast_message(
        self,
        op_code: int,
        data: bytes | str | None = None,
        presences: Iterable[MatchPresence | Mapping[str, Any]] | None = None,
        sender: MatchPresence | Mapping[str, Any] | None = None,
        reliable: bool = True,
    ) -> None:
        """Send to every player of the match, or to `presences` (those still in it), now."""
        targets, frame = self._match.message(op_code, data, presences, sender, reliable)
        self._match.send(targets, frame)

    def broadcast_message_deferred(
        self,
        op_code: int,
        data: bytes | str | None = None,
        presences: Iterable[MatchPresence | Mapping[str, Any]] | None = None,
        sender: MatchPresence | Mapping[str, Any] | None = None,
        reliable: bool = True,
    ) -> None:
        """As `broadcast_message`, sent at the end of the current tick."""
        self._deferred.append(self._match.message(op_code, data, presences, sender, reliable))

    def match_kick(self, presences: Iterable[MatchPresence | Mapping[str, Any]]) -> None:
        """Remove players from the match (they get a presence leave, the handler `match_leave`)."""
        self._match.kick(presences)

    def match_label_update(self, label: str) -> None:
        """Change the match's label (what listings filter and query on)."""
        self._match.set_label(label)

    def flush(self) -> None:
        deferred, self._deferred = self._deferred, []
        for targets, frame in deferred:
            self._match.send(targets, frame)


class AuthoritativeMatch:
    """A running match on its home node."""

    def __init__(
        self,
        service: MatchService,
        title: Title,
        match_uuid: str,
        entry: HandlerEntry,
        nk: Any,
        params: dict[str, Any],
    ) -> None:
        self.service = service
        self.title = title
        self.uuid = match_uuid
        self.node = service.node
        self.id = f"{match_uuid}.{service.node}"
        self.stream = Stream(title.id, Mode.MATCH_AUTHORITATIVE, match_uuid, "", service.node)
        self.name = entry.name
        self.fns = entry.functions()
        self.ctx = MatchContext(
            title.id, title.name, self.id, self.node, entry.name, nk,
            log.bind(title=title.name, match_id=self.id, handler=entry.name), dict(params),
        )  # fmt: skip
        self.dispatcher = Dispatcher(self)
        self.state: Any = None
        self.tick_rate = 1
        self.label = ""
        self.tick = 0
        self.presences: dict[str, MatchPresence] = {}
        # Sessions the handler let in whose presence has not arrived yet, with when the approval
        # lapses (a client that vanishes between the two must not hold it for ever).
        self.approved: dict[str, float] = {}
        self.joins: list[MatchPresence] = []
        self.leaves: list[MatchPresence] = []
        self.messages: list[MatchMessage] = []
        self.dropped = 0
        self.ended = False
        self.empty_since = time.monotonic()
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None

    # -- handler calls ----------------------------------------------------------------------

    async def _call(self, hook: str, *args: Any) -> Any:
        result = self.fns[hook](*args)
        if inspect.isawaitable(result):
            async with asyncio.timeout(self.service.handler_timeout):
                result = await result
        return result

    async def init(self) -> None:
        result = await self._call("match_init", self.ctx, self.ctx.params)
        state, tick_rate, label = _init_result(result)
        if (
            not isinstance(tick_rate, int)
            or isinstance(tick_rate, bool)
            or not 1 <= tick_rate <= MAX_TICK_RATE
        ):
            raise ValueError(f"match_init: tick rate must be an integer 1-{MAX_TICK_RATE}, got {tick_rate!r}")
        self.state, self.tick_rate = state, tick_rate
        self.set_label(label or "")

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"match-{self.id}")

    async def _run(self) -> None:
        clock = time.perf_counter  # finer than uvloop's loop.time() (milliseconds)
        interval = 1.0 / self.tick_rate
        stats = self.service.stats
        next_at = clock() + interval
        try:
            while not self.ended:
                delay = next_at - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                started = clock()
                late = started - next_at
                next_at = started + interval if late > interval else next_at + interval
                async with self.lock:
                    if self.stopped():
                        return
                    await self._tick()
                stats.record(late, clock() - started)
        except MatchEnded:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            self.ctx.logger.exception("match handler failed: the match ends")
            self.end("error")

    async def _tick(self) -> None:
        self.tick += 1
        if self.leaves:
            leaves, self.leaves = self.leaves, []
            for p in leaves:
                self.presences.pop(p.session_id, None)
            self._set_state(
                await self._call("match_leave", self.ctx, self.dispatcher, self.tick, self.state, leaves)
            )
        if self.joins:
            joins, self.joins = self.joins, []
            for p in joins:
                self.presences[p.session_id] = p
            self._set_state(
                await self._call("match_join", self.ctx, self.dispatcher, self.tick, self.state, joins)
            )
        messages, self.messages = self.messages, []
        self.service.stats.messages_in += len(messages)
        self._set_state(
            await self._call("match_loop", self.ctx, self.dispatcher, self.tick, self.state, messages)
        )
        self.dispatcher.flush()
        if self.presences:
            self.empty_since = 0.0
        elif not self.empty_since:
            self.empty_since = time.monotonic()
        limit = self.service.max_empty_sec
        if limit and self.empty_since and time.monotonic() - self.empty_since >= limit:
            self.ctx.logger.info("match empty for too long: it ends", max_empty_sec=limit)
            self.end("empty")
            raise MatchEnded()

    def stopped(self) -> bool:
        return self.ended

    def _set_state(self, state: Any) -> None:
        if state is None:
            self.end("handler returned no state")
            raise MatchEnded()
        self.state = state

    async def join_attempt(self, presence: MatchPresence, metadata: dict[str, str]) -> tuple[bool, str]:
        async with self.lock:
            if self.ended:
                return False, ""
            sid = presence.session_id
            self._forget_lapsed_approvals()
            if sid in self.approved or self.service.hub.tracker.get(self.stream, sid) is not None:
                return True, ""  # already in (or on the way): the handler is not asked again
            try:
                result = await self._call(
                    "match_join_attempt", self.ctx, self.dispatcher, self.tick, self.state, presence, metadata
                )
                state, allowed, reason = _join_attempt_result(result)
                self._set_state(state)
            except MatchEnded:
                return False, "Match ended"
            except Exception:
                self.ctx.logger.exception("match_join_attempt failed: the match ends")
                self.end("error")
                return False, "Match ended"
            self.dispatcher.flush()
            if allowed:
                self.approved[presence.session_id] = time.monotonic() + APPROVAL_TTL_SEC
            return bool(allowed), reason

    def _forget_lapsed_approvals(self) -> None:
        now = time.monotonic()
        for sid in [sid for sid, until in self.approved.items() if until < now]:
            del self.approved[sid]

    async def signal(self, data: str) -> str:
        async with self.lock:
            if self.ended:
                return ""
            fn = self.fns.get("match_signal")
            if fn is None:
                return ""
            try:
                result = await self._call(
                    "match_signal", self.ctx, self.dispatcher, self.tick, self.state, data
                )
                if isinstance(result, tuple):
                    state, reply = result
                else:
                    state, reply = result, ""
                self._set_state(state)
            except MatchEnded:
                return ""
            except Exception:
                self.ctx.logger.exception("match_signal failed: the match ends")
                self.end("error")
                return ""
            self.dispatcher.flush()
            return "" if reply is None else str(reply)

    async def terminate(self, grace_sec: int) -> None:
        async with self.lock:
            if self.ended:
                return
            if "match_terminate" in self.fns:
                try:
                    await self._call(
                        "match_terminate", self.ctx, self.dispatcher, self.tick, self.state, grace_sec
                    )
                    self.dispatcher.flush()
                except Exception:
                    self.ctx.logger.exception("match_terminate failed")
            self.end("terminated")

    # -- events from the service --------------------------------------------------------------

    def presence_changed(self, joins: list[Presence], leaves: list[Presence]) -> None:
        for p in leaves:
            self.approved.pop(p.session_id, None)
            pending = len(self.joins)
            # A player who joins and leaves within one tick never reaches the handler: its join
            # is dropped instead of reporting a leave before the join (which left a ghost).
            self.joins = [j for j in self.joins if j.session_id != p.session_id]
            if p.session_id in self.presences and len(self.joins) == pending:
                self.leaves.append(MatchPresence.of(p))
        for p in joins:
            if self.approved.pop(p.session_id, None) is not None:
                self.joins.append(MatchPresence.of(p))

    def queue(self, message: MatchMessage) -> None:
        if len(self.messages) >= MAX_QUEUE:
            self.dropped += 1
            return
        self.messages.append(message)

    # -- what the dispatcher does -------------------------------------------------------------

    def message(
        self,
        op_code: int,
        data: bytes | str | None,
        presences: Iterable[MatchPresence | Mapping[str, Any]] | None,
        sender: MatchPresence | Mapping[str, Any] | None,
        reliable: bool,
    ) -> tuple[Sequence[Presence] | None, codec.Frame]:
        if isinstance(op_code, bool) or not isinstance(op_code, int):
            raise TypeError(f"op_code must be an int, got {type(op_code).__name__}")
        msg = wire.MatchData(  # a new one each time: the frame encodes it when a socket needs it
            match_id=self.id,
            presence=None if sender is None else _presence(sender).wire(),
            op_code=str(op_code),
            data=base64.b64encode(data_bytes(data)).decode(),
            reliable=reliable,
        )
        frame = codec.frame("match_data", msg)
        targets = None if presences is None else self._targets(presences)
        return targets, frame

    def send(self, targets: Sequence[Presence] | None, frame: codec.Frame) -> None:
        router = self.service.hub.router
        if targets is None:
            targets = self.service.hub.tracker.presences(self.stream)
        router.send_to(targets, frame)
        self.service.stats.messages_out += len(targets)

    def _targets(self, presences: Iterable[MatchPresence | Mapping[str, Any]]) -> list[Presence]:
        tracker = self.service.hub.tracker
        out = []
        for item in presences:
            p = tracker.get(self.stream, _presence(item).session_id)
            if p is not None:
                out.append(p)
        return out

    def kick(self, presences: Iterable[MatchPresence | Mapping[str, Any]]) -> None:
        for p in self._targets(presences):
            self.service.untrack(self.stream, p)

    def set_label(self, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(f"match label must be a string, got {type(label).__name__}")
        if len(label.encode()) > MAX_LABEL_BYTES:
            raise ValueError(f"match label is longer than {MAX_LABEL_BYTES} bytes")
        if label != self.label:
            self.label = label
            self.service.index.changed(self)

    def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        self.ctx.logger.info("match ended", reason=reason, ticks=self.tick)
        self.service.ended(self)
        current = asyncio.current_task()
        if self.task is not None and self.task is not current and not self.task.done():
            self.task.cancel()


def _presence(item: MatchPresence | Mapping[str, Any]) -> MatchPresence:
    if isinstance(item, MatchPresence):
        return item
    return MatchPresence(
        str(item.get("user_id", "")), str(item.get("session_id", "")), str(item.get("username", "")),
        str(item.get("node", "")),
    )  # fmt: skip


def _init_result(result: Any) -> tuple[Any, Any, Any]:
    if isinstance(result, Mapping) and "state" in result:
        return result.get("state"), result.get("tick_rate", 1), result.get("label", "")
    if isinstance(result, tuple | list) and len(result) in (2, 3):
        state, tick_rate, *rest = result
        return state, tick_rate, rest[0] if rest else ""
    raise ValueError("match_init must return (state, tick_rate, label)")


def _join_attempt_result(result: Any) -> tuple[Any, bool, str]:
    if result is None:
        return None, False, ""
    if isinstance(result, Mapping) and "state" in result:
        return result.get("state"), bool(result.get("accept")), str(result.get("reject_message") or "")
    if isinstance(result, tuple | list) and len(result) in (2, 3):
        state, allowed, *rest = result
        return state, bool(allowed), str(rest[0] or "") if rest else ""
    raise ValueError("match_join_attempt must return (state, accept, reason)")
