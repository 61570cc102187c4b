"""Parties: small groups of players that stay together (to chat, to matchmake) while online.

A party lives on the node where it was created, its *home*: the party id is
`<uuid>.<home node>`. The home keeps the leader, the open/closed flag, the size limit and the
join requests, and decides every change; members are presences on the party stream, tracked
by the node their socket is on (so a member whose node dies leaves). Requests made on another
node are forwarded to the home with `Router.call`, and the home asks a member's node to track
or untrack that member. When the leader leaves, the longest-standing member leads; when the
last member leaves, the party ends. A party whose home node stops ends with it.

Listing (`ListParties`): the home node keeps the party's entry (open, hidden, size limit, JSON
label) in the `PartyIndex`, which every node reads (`overworld.parties.index`). A listing leaves
out hidden parties and those of nodes that are gone, and filters by open and by a query on the
label (`overworld.query`, the language of match labels, arrays searched by element).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from overworld.errors import InvalidArgument, NotFound, PermissionDenied
from overworld.ids import parse_uuid
from overworld.parties.index import PartyEntry, PartyIndex
from overworld.protocol import realtime as rt
from overworld.protocol.streams import Mode, Stream
from overworld.query import QueryError
from overworld.query import parse as parse_query
from overworld.realtime import codec
from overworld.realtime.connection import Connection
from overworld.realtime.hub import Hub
from overworld.subsystems.presence.base import Presence, PresenceMeta

MAX_SIZE = 256
MAX_REQUESTS = 128
MAX_LABEL_BYTES = 2048  # Nakama's PartyLabelMaxBytes
MAX_LIST = 100
DEFAULT_LIST = 10
LABEL = "label."  # label queries name the label's fields `label.<path>`


def check_label(label: str, hidden: bool) -> str:
    """A party label as stored: a JSON object of at most 2 KiB ("" -> "{}"); a hidden party's
    label must be empty (Nakama refuses a hidden party with a label on update)."""
    if not label:
        label = "{}"
    if len(label.encode()) > MAX_LABEL_BYTES:
        raise InvalidArgument(f"Party label is too long: label must be at most {MAX_LABEL_BYTES} bytes.")
    try:
        value = orjson.loads(label)
    except orjson.JSONDecodeError:
        raise InvalidArgument("Party label must be a JSON object: label is not valid JSON.") from None
    if not isinstance(value, dict):
        raise InvalidArgument("Party label must be a JSON object.")
    if hidden and value:
        raise InvalidArgument("A hidden party cannot have a label: label must be empty when hidden is true.")
    return label


@dataclass(slots=True)
class Member:
    session_id: str
    user_id: str
    username: str
    node: str

    @classmethod
    def of(cls, conn: Connection, node: str) -> Member:
        return cls(conn.id, conn.user_id, conn.username, node)

    def as_dict(self) -> dict[str, str]:
        return {"s": self.session_id, "u": self.user_id, "n": self.username, "o": self.node}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Member:
        return cls(d["s"], d["u"], d["n"], d["o"])

    def wire(self) -> rt.UserPresence:
        return rt.UserPresence(user_id=self.user_id, session_id=self.session_id, username=self.username)


@dataclass(slots=True)
class Party:
    id: str
    title_id: str
    open: bool
    max_size: int
    leader: Member
    stream: Stream
    requests: dict[str, Member] = field(default_factory=dict)
    hidden: bool = False
    label: str = "{}"
    created: float = 0.0

    def entry(self, node: str) -> PartyEntry:
        return PartyEntry(
            self.title_id, self.id, node, self.open, self.hidden, self.max_size, self.label, self.created
        )


def _stream(title_id: str, party_id: str) -> Stream:
    party_uuid, sep, home = party_id.partition(".")
    if parse_uuid(party_uuid) is None or not sep or not home:
        raise InvalidArgument("Invalid party identifier.")
    return Stream(title_id, Mode.PARTY, party_uuid, "", home)


class PartyService:
    def __init__(self, hub: Hub, index: PartyIndex, *, grace_sec: float = 5.0) -> None:
        self._hub = hub
        self._index = index
        # A listing removes the entries of nodes that are gone only once this node has run long
        # enough (the presence timeout) to have heard from every live peer.
        self._grace = grace_sec
        self._started = time.monotonic()
        self._parties: dict[Stream, Party] = {}  # parties whose home is this node
        self._pending: set[asyncio.Task[Any]] = set()
        router = hub.router
        router.register("party.join", self._home_join)
        router.register("party.promote", self._home_promote)
        router.register("party.accept", self._home_accept)
        router.register("party.remove", self._home_remove)
        router.register("party.close", self._home_close)
        router.register("party.requests", self._home_requests)
        router.register("party.track", self._track)
        router.register("party.untrack", self._untrack)
        router.register("party.members", self._home_members)
        router.register("party.update", self._home_update)
        self.changed: list[Callable[[str, str], None]] = []  # (title id, party id), on the home node
        hub.on_stream_event(Mode.PARTY, self._presence_event)
        hub.on_disconnect(lambda conn: self.drop_requests_of(conn.id))

    async def start(self) -> None:
        await self._index.start()
        self._started = time.monotonic()

    async def stop(self) -> None:
        """This node's parties end with it: their entries leave the index."""
        for task in list(self._pending):
            task.cancel()
        for party in list(self._parties.values()):
            try:
                await self._index.remove(party.title_id, party.id)
            except Exception:  # Redis gone: the others leave them out as a dead node's
                break
        await self._index.close()

    # -- the client's side (any node) ----------------------------------------------------------

    async def create(
        self, conn: Connection, open: bool, max_size: int, label: str = "", hidden: bool = False
    ) -> rt.Party:
        if not 1 <= max_size <= MAX_SIZE:
            raise InvalidArgument(f"Party max size must be 1-{MAX_SIZE}.")
        label = check_label(label, False)
        hub = self._hub
        party_id = f"{uuid.uuid4()}.{hub.node}"
        me = Member.of(conn, hub.node)
        stream = _stream(conn.title_id, party_id)
        party = Party(
            party_id,
            conn.title_id,
            open,
            max_size,
            me,
            stream,
            hidden=hidden,
            label=label,
            created=time.time(),
        )
        self._parties[stream] = party
        hub.tracker.track(Presence(stream, conn.id, conn.user_id, hub.node, PresenceMeta(conn.username)))
        await self._index.put(party.entry(hub.node))
        return self._state(party, me)

    async def update(
        self, conn: Connection, party_id: str, label: str, open: bool, hidden: bool, max_size: int | None
    ) -> None:
        """The leader's `party_update`: label, open and hidden are replaced (as Nakama's, whose
        message has no presence bits for them); `max_size` (an Overworld extension) only when
        given. Every member is sent `party_update` with the party's new state."""
        label = check_label(label, hidden)
        if max_size is not None and not 1 <= max_size <= MAX_SIZE:
            raise InvalidArgument(f"Party max size must be 1-{MAX_SIZE}: max_size is {max_size}.")
        extra = {"label": label, "open": open, "hidden": hidden, "max": max_size}
        await self._leader_call(conn, party_id, "update", None, extra)

    async def list_parties(
        self,
        title_id: str,
        limit: int | None,
        open: bool | None,
        query: str | None,
        cursor: str | None,
        show_hidden: bool = False,
    ) -> tuple[list[PartyEntry], str]:
        """Nakama's ListParties: the title's parties that are not hidden (unless `show_hidden`,
        for server code), of live nodes, filtered by `open` and by a query on their labels, best
        score first (then oldest first); `cursor` continues a listing made with the same limit,
        open and query."""
        limit = DEFAULT_LIST if limit is None else limit
        if not 1 <= limit <= MAX_LIST:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        query = query or "*"
        try:
            parsed = parse_query(query, LABEL, multi=True)
        except QueryError as exc:
            raise InvalidArgument(f"Invalid query: {exc}") from None
        offset = _read_cursor(cursor, limit, open, query) if cursor else 0
        live = {self._hub.node, *self._hub.tracker.peers}
        gone: list[PartyEntry] = []
        scored: list[tuple[float, float, str, PartyEntry]] = []
        for entry in await self._index.entries(title_id):
            if entry.node not in live:
                gone.append(entry)
                continue
            if (entry.hidden and not show_hidden) or (open is not None and entry.open != open):
                continue
            strings, numbers = entry.fields()
            if not parsed.match(strings, numbers):
                continue
            score = parsed.score(strings, numbers) if parsed.score is not None else 0.0
            scored.append((-score, entry.created, entry.party_id, entry))
        if gone and time.monotonic() - self._started >= self._grace:
            self._later(self._forget(gone))
        scored.sort(key=lambda item: item[:3])
        page = [item[3] for item in scored[offset : offset + limit]]
        more = len(scored) > offset + limit
        return page, _write_cursor(offset + limit, limit, open, query) if more else ""

    async def _forget(self, entries: list[PartyEntry]) -> None:
        for entry in entries:
            await self._index.remove(entry.title_id, entry.party_id)

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # an index write that failed is retried by the next listing

    async def join(self, conn: Connection, party_id: str) -> None:
        stream = _stream(conn.title_id, party_id)
        me = Member.of(conn, self._hub.node)
        await self._hub.router.call(
            stream.label, "party.join", {"t": conn.title_id, "p": party_id, "m": me.as_dict()}
        )

    def leave(self, conn: Connection, party_id: str) -> None:
        stream = _stream(conn.title_id, party_id)
        if not self._hub.tracker.untrack(stream, conn.id):
            raise NotFound("Not a member of this party.")

    async def promote(
        self, conn: Connection, party_id: str, presence: rt.UserPresence | None
    ) -> rt.PartyLeader:
        result = await self._leader_call(conn, party_id, "promote", presence)
        return rt.PartyLeader(party_id=party_id, presence=Member.from_dict(result).wire())

    async def accept(self, conn: Connection, party_id: str, presence: rt.UserPresence | None) -> None:
        await self._leader_call(conn, party_id, "accept", presence)

    async def remove(self, conn: Connection, party_id: str, presence: rt.UserPresence | None) -> None:
        await self._leader_call(conn, party_id, "remove", presence)

    async def close(self, conn: Connection, party_id: str) -> None:
        await self._leader_call(conn, party_id, "close", None)

    async def join_requests(self, conn: Connection, party_id: str) -> rt.PartyJoinRequest:
        result = await self._leader_call(conn, party_id, "requests", None)
        return rt.PartyJoinRequest(party_id=party_id, presences=[Member.from_dict(m).wire() for m in result])

    def send_data(self, conn: Connection, party_id: str, op_code: int, data: str) -> None:
        stream = _stream(conn.title_id, party_id)
        tracker = self._hub.tracker
        me = tracker.get(stream, conn.id)
        if me is None:
            raise NotFound("Not a member of this party.")
        message = rt.PartyData(
            party_id=party_id,
            presence=Member.of(conn, self._hub.node).wire(),
            op_code=str(op_code),
            data=data,
        )
        self._hub.router.send_to(
            tracker.presences(stream), codec.frame("party_data", message), exclude=conn.id
        )

    async def matchmaking_members(self, conn: Connection, party_id: str) -> list[Member]:
        """The party's members, if `conn` leads it (party matchmaking is the leader's)."""
        result = await self._leader_call(conn, party_id, "members", None)
        return [Member.from_dict(m) for m in result]

    async def _leader_call(
        self,
        conn: Connection,
        party_id: str,
        action: str,
        presence: rt.UserPresence | None,
        extra: dict[str, Any] | None = None,
    ) -> Any:
        stream = _stream(conn.title_id, party_id)
        args: dict[str, Any] = {
            "t": conn.title_id,
            "p": party_id,
            "m": Member.of(conn, self._hub.node).as_dict(),
            **(extra or {}),
        }
        if presence is not None:
            args["target"] = {"s": presence.session_id, "u": presence.user_id}
        elif action in ("promote", "accept", "remove"):
            raise InvalidArgument("A presence is required.")
        return await self._hub.router.call(stream.label, f"party.{action}", args)

    # -- the home node ----------------------------------------------------------------------

    def _party(self, args: dict[str, Any]) -> Party:
        party = self._parties.get(_stream(args["t"], args["p"]))
        if party is None:
            raise NotFound("Party not found.")
        return party

    def _as_leader(self, args: dict[str, Any]) -> Party:
        party = self._party(args)
        if party.leader.session_id != args["m"]["s"]:
            raise PermissionDenied("Only the party leader can do this.")
        return party

    def _member(self, party: Party, target: dict[str, str]) -> Presence:
        p = self._hub.tracker.get(party.stream, target.get("s", ""))
        if p is None or p.user_id != target.get("u"):
            raise NotFound("Presence is not a member of this party.")
        return p

    async def _home_join(self, args: dict[str, Any]) -> None:
        party = self._party(args)
        me = Member.from_dict(args["m"])
        tracker = self._hub.tracker
        if tracker.get(party.stream, me.session_id) is not None:
            return
        if party.open:
            if tracker.count(party.stream) >= party.max_size:
                raise InvalidArgument("Party is full.")
            await self._hub.router.call(me.node, "party.track", self._track_args(party, me))
            return
        if len(party.requests) >= MAX_REQUESTS and me.session_id not in party.requests:
            raise InvalidArgument("Party has too many pending join requests.")
        party.requests[me.session_id] = me
        request = rt.PartyJoinRequest(party_id=party.id, presences=[me.wire()])
        leader = tracker.get(party.stream, party.leader.session_id)
        if leader is not None:
            self._hub.router.send_to([leader], codec.frame("party_join_request", request))

    async def _home_promote(self, args: dict[str, Any]) -> dict[str, str]:
        party = self._as_leader(args)
        p = self._member(party, args["target"])
        party.leader = Member(p.session_id, p.user_id, p.meta.username, p.node)
        self._announce_leader(party)
        return party.leader.as_dict()

    async def _home_accept(self, args: dict[str, Any]) -> None:
        party = self._as_leader(args)
        target = party.requests.get(args["target"].get("s", ""))
        if target is None or target.user_id != args["target"].get("u"):
            raise NotFound("No join request from this presence.")
        if self._hub.tracker.count(party.stream) >= party.max_size:
            raise InvalidArgument("Party is full.")
        del party.requests[target.session_id]
        await self._hub.router.call(target.node, "party.track", self._track_args(party, target))

    def _track_args(self, party: Party, member: Member) -> dict[str, Any]:
        return member.as_dict() | {
            "t": party.title_id, "p": party.id, "L": party.leader.as_dict(), "open": party.open,
            "max": party.max_size, "label": party.label, "hidden": party.hidden,
        }  # fmt: skip

    async def _home_update(self, args: dict[str, Any]) -> None:
        party = self._as_leader(args)
        max_size = args.get("max")
        if max_size is not None:
            members = self._hub.tracker.count(party.stream)
            if max_size < members:
                raise InvalidArgument(
                    f"Party max size cannot be below its {members} members: max_size is {max_size}."
                )
            party.max_size = max_size
        party.label, party.open, party.hidden = args["label"], args["open"], args["hidden"]
        await self._index.put(party.entry(self._hub.node))
        message = rt.PartyUpdate(
            party_id=party.id, label=party.label, open=party.open, hidden=party.hidden,
            max_size=party.max_size,
        )  # fmt: skip
        self._hub.router.send_to(
            self._hub.tracker.presences(party.stream), codec.frame("party_update", message)
        )

    async def _home_remove(self, args: dict[str, Any]) -> None:
        party = self._as_leader(args)
        sid = args["target"].get("s", "")
        if sid in party.requests:
            del party.requests[sid]
            return
        p = self._member(party, args["target"])
        if p.session_id == party.leader.session_id:
            raise InvalidArgument("The leader cannot remove themselves; leave the party instead.")
        await self._hub.router.call(p.node, "party.untrack", {"t": party.title_id, "p": party.id, "s": sid})

    async def _home_close(self, args: dict[str, Any]) -> None:
        party = self._as_leader(args)
        self._end(party)

    async def _home_members(self, args: dict[str, Any]) -> list[dict[str, str]]:
        party = self._as_leader(args)
        return [
            Member(p.session_id, p.user_id, p.meta.username, p.node).as_dict()
            for p in self._hub.tracker.presences(party.stream)
        ]

    async def _home_requests(self, args: dict[str, Any]) -> list[dict[str, str]]:
        party = self._as_leader(args)
        return [m.as_dict() for m in party.requests.values()]

    def _end(self, party: Party) -> None:
        self._parties.pop(party.stream, None)
        self._later(self._index.remove(party.title_id, party.id))
        hub = self._hub
        members = hub.tracker.presences(party.stream)
        hub.router.send_to(members, codec.frame("party_close", rt.PartyClose(party_id=party.id)))
        for node in {p.node for p in members}:
            if node == hub.node:
                hub.tracker.untrack_stream(party.stream)
            else:
                self._untrack_later(node, {"t": party.title_id, "p": party.id, "s": ""})

    def _untrack_later(self, node: str, args: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._hub.router.call(node, "party.untrack", args))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _announce_leader(self, party: Party) -> None:
        message = rt.PartyLeader(party_id=party.id, presence=party.leader.wire())
        self._hub.router.send_to(
            self._hub.tracker.presences(party.stream), codec.frame("party_leader", message)
        )

    def _state(self, party: Party, me: Member) -> rt.Party:
        presences = [codec.user_presence(p) for p in self._hub.tracker.presences(party.stream)]
        return rt.Party(
            party_id=party.id, open=party.open, max_size=party.max_size, self=me.wire(),
            leader=party.leader.wire(), presences=presences, label=party.label, hidden=party.hidden,
        )  # fmt: skip

    # -- a member's node ------------------------------------------------------------------------

    async def _track(self, args: dict[str, Any]) -> None:
        """Track a member of this node on the party stream and tell them they are in."""
        hub = self._hub
        stream = _stream(args["t"], args["p"])
        conn = hub.registry.get(args["s"])
        if conn is None:
            return
        meta = PresenceMeta(conn.username)
        hub.tracker.track(Presence(stream, conn.id, conn.user_id, hub.node, meta))
        state = rt.Party(
            party_id=args["p"], open=args["open"], max_size=args["max"],
            self=Member.of(conn, hub.node).wire(), leader=Member.from_dict(args["L"]).wire(),
            presences=[codec.user_presence(p) for p in hub.tracker.presences(stream)],
            label=args.get("label", ""), hidden=args.get("hidden", False),
        )  # fmt: skip
        conn.send(codec.frame("party", state))

    async def _untrack(self, args: dict[str, Any]) -> None:
        stream = _stream(args["t"], args["p"])
        tracker = self._hub.tracker
        if args["s"]:
            conn = self._hub.registry.get(args["s"])
            if tracker.untrack(stream, args["s"]) and conn is not None:
                conn.send(codec.frame("party_close", rt.PartyClose(party_id=args["p"])))
        else:
            tracker.untrack_stream(stream)

    # -- presence changes (every node) --------------------------------------------------------

    def _presence_event(self, stream: Stream, joins: list[Presence], leaves: list[Presence]) -> None:
        hub = self._hub
        party_id = f"{stream.subject}.{stream.label}"
        event = rt.PartyPresenceEvent(
            party_id=party_id,
            joins=[codec.user_presence(p) for p in joins],
            leaves=[codec.user_presence(p) for p in leaves],
        )
        hub.router.send_to(hub.local_members(stream), codec.frame("party_presence_event", event))
        if stream.label == hub.node:
            for listener in self.changed:
                listener(stream.title_id, party_id)
        party = self._parties.get(stream)
        if party is None or not leaves:
            return
        for p in leaves:
            party.requests.pop(p.session_id, None)
        remaining = hub.tracker.presences(stream)
        if not remaining:
            self._parties.pop(stream, None)
            self._later(self._index.remove(party.title_id, party.id))
            return
        if all(p.session_id != party.leader.session_id for p in remaining):
            p = remaining[0]
            party.leader = Member(p.session_id, p.user_id, p.meta.username, p.node)
            self._announce_leader(party)

    def drop_requests_of(self, session_id: str) -> None:
        for party in self._parties.values():
            party.requests.pop(session_id, None)


def _write_cursor(offset: int, limit: int, open: bool | None, query: str) -> str:
    raw = orjson.dumps({"o": offset, "l": limit, "open": open, "q": query})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, limit: int, open: bool | None, query: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        offset = data["o"]
        same = (data["l"], data["open"], data["q"]) == (limit, open, query)
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise InvalidArgument("Invalid cursor.") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgument("Invalid cursor.")
    if not same:
        raise InvalidArgument("Invalid cursor: limit, open and query must be those of its listing.")
    return offset
