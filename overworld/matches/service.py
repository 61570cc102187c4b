"""`MatchService`: relayed and authoritative matches, on any node of a deployment.

Relayed match (id `<uuid>.`): its players are presences on the stream (MATCH_RELAYED, uuid),
each tracked by the node its socket is on; the match exists while it has players. Data goes
from the sender straight to the other players (or those listed) through the router, on any node.

Authoritative match (id `<uuid>.<home node>`): a Python handler runs it on its home node
(`overworld.matches.handler`). A join from any node asks the home (`Router.call`
"match.join_attempt"); once accepted, the player's own node tracks it on the stream
(MATCH_AUTHORITATIVE, uuid, label=home), and the home hears of the join (and later of the leave,
or of the socket's disconnect) through the presence tracker, which a cluster replicates. Client
data for a match on another node is published on that node's topic `match.in.<node>`; what the
handler broadcasts reaches players on other nodes through `Router.send_to`.

Every node turns the presence changes of a match stream into `match_presence_event`s for its own
players on it. Listing reads `MatchIndex` (this node's matches and the snapshots of the others)
and the tracker (relayed matches and sizes).
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from overworld.errors import ApiError, Code, InvalidArgument, NotFound, Unavailable
from overworld.ids import parse_uuid
from overworld.matches import tokens
from overworld.matches.handler import (
    AuthoritativeMatch,
    HandlerEntry,
    MatchMessage,
    MatchPresence,
)
from overworld.matches.index import MatchIndex
from overworld.protocol import matches as wire
from overworld.protocol.presence import UserPresence
from overworld.protocol.streams import Mode, Stream
from overworld.query import QueryError
from overworld.query import parse as parse_query
from overworld.realtime import codec
from overworld.realtime.connection import Connection
from overworld.realtime.hub import Hub
from overworld.subsystems.presence.base import Presence, PresenceMeta
from overworld.subsystems.pubsub.base import PubSub
from overworld.subsystems.pubsub.outbox import Outbox

if TYPE_CHECKING:
    from overworld.titles.models import Title

LABEL = "label."  # listing queries name label fields `label.<path>`, as Nakama indexes them
log = structlog.get_logger(__name__)
MAX_LIST = 100
CALL_TIMEOUT_SEC = 3.0
_UUID_NAMESPACE = uuid.NAMESPACE_DNS  # Nakama derives named match ids as uuid5(DNS, name)


class MatchNotFound(NotFound):
    """Socket error MATCH_NOT_FOUND."""

    def __init__(self, message: str = "Match not found") -> None:
        super().__init__(message)


class MatchJoinRejected(ApiError):
    """Socket error MATCH_JOIN_REJECTED, with the handler's reason."""

    def __init__(self, message: str = "Match join rejected") -> None:
        super().__init__(message, Code.PERMISSION_DENIED)


@dataclass(slots=True)
class MatchInfo:
    """A match as listings and `nk.match_get` describe it."""

    match_id: str
    authoritative: bool
    label: str | None
    size: int
    tick_rate: int = 0
    handler_name: str = ""

    def wire(self) -> wire.ApiMatch:
        return wire.ApiMatch(
            match_id=self.match_id, authoritative=self.authoritative, label=self.label, size=self.size,
            tick_rate=self.tick_rate, handler_name=self.handler_name,
        )  # fmt: skip


@dataclass(slots=True)
class TickStats:
    """Counters of this node's match loops (read by bench/matches.py)."""

    ticks: int = 0
    messages_in: int = 0
    messages_out: int = 0
    keep_samples: bool = False
    lateness: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def record(self, late: float, duration: float) -> None:
        self.ticks += 1
        if self.keep_samples:
            self.lateness.append(late)
            self.durations.append(duration)


@functools.lru_cache(maxsize=16_384)  # every match_data_send parses its match id
def parse_match_id(match_id: str) -> tuple[str, str]:
    """(uuid, home node) of `<uuid>.<node>`; node is "" for a relayed match."""
    raw, sep, node = match_id.partition(".") if isinstance(match_id, str) else ("", "", "")
    parsed = parse_uuid(raw) if sep else None
    if parsed is None or str(parsed) != raw.lower():
        raise InvalidArgument("Invalid match ID")
    return str(parsed), node


