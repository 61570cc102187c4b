"""Leaderboards: creation and deletion by server code, record writes with operators, listings
with ranks and cursors, records around an owner, and resets with archives of past periods.

A board's records are grouped in periods identified by their expiry (the next reset; 0 for a
board that never resets). The database holds every period; the rank index (the `ranks`
subsystem) holds the current period of each board and answers ranks, so a write returns its rank
without counting rows. Past periods (seasons) stay in the database and stay listable with
`expiry`; their ranks come from the database.

Resets run on the scheduler subsystem (`node.scheduler`): one job per board with a reset
schedule, run by one node at each reset. That node claims the period in `leaderboard_resets`
(exactly once, even if two nodes ran the job), hands the final standings to the title's
`register_leaderboard_reset` hook and drops the period from the rank index. A reset missed while
no node was running is run at the next start.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import orjson
import structlog

from overworld.clock import now_ms
from overworld.db import Database, Row, Tx
from overworld.errors import ApiError, InvalidArgument, NotFound, PermissionDenied
from overworld.leaderboards import cursor as cursors
from overworld.leaderboards.models import (
    BEST,
    DECREMENT,
    INCREMENT,
    INT64_MAX,
    NO_OVERRIDE,
    OPERATOR_NAMES,
    Leaderboard,
    Period,
    Record,
    RecordList,
)
from overworld.leaderboards.schedule import Schedule, tournament_deadlines
from overworld.leaderboards.store import LeaderboardStore, record_of
from overworld.protocol.jsondepth import check_depth
from overworld.subsystems.pubsub import PubSub
from overworld.subsystems.ranks import RankIndex
from overworld.subsystems.scheduler import Scheduler

log = structlog.get_logger(__name__)
TOPIC = "leaderboards"
MAX_ID = 128
MAX_METADATA_BYTES = 16_384
MAX_OWNER_IDS = 1000
NOT_FOUND = "Leaderboard not found."
USER_NOT_FOUND = "User account not found."
AUTHORITATIVE = "Leaderboard only allows authoritative score submissions."
AUTHORITATIVE_DELETE = "Leaderboard only allows authoritative score deletions."
BAD_METADATA = "Metadata value must be JSON, if provided."
OWNER_IDS_INVALID = "One or more owner IDs are invalid."
REBUILD_LOCK_MS = 120_000
TOP_RANKS = 1000  # first pages up to this size may be cached (see `top_version`)
TOP_PAGE_TTL = 1.0  # seconds; writes that can change a cached first page drop it before that
MAX_TOP_PAGES = 10_000  # cached first pages; beyond, the cache starts over
Page = TypeVar("Page")

ResetFunction = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ResetHook:
    fn: ResetFunction
    module: str
    top: int  # how many of the final standings the hook receives


def period_key(b: Leaderboard, expiry: int) -> str:
    return f"{b.title_id}:{expiry}:{b.id}"


def check_board_id(board_id: str, what: str = "leaderboard") -> str:
    if not isinstance(board_id, str) or not 1 <= len(board_id) <= MAX_ID:
        raise InvalidArgument(f"Invalid {what} ID.")
    return board_id


def check_owner(owner_id: str, message: str = "Invalid owner ID provided.") -> str:
    try:
        return str(uuid.UUID(owner_id))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(message) from None


def check_metadata(metadata: str | None) -> str | None:
    """None or "" (keep the record's metadata), or a JSON object text of bounded size."""
    if not metadata:
        return None
    if len(metadata.encode()) > MAX_METADATA_BYTES:
        raise InvalidArgument(f"Metadata is too large, at most {MAX_METADATA_BYTES} bytes.")
    check_depth(metadata, "metadata")
    try:
        parsed = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        raise InvalidArgument(BAD_METADATA) from None
    if not isinstance(parsed, dict):
        raise InvalidArgument(BAD_METADATA)
    return metadata


def check_score(score: int, subscore: int) -> None:
    if not isinstance(score, int) or not 0 <= score <= INT64_MAX:
        raise InvalidArgument("Invalid score value, must be >= 0 and fit in a signed 64-bit integer.")
    if not isinstance(subscore, int) or not 0 <= subscore <= INT64_MAX:
        raise InvalidArgument("Invalid subscore value, must be >= 0 and fit in a signed 64-bit integer.")


def check_operator(operator: int, default: int) -> int:
    if operator == NO_OVERRIDE:
        return default
    if operator not in OPERATOR_NAMES:
        raise InvalidArgument(
            "Invalid operator, must be one of NO_OVERRIDE, BEST, SET, INCREMENT, DECREMENT."
        )
    return operator


def overflow(operator: int, row: Row, score: int, subscore: int) -> bool:
    return operator == INCREMENT and (row[2] > INT64_MAX - score or row[3] > INT64_MAX - subscore)


class LeaderboardService:
    def __init__(
        self,
        db: Database,
        ranks: RankIndex,
        pubsub: PubSub,
        scheduler: Scheduler | None = None,
        node_name: str = "",
        hook_timeout_sec: float = 60.0,
        title_name: Callable[[str], str] | None = None,
    ) -> None:
        self.store = LeaderboardStore(db)
        self.db = db
        self.ranks = ranks
        self.pubsub = pubsub
        self.scheduler = scheduler
        self.node_name = node_name or "node"
        self.hook_timeout = hook_timeout_sec
        self.title_name = title_name or (lambda title_id: "")
        self._boards: dict[tuple[str, str], Leaderboard] = {}
        self._schedules: dict[str, Schedule] = {}
        self.reset_hooks: dict[tuple[str, str], ResetHook] = {}  # (title id, kind) -> hook
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[Leaderboard | None, str, str], None]] = []
        # First pages of boards (`first_page`), valid while their board's version is unchanged:
        # (title id, board id, expiry, limit, render) -> (version, expires, rendered page).
        self.top_pages: dict[tuple[str, str, int, int, Any], tuple[int, float, Any]] = {}
        self._top_versions: dict[tuple[str, str], int] = {}

    # -- start, cache, cluster ----------------------------------------------------------------------

    def top_version(self, title_id: str, board_id: str) -> int:
        """Changes whenever the first TOP_RANKS records of the board may have changed (a write
        that ranks among them or moves a record down, a deletion, a reset, a rebuild), here or,
        a moment later, on another node."""
        return self._top_versions.get((title_id, board_id), 0)

    def _top_changed(self, title_id: str, board_id: str, tell: bool = True) -> None:
        key = (title_id, board_id)
        self._top_versions[key] = self._top_versions.get(key, 0) + 1
        if tell:
            self._background(self._announce("top", title_id, board_id))

    def _forget_tops(self) -> None:  # messages may have been missed
        for key in list(self._top_versions):
            self._top_versions[key] += 1
        self.top_pages.clear()

    async def _reconnected(self) -> None:
        self._forget_tops()

    async def start(self) -> None:
        """Load every board, bring the rank index of each current period in line with the
        database and schedule the resets."""
        self.pubsub.subscribe(TOPIC, self._on_message)
        self.pubsub.on_reconnect(self._reconnected)
        for b in await self.store.all_boards():
            self._remember(b)
        now = now_ms()
        for b in list(self._boards.values()):
            await self.ensure_index(b, self.expiry_of(b, now))
        for b in list(self._boards.values()):
            self._schedule(b)

    async def catch_up(self) -> None:
        """Run the resets missed while no node was running (the last one of each board), once
        server code has registered its hooks."""
        now = now_ms()
        for b in list(self._boards.values()):
            if not b.tournament:
                await self._catch_up(b, now)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def on_change(self, listener: Callable[[Leaderboard | None, str, str], None]) -> None:
        """Told (board or None if deleted, title id, board id) of every board added or removed."""
        self._listeners.append(listener)

    def _remember(self, b: Leaderboard) -> None:
        self._boards[(b.title_id, b.id)] = b
        if b.reset_schedule and b.reset_schedule not in self._schedules:
            self._schedules[b.reset_schedule] = Schedule(b.reset_schedule)

    def _forget(self, title_id: str, board_id: str) -> Leaderboard | None:
        b = self._boards.pop((title_id, board_id), None)
        if self.scheduler is not None:
            self.scheduler.remove(_job_name(title_id, board_id))
        return b

    def schedule_of(self, b: Leaderboard) -> Schedule | None:
        if not b.reset_schedule:
            return None
        schedule = self._schedules.get(b.reset_schedule)
        if schedule is None:
            schedule = self._schedules[b.reset_schedule] = Schedule(b.reset_schedule)
        return schedule

    def expiry_of(self, b: Leaderboard, now: int) -> int:
        """The expiry (period id) of the board's period at `now`."""
        if b.tournament:
            return tournament_deadlines(
                b.start_time, b.end_time, b.duration * 1000, self.schedule_of(b), now
            )[2]
        schedule = self.schedule_of(b)
        return 0 if schedule is None else schedule.expiry(now)

    def current_expiry(self, b: Leaderboard) -> int:
        """The expiry of the board's current period."""
        return self.expiry_of(b, now_ms())

    async def board(self, title_id: str, board_id: str) -> Leaderboard | None:
        b = self._boards.get((title_id, board_id))
        if b is None:
            b = await self.store.board(title_id, board_id)
            if b is not None:
                self._remember(b)
        return b

    def boards(self, title_id: str) -> list[Leaderboard]:
        return [b for (t, _), b in self._boards.items() if t == title_id]

    def known_boards(self) -> list[Leaderboard]:
        """Every board this node knows, of every title (a snapshot: loaded at start, kept up to
        date by creations and deletions here and on other nodes)."""
        return list(self._boards.values())

    def is_known(self, title_id: str, board_id: str) -> bool:
        """Whether the board is among `known_boards()` (False once deleted)."""
        return (title_id, board_id) in self._boards

    async def _announce(self, kind: str, title_id: str, board_id: str) -> None:
        await self.pubsub.publish(TOPIC, orjson.dumps([kind, title_id, board_id]))

    async def _on_message(self, payload: bytes) -> None:
        kind, title_id, board_id = orjson.loads(payload)
        if kind == "top":
            self._top_changed(title_id, board_id, tell=False)
            return
        if kind == "deleted":
            self._top_changed(title_id, board_id, tell=False)
            if self._forget(title_id, board_id) is not None:
                for listener in self._listeners:
                    listener(None, title_id, board_id)
            return
        if (title_id, board_id) in self._boards:
            return
        b = await self.store.board(title_id, board_id)
        if b is not None:
            self._remember(b)
            self._schedule(b)
            for listener in self._listeners:
                listener(b, title_id, board_id)

    async def ensure_index(self, b: Leaderboard, expiry: int) -> None:
        """Build the rank index of a period from the database unless it is built (Redis: by
        another node, or before a restart). Nodes starting together build it once."""
        key = period_key(b, expiry)
        if await self.ranks.built(key):
            return
        # A token per acquisition: nodes may share a name (the host name), and unlock releases
        # only a lock that still holds this token.
        token = f"{self.node_name}:{uuid.uuid4().hex}"
        while not await self.ranks.lock(key, token, REBUILD_LOCK_MS):
            await asyncio.sleep(0.2)
            if await self.ranks.built(key):
                return
        try:
            started = now_ms()
            rows: list[Any] = []
            async for page in self.store.rank_rows(b.title_id, b.id, expiry):
                rows.extend(page)
            count = await self.ranks.rebuild(key, b.descending, rows)
            self._top_changed(b.title_id, b.id, tell=False)
            # Writes that landed while the rows were read (other nodes) are applied again; the
            # generation check keeps the newest.
            for row in await self.store.changed_since(b.title_id, b.id, expiry, started - 2000):
                await self.ranks.set(key, b.descending, row[0], row[2], row[3], row[4])
            if count:
                log.info("rank index built", leaderboard=b.id, expiry=expiry, records=count,
                         ms=now_ms() - started)  # fmt: skip
        finally:
            await self.ranks.unlock(key, token)

    # -- boards -----------------------------------------------------------------------------------

    async def create(self, b: Leaderboard) -> tuple[Leaderboard, bool]:
        """Create a board unless one of that id exists (its settings are then kept, as Nakama
        does); returns the stored board and whether it was created."""
        check_board_id(b.id)
        if b.reset_schedule:
            Schedule(b.reset_schedule)  # ValueError if invalid
        b.create_time = b.create_time or now_ms()
        created = await self.store.insert_board(b)
        stored = await self.store.board(b.title_id, b.id)
        if stored is None:  # deleted in between
            raise NotFound(NOT_FOUND)
        known = (stored.title_id, stored.id) in self._boards
        self._remember(stored)
        if not known:
            self._schedule(stored)
            await self.ensure_index(stored, self.expiry_of(stored, now_ms()))
        if created:
            await self._announce("created", b.title_id, b.id)
        return stored, created

    async def delete(self, title_id: str, board_id: str) -> bool:
        b = await self.board(title_id, board_id)
        removed = await self.store.delete_board(title_id, board_id)
        self._forget(title_id, board_id)
        self._top_changed(title_id, board_id, tell=False)  # "deleted" tells the other nodes
        if b is not None:
            await self.ranks.drop(period_key(b, self.expiry_of(b, now_ms())))
        await self._announce("deleted", title_id, board_id)
        return removed

    # -- records ----------------------------------------------------------------------------------

    async def write(
        self,
        title_id: str,
        board_id: str,
        caller: str | None,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int = 0,
        metadata: str | None = None,
        operator: int = NO_OVERRIDE,
    ) -> Record:
        """Submit a score. `caller` is the user writing, or None for server code (which may
        write to authoritative boards and for any owner)."""
        check_board_id(board_id)
        b = await self.board(title_id, board_id)
        if b is None or b.tournament:
            raise NotFound(NOT_FOUND)
        if b.authoritative and caller is not None:
            raise PermissionDenied(AUTHORITATIVE)
        op = check_operator(operator, b.operator)
        check_score(score, subscore)
        metadata = check_metadata(metadata)
        now = now_ms()
        expiry = self.expiry_of(b, now)
        hold = caller is not None  # a player's own record: only while the account exists
        row, changed = await self.store.write_or_read(
            b, expiry, owner_id, username or None, score, subscore, metadata, op, now, b.max_num_score, hold
        )
        key = period_key(b, expiry)
        if row is None:
            if hold and not await self.store.owner_exists(title_id, owner_id):
                raise NotFound(USER_NOT_FOUND)
            raise ApiError("Error writing score to leaderboard.")  # deleted meanwhile
        if not changed:  # nothing changed: not better, no change, or an increment that overflows
            if overflow(op, row, score, subscore):
                raise InvalidArgument("Score overflow: the result would not fit in a signed 64-bit integer.")
            rank = await self.ranks.rank(key, owner_id)
        else:
            rank = await self.ranks.set(key, b.descending, owner_id, row[2], row[3], row[4])
            # A record that can only move up leaves the first pages alone unless it lands there.
            improves = op == BEST or op == (INCREMENT if b.descending else DECREMENT)
            if rank <= TOP_RANKS or not improves:
                self._top_changed(title_id, board_id)
        return record_of(board_id, row, rank)

    async def delete_record(self, title_id: str, board_id: str, caller: str | None, owner_id: str) -> None:
        check_board_id(board_id)
        b = await self.board(title_id, board_id)
        if b is None or b.tournament:
            raise NotFound(NOT_FOUND)
        if b.authoritative and caller is not None:
            raise PermissionDenied(AUTHORITATIVE_DELETE)
        expiry = self.expiry_of(b, now_ms())
        await self.store.delete_record(title_id, board_id, expiry, owner_id)
        await self.ranks.delete(period_key(b, expiry), owner_id)
        self._top_changed(title_id, board_id)

    async def delete_owner(self, tx: Tx, title_id: str, owner_id: str) -> None:
        """Account deletion step: the user's records go with it (and out of the rank index)."""
        for row in await self.store.delete_owner(tx, title_id, owner_id):
            b = self._boards.get((title_id, row[0]))
            if b is not None:
                await self.ranks.delete(period_key(b, row[1]), owner_id)
                self._top_changed(title_id, b.id)

    # -- listing ------------------------------------------------------------------------------------

    def resolve_period(self, b: Leaderboard, expiry_sec: int | None, now: int) -> tuple[int, bool]:
        """The period to read (`expiry` in seconds; 0/None: the current one) and whether it is
        the current one (ranked by the index)."""
        current = self.expiry_of(b, now)
        if not expiry_sec:
            return current, True
        if not 0 < expiry_sec <= INT64_MAX // 1000:
            raise InvalidArgument("Expiry must be 0 or a time in seconds since the epoch.")
        expiry = expiry_sec * 1000
        return expiry, expiry == current

    async def rank_count(self, b: Leaderboard, expiry: int, current: bool) -> int:
        if current:
            return await self.ranks.count(period_key(b, expiry))
        archived = await self.store.period_records(b.title_id, b.id, expiry)
        return archived if archived is not None else await self.store.count(b.title_id, b.id, expiry)

    async def fill_ranks(self, b: Leaderboard, expiry: int, current: bool, records: list[Record]) -> None:
        """Ranks of records that are not consecutive in a page (owner records)."""
        if not records:
            return
        if current:
            found = await self.ranks.ranks(period_key(b, expiry), [r.owner_id for r in records])
            for r in records:
                r.rank = found.get(r.owner_id, 0)
            return
        for r in records:
            better = await self.store.better_count(
                b.title_id, b.id, expiry, b.descending, r.score, r.subscore, r.owner_id
            )
            r.rank = better + 1

    def sort_records(self, b: Leaderboard, records: list[Record]) -> None:
        records.sort(key=lambda r: (r.score, r.subscore, r.owner_id), reverse=b.descending)

    async def list_records(
        self,
        b: Leaderboard,
        owner_ids: Sequence[str],
        limit: int | None,
        cursor: str,
        expiry_sec: int | None,
        now: int | None = None,
    ) -> RecordList:
        """A page of records in rank order (when `limit` is set) and the records of `owner_ids`."""
        if len(owner_ids) > MAX_OWNER_IDS:
            raise InvalidArgument(f"Too many owner IDs, at most {MAX_OWNER_IDS}.")
        owners = [check_owner(o, OWNER_IDS_INVALID) for o in owner_ids]
        now = now_ms() if now is None else now
        expiry, current = self.resolve_period(b, expiry_sec, now)
        result = RecordList()
        if limit is not None:
            await self._page(b, expiry, limit, cursor, result)
        if owners:
            rows = await self.store.owners(b.title_id, b.id, expiry, owners)
            result.owner_records = [record_of(b.id, r) for r in rows]
            self.sort_records(b, result.owner_records)
            await self.fill_ranks(b, expiry, current, result.owner_records)
        result.rank_count = await self.rank_count(b, expiry, current)
        return result

    async def first_page(
        self,
        b: Leaderboard,
        limit: int,
        render: Callable[[RecordList], Page],
        copy: Callable[[Page, int | None], Page],
    ) -> Page:
        """The first `limit` records of the current period with the record count, as
        `list_records(b, [], limit, "", None)` would read them and `render` turns them into the
        caller's form, from a short-lived cache of rendered pages ("top 100"): a hit costs a dict
        lookup and the current record count instead of a query and `limit` records to build.

        A cached page is dropped as soon as the board's `top_version` changes, and after
        TOP_PAGE_TTL at the latest. `copy(page, rank_count)` must return a copy of `page` that
        shares nothing its receiver may change, with `rank_count` (the current count) unless it is
        None: the cache keeps one copy and every caller gets its own, so that one caller changing
        its page (an after hook, say) never changes another's."""
        if b.tournament or not 1 <= limit <= TOP_RANKS:
            return render(await self.list_records(b, (), limit, "", None))
        expiry = self.current_expiry(b)
        key = (b.title_id, b.id, expiry, limit, render)
        version = self.top_version(b.title_id, b.id)
        now = time.monotonic()
        pages = self.top_pages
        hit = pages.get(key)
        if hit is not None and hit[0] == version and hit[1] > now:
            return copy(hit[2], await self.rank_count(b, expiry, True))
        page = render(await self.list_records(b, (), limit, "", None))
        if self.top_version(b.title_id, b.id) == version:  # nothing changed while it was read
            if len(pages) > MAX_TOP_PAGES:
                pages.clear()
            pages[key] = (version, now + TOP_PAGE_TTL, copy(page, None))
        return page

    async def _page(self, b: Leaderboard, expiry: int, limit: int, cursor: str, result: RecordList) -> None:
        incoming = cursors.decode(cursor, b.id, expiry)
        forward = incoming is None or incoming.forward
        rows = await self.store.page(
            b.title_id, b.id, expiry, b.descending, limit + 1,
            None if incoming is None else incoming.position, forward,
        )  # fmt: skip
        more = len(rows) > limit
        rank = 0 if incoming is None else incoming.rank
        step = 1 if forward else -1
        records = []
        for row in rows[:limit]:
            rank += step
            records.append(record_of(b.id, row, rank))
        if not forward:
            records.reverse()
        result.records = records
        if not records:
            return
        first, last = records[0], records[-1]
        has_next = more if forward else True
        has_prev = (incoming is not None) if forward else more
        if has_next:
            result.next_cursor = _cursor(True, b, expiry, last)
        if has_prev:
            result.prev_cursor = _cursor(False, b, expiry, first)

    async def around_owner(
        self, b: Leaderboard, owner_id: str, limit: int, cursor: str, expiry_sec: int | None
    ) -> RecordList:
        """Records around an owner's (Nakama's haystack): up to `limit` records including the
        owner's, as centred on it as the board allows. With a cursor, a plain page."""
        owner_id = check_owner(owner_id)
        now = now_ms()
        expiry, current = self.resolve_period(b, expiry_sec, now)
        if cursor:
            return await self.list_records(b, [], limit, cursor, expiry // 1000 or None, now)
        result = RecordList()
        row = await self.store.record(self.db, b.title_id, b.id, expiry, owner_id)
        if row is None:
            return result
        mine = record_of(b.id, row)
        position = (mine.score, mine.subscore, mine.owner_id)
        above_rows = await self.store.page(b.title_id, b.id, expiry, b.descending, limit + 1, position, False)
        more_above = len(above_rows) > limit
        above = [record_of(b.id, r) for r in above_rows[:limit]]
        above.reverse()
        below_limit = limit // 2
        if len(above) < below_limit:
            below_limit = limit - len(above)
        below_rows = await self.store.page(
            b.title_id, b.id, expiry, b.descending, below_limit + 1, position, True
        )
        more_below = len(below_rows) > below_limit
        below = [record_of(b.id, r) for r in below_rows[:below_limit]]
        records = [*above, mine, *below]
        start = len(records) - limit
        if start < 0 or len(above) < below_limit:
            start = 0
        if start > 0:
            more_above = True
        records = records[start : start + limit]
        # Ranks: the owner's from the index (or counted in an archive), the rest by position.
        if current:
            mine.rank = await self.ranks.rank(period_key(b, expiry), owner_id)
        if not mine.rank:
            better = await self.store.better_count(
                b.title_id, b.id, expiry, b.descending, mine.score, mine.subscore, owner_id
            )
            mine.rank = better + 1
        at = records.index(mine)
        for i, r in enumerate(records):
            r.rank = mine.rank + i - at
        result.records = records
        result.rank_count = await self.rank_count(b, expiry, current)
        if more_above:
            result.prev_cursor = _cursor(False, b, expiry, records[0])
        if more_below:
            result.next_cursor = _cursor(True, b, expiry, records[-1])
        return result

    async def periods(
        self, title_id: str, board_id: str, limit: int = 100, before_sec: int = 0
    ) -> list[Period]:
        """Closed periods of a board, newest first (`before_sec`: only those that expired before)."""
        if not 1 <= limit <= 100:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        if await self.board(title_id, board_id) is None:
            raise NotFound(NOT_FOUND)
        before = before_sec * 1000 if before_sec > 0 else INT64_MAX
        return await self.store.periods(title_id, board_id, limit, before)

    # -- resets -------------------------------------------------------------------------------------

    def _schedule(self, b: Leaderboard) -> None:
        if b.tournament or not b.reset_schedule or self.scheduler is None:
            return
        title_id, board_id = b.title_id, b.id

        async def job(fire_ms: int) -> None:
            current = await self.board(title_id, board_id)
            if current is not None:
                await self.close_period(current, fire_ms)

        self.scheduler.add(_job_name(title_id, board_id), b.reset_schedule, job)

    async def _catch_up(self, b: Leaderboard, now: int) -> None:
        schedule = self.schedule_of(b)
        if schedule is None:
            return
        last = schedule.last_at_or_before(now)
        if last > b.create_time and not await self.store.claimed(b.title_id, b.id, last, "reset"):
            self._background(self.close_period(b, last))

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_period(self, b: Leaderboard, expiry: int, kind: str = "reset") -> bool:
        """Close the period that expired at `expiry`: claim it (one node, once), hand its final
        standings to the title's hook, and free its rank index. False if already closed."""
        if not await self.store.claim_reset(b.title_id, b.id, expiry, kind, self.node_name, now_ms()):
            return False
        log.info("leaderboard period closed", leaderboard=b.id, title_id=b.title_id, expiry=expiry, kind=kind)
        hook_kind = ("tournament_" if b.tournament else "leaderboard_") + kind
        hook = self.reset_hooks.get((b.title_id, hook_kind))
        if hook is not None:
            standings = await self.standings(b, expiry, hook.top)
            await self.call_hook(hook, b, expiry, standings)
        if kind == "reset":
            await self.ranks.drop(period_key(b, expiry))
        self._top_changed(b.title_id, b.id)
        return True

    async def standings(self, b: Leaderboard, expiry: int, top: int) -> list[Record]:
        rows = await self.store.page(b.title_id, b.id, expiry, b.descending, top)
        return [record_of(b.id, r, i + 1) for i, r in enumerate(rows)]

    async def call_hook(self, hook: ResetHook, b: Leaderboard, expiry: int, standings: list[Record]) -> None:
        from overworld.context import EventContext

        ctx = EventContext(title_id=b.title_id, title_name=self.title_name(b.title_id), node=self.node_name)
        if b.tournament:
            _, end_active, _ = tournament_deadlines(
                b.start_time, b.end_time, b.duration * 1000, self.schedule_of(b), expiry - 1000
            )
            args: tuple[Any, ...] = (ctx, replace(b), end_active // 1000, expiry // 1000, standings)
        else:
            args = (ctx, replace(b), expiry // 1000, standings)
        try:
            result = hook.fn(*args)
            if inspect.isawaitable(result):
                async with asyncio.timeout(self.hook_timeout):
                    await result
        except Exception:
            log.exception("leaderboard hook failed", leaderboard=b.id, module=hook.module, expiry=expiry)


def _job_name(title_id: str, board_id: str) -> str:
    return f"leaderboard-reset:{title_id}:{board_id}"


def _cursor(forward: bool, b: Leaderboard, expiry: int, r: Record) -> str:
    return cursors.RecordCursor(forward, b.id, expiry, r.score, r.subscore, r.owner_id, r.rank).encode()
