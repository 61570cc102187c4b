"""The matchmaker: tickets in, matches out (docs/matchmaking.md).

Players add tickets (alone, or a party leader for the party) on any node; the ticket store keeps
them (in this process, or in Redis on a cluster). Every `interval` the matcher node runs a pass
of the engine over its copy, lets server code veto or regroup the proposed matches, claims each
match's tickets atomically (so none is matched twice), asks server code for a match id (or makes
a relayed match with a token) and tells every matched player on their socket, on whatever node
they are connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

from overworld.errors import InvalidArgument
from overworld.matches import tokens
from overworld.matchmaking.models import (
    COMPLETIONS_KEPT,
    DEFAULT_RULES,
    MAX_COUNT,
    MAX_PROPERTIES,
    MAX_PROPERTY_BYTES,
    MatchmakerEntry,
    MatchmakerStats,
    Member,
    Proposal,
    QueueRules,
    Ticket,
)
from overworld.matchmaking.ratings import RatingStore
from overworld.matchmaking.store import TicketStore, TooManyTickets
from overworld.ops.outages import Service, classify
from overworld.protocol.matchmaker import MatchmakerMatched, MatchmakerUser
from overworld.protocol.presence import UserPresence
from overworld.protocol.streams import notifications_stream
from overworld.query import QueryError, parse
from overworld.realtime import codec
from overworld.subsystems.presence.base import Presence, PresenceMeta

if TYPE_CHECKING:
    from overworld.realtime.hub import Hub
    from overworld.titles.service import TitleService

log = structlog.get_logger(__name__)
MATCHED = Counter("overworld_matchmaker_matched_total", "Players matched by the matchmaker")
PASS_SECONDS = Histogram(
    "overworld_matchmaker_pass_seconds", "Time of one matching pass",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)  # fmt: skip
POOL = Gauge("overworld_matchmaker_tickets", "Tickets in this node's matchmaker pool, as of its last pass")
TOO_MANY = "Too many matchmaker tickets"


@dataclass(slots=True)
class HookEntry:
    fn: Callable[..., Any]
    module: str


class MatchmakerService:
    def __init__(
        self,
        store: TicketStore,
        titles: TitleService,
        ratings: RatingStore,
        hub: Hub,
        *,
        interval_ms: int = 1000,
        max_tickets: int = 3,
        hook_timeout_sec: float = 5.0,
        sweep_grace_sec: float = 5.0,
    ) -> None:
        self.hub = hub
        self.store = store
        self.engine = store.engine
        self.engine.rules_for = self.rules_for
        self.titles = titles
        self.ratings = ratings
        self.interval = interval_ms / 1000
        self.max_tickets = max_tickets
        self.hook_timeout = hook_timeout_sec
        self.rules: dict[tuple[str, str], QueueRules] = {}
        self.matched_hooks: dict[str, HookEntry] = {}
        self.override_hooks: dict[str, HookEntry] = {}
        self.backfilled_hooks: dict[str, HookEntry] = {}
        # Sweeping the tickets of dead nodes' sessions: about once a second, once this node has
        # been the matcher long enough (`sweep_grace_sec`, the presence timeout) to know its peers.
        self.sweep_grace = sweep_grace_sec
        self._sweep_every = max(1, round(1.0 / self.interval)) if self.interval > 0 else 1
        self._passes = 0
        self._leading_since: float | None = None
        self.last_pass_ms = 0.0
        self._task: asyncio.Task[None] | None = None
        self._outage: Service | None = None  # what the passes are failing on, if they are
        self._pending: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()  # one pass at a time
        # Stats (GetMatchmakerStats), kept by the matcher and published through the store after
        # each pass: the last players matched per title, and what was published last.
        self._completions: dict[str, deque[tuple[float, float]]] = {}
        self._published: dict[str, MatchmakerStats] = {}

    def rules_for(self, title_id: str, queue: str) -> QueueRules:
        return self.rules.get((title_id, queue), DEFAULT_RULES)

    async def start(self) -> None:
        # Tickets die with their session.
        self.hub.on_disconnect(lambda conn: self._later(self.store.remove_owner(conn.title_id, conn.id)))
        await self.store.start()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._pending):
            task.cancel()
        await self.store.close()

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("matchmaker background task failed", error=repr(task.exception()))

    # -- tickets ---------------------------------------------------------------------------------

    async def make_ticket(
        self,
        title_id: str,
        members: list[Member],
        *,
        query: str,
        min_count: int,
        max_count: int,
        count_multiple: int | None,
        string_properties: dict[str, str],
        numeric_properties: dict[str, float],
        party_id: str = "",
        owner: str = "",
        backfill: str = "",
    ) -> Ticket:
        """Validate a request (Nakama's messages) and build its ticket."""
        if backfill:
            if not 1 <= max_count <= MAX_COUNT:
                raise InvalidArgument(f"Backfill slots must be 1-{MAX_COUNT}.")
        else:
            if min_count < 2:
                raise InvalidArgument("Invalid minimum count, must be >= 2")
            if max_count < min_count:
                raise InvalidArgument("Invalid maximum count, must be >= minimum count")
            if max_count > MAX_COUNT:
                raise InvalidArgument(f"Invalid maximum count, must be <= {MAX_COUNT}")
        multiple = 1 if count_multiple is None else count_multiple
        if multiple < 1:
            raise InvalidArgument("Invalid count multiple, must be >= 1")
        if not backfill and min_count % multiple:
            raise InvalidArgument("Invalid count multiple for minimum count, must divide")
        if not backfill and max_count % multiple:
            raise InvalidArgument("Invalid count multiple for maximum count, must divide")
        if len(members) > max_count:
            raise InvalidArgument("Invalid maximum count, must be >= the party size")
        try:
            q = parse(query or "*")
        except QueryError as exc:
            raise InvalidArgument(f"Invalid matchmaker query: {exc}") from None
        if len(string_properties) + len(numeric_properties) > MAX_PROPERTIES:
            raise InvalidArgument(f"Too many matchmaker properties: at most {MAX_PROPERTIES}.")
        for k, v in string_properties.items():
            if not k or len(k.encode()) > MAX_PROPERTY_BYTES or len(v.encode()) > MAX_PROPERTY_BYTES:
                raise InvalidArgument(
                    f"Invalid string property {k[:32]!r}: name and value must be 1-256 bytes."
                )
        numbers: dict[str, float] = {}
        for k, x in numeric_properties.items():
            if not k or len(k.encode()) > MAX_PROPERTY_BYTES or not math.isfinite(x):
                raise InvalidArgument(f"Invalid numeric property {k[:32]!r}: it must be a finite number.")
            numbers[k] = float(x)
        strings = dict(string_properties)
        queue = strings.get("queue", "")
        rules = self.rules_for(title_id, queue)
        sp = rules.skill_property
        if sp not in numbers and (title_id, queue) in self.rules and members:
            rated = await self.ratings.get(title_id, queue, [m.user_id for m in members])
            numbers[sp] = sum(r.mu for r in rated.values()) / len(rated)
        return Ticket(
            id=str(uuid.uuid4()), title_id=title_id, seq=0, created=time.time(), query=q,
            min_count=min_count, max_count=max_count, count_multiple=multiple, s=strings, n=numbers,
            members=members, party_id=party_id, session_key=owner, backfill=backfill,
            skill=numbers.get(sp, math.nan),
        )  # fmt: skip

    async def add(self, ticket: Ticket, limit: int | None = None) -> str:
        try:
            await self.store.add(ticket, self.max_tickets if limit is None else limit)
        except TooManyTickets:
            raise InvalidArgument(TOO_MANY) from None
        return ticket.id

    async def remove(self, title_id: str, ticket_id: str, owner: str) -> bool:
        return await self.store.remove(title_id, ticket_id, owner)

    def party_changed(self, title_id: str, party_id: str) -> None:
        """A party's members changed (or it ended): its tickets are void (as Nakama)."""
        self._later(self.store.remove_owner(title_id, party_id))

    # -- the matching loop ------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await self.guarded_pass()
            await asyncio.sleep(self.interval)

    async def guarded_pass(self) -> None:
        """One pass of the loop; a failure is logged, never raised. While Redis or the database
        cannot be reached (an outage, as `ops.outages` tells them from bugs) that is one warning
        when the passes start failing and one when they work again, not a traceback a pass."""
        try:
            await self.run_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            service = classify(exc)
            if service is None:
                log.exception("matchmaker pass failed")
            elif self._outage is None:
                self._outage = service
                log.warning(
                    f"matchmaker passes failing: {service} unavailable",
                    service=service, error=f"{type(exc).__name__}: {exc}",
                )  # fmt: skip
            return
        if self._outage is not None:
            log.warning(f"matchmaker passes working again: {self._outage} available", service=self._outage)
            self._outage = None

    async def run_once(self) -> int:
        """One pass if this node is the matcher: the number of players matched."""
        async with self._lock:
            POOL.set(len(self.engine))
            if not await self.store.lead():
                self._leading_since = None
                self._completions.clear()  # the next matcher's now; taken over again if this
                self._published.clear()  # node leads again
                return 0
            now = time.monotonic()
            if self._leading_since is None:
                self._leading_since = now
            self._passes += 1
            if self._passes % self._sweep_every == 0 and now - self._leading_since >= self.sweep_grace:
                try:
                    await self.sweep()
                except Exception:  # the store failed (Redis down?): try again next time
                    log.exception("matchmaker sweep failed")
            started = time.perf_counter()
            enabled = gc.isenabled()
            gc.disable()  # a pass allocates little but walks many objects: no collection mid-pass
            try:
                proposals = self.engine.run(time.time())
            finally:
                if enabled:
                    gc.enable()
            self.last_pass_ms = (time.perf_counter() - started) * 1000
            PASS_SECONDS.observe(self.last_pass_ms / 1000)
            by_title: dict[str, list[Proposal]] = {}
            for p in proposals:
                by_title.setdefault(p.tickets[0].title_id, []).append(p)
            matched = 0
            formed_at = time.time()
            for title_id, group in by_title.items():
                chosen = await self._override(title_id, group)
                kept = {t.id for p in chosen for t in p.tickets}
                for p in group:  # the tickets of vetoed matches wait on
                    for t in p.tickets:
                        if t.id not in kept:
                            self.engine.add(t)
                    if p.backfill is not None and all(q.backfill is not p.backfill for q in chosen):
                        self.engine.add(p.backfill)
                for p in chosen:
                    try:
                        players = await self._form(title_id, p)
                    except Exception:  # one match failing must not strand the rest of the pass
                        log.exception("matchmaker could not form a match", title=title_id)
                        continue
                    if players:
                        completions = await self._completions_of(title_id)
                        completions.extend((t.created, formed_at) for t in p.tickets for _ in t.members)
                    matched += players
            try:
                await self._publish_stats()
            except Exception:  # the store failed (Redis down?): published after a later pass
                log.exception("matchmaker stats not published")
            return matched

    # -- stats -----------------------------------------------------------------------------------

    async def stats(self, title_id: str) -> MatchmakerStats:
        """The title's matchmaker stats as of the matcher's last pass (any node, cluster-wide)."""
        return await self.store.stats(title_id) or MatchmakerStats()

    async def _completions_of(self, title_id: str) -> deque[tuple[float, float]]:
        """The title's last completions, taken over from what the previous matcher published
        when this node first needs them."""
        completions = self._completions.get(title_id)
        if completions is None:
            previous = await self.store.stats(title_id)
            completions = self._completions[title_id] = deque(
                previous.completions if previous is not None else (), maxlen=COMPLETIONS_KEPT
            )
        return completions

    async def _publish_stats(self) -> None:
        """Publish, for each title whose stats changed since the last pass, its waiting tickets,
        oldest creation time and last completions."""
        pools = self.engine.pools
        for title_id in {*pools, *self._published, *self._completions}:
            pool = pools.get(title_id)
            tickets = pool.tickets if pool is not None else {}
            oldest = min((t.created for t in tickets.values()), default=None)
            completions = await self._completions_of(title_id)
            stats = MatchmakerStats(len(tickets), oldest, list(completions))
            if self._published.get(title_id) != stats:
                await self.store.put_stats(title_id, stats)
                self._published[title_id] = stats

    async def _override(self, title_id: str, proposals: list[Proposal]) -> list[Proposal]:
        hook = self.override_hooks.get(title_id)
        if hook is None:
            return proposals
        tickets = {t.id: t for p in proposals for t in p.tickets}
        backfills = {p.tickets[0].id: p.backfill for p in proposals if p.backfill is not None}
        try:
            result = await self._call(hook, self._ctx(title_id), [p.entries() for p in proposals])
        except Exception:
            log.exception("matchmaker override hook failed; forming the proposed matches", title=title_id)
            return proposals
        out: list[Proposal] = []
        used: set[str] = set()
        for group in result or []:
            ids: list[str] = []
            for entry in group:
                ticket_id = entry.ticket if isinstance(entry, MatchmakerEntry) else str(entry)
                if ticket_id not in ids:
                    ids.append(ticket_id)
            if not ids or any(i not in tickets or i in used for i in ids):
                log.warning("matchmaker override hook returned an invalid match; skipped", title=title_id)
                continue
            used.update(ids)
            chosen = [tickets[i] for i in ids]
            original = next((p for p in proposals if p.tickets[0].id == ids[0]), None)
            proposal = Proposal(chosen, backfill=backfills.get(ids[0]))
            if original is not None and {t.id for t in original.tickets} == set(ids):
                proposal.teams = original.teams
            out.append(proposal)
        return out

    def _live_nodes(self) -> set[str]:
        """This node and the peers the presence tracker hears from (only this node when embedded)."""
        return {self.hub.node, *self.hub.tracker.peers}

    async def sweep(self) -> list[str]:
        """Remove the waiting tickets of which a member's session was on a node that is gone (not
        this node, not a peer the presence tracker hears from) and is present nowhere: their
        node died before it could remove them on disconnect. Through the store's atomic removal,
        and from the engine. Returns the ids removed."""
        live = self._live_nodes()
        tracker = self.hub.tracker
        dead = [
            t
            for t in self.engine.tickets()
            if any(
                m.node not in live
                and tracker.get(notifications_stream(t.title_id, m.user_id), m.session_id) is None
                for m in t.members
            )
        ]
        removed: list[str] = []
        for t in dead:
            if await self.store.remove(t.title_id, t.id, ""):
                removed.append(t.id)
            self.engine.remove(t.title_id, t.id)
        if removed:
            log.info("matchmaker removed tickets of sessions on dead nodes", tickets=len(removed))
        return removed

    def _alive(self, t: Ticket) -> bool:
        tracker = self.hub.tracker
        return all(tracker.get(notifications_stream(t.title_id, m.user_id), m.session_id) for m in t.members)

    async def _form(self, title_id: str, p: Proposal) -> int:
        dead = [t for t in p.tickets if not self._alive(t)]
        ids = [t.id for t in p.tickets]
        if p.backfill is not None:
            ids.append(p.backfill.id)
        waiting = [*p.tickets, *([p.backfill] if p.backfill is not None else [])]
        try:
            for t in dead:
                await self.store.remove(title_id, t.id, "")
            missing = set(await self.store.claim(title_id, ids)) if not dead else {t.id for t in dead}
        except Exception:
            # The store failed (Redis down?) before the tickets were claimed: they wait on.
            for t in waiting:
                if t not in dead:
                    self.engine.add(t)
            raise
        if missing:  # the others wait on
            for t in waiting:
                if t.id not in missing:
                    self.engine.add(t)
            return 0
        title = self.titles.get(title_id)
        if title is None:
            return 0
        match_id: str | None = None
        token: str | None = None
        if p.backfill is not None:
            b = p.backfill
            match_id = b.backfill
            left = b.max_count - sum(t.size for t in p.tickets)
            if left > 0:
                b.max_count = left
                b.intervals = 0
                await self.store.add(b, 1 << 30)
            hook = self.backfilled_hooks.get(title_id)
            if hook is not None:
                self._later(self._backfilled(hook, title_id, match_id, p))
        else:
            hook = self.matched_hooks.get(title_id)
            if hook is not None:
                try:
                    result = await self._call(hook, self._ctx(title_id), p.entries())
                    if isinstance(result, str) and result:
                        match_id = result
                except Exception:
                    log.exception("matchmaker matched hook failed; making a relayed match", title=title_id)
            if match_id is None:
                token = tokens.issue(title, f"{uuid.uuid4()}.")
        self._deliver(p, match_id, token)
        players = sum(t.size for t in p.tickets)
        MATCHED.inc(players)
        return players

    def _deliver(self, p: Proposal, match_id: str | None, token: str | None) -> None:
        users: list[MatchmakerUser] = []
        targets: list[tuple[Ticket, Member]] = []
        for t in p.tickets:
            for m in t.members:
                numbers = t.n
                if m.session_id in p.teams:
                    numbers = {**t.n, "team": float(p.teams[m.session_id])}
                users.append(
                    MatchmakerUser(
                        presence=UserPresence(
                            user_id=m.user_id, session_id=m.session_id, username=m.username
                        ),
                        party_id=t.party_id,
                        string_properties=t.s,
                        numeric_properties=numbers,
                    )
                )
                targets.append((t, m))
        router = self.hub.router
        for (t, m), me in zip(targets, users, strict=True):
            message = MatchmakerMatched(ticket=t.id, match_id=match_id, token=token, users=users, self=me)
            presence = Presence(
                notifications_stream(t.title_id, m.user_id),
                m.session_id,
                m.user_id,
                m.node,
                PresenceMeta(m.username),
            )
            router.send_to([presence], codec.frame("matchmaker_matched", message))

    # -- server code ---------------------------------------------------------------------------

    async def _backfilled(self, hook: HookEntry, title_id: str, match_id: str, p: Proposal) -> None:
        """Tell server code which players a backfill request sent to its match (after they were
        told `matchmaker_matched`); errors and time-outs are logged."""
        try:
            await self._call(hook, self._ctx(title_id), match_id, p.entries())
        except Exception:
            log.exception("matchmaker backfilled hook failed", title=title_id, match_id=match_id)

    def _ctx(self, title_id: str) -> Any:
        from overworld.context import EventContext

        title = self.titles.get(title_id)
        return EventContext(title_id=title_id, title_name=title.name if title else "", node=self.hub.node)

    async def _call(self, hook: HookEntry, *args: Any) -> Any:
        result = hook.fn(*args)
        if inspect.isawaitable(result):
            async with asyncio.timeout(self.hook_timeout):
                result = await result
        return result

    async def backfill(
        self,
        title_id: str,
        match_id: str,
        slots: int,
        query: str = "*",
        string_properties: dict[str, str] | None = None,
        numeric_properties: dict[str, float] | None = None,
    ) -> str:
        """Ask for up to `slots` waiting players for a running match; they are told
        `matchmaker_matched` with its match id. Returns the backfill request's id."""
        if not isinstance(match_id, str) or not match_id:
            raise InvalidArgument("A match id is required.")
        ticket = await self.make_ticket(
            title_id, [], query=query, min_count=1, max_count=slots, count_multiple=None,
            string_properties=dict(string_properties or {}),
            numeric_properties=dict(numeric_properties or {}), owner="backfill", backfill=match_id,
        )  # fmt: skip
        return await self.add(ticket, 1 << 30)