def _stream(title_id: str, match_uuid: str, node: str) -> Stream:
    if node:
        return Stream(title_id, Mode.MATCH_AUTHORITATIVE, match_uuid, "", node)
    return Stream(title_id, Mode.MATCH_RELAYED, match_uuid)


def _self(conn: Connection) -> UserPresence:
    return UserPresence(user_id=conn.user_id, session_id=conn.id, username=conn.username)


class MatchService:
    def __init__(
        self,
        hub: Hub,
        pubsub: PubSub,
        max_empty_sec: float = 0,
        handler_timeout: float = 5.0,
        index_timeout_sec: float = 5.0,
    ) -> None:
        self.hub = hub
        self.node = hub.node
        # Match handlers by (title id, name), registered by server code (initializer.register_match).
        self.handlers: dict[tuple[str, str], HandlerEntry] = {}
        self.max_empty_sec = max_empty_sec
        self.handler_timeout = handler_timeout
        self.stats = TickStats()
        self.index = MatchIndex(hub.node, pubsub, index_timeout_sec)
        self._pubsub = pubsub
        self._outbox = Outbox(pubsub, "match-input")
        self._matches: dict[tuple[str, str], AuthoritativeMatch] = {}
        self._relayed: dict[Stream, int] = {}  # relayed match streams (every node's) -> size
        self._tasks: set[asyncio.Task[Any]] = set()
        router = hub.router
        router.register("match.join_attempt", self._home_join_attempt)
        router.register("match.signal", self._home_signal)
        router.register("match.untrack", self._untrack_here)
        hub.on_stream_event(Mode.MATCH_RELAYED, self._presence_event)
        hub.on_stream_event(Mode.MATCH_AUTHORITATIVE, self._presence_event)

    async def start(self) -> None:
        self._pubsub.subscribe(f"match.in.{self.node}", self._on_remote_input)
        self._outbox.start()
        await self.index.start()

    async def close(self, grace_sec: int = 0) -> None:
        """Stop every match of this node (their `match_terminate` runs first)."""
        await asyncio.gather(*(m.terminate(grace_sec) for m in list(self._matches.values())))
        await self.index.close()
        await self._outbox.close()

    # -- relayed matches and joins (the client's node) ----------------------------------------

    def create(self, conn: Connection, name: str = "") -> wire.Match:
        """A new relayed match with the caller in it (with `name`: the match of that name)."""
        match_uuid = str(uuid.uuid5(_UUID_NAMESPACE, name) if name else uuid.uuid4())
        stream = _stream(conn.title_id, match_uuid, "")
        tracker = self.hub.tracker
        tracker.track(Presence(stream, conn.id, conn.user_id, self.node, PresenceMeta(conn.username)))
        others = [codec.user_presence(p) for p in tracker.presences(stream) if p.session_id != conn.id]
        return wire.Match(
            match_id=f"{match_uuid}.", authoritative=False, size=len(others) + 1, presences=others,
            self=_self(conn),
        )  # fmt: skip

    async def join(
        self, conn: Connection, match_id: str = "", token: str = "", metadata: dict[str, str] | None = None
    ) -> wire.Match:
        if token:
            try:
                match_id = tokens.verify(conn.ctx.title, token)
            except tokens.MatchTokenError:
                raise InvalidArgument("Invalid match token") from None
        elif not match_id:
            raise InvalidArgument("No match ID or token found")
        match_uuid, node = parse_match_id(match_id)
        stream = _stream(conn.title_id, match_uuid, node)
        tracker = self.hub.tracker
        new = tracker.get(stream, conn.id) is None
        label: str | None = None
        if not node:
            # A relayed match exists while someone is in it; a verified token (from the
            # matchmaker) may open it, as its first player joins before anybody else is there.
            if new and not token and tracker.count(stream) == 0:
                raise MatchNotFound()
        else:
            if not self._node_known(node):
                raise MatchNotFound()
            me = MatchPresence(conn.user_id, conn.id, conn.username, self.node)
            result = await self._call_home(
                node, "match.join_attempt",
                {"t": conn.title_id, "m": match_uuid, "p": me.as_list(), "md": metadata or {}},
            )  # fmt: skip
            if not result["found"]:
                raise MatchNotFound()
            if not result["ok"]:
                raise MatchJoinRejected(result["reason"] or "Match join rejected")
            label = result["label"]
        if new:
            tracker.track(Presence(stream, conn.id, conn.user_id, self.node, PresenceMeta(conn.username)))
        presences = [
            codec.user_presence(p) for p in tracker.presences(stream) if not (new and p.session_id == conn.id)
        ]
        return wire.Match(
            match_id=f"{match_uuid}.{node}", authoritative=bool(node), label=label, size=len(presences),
            presences=presences, self=_self(conn),
        )  # fmt: skip

    def leave(self, conn: Connection, match_id: str) -> None:
        match_uuid, node = parse_match_id(match_id)
        self.hub.tracker.untrack(_stream(conn.title_id, match_uuid, node), conn.id)

    def send_data(
        self,
        conn: Connection,
        match_id: str,
        op_code: int,
        data: str,
        presences: Iterable[UserPresence] = (),
        reliable: bool = True,
    ) -> None:
        """A player's data: relayed to the others (or those listed), or queued for the handler.
        Data from a socket that is not in the match is dropped, as Nakama does."""
        match_uuid, node = parse_match_id(match_id)
        try:
            raw = binascii.a2b_base64(data, strict_mode=True) if data else b""
        except binascii.Error:
            raise InvalidArgument("Match data must be base64.") from None
        stream = _stream(conn.title_id, match_uuid, node)
        tracker = self.hub.tracker
        if tracker.get(stream, conn.id) is None:
            return
        if node:
            if node == self.node:
                match = self._matches.get((conn.title_id, match_uuid))
                if match is not None:
                    sender = MatchPresence(conn.user_id, conn.id, conn.username, self.node)
                    match.queue(MatchMessage(sender, op_code, raw, reliable, int(time.time() * 1000)))
            else:
                payload = [
                    conn.title_id,
                    match_uuid,
                    conn.user_id,
                    conn.id,
                    conn.username,
                    op_code,
                    data,
                    reliable,
                ]
                self._outbox.put(f"match.in.{node}", orjson.dumps(payload))
            return
        targets = tracker.presences(stream)
        wanted = {p.session_id for p in presences}
        if wanted:
            targets = [p for p in targets if p.session_id in wanted]
        message = wire.MatchData(
            match_id=match_id, presence=_self(conn), op_code=str(op_code), data=data, reliable=reliable
        )
        self.hub.router.send_to(targets, codec.frame("match_data", message), exclude=conn.id)

    def _node_known(self, node: str) -> bool:
        """Whether `node` may be running: this one, or any node when there is a cluster (a node
        that does not answer within `CALL_TIMEOUT_SEC` is then taken as gone)."""
        return node == self.node or hasattr(self.hub.tracker, "peers")

    async def _call_home(self, node: str, method: str, args: dict[str, Any]) -> Any:
        try:
            return await self.hub.router.call(node, method, args, timeout=CALL_TIMEOUT_SEC)
        except Unavailable:
            raise MatchNotFound() from None

    # -- authoritative matches (the home node) ------------------------------------------------

    async def create_authoritative(
        self, title: Title, name: str, params: dict[str, Any] | None = None
    ) -> str:
        """Start a match of the handler registered as `name` on this node; its id."""
        entry = self.handlers.get((title.id, name))
        if entry is None:
            raise NotFound(f"No match handler named {name!r}.")
        match = AuthoritativeMatch(self, title, str(uuid.uuid4()), entry, entry.nk, params or {})
        try:
            await match.init()
        except ApiError:
            raise
        except Exception as exc:
            match.ctx.logger.exception("match_init failed")
            raise InvalidArgument(f"Match handler {name!r} could not start the match: {exc}") from None
        self._matches[(title.id, match.uuid)] = match
        self.index.added(match)
        match.start()
        return match.id

    def ended(self, match: AuthoritativeMatch) -> None:
        """Called by a match as it ends: forget it and take its players out, on every node. Its
        players are told first with a presence event in which all of them (themselves too) leave."""
        self._matches.pop((match.title.id, match.uuid), None)
        self.index.removed(match)
        hub = self.hub
        players = hub.tracker.presences(match.stream)
        if players:
            event = wire.MatchPresenceEvent(
                match_id=match.id, leaves=[codec.user_presence(p) for p in players]
            )
            hub.router.send_to(players, codec.frame("match_presence_event", event))
        for node in hub.tracker.nodes_of(match.stream):
            if node == self.node:
                hub.tracker.untrack_stream(match.stream)
            else:
                self._background(
                    hub.router.call(
                        node, "match.untrack", {"t": match.title.id, "m": match.uuid, "n": self.node}
                    )
                )

    def untrack(self, stream: Stream, p: Presence) -> None:
        """Take one player out of a match stream, on its node."""
        if p.node == self.node:
            self.hub.tracker.untrack(stream, p.session_id)
        else:
            args = {"t": stream.title_id, "m": stream.subject, "n": stream.label, "s": p.session_id}
            self._background(self.hub.router.call(p.node, "match.untrack", args))

    def local_match(self, title_id: str, match_uuid: str) -> AuthoritativeMatch | None:
        return self._matches.get((title_id, match_uuid))

    def count(self) -> int:
        return len(self._matches)

    async def _home_join_attempt(self, args: dict[str, Any]) -> dict[str, Any]:
        match = self._matches.get((args["t"], args["m"]))
        if match is None:
            return {"found": False, "ok": False, "reason": "", "label": ""}
        presence = MatchPresence(*args["p"])
        ok, reason = await match.join_attempt(presence, dict(args.get("md") or {}))
        return {"found": ok or not match.ended, "ok": ok, "reason": reason, "label": match.label}

    async def signal(self, title_id: str, match_id: str, data: str) -> str:
        match_uuid, node = parse_match_id(match_id)
        if not node or not self._node_known(node):
            raise NotFound("Match not found.")
        args = {"t": title_id, "m": match_uuid, "d": data}
        try:
            result: str = await self._call_home(node, "match.signal", args)
        except MatchNotFound:
            raise NotFound("Match not found.") from None
        return result

    async def _home_signal(self, args: dict[str, Any]) -> str:
        match = self._matches.get((args["t"], args["m"]))
        if match is None:
            raise NotFound("Match not found.")
        return await match.signal(args["d"])

    async def _untrack_here(self, args: dict[str, Any]) -> None:
        stream = _stream(args["t"], args["m"], args["n"])
        if args.get("s"):
            self.hub.tracker.untrack(stream, args["s"])
        else:
            self.hub.tracker.untrack_stream(stream)

    def _on_remote_input(self, payload: bytes) -> None:
        try:
            title_id, match_uuid, user_id, session_id, username, op_code, data, reliable = orjson.loads(
                payload
            )
            match = self._matches.get((title_id, match_uuid))
            if match is None:
                return
            sender = MatchPresence(user_id, session_id, username, "")
            p = self.hub.tracker.get(match.stream, session_id)
            if p is None:
                return
            sender = MatchPresence(user_id, session_id, username, p.node)
            raw = binascii.a2b_base64(data) if data else b""
        except (ValueError, TypeError, binascii.Error):
            log.warning("bad remote match input ignored")
            return
        match.queue(MatchMessage(sender, int(op_code), raw, bool(reliable), int(time.time() * 1000)))

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("match cluster call failed", error=str(task.exception()))

    # -- presence changes (every node) --------------------------------------------------------

    def _presence_event(self, stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
        hub = self.hub
        relayed = stream.mode == Mode.MATCH_RELAYED
        event = wire.MatchPresenceEvent(
            match_id=f"{stream.subject}.{stream.label}",
            joins=[codec.user_presence(p) for p in joins],
            leaves=[codec.user_presence(p) for p in leaves],
        )
        members = hub.local_members(stream)
        if members:
            hub.router.send_to(members, codec.frame("match_presence_event", event))
        if relayed:
            size = hub.tracker.count(stream)
            if size:
                self._relayed[stream] = size
            else:
                self._relayed.pop(stream, None)
            return
        if stream.label != self.node:
            return
        match = self._matches.get((stream.title_id, stream.subject))
        if match is not None:
            match.presence_changed(joins, leaves)
        elif joins:  # tracked on a match that ended meanwhile: take them out
            for p in joins:
                self.untrack(stream, p)

    # -- listing ------------------------------------------------------------------------------

    def get(self, title_id: str, match_id: str) -> MatchInfo | None:
        match_uuid, node = parse_match_id(match_id)
        tracker = self.hub.tracker
        if not node:
            size = tracker.count(_stream(title_id, match_uuid, ""))
            return MatchInfo(f"{match_uuid}.", False, None, size) if size else None
        entry = self.index.get(title_id, match_uuid, node)
        if entry is None:
            return None
        size = tracker.count(_stream(title_id, match_uuid, node))
        return MatchInfo(entry.match_id, True, entry.label, size, entry.tick_rate, entry.handler_name)

    def list(
        self,
        title_id: str,
        limit: int = 1,
        authoritative: bool | None = None,
        label: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        query: str | None = None,
    ) -> list[MatchInfo]:
        """Nakama's ListMatches: relayed and/or authoritative matches of the title, filtered by
        exact label or by a query on the label (authoritative only) and by size (players). With a
        query the label is ignored, as in Nakama (its clients send an empty `label=` with every
        query)."""
        if query:
            label = None
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        if label is not None and authoritative is False:
            raise InvalidArgument("Label filtering is not supported for non-authoritative matches.")
        if query is not None and authoritative is False:
            raise InvalidArgument("Query filtering is not supported for non-authoritative matches.")
        if min_size is not None and min_size < 0:
            raise InvalidArgument("Minimum size must be 0 or above.")
        if max_size is not None and max_size < 0:
            raise InvalidArgument("Maximum size must be 0 or above.")
        if min_size is not None and max_size is not None and min_size > max_size:
            raise InvalidArgument("Maximum size must be greater than or equal to minimum size.")
        parsed = None
        if query:
            try:
                parsed = parse_query(query, LABEL, multi=True)
            except QueryError as exc:
                raise InvalidArgument(f"Invalid query: {exc}") from None
        tracker = self.hub.tracker

        def size_ok(size: int) -> bool:
            return (min_size is None or size >= min_size) and (max_size is None or size <= max_size)

        scored: list[tuple[float, MatchInfo]] = []
        if authoritative is not False:
            for entry in self.index.entries(title_id):
                if label is not None and entry.label != label:
                    continue
                score = 0.0
                if parsed is not None:
                    strings, numbers = entry.fields()
                    if not parsed.match(strings, numbers):
                        continue
                    score = parsed.score(strings, numbers) if parsed.score is not None else 0.0
                size = tracker.count(_stream(title_id, entry.uuid, entry.node))
                if not size_ok(size):
                    continue
                info = MatchInfo(entry.match_id, True, entry.label, size, entry.tick_rate, entry.handler_name)
                scored.append((score, info))
                if parsed is None and len(scored) >= limit:
                    break
        if authoritative is not True and label is None and not query and len(scored) < limit:
            for stream, size in self._relayed.items():
                if stream.title_id != title_id or not size_ok(size):
                    continue
                scored.append((0.0, MatchInfo(f"{stream.subject}.", False, None, size)))
                if len(scored) >= limit:
                    break
        if parsed is not None:
            scored.sort(key=lambda item: -item[0])
        return [info for _, info in scored[:limit]]
