"""Chat channels: join and leave, send, update and remove messages, and read history.

A channel is a stream: a room by name (mode 2), a group by id (mode 3), or the direct channel of
two users (mode 4, the smaller user id first). Its id on the wire is
`<mode>.<subject>.<subcontext>.<label>`, as in Nakama. Who is in a channel is the presence
tracker's business; messages go to every presence on the stream, on any node, and are stored
when the sender joined with persistence on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from uuid_utils import uuid7

from overworld import cursors
from overworld.chat.store import ChatStore
from overworld.clock import now_ms, rfc3339
from overworld.db import Database
from overworld.db.database import Tx
from overworld.errors import InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from overworld.ids import parse_uuid
from overworld.protocol import realtime as rt
from overworld.protocol.jsondepth import check_depth
from overworld.protocol.streams import Mode, Stream
from overworld.realtime import codec
from overworld.realtime.connection import TokenBucket
from overworld.realtime.hub import Hub
from overworld.subsystems.presence.base import Presence, PresenceMeta

USER_NOT_FOUND = "User account not found."

ROOM, DIRECT, GROUP = 1, 2, 3
CHAT, UPDATE, REMOVE = 0, 1, 2  # message codes of user messages and their edits
MAX_ROOM_NAME = 64

# (title_id, group_id, user_id) -> member state (0 superadmin .. 2 member, 3 join request, 4 banned)
MemberState = Callable[[str, str, str], Awaitable[int | None]]
UserExists = Callable[[str, str], Awaitable[str | None]]  # (title, user) -> username or None
Blocked = Callable[[str, str, str], Awaitable[bool]]  # (title, user, by_user)
DirectRequest = Callable[[str, str, str, str], Awaitable[None]]  # (title, to, from id, from name)


@dataclass(slots=True)
class Message:
    channel_id: str
    message_id: str
    code: int
    sender_id: str
    username: str
    content: str
    create_time: int
    update_time: int
    persistent: bool
    stream: Stream

    def wire(self) -> rt.ChannelMessage:
        return rt.ChannelMessage(
            channel_id=self.channel_id, message_id=self.message_id, code=self.code,
            sender_id=self.sender_id, username=self.username, content=self.content,
            create_time=rfc3339(self.create_time), update_time=rfc3339(self.update_time),
            persistent=self.persistent, **codec.channel_target(self.stream),
        )  # fmt: skip

    def ack(self) -> rt.ChannelMessageAck:
        return rt.ChannelMessageAck(
            channel_id=self.channel_id, message_id=self.message_id, code=self.code,
            username=self.username, create_time=rfc3339(self.create_time),
            update_time=rfc3339(self.update_time), persistent=self.persistent,
            **codec.channel_target(self.stream),
        )  # fmt: skip


@dataclass(slots=True)
class History:
    messages: list[Message]
    next_cursor: str = ""
    prev_cursor: str = ""
    cacheable_cursor: str = ""


def _valid_uuid(value: str) -> bool:
    """A UUID in its canonical text (any case), as ids appear in channel ids."""
    parsed = parse_uuid(value)
    return parsed is not None and str(parsed) == value.lower()


def parse_channel_id(title_id: str, channel_id: str) -> Stream:
    parts = channel_id.split(".")
    if len(parts) != 4 or not parts[0].isdigit():
        raise InvalidArgument("Invalid channel identifier.")
    mode, subject, subcontext, label = int(parts[0]), parts[1], parts[2], parts[3]
    if mode == Mode.CHANNEL and label and not subject and not subcontext:
        return Stream(title_id, mode, label=label)
    if mode == Mode.GROUP and _valid_uuid(subject) and not subcontext and not label:
        return Stream(title_id, mode, subject)
    if (
        mode == Mode.DM
        and _valid_uuid(subject)
        and _valid_uuid(subcontext)
        and subject < subcontext
        and not label
    ):
        return Stream(title_id, mode, subject, subcontext)
    raise InvalidArgument("Invalid channel identifier.")


def check_content(content: str, max_bytes: int) -> str:
    if len(content.encode()) > max_bytes:
        raise InvalidArgument(f"Message content must be at most {max_bytes} bytes.")
    check_depth(content, "content")
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise InvalidArgument("Message content must be a valid JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidArgument("Message content must be a valid JSON object.")
    return content


def _encode_cursor(create_time: int, message_id: str, forward: bool) -> str:
    return cursors.encode([create_time, message_id, int(forward)])


def _decode_cursor(cursor: str) -> tuple[int, str, bool]:
    create_time, message_id, forward = cursors.decode(cursor, (int, str, int), "Invalid cursor.")
    return int(create_time), str(message_id), bool(forward)


class ChatService:
    def __init__(
        self,
        db: Database,
        hub: Hub,
        user_exists: UserExists,
        rate_limit: int = 10,
        max_content_bytes: int = 4096,
        *,
        member_state: MemberState | None = None,
        is_blocked: Blocked | None = None,
        direct_request: DirectRequest | None = None,
    ) -> None:
        """`member_state`, `is_blocked` and `direct_request` come from the domains that own them
        (groups, friends, notifications); without them group channels are refused, nobody is
        blocked and no direct-message request is sent."""
        self._store = ChatStore(db)
        self._hub = hub
        self._user_exists = user_exists
        self._rate = rate_limit
        self._max_content = max_content_bytes
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self.member_state = member_state
        self.is_blocked = is_blocked
        self.direct_request = direct_request

    # -- channels ------------------------------------------------------------------------------

    async def stream_for(self, title_id: str, user_id: str, target: str, type: int) -> Stream:
        """The stream the user asks to join, after checking they may."""
        if type in (0, ROOM):
            if not target or len(target) > MAX_ROOM_NAME:
                raise InvalidArgument(f"Room name is required and must be 1-{MAX_ROOM_NAME} characters.")
            if "." in target:
                raise InvalidArgument("Room name must not contain '.'.")
            return Stream(title_id, Mode.CHANNEL, label=target)
        if type == DIRECT:
            if not _valid_uuid(target):
                raise InvalidArgument("Invalid user ID in direct message.")
            if target == user_id:
                raise InvalidArgument("Cannot open a direct message channel with self.")
            if await self._user_exists(title_id, target) is None:
                raise InvalidArgument("User ID not found.")
            if self.is_blocked is not None and await self.is_blocked(title_id, user_id, target):
                raise InvalidArgument("Cannot open a direct message channel with this user.")
            one, two = sorted((user_id, target))
            return Stream(title_id, Mode.DM, one, two)
        if type == GROUP:
            if not _valid_uuid(target):
                raise InvalidArgument("Invalid group ID.")
            await self._require_member(title_id, target, user_id)
            return Stream(title_id, Mode.GROUP, target)
        raise InvalidArgument("Unrecognized channel type.")

    async def _require_member(self, title_id: str, group_id: str, user_id: str) -> None:
        state = None if self.member_state is None else await self.member_state(title_id, group_id, user_id)
        if state is None or state > 2:
            raise PermissionDenied("User is not a member of this group.")

    async def join(
        self, title_id: str, session_id: str, user_id: str, username: str, stream: Stream,
        persistence: bool, hidden: bool,
    ) -> rt.Channel:  # fmt: skip
        hub = self._hub
        meta = PresenceMeta(username, hidden=hidden, persistence=persistence)
        me = Presence(stream, session_id, user_id, hub.node, meta)
        if not hub.tracker.track(me):
            hub.tracker.update(stream, session_id, meta)
        if stream.mode == Mode.DM and self.direct_request is not None:
            other = stream.subcontext if stream.subject == user_id else stream.subject
            if not any(p.user_id == other for p in hub.tracker.presences(stream)):
                await self.direct_request(title_id, other, user_id, username)
        presences = [codec.user_presence(p) for p in hub.tracker.presences(stream) if not p.meta.hidden]
        return rt.Channel(
            id=codec.channel_id(stream), presences=presences, self=codec.user_presence(me),
            **codec.channel_target(stream),
        )  # fmt: skip

    def leave(self, session_id: str, stream: Stream) -> None:
        self._hub.tracker.untrack(stream, session_id)

    # -- messages ------------------------------------------------------------------------------

    def _sender(self, stream: Stream, session_id: str) -> Presence:
        me = self._hub.tracker.get(stream, session_id)
        if me is None:
            raise InvalidArgument("Must join the channel before sending messages.")
        return me

    def _take(self, title_id: str, user_id: str) -> None:
        key = (title_id, user_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self._rate, self._rate * 2)
        if not bucket.take():
            raise ResourceExhausted(f"Chat rate limit exceeded: at most {self._rate} messages per second.")

    async def send(self, session_id: str, stream: Stream, content: str) -> Message:
        me = self._sender(stream, session_id)
        self._take(stream.title_id, me.user_id)
        check_content(content, self._max_content)
        now = now_ms()
        message = Message(
            channel_id=codec.channel_id(stream), message_id=str(uuid7()), code=CHAT,
            sender_id=me.user_id, username=me.meta.username, content=content, create_time=now,
            update_time=now, persistent=me.meta.persistence, stream=stream,
        )  # fmt: skip
        await self._post(message, hold_sender=True)
        return message

    async def update(self, session_id: str, stream: Stream, message_id: str, content: str) -> Message:
        me = self._sender(stream, session_id)
        self._take(stream.title_id, me.user_id)
        if not _valid_uuid(message_id):
            raise InvalidArgument("Invalid message identifier.")
        check_content(content, self._max_content)
        create_time = await self._own_message(stream, message_id, me.user_id, "update")
        now = now_ms()
        await self._store.update(stream.title_id, message_id, content, me.meta.username, now)
        message = Message(
            channel_id=codec.channel_id(stream), message_id=message_id, code=UPDATE, sender_id=me.user_id,
            username=me.meta.username, content=content, create_time=create_time, update_time=now,
            persistent=True, stream=stream,
        )  # fmt: skip
        self.deliver(message)
        return message

    async def remove(self, session_id: str, stream: Stream, message_id: str) -> Message:
        me = self._sender(stream, session_id)
        if not _valid_uuid(message_id):
            raise InvalidArgument("Invalid message identifier.")
        create_time = await self._own_message(stream, message_id, me.user_id, "remove")
        await self._store.delete(stream.title_id, message_id)
        now = now_ms()
        message = Message(
            channel_id=codec.channel_id(stream), message_id=message_id, code=REMOVE, sender_id=me.user_id,
            username=me.meta.username, content="{}", create_time=create_time, update_time=now,
            persistent=True, stream=stream,
        )  # fmt: skip
        self.deliver(message)
        return message

    async def _own_message(self, stream: Stream, message_id: str, user_id: str, action: str) -> int:
        """The create time of a stored message of this channel sent by `user_id`."""
        found = await self._store.sender(stream.title_id, message_id, codec.channel_id(stream))
        if found is None:
            raise NotFound(f"Could not find message to {action} in channel history.")
        sender_id, create_time = found
        if sender_id != user_id:
            raise PermissionDenied(f"Message can only be {action}d by its sender.")
        return create_time

    async def _post(self, message: Message, hold_sender: bool = False) -> None:
        """Store a new message (when persistent), then deliver it to the channel. `hold_sender`:
        a player's message, stored only while its account exists (NOT_FOUND once deleted, even
        on a node still honouring the session)."""
        if message.persistent:
            stored = await self._store.insert(
                message.stream.title_id, message.message_id, message.channel_id, message.code,
                message.sender_id, message.username, message.content, message.create_time,
                message.update_time, hold_sender=hold_sender,
            )  # fmt: skip
            if not stored:
                raise NotFound(USER_NOT_FOUND)
        self.deliver(message)

    def deliver(self, message: Message) -> None:
        """Send a message to everyone in its channel, on every node."""
        self._hub.router.send_to_stream(message.stream, codec.frame("channel_message", message.wire()))

    async def store_system(
        self, tx: Tx, stream: Stream, code: int, sender_id: str, username: str, content: str = "{}"
    ) -> Message:
        """A server's message in `tx` (it commits with the change it announces, as Nakama stores a
        group's membership messages); `deliver` it once committed."""
        now = now_ms()
        message = Message(
            channel_id=codec.channel_id(stream), message_id=str(uuid7()), code=code,
            sender_id=sender_id, username=username, content=content, create_time=now, update_time=now,
            persistent=True, stream=stream,
        )  # fmt: skip
        await self._store.insert(
            stream.title_id, message.message_id, message.channel_id, code, sender_id, username, content,
            now, now, tx=tx,
        )  # fmt: skip
        return message

    def remove_user(self, stream: Stream, user_id: str) -> None:
        """Take every socket of the user out of the channel, on every node (it left the group, or
        was kicked or banned); everyone in it gets the presence leave."""
        hub = self._hub
        hub.router.untrack([p for p in hub.tracker.presences(stream) if p.user_id == user_id])

    async def send_system(
        self, stream: Stream, content: str, code: int = CHAT, sender_id: str = "", username: str = "",
        persist: bool = True,
    ) -> Message:  # fmt: skip
        """A message from server code (no presence needed), e.g. `group joined` notices."""
        check_content(content, self._max_content)
        now = now_ms()
        message = Message(
            channel_id=codec.channel_id(stream), message_id=str(uuid7()), code=code,
            sender_id=sender_id, username=username, content=content, create_time=now, update_time=now,
            persistent=persist, stream=stream,
        )  # fmt: skip
        await self._post(message)
        return message

    # -- history -------------------------------------------------------------------------------

    async def history(
        self, title_id: str, user_id: str, channel_id: str, limit: int, forward: bool, cursor: str
    ) -> History:
        """A page of a channel's stored messages; `forward` is oldest first."""
        stream = parse_channel_id(title_id, channel_id)
        if not 1 <= limit <= 100:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        if stream.mode == Mode.GROUP:
            await self._require_member(title_id, stream.subject, user_id)
        elif stream.mode == Mode.DM and user_id not in (stream.subject, stream.subcontext):
            raise PermissionDenied("Direct message history is only visible to its two users.")
        after: tuple[int, str] | None = None
        if cursor:
            c_time, c_id, forward = _decode_cursor(cursor)
            after = (c_time, c_id)
        rows = await self._store.history(title_id, codec.channel_id(stream), limit + 1, forward, after)
        more = len(rows) > limit
        messages = [
            Message(
                channel_id=channel_id,
                message_id=r.id,
                code=r.code,
                sender_id=r.sender_id,
                username=r.username,
                content=r.content,
                create_time=r.create_time,
                update_time=r.update_time,
                persistent=True,
                stream=stream,
            )
            for r in rows[:limit]
        ]
        page = History(messages)
        if messages:
            last, first = messages[-1], messages[0]
            if more:
                page.next_cursor = _encode_cursor(last.create_time, last.message_id, forward)
            if after is not None:
                page.prev_cursor = _encode_cursor(first.create_time, first.message_id, not forward)
            newest = last if forward else first
            page.cacheable_cursor = _encode_cursor(newest.create_time, newest.message_id, True)
        return page

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Account deletion: the user's stored messages go with it."""
        await self._store.delete_user(tx, title_id, user_id)
