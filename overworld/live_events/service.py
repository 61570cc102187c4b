"""Remote config and live events: storage, validation, a player's view, and the start and end
announcements.

Each event is armed as one job on the scheduler subsystem whose fire times are the event's
starts and ends (`schedule.Boundaries`), under the same name on every node, so each boundary
runs once across the cluster. The node that runs it publishes the boundary on pub/sub; every
node then tells its own connected sockets of the title whose user is in the event's audience,
with a transient notification (`STARTED` / `ENDED`). Creating, changing or deleting an event
re-arms it on this node at once and on the others through pub/sub (and announces it when the
change started or stopped it); at start each node arms every event that is not over, from the
database. Players' reads use a per-title snapshot of the parsed config and events (`_snapshot`),
dropped on every change and re-read at least every `SNAPSHOT_TTL_MS`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from uuid_utils import uuid4, uuid7

from overworld.clock import now_ms, rfc3339
from overworld.db import Database
from overworld.errors import ApiError, Code, FailedPrecondition, InvalidArgument, NotFound
from overworld.ids import parse_uuid
from overworld.live_events.audience import Player, parse_audience
from overworld.live_events.models import ConfigValue, EffectiveConfig, LiveEvent, Occurrence
from overworld.live_events.schedule import NEVER, Boundaries
from overworld.live_events.store import LiveEventStore
from overworld.notifications.service import Notification
from overworld.protocol import realtime as rt
from overworld.protocol.jsondepth import check_depth
from overworld.realtime import codec
from overworld.subsystems.pubsub.base import PubSub
from overworld.subsystems.scheduler.base import Scheduler
from overworld.subsystems.scheduler.cron import CronError, parse_cron

if TYPE_CHECKING:
    from overworld.leaderboards.service import LeaderboardService
    from overworld.realtime.hub import Hub

log = structlog.get_logger(__name__)

# Notification codes (the server's own codes are zero or negative; Nakama uses -1 to -8).
STARTED = -100
ENDED = -101

MAX_KEY = 128
MAX_VALUE_BYTES = 16 * 1024  # one remote config value, as JSON
MAX_CONFIG_BYTES = 64 * 1024  # an event's overrides, as JSON
MAX_METADATA_BYTES = 16 * 1024
MAX_NAME = 128
MAX_DESCRIPTION = 4096
MAX_DURATION_SEC = 366 * 24 * 3600
MAX_EVENTS = 1000  # per title
UPDATE_ATTEMPTS = 10  # optimistic retries of an update that raced another
MAX_WINDOW_SEC = 366 * 24 * 3600
# How long a title's parsed config and events serve players without reading the database again
# (any change on any node drops them at once; this bounds staleness if pub/sub lost a message).
SNAPSHOT_TTL_MS = 5_000
_KEY = re.compile(r"^[A-Za-z0-9_.\-:]{1,128}$")
_FIRE_TOPIC = "live_events.fire"
_CHANGED_TOPIC = "live_events.changed"
# Fields an event is created and updated with (everything but ids and times kept by the server).
FIELDS = frozenset(
    {"name", "description", "start_time", "end_time", "cron", "duration", "audience", "config",
     "leaderboard_id", "metadata", "enabled"}
)  # fmt: skip


def job_name(title_id: str, event_id: str) -> str:
    return f"live_event:{title_id}:{event_id}"


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidArgument(
            f"key: a remote config key is 1-{MAX_KEY} letters, digits or '_', '.', '-', ':' (got {key!r})."
        )
    return key


def _json(name: str, value: Any, limit: int) -> str:
    try:
        text = orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        raise InvalidArgument(
            f"{name} must be JSON (objects, lists, strings, numbers, booleans, null)."
        ) from None
    if len(text.encode()) > limit:
        raise InvalidArgument(f"{name} is too large: {len(text.encode())} bytes as JSON, {limit} at most.")
    return text


def _object(name: str, value: Any, limit: int) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        check_depth(value, name)
        try:
            value = orjson.loads(value) if value else {}
        except orjson.JSONDecodeError:
            raise InvalidArgument(f"{name} must be a JSON object.") from None
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{name} must be a JSON object.")
    checked = dict(value)
    _json(name, checked, limit)
    return checked


def _int(name: str, value: Any, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 1 << 53:
        raise InvalidArgument(f"{name} must be a whole number of at least {low}.")
    return value


def _precedence(o: Occurrence) -> tuple[int, int, str]:
    """The order overrides apply in: the later start wins, then the later created, then the id."""
    return (o.start_time, o.event.create_time, o.event.id)


class _Entry:
    """An enabled event with its timing and audience parsed, and its last current-or-next
    occurrence remembered for the span of time over which it stays the answer."""

    __slots__ = ("audience", "event", "memo", "timing")

    def __init__(self, event: LiveEvent) -> None:
        self.event = event
        self.timing = event.timing
        self.audience = event.parsed_audience
        self.memo: tuple[int, int, tuple[tuple[int, int], bool] | None] = (1, 0, None)

    def current_or_next(self, now: int) -> tuple[tuple[int, int], bool] | None:
        low, high, result = self.memo
        if low <= now < high:
            return result
        result = self.timing.current_or_next(now)
        if result is None:
            low, high = now, NEVER  # nothing live now and nothing starts later: never again
        elif result[1]:
            low, high = result[0]  # the same occurrence is live until it ends
        else:
            low, high = now, result[0][0]  # nothing live until the next start
        self.memo = (low, high, result)
        return result


@dataclasses.dataclass(slots=True)
class _Snapshot:
    loaded_at: int
    config: dict[str, Any]
    entries: list[_Entry]


class LiveEventService:
    def __init__(
        self,
        db: Database,
        scheduler: Scheduler,
        pubsub: PubSub,
        hub: Hub,
        leaderboards: LeaderboardService | None = None,
    ) -> None:
        self._db = db
        self._store = LiveEventStore(db)
        self._scheduler = scheduler
        self._pubsub = pubsub
        self._leaderboards = leaderboards
        self._hub = hub
        self._armed: set[str] = set()
        self._title_ids: set[str] = set()
        self._snapshots: dict[str, _Snapshot] = {}
        self._generations: dict[str, int] = {}
        self._inbox: asyncio.Queue[tuple[Callable[[bytes], Awaitable[None]], bytes]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, title_ids: Iterable[str]) -> None:
        """Deliver announcements to the hub's sockets and arm every event of the titles not over."""
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="live events")
        self._pubsub.subscribe(_FIRE_TOPIC, self._received_fire)
        self._pubsub.subscribe(_CHANGED_TOPIC, self._received_change)
        self._pubsub.on_reconnect(self._resync)
        for title_id in title_ids:
            await self._arm_title(title_id)

    async def _arm_title(self, title_id: str) -> None:
        self._title_ids.add(title_id)
        for event in await self._store.events_not_over(title_id, now_ms()):
            self._arm(event)

    async def close(self) -> None:
        for name in list(self._armed):
            self._scheduler.remove(name)
        self._armed.clear()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    # Pub/sub handlers only queue the work (it reads the database), so that this node's pub/sub
    # consumer (presences, the router...) never waits for it; one worker does it in order.

    def _received_change(self, payload: bytes) -> None:
        self._invalidate(orjson.loads(payload)["t"])  # at once: players must not read stale data
        self._inbox.put_nowait((self._on_changed, payload))

    def _received_fire(self, payload: bytes) -> None:
        self._inbox.put_nowait((self._on_fire, payload))

    async def _work(self) -> None:
        while True:
            handler, payload = await self._inbox.get()
            try:
                await handler(payload)
            except Exception:
                log.exception("live event message failed")

    # -- remote config -----------------------------------------------------------------------

    async def config_set(
        self, title_id: str, key: str, value: Any, version: int | None = None
    ) -> ConfigValue:
        """Set a base value. With `version`, only if the key is at that version (0: does not
        exist yet), else FAILED_PRECONDITION."""
        check_key(key)
        text = _json(f"value of {key!r}", value, MAX_VALUE_BYTES)
        if version is not None:
            _int("version", version)
        now = now_ms()
        async with self._db.transaction() as tx:
            current = await self._store.config_version(tx, title_id, key)
            if version is not None and (current or 0) != version:
                raise FailedPrecondition(
                    f"Remote config key {key!r} is at version {current or 0}, not {version}."
                )
            if current is None:
                await self._store.insert_config(tx, title_id, key, text, now)
                new_version = 1
            else:
                new_version = current + 1
                if not await self._store.update_config(tx, title_id, key, text, new_version, now, current):
                    raise FailedPrecondition(f"Remote config key {key!r} was changed concurrently.")
        await self._changed(title_id, None, None)
        return ConfigValue(key, orjson.loads(text), new_version, now)

    async def config_get(self, title_id: str, keys: Iterable[str] | None = None) -> dict[str, ConfigValue]:
        """The base values (of `keys` only, when given), by key."""
        values = await self._store.config(title_id)
        wanted = None if keys is None else set(keys)
        return {v.key: v for v in values if wanted is None or v.key in wanted}

    async def config_delete(self, title_id: str, key: str) -> bool:
        check_key(key)
        changed = await self._store.delete_config(title_id, key)
        if changed:
            await self._changed(title_id, None, None)
        return changed

    # -- live events -------------------------------------------------------------------------

    async def _validate(self, event: LiveEvent) -> LiveEvent:
        if not isinstance(event.name, str) or not 0 < len(event.name) <= MAX_NAME:
            raise InvalidArgument(f"name must be 1-{MAX_NAME} characters.")
        if not isinstance(event.description, str) or len(event.description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"description must be text of at most {MAX_DESCRIPTION} characters.")
        _int("start_time", event.start_time)
        _int("end_time", event.end_time)
        if not isinstance(event.cron, str):
            raise InvalidArgument("cron must be a cron expression (text) or empty.")
        if event.cron:
            try:
                event.cron = parse_cron(event.cron).expression
            except CronError as exc:
                raise InvalidArgument(f"cron: {exc}.") from None
            _int("duration", event.duration, 1)
            if event.duration > MAX_DURATION_SEC:
                raise InvalidArgument(f"duration must be at most {MAX_DURATION_SEC} seconds.")
            if event.end_time and event.end_time <= event.start_time:
                raise InvalidArgument("end_time must be later than start_time (or 0: no end).")
        else:
            if event.duration:
                raise InvalidArgument("duration is only for recurring events (with a cron expression).")
            if not event.end_time:
                raise InvalidArgument("end_time is required for a one-time event (without cron).")
            if event.end_time <= event.start_time:
                raise InvalidArgument("end_time must be later than start_time.")
        event.audience = _object("audience", event.audience, MAX_CONFIG_BYTES)
        parse_audience(event.audience)
        event.config = _object("config", event.config, MAX_CONFIG_BYTES)
        for key in event.config:
            try:
                check_key(key)
            except InvalidArgument as exc:
                raise InvalidArgument(f"config: {exc.message}") from None
        event.metadata = _object("metadata", event.metadata, MAX_METADATA_BYTES)
        if not isinstance(event.enabled, bool):
            raise InvalidArgument("enabled must be true or false.")
        if not isinstance(event.leaderboard_id, str) or len(event.leaderboard_id) > 128:
            raise InvalidArgument("leaderboard_id must be a leaderboard id or empty.")
        if event.leaderboard_id:
            board = None
            if self._leaderboards is not None:
                board = await self._leaderboards.board(event.title_id, event.leaderboard_id)
            if board is None:
                raise InvalidArgument(f"leaderboard_id: there is no leaderboard {event.leaderboard_id!r}.")
        return event

    async def create(self, title_id: str, **fields: Any) -> LiveEvent:
        unknown = set(fields) - FIELDS
        if unknown:
            raise InvalidArgument(f"unknown live event field(s): {', '.join(sorted(unknown))}.")
        now = now_ms()
        event = LiveEvent(title_id=title_id, id=str(uuid4()), create_time=now, update_time=now, **fields)
        await self._validate(event)
        if await self._store.count(title_id) >= MAX_EVENTS:
            raise FailedPrecondition(f"A title has at most {MAX_EVENTS} live events; delete some first.")
        await self._store.insert(event)
        await self._changed(event.title_id, event.id, event)
        await self._announce_change(None, event)
        return event

    async def update(self, title_id: str, event_id: str, **fields: Any) -> LiveEvent:
        """Change the given fields; the event is checked again as a whole. The row is written
        only if nobody changed it since it was read (else read again and retry), so two
        concurrent updates of different fields both take effect."""
        unknown = set(fields) - FIELDS
        if unknown:
            raise InvalidArgument(f"unknown live event field(s): {', '.join(sorted(unknown))}.")
        for _ in range(UPDATE_ATTEMPTS):
            event = await self.get(title_id, event_id)
            if event is None:
                raise NotFound("Live event not found.")
            before = dataclasses.replace(event)
            for name, value in fields.items():
                setattr(event, name, value)
            event.update_time = max(now_ms(), event.update_time + 1)
            await self._validate(event)
            if await self._store.update(event, before.update_time):
                await self._changed(event.title_id, event.id, event)
                await self._announce_change(before, event)
                return event
        raise ApiError("The live event is being changed by others; try again.", Code.ABORTED)

    async def delete(self, title_id: str, event_id: str) -> bool:
        before = await self.get(title_id, event_id)
        if before is None:
            return False
        changed = await self._store.delete(title_id, event_id)
        await self._changed(title_id, event_id, None)
        if changed:
            await self._announce_change(before, None)
        return changed

    async def get(self, title_id: str, event_id: str) -> LiveEvent | None:
        if not isinstance(event_id, str) or parse_uuid(event_id) is None:
            return None
        return await self._store.get(title_id, event_id)

    async def events(self, title_id: str) -> list[LiveEvent]:
        """Every event of the title, by start time."""
        return await self._store.events(title_id)

    # -- a player's view ---------------------------------------------------------------------

    async def player(self, title_id: str, user_id: str) -> Player:
        players = await self._players(title_id, [user_id])
        if not players:
            raise NotFound("User account not found.")
        return players[0]

    async def _players(self, title_id: str, user_ids: list[str]) -> list[Player]:
        return await self._store.players(title_id, user_ids)

    async def events_for(
        self,
        title_id: str,
        user_id: str,
        now: int | None = None,
        window_sec: int = 7 * 24 * 3600,
        limit: int = 20,
    ) -> list[Occurrence]:
        """The enabled events for the user: those live at `now`, then those starting within
        `window_sec` after it (each event once, by its current or next occurrence), by start."""
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidArgument("limit must be 1-100.")
        if not isinstance(window_sec, int) or not 0 <= window_sec <= MAX_WINDOW_SEC:
            raise InvalidArgument(f"window_sec must be 0-{MAX_WINDOW_SEC}.")
        now = now_ms() if now is None else now
        player = await self.player(title_id, user_id)
        found: list[Occurrence] = []
        for entry in (await self._snapshot(title_id)).entries:
            current = entry.current_or_next(now)
            if current is None or not entry.audience.includes(player):
                continue
            (start, end), live = current
            if live or start <= now + window_sec * 1000:
                found.append(Occurrence(entry.event, start, end, live))
        found.sort(key=lambda o: (not o.live, o.start_time, o.event.id))
        return found[:limit]

    async def effective_config(self, title_id: str, user_id: str, now: int | None = None) -> EffectiveConfig:
        """The base config with the overrides of every enabled event live for the user at `now`,
        applied from the earliest start to the latest (so the latest start wins a key; ties go
        to the later created event, then to the greater id)."""
        now = now_ms() if now is None else now
        player = await self.player(title_id, user_id)
        snapshot = await self._snapshot(title_id)
        config = dict(snapshot.config)
        live: list[Occurrence] = []
        for entry in snapshot.entries:
            if not entry.event.config:
                continue
            current = entry.current_or_next(now)
            if current is not None and current[1] and entry.audience.includes(player):
                live.append(Occurrence(entry.event, current[0][0], current[0][1], True))
        live.sort(key=_precedence)
        for o in live:
            config.update(o.event.config)
        return EffectiveConfig(config, [o.event.id for o in live])

    # -- the players' view of a title, cached -----------------------------------------------

    async def _snapshot(self, title_id: str) -> _Snapshot:
        """The title's base config and enabled events, parsed; read again from the database
        after any change (on any node) and at least every `SNAPSHOT_TTL_MS`."""
        snapshot = self._snapshots.get(title_id)
        if snapshot is not None and now_ms() - snapshot.loaded_at < SNAPSHOT_TTL_MS:
            return snapshot
        generation = self._generations.get(title_id, 0)
        loaded_at = now_ms()
        config = {key: v.value for key, v in (await self.config_get(title_id)).items()}
        entries = [_Entry(e) for e in await self.events(title_id) if e.enabled]
        snapshot = _Snapshot(loaded_at, config, entries)
        if self._generations.get(title_id, 0) == generation:  # no change while reading
            self._snapshots[title_id] = snapshot
        return snapshot

    def _invalidate(self, title_id: str) -> None:
        self._snapshots.pop(title_id, None)
        self._generations[title_id] = self._generations.get(title_id, 0) + 1

    # -- arming and announcements --------------------------------------------------------------

    async def _changed(self, title_id: str, event_id: str | None, event: LiveEvent | None) -> None:
        """After a change of the title's config (`event_id` None) or of one of its events."""
        self._invalidate(title_id)
        if event_id is not None:
            if event is None:
                self._disarm(job_name(title_id, event_id))
            else:
                self._arm(event)
        await self._pubsub.publish(_CHANGED_TOPIC, orjson.dumps({"t": title_id, "i": event_id}))

    async def _on_changed(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        title_id, event_id = msg["t"], msg["i"]
        self._invalidate(title_id)
        if event_id is None:
            return
        event = await self.get(title_id, event_id)
        if event is None:
            self._disarm(job_name(title_id, event_id))
        else:
            self._arm(event)

    async def _resync(self) -> None:
        """After pub/sub reconnected (changes may have been missed): forget what is cached and
        arm every event again from the database."""
        self._snapshots.clear()
        for title_id in list(self._title_ids):
            self._invalidate(title_id)
            await self._arm_title(title_id)

    def _arm(self, event: LiveEvent) -> None:
        self._title_ids.add(event.title_id)
        name = job_name(event.title_id, event.id)
        timing = event.timing
        if not event.enabled or timing.next_boundary(now_ms()) is None:
            self._disarm(name)
            return
        version = f"{event.start_time} {event.end_time} {event.cron} {event.duration}"
        title_id, event_id = event.title_id, event.id

        async def fire(fire_ms: int) -> None:
            await self._fire(title_id, event_id, fire_ms)

        self._scheduler.add(name, Boundaries(timing, version), fire)
        self._armed.add(name)

    def _disarm(self, name: str) -> None:
        self._scheduler.remove(name)
        self._armed.discard(name)

    async def _fire(self, title_id: str, event_id: str, fire_ms: int) -> None:
        """Run by the one node that claimed this boundary: announce it to every node."""
        event = await self.get(title_id, event_id)
        if event is None or not event.enabled:
            return
        timing = event.timing
        ended, started = timing.at(fire_ms)
        last = timing.next_boundary(fire_ms) is None
        if ended is not None:
            await self._announce(event, ENDED, ended, last)
        if started is not None:
            await self._announce(event, STARTED, started)

    async def _announce_change(self, before: LiveEvent | None, after: LiveEvent | None) -> None:
        """An event that a change made live is announced as started now; one that a change
        (deletion, disabling, a new window) stopped being live, as ended now."""
        now = now_ms()
        was = before.timing.live_at(now) if before is not None and before.enabled else None
        is_ = after.timing.live_at(now) if after is not None and after.enabled else None
        if was is not None and is_ is None and before is not None:
            await self._announce(before, ENDED, (was[0], now))
        elif was is None and is_ is not None and after is not None:
            await self._announce(after, STARTED, is_)

    async def _announce(
        self, event: LiveEvent, code: int, window: tuple[int, int], last: bool = False
    ) -> None:
        log.info("live event announced", title_id=event.title_id, event_id=event.id, code=code,
                 start_time=window[0], end_time=window[1])  # fmt: skip
        message = {
            "t": event.title_id, "code": code, "last": last, "audience": event.audience,
            "content": {
                "event_id": event.id, "name": event.name, "description": event.description,
                "start_time": rfc3339(window[0]), "end_time": rfc3339(window[1]), "config": event.config,
                "leaderboard_id": event.leaderboard_id, "metadata": event.metadata,
            },
        }  # fmt: skip
        await self._pubsub.publish(_FIRE_TOPIC, orjson.dumps(message))

    async def _on_fire(self, payload: bytes) -> None:
        """On every node: a transient notification to each local socket of the audience."""
        msg = orjson.loads(payload)
        title_id: str = msg["t"]
        content = msg["content"]
        if msg.get("last"):
            self._disarm(job_name(title_id, content["event_id"]))
        conns = [c for c in self._hub.registry if c.title_id == title_id]
        if not conns:
            return
        audience = parse_audience(msg["audience"])
        if not audience.everybody:
            users = sorted({c.user_id for c in conns})
            allowed = {p.user_id for p in await self._players(title_id, users) if audience.includes(p)}
            conns = [c for c in conns if c.user_id in allowed]
        verb = "started" if msg["code"] == STARTED else "ended"
        subject = f"Live event {verb}: {content['name']}"
        text = orjson.dumps(content).decode()
        create_time = now_ms()
        for conn in conns:
            note = Notification(
                id=str(uuid7()), user_id=conn.user_id, subject=subject, content=text, code=msg["code"],
                create_time=create_time, persistent=False,
            )  # fmt: skip
            conn.send(codec.frame("notifications", rt.Notifications(notifications=[note.wire()])))
