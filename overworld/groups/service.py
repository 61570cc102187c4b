"""Group operations with Nakama's rules, error codes and messages.

States: 0 superadmin, 1 admin, 2 member, 3 join request, 4 banned. `edge_count` counts states
0-2 and never exceeds `max_count`. Who may do what, as Nakama enforces it:

- update: superadmins and admins; delete: superadmins only.
- add users (or accept their join requests), kick, ban, promote, demote: superadmins and admins.
  A superadmin may kick or ban anyone but the group's last superadmin; an admin only members,
  join requests and banned users. Promote moves one step up, to at most the caller's own rank
  (admin: member -> admin; superadmin: also admin -> superadmin). Demote moves one step down,
  from the caller's rank or below, never below member (admin: admin -> member; superadmin: also
  superadmin -> admin while another superadmin remains). Nobody acts on themself.
- the last superadmin cannot leave; leaving while banned does nothing.
Server code (caller None) acts as a superadmin of every group.

Every change runs in one transaction that first locks the group's row (PostgreSQL; SQLite runs
one transaction at a time), so membership changes of a group are serialised: joins never pass
`max_count` and two superadmins leaving at once cannot leave the group without one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog

from overworld import cursors
from overworld.accounts import validation as check
from overworld.clock import now_ms
from overworld.db import Database, IntegrityError, Tx
from overworld.errors import AlreadyExists, InvalidArgument, NotFound
from overworld.friends.service import canonical_user_id
from overworld.groups.models import (
    ADMIN,
    BANNED,
    CHANNEL_GROUP_ADD,
    CHANNEL_GROUP_BAN,
    CHANNEL_GROUP_DEMOTE,
    CHANNEL_GROUP_JOIN,
    CHANNEL_GROUP_KICK,
    CHANNEL_GROUP_LEAVE,
    CHANNEL_GROUP_PROMOTE,
    JOIN_REQUEST,
    MEMBER,
    SUPERADMIN,
    Group,
    GroupDeleted,
    GroupJoinRequest,
    GroupMembershipChanged,
    GroupPage,
    GroupUpdate,
    GroupUserPage,
    GroupUsersAdded,
    UserGroupPage,
)
from overworld.groups.store import CLOSED, OPEN, GroupStore
from overworld.ids import parse_uuid
from overworld.listeners import announce

log = structlog.get_logger(__name__)
# Writes the group channel messages of membership changes inside the change's transaction, and
# returns what sends them once it has committed.
ChannelWriter = Callable[[Tx, Sequence[GroupMembershipChanged]], Awaitable[Callable[[], None]]]

GROUP_NOT_FOUND = "Group not found."
NOT_FOUND_OR_DENIED = "Group not found or permission denied."
UPDATE_DENIED = "Group not found or you're not allowed to update."
DELETE_DENIED = "Group not found or you're not allowed to delete."
GROUP_FULL = "Group is full."
NAME_IN_USE = "Group name is in use."
LAST_SUPERADMIN = "Cannot leave group when you are the last superadmin."
USERS_NOT_FOUND = "One or more users not found."
USER_NOT_FOUND = "User account not found."
GROUP_ID_REQUIRED = "Group ID must be set."
GROUP_ID_INVALID = "Group ID must be a valid ID."
USER_ID_INVALID = "User ID must be a valid ID."
BAD_CURSOR = "Cursor is invalid."
MALFORMED_CURSOR = "Malformed cursor was used."
NAME_FILTER_ALONE = "name filter cannot be combined with any other filter"
DEFAULT_MAX_COUNT = 100
MAX_INT32 = 2**31 - 1
MAX_USERS = 1000  # user ids per call (Nakama has no limit; this bounds one transaction)


def canonical_group_id(value: str) -> str:
    if not value:
        raise InvalidArgument(GROUP_ID_REQUIRED)
    parsed = parse_uuid(value)
    if parsed is None:
        raise InvalidArgument(GROUP_ID_INVALID)
    return str(parsed)


def _user_ids(values: Iterable[str]) -> list[str]:
    ids: list[str] = []
    for value in values:
        canonical = canonical_user_id(value)
        if canonical is None:
            raise InvalidArgument(USER_ID_INVALID)
        ids.append(canonical)
    if len(ids) > MAX_USERS:
        raise InvalidArgument(f"Too many users, at most {MAX_USERS} per call.")
    return list(dict.fromkeys(ids))


def _limit(value: int | None, default: int, most: int = 100) -> int:
    limit = default if value is None else value
    if not 1 <= limit <= most:
        raise InvalidArgument(f"Invalid limit - limit must be between 1 and {most}.")
    return limit


def _member_state(value: int | None) -> int | None:
    if value is not None and not SUPERADMIN <= value <= BANNED:
        raise InvalidArgument("Invalid state - state must be between 0 and 4.")
    return value


def _max_count(value: int) -> int:
    if value < 1:
        raise InvalidArgument("Group max count must be >= 1 when set.")
    if value > MAX_INT32:
        raise InvalidArgument(f"Group max count must be at most {MAX_INT32}.")
    return value


class GroupService:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._store = GroupStore(db)
        self._join_request_listeners: list[Callable[[GroupJoinRequest], None]] = []
        self._added_listeners: list[Callable[[GroupUsersAdded], None]] = []
        self._membership_listeners: list[Callable[[GroupMembershipChanged], None]] = []
        self._channel_writers: list[ChannelWriter] = []
        self._deleted_listeners: list[Callable[[GroupDeleted], None]] = []

    # -- listeners --------------------------------------------------------------------------------
    # Called after the change is committed. A listener must return at once (start background work
    # for anything slow); its errors are logged, never seen by the caller. Account deletion removes
    # memberships (and groups left without a superadmin) without telling listeners.

    def on_join_request(self, listener: Callable[[GroupJoinRequest], None]) -> None:
        """Told of every request to join a closed group (Nakama's notification code -5)."""
        self._join_request_listeners.append(listener)

    def on_users_added(self, listener: Callable[[GroupUsersAdded], None]) -> None:
        """Told when users are added or their join requests accepted (notification code -4)."""
        self._added_listeners.append(listener)

    def on_membership_changed(self, listener: Callable[[GroupMembershipChanged], None]) -> None:
        """Told of each join, add, leave, kick, promote, ban and demote (group channel messages)."""
        self._membership_listeners.append(listener)

    def on_group_deleted(self, listener: Callable[[GroupDeleted], None]) -> None:
        self._deleted_listeners.append(listener)

    def on_membership_changed_in_tx(self, writer: ChannelWriter) -> None:
        """Awaited inside the transaction of each join, add, leave, kick, promote, ban and demote
        with its changes (what it writes commits with them, as Nakama stores the group channel's
        messages); what it returns runs once committed. Unlike the listeners, its error fails the
        change."""
        self._channel_writers.append(writer)

    async def _record(self, tx: Tx, changes: Sequence[GroupMembershipChanged]) -> list[Callable[[], None]]:
        if not changes:
            return []
        return [await writer(tx, changes) for writer in self._channel_writers]

    def _committed(self, changes: list[GroupMembershipChanged], then: list[Callable[[], None]]) -> None:
        for done in then:
            try:
                done()
            except Exception:
                log.exception("group channel delivery failed")
        announce(self._membership_listeners, changes, "group")

    # -- queries for other layers -----------------------------------------------------------------

    async def member_state(self, title_id: str, group_id: str, user_id: str) -> int | None:
        """The user's state in the group (0 superadmin, 1 admin, 2 member, 3 join request,
        4 banned), or None. Members, able to chat in the group, are states 0-2."""
        return await self._store.member_state(self._db, title_id, group_id, user_id)

    async def get(self, title_id: str, ids: Iterable[str]) -> list[Group]:
        """Groups by id; unknown ones are left out."""
        wanted = list(dict.fromkeys(canonical_group_id(i) for i in ids))
        if not wanted:
            return []
        return await self._store.groups(title_id, wanted)

    # -- the group itself -------------------------------------------------------------------------

    async def create(
        self,
        title_id: str,
        user_id: str,
        name: str,
        *,
        creator_id: str = "",
        description: str = "",
        avatar_url: str = "",
        lang_tag: str = "",
        metadata: str = "",
        open: bool = False,
        max_count: int = 0,
    ) -> Group:
        """Create a group with `user_id` as its superadmin (and creator, unless `creator_id`)."""
        if not name:
            raise InvalidArgument("Group name must be set.")
        group = Group(
            id=str(uuid.uuid4()),
            creator_id=user_id,
            name=check.text_field("group name", name, 255),
            description=check.text_field("description", description, 255),
            avatar_url=check.text_field("avatar url", avatar_url, 512),
            lang_tag=check.text_field("lang tag", lang_tag, 18) or "en",
            metadata=check.metadata(metadata) if metadata else "{}",
            open=open,
            edge_count=1,
            max_count=_max_count(max_count) if max_count else DEFAULT_MAX_COUNT,
        )
        if creator_id:
            creator = canonical_user_id(creator_id)
            if creator is None:
                raise InvalidArgument(f"Invalid creator ID {creator_id!r}.")
            group.creator_id = creator
        group.create_time = group.update_time = now_ms()
        try:
            async with self._db.transaction() as tx:
                if await self._store.username(tx, title_id, user_id, hold=True) is None:
                    raise NotFound(USER_NOT_FOUND)
                await self._store.insert_group(tx, title_id, group)
                await self._store.insert_member(
                    tx, title_id, group.id, user_id, SUPERADMIN, group.create_time
                )
        except IntegrityError as exc:
            if exc.involves("name"):
                raise AlreadyExists(NAME_IN_USE) from None
            raise
        return group

    async def update(self, title_id: str, caller: str | None, group_id: str, update: GroupUpdate) -> None:
        """Change a group's fields; `caller` must be one of its superadmins or admins."""
        group_id = canonical_group_id(group_id)
        fields: dict[str, Any] = {}
        if update.name is not None:
            if not update.name:
                raise InvalidArgument("Group name cannot be empty.")
            fields["name"] = check.text_field("group name", update.name, 255)
        if update.lang_tag is not None:
            if not update.lang_tag:
                raise InvalidArgument("Group language cannot be empty.")
            fields["lang_tag"] = check.text_field("lang tag", update.lang_tag, 18)
        if update.description is not None:
            fields["description"] = check.text_field("description", update.description, 255) or None
        if update.avatar_url is not None:
            fields["avatar_url"] = check.text_field("avatar url", update.avatar_url, 512) or None
        if update.open is not None:
            fields["state"] = OPEN if update.open else CLOSED
        if update.metadata is not None:
            fields["metadata"] = check.metadata(update.metadata)
        if update.max_count is not None:
            fields["max_count"] = _max_count(update.max_count)
        if update.creator_id is not None:
            creator = canonical_user_id(update.creator_id)
            if creator is None:
                raise InvalidArgument(f"Invalid creator ID {update.creator_id!r}.")
            fields["creator_id"] = creator
        async with self._db.transaction() as tx:
            if caller is not None:
                state = await self._store.member_state(tx, title_id, group_id, caller)
                if state is None or state > ADMIN:
                    raise NotFound(UPDATE_DENIED)
            if not fields:
                raise InvalidArgument("Specify at least one field to update.")
            try:
                changed = await self._store.update_group(tx, title_id, group_id, fields, now_ms())
            except IntegrityError as exc:
                if exc.involves("name"):
                    raise InvalidArgument(NAME_IN_USE) from None  # as Nakama: not ALREADY_EXISTS here
                raise
            if not changed:
                raise NotFound(GROUP_NOT_FOUND)

    async def delete(self, title_id: str, caller: str | None, group_id: str) -> None:
        """Delete a group and every membership; `caller` must be one of its superadmins."""
        group_id = canonical_group_id(group_id)
        async with self._db.transaction() as tx:
            group = await self._store.lock_group(tx, title_id, group_id)
            if caller is not None:
                state = await self._store.member_state(tx, title_id, group_id, caller)
                if state != SUPERADMIN:
                    raise InvalidArgument(DELETE_DENIED)  # as Nakama: INVALID_ARGUMENT, not NOT_FOUND
            if group is None:
                return
            await self._store.delete_group(tx, title_id, group_id)
        announce(self._deleted_listeners, [GroupDeleted(title_id, group_id)], "group")

    # -- joining and leaving ----------------------------------------------------------------------

    async def join(self, title_id: str, group_id: str, user_id: str) -> None:
        """Join an open group, or ask to join a closed one (state 3). Nothing happens if the user
        already has a state in the group (member, request or banned)."""
        group_id = canonical_group_id(group_id)
        requests: list[GroupJoinRequest] = []
        changes: list[GroupMembershipChanged] = []
        async with self._db.transaction() as tx:
            name = await self._store.username(tx, title_id, user_id, hold=True)  # before the group
            if name is None:
                raise NotFound(USER_NOT_FOUND)
            group = await self._store.lock_group(tx, title_id, group_id)
            if group is None:
                raise NotFound(GROUP_NOT_FOUND)
            if group.edge_count >= group.max_count:
                raise InvalidArgument(GROUP_FULL)
            if await self._store.member_state(tx, title_id, group_id, user_id) is not None:
                return
            now = now_ms()
            if not group.open:
                await self._store.insert_member(tx, title_id, group_id, user_id, JOIN_REQUEST, now)
                admins = await self._store.admins(tx, title_id, group_id, ADMIN)
                requests.append(
                    GroupJoinRequest(title_id, group_id, group.name, user_id, name, tuple(admins))
                )
            else:
                await self._store.insert_member(tx, title_id, group_id, user_id, MEMBER, now)
                if not await self._store.count_up(tx, title_id, group_id, now):
                    raise InvalidArgument(GROUP_FULL)
                changes.append(GroupMembershipChanged(title_id, group_id, CHANNEL_GROUP_JOIN, user_id, name))
            then = await self._record(tx, changes)
        announce(self._join_request_listeners, requests, "group")
        self._committed(changes, then)

    async def leave(self, title_id: str, group_id: str, user_id: str) -> None:
        """Leave a group, or withdraw a join request. The last superadmin cannot leave."""
        group_id = canonical_group_id(group_id)
        async with self._db.transaction() as tx:
            if await self._store.lock_group(tx, title_id, group_id) is None:
                return
            state = await self._store.member_state(tx, title_id, group_id, user_id)
            if state is None or state == BANNED:
                return
            if state == SUPERADMIN and not await self._other_superadmins(tx, title_id, group_id, user_id):
                raise InvalidArgument(LAST_SUPERADMIN)
            await self._store.delete_member(tx, title_id, group_id, user_id)
            if state < JOIN_REQUEST:
                await self._store.count_down(tx, title_id, group_id, now_ms())
            name = await self._store.username(tx, title_id, user_id) or ""
            changes = [GroupMembershipChanged(title_id, group_id, CHANNEL_GROUP_LEAVE, user_id, name)]
            then = await self._record(tx, changes)
        self._committed(changes, then)

    # -- managing members -------------------------------------------------------------------------

    async def add_users(
        self, title_id: str, caller: str | None, group_id: str, user_ids: Iterable[str]
    ) -> None:
        """Add users as members, accepting their join requests if they made one. All or none:
        an unknown user or a full group fails the call. Members and banned users are left alone."""
        group_id = canonical_group_id(group_id)
        ids = _user_ids(user_ids)
        if not ids:
            return
        added: list[GroupMembershipChanged] = []
        async with self._db.transaction() as tx:
            # The users' rows are held before the group is locked (the order of an account
            # deletion: user, then groups): a user deleted meanwhile is not found, and a deletion
            # that comes later waits for this transaction and removes the membership.
            names = await self._store.hold_usernames(tx, title_id, [i for i in ids if i != caller])
            group, _ = await self._authorize(tx, title_id, group_id, caller)
            now = now_ms()
            for user_id in ids:
                if user_id == caller:
                    continue
                name = names.get(user_id)
                if name is None:
                    raise InvalidArgument(USERS_NOT_FOUND)
                state = await self._store.member_state(tx, title_id, group_id, user_id)
                if state is None:
                    await self._store.insert_member(tx, title_id, group_id, user_id, MEMBER, now)
                elif state == JOIN_REQUEST:
                    await self._store.set_member_state(tx, title_id, group_id, user_id, MEMBER, now)
                else:
                    continue
                if not await self._store.count_up(tx, title_id, group_id, now):
                    raise InvalidArgument(GROUP_FULL)
                added.append(GroupMembershipChanged(title_id, group_id, CHANNEL_GROUP_ADD, user_id, name))
            then = await self._record(tx, added)
        if added:
            event = GroupUsersAdded(
                title_id, group_id, group.name, caller or "", tuple(c.user_id for c in added)
            )
            announce(self._added_listeners, [event], "group")
        self._committed(added, then)

    async def kick(self, title_id: str, caller: str | None, group_id: str, user_ids: Iterable[str]) -> None:
        """Remove members, decline join requests or lift bans (removing the user's state).
        Users the caller may not kick are skipped."""
        await self._remove(title_id, caller, group_id, user_ids, ban=False)

    async def ban(self, title_id: str, caller: str | None, group_id: str, user_ids: Iterable[str]) -> None:
        """Remove users as `kick` does and keep them out (state 4: joining does nothing)."""
        await self._remove(title_id, caller, group_id, user_ids, ban=True)

    async def _remove(
        self, title_id: str, caller: str | None, group_id: str, user_ids: Iterable[str], ban: bool
    ) -> None:
        group_id = canonical_group_id(group_id)
        ids = _user_ids(user_ids)
        if not ids:
            return
        changes: list[GroupMembershipChanged] = []
        code = CHANNEL_GROUP_BAN if ban else CHANNEL_GROUP_KICK
        async with self._db.transaction() as tx:
            _, my_state = await self._authorize(tx, title_id, group_id, caller)
            now = now_ms()
            for user_id in ids:
                if user_id == caller:
                    continue
                state = await self._store.member_state(tx, title_id, group_id, user_id)
                if state is None:
                    continue
                if my_state == SUPERADMIN:
                    if state == SUPERADMIN and not await self._other_superadmins(
                        tx, title_id, group_id, user_id
                    ):
                        continue
                elif state <= ADMIN:
                    continue
                await self._store.delete_member(tx, title_id, group_id, user_id)
                if ban:
                    await self._store.insert_member(tx, title_id, group_id, user_id, BANNED, now)
                if state < JOIN_REQUEST:
                    await self._store.count_down(tx, title_id, group_id, now_ms())
                    name = await self._store.username(tx, title_id, user_id) or ""
                    changes.append(GroupMembershipChanged(title_id, group_id, code, user_id, name))
            then = await self._record(tx, changes)
        self._committed(changes, then)

    async def promote(
        self, title_id: str, caller: str | None, group_id: str, user_ids: Iterable[str]
    ) -> None:
        """Move users one rank up (member -> admin -> superadmin), to at most the caller's rank."""
        group_id = canonical_group_id(group_id)
        ids = _user_ids(user_ids)
        if not ids:
            return
        changes: list[GroupMembershipChanged] = []
        async with self._db.transaction() as tx:
            _, my_state = await self._authorize(tx, title_id, group_id, caller)
            now = now_ms()
            for user_id in ids:
                if user_id == caller:
                    continue
                state = await self._store.member_state(tx, title_id, group_id, user_id)
                if state is None or not (my_state < state and ADMIN <= state <= MEMBER):
                    continue
                await self._store.set_member_state(tx, title_id, group_id, user_id, state - 1, now)
                name = await self._store.username(tx, title_id, user_id) or ""
                changes.append(
                    GroupMembershipChanged(title_id, group_id, CHANNEL_GROUP_PROMOTE, user_id, name)
                )
            then = await self._record(tx, changes)
        self._committed(changes, then)

    async def demote(self, title_id: str, caller: str | None, group_id: str, user_ids: Iterable[str]) -> None:
        """Move users one rank down (superadmin -> admin -> member), from the caller's rank or
        below; a group keeps at least one superadmin."""
        group_id = canonical_group_id(group_id)
        ids = _user_ids(user_ids)
        if not ids:
            raise InvalidArgument("User IDs must be set.")
        changes: list[GroupMembershipChanged] = []
        async with self._db.transaction() as tx:
            _, my_state = await self._authorize(tx, title_id, group_id, caller)
            now = now_ms()
            for user_id in ids:
                if user_id == caller:
                    continue
                state = await self._store.member_state(tx, title_id, group_id, user_id)
                if state is None or not my_state <= state < MEMBER:
                    continue
                if my_state == SUPERADMIN and not await self._other_superadmins(
                    tx, title_id, group_id, user_id
                ):
                    continue
                await self._store.set_member_state(tx, title_id, group_id, user_id, state + 1, now)
                name = await self._store.username(tx, title_id, user_id) or ""
                changes.append(
                    GroupMembershipChanged(title_id, group_id, CHANNEL_GROUP_DEMOTE, user_id, name)
                )
            then = await self._record(tx, changes)
        self._committed(changes, then)

    async def delete_user_memberships(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Account deletion step: leave every group; a group the user was the last superadmin of
        is deleted, as Nakama does."""
        for group_id, state in await self._store.memberships(tx, title_id, user_id):
            await self._store.lock_group(tx, title_id, group_id)
            if state == SUPERADMIN and not await self._other_superadmins(tx, title_id, group_id, user_id):
                await self._store.delete_group(tx, title_id, group_id)
                continue
            await self._store.delete_member(tx, title_id, group_id, user_id)
            if state < JOIN_REQUEST:
                await self._store.count_down(tx, title_id, group_id, now_ms())

    # -- listing ----------------------------------------------------------------------------------

    async def list_groups(
        self,
        title_id: str,
        name: str = "",
        lang_tag: str = "",
        members: int | None = None,
        open: bool | None = None,
        limit: int | None = None,
        cursor: str = "",
    ) -> GroupPage:
        """A page of groups. By `name` (case-insensitive; `%` is a wildcard, e.g. `heroes%`)
        in name order; or filtered by `lang_tag`, `open` and at most `members` members, biggest
        first. `limit` 1-100 (default 1, as Nakama)."""
        limit = _limit(limit, 1)
        if members is not None and not 0 <= members <= MAX_INT32:
            raise InvalidArgument(f"Invalid members - members must be between 0 and {MAX_INT32}.")
        if name and (lang_tag or open is not None or members is not None):
            raise InvalidArgument(NAME_FILTER_ALONE)
        if name:
            after_name = str(cursors.decode(cursor, (str,), MALFORMED_CURSOR)[0]) if cursor else None
            found = await self._store.list_by_name(title_id, name.lstrip("% "), limit + 1, after_name)
            page = found[:limit]
            next_cursor = cursors.encode([page[-1].name]) if len(found) > limit else ""
            return GroupPage(groups=page, cursor=next_cursor)
        after = cursors.decode(cursor, (int, str), MALFORMED_CURSOR) if cursor else None
        found = await self._store.list_filtered(title_id, open, lang_tag, members, limit + 1, after)
        page = found[:limit]
        next_cursor = cursors.encode([page[-1].edge_count, page[-1].id]) if len(found) > limit else ""
        return GroupPage(groups=page, cursor=next_cursor)

    async def list_group_users(
        self,
        title_id: str,
        group_id: str,
        limit: int | None = None,
        state: int | None = None,
        cursor: str = "",
    ) -> GroupUserPage:
        """A page of a group's users (states 0-3, or the one `state`, 4 for the banned), by state
        then oldest first. `limit` 1-100 (default 100)."""
        group_id = canonical_group_id(group_id)
        limit = _limit(limit, 100)
        state = _member_state(state)
        after = cursors.after_in_state(cursor, state, BAD_CURSOR)
        listed = await self._store.list_group_users(title_id, group_id, limit + 1, state, after)
        page = listed[:limit]
        next_cursor = ""
        if len(listed) > limit:
            last = page[-1]
            next_cursor = cursors.encode([last.group_user.state, last.position, last.group_user.user.id])
        return GroupUserPage(group_users=[entry.group_user for entry in page], cursor=next_cursor)

    async def list_user_groups(
        self,
        title_id: str,
        user_id: str,
        limit: int | None = None,
        state: int | None = None,
        cursor: str = "",
    ) -> UserGroupPage:
        """A page of the groups a user is in or asked to join (states 0-3, or the one `state`),
        by state then oldest first. Groups the user is banned from are not listed, as in Nakama.
        `limit` 1-100 (default 100)."""
        if not user_id:
            raise InvalidArgument("User ID must be set.")
        canonical = canonical_user_id(user_id)
        if canonical is None:
            raise InvalidArgument(USER_ID_INVALID)
        limit = _limit(limit, 100)
        state = _member_state(state)
        if state == BANNED:
            return UserGroupPage(user_groups=[])
        after = cursors.after_in_state(cursor, state, BAD_CURSOR)
        listed = await self._store.list_user_groups(title_id, canonical, limit + 1, state, after)
        page = listed[:limit]
        next_cursor = ""
        if len(listed) > limit:
            last = page[-1]
            next_cursor = cursors.encode([last.user_group.state, last.position, last.user_group.group.id])
        return UserGroupPage(user_groups=[entry.user_group for entry in page], cursor=next_cursor)

    # -- helpers ----------------------------------------------------------------------------------

    async def _authorize(self, tx: Tx, title_id: str, group_id: str, caller: str | None) -> tuple[Group, int]:
        """Lock the group; the caller must be one of its superadmins or admins (server code: any
        existing group, as a superadmin). Returns the group and the caller's state."""
        group = await self._store.lock_group(tx, title_id, group_id)
        if caller is None:
            if group is None:
                raise NotFound(GROUP_NOT_FOUND)
            return group, SUPERADMIN
        state = None if group is None else await self._store.member_state(tx, title_id, group_id, caller)
        if group is None or state is None or state > ADMIN:
            raise NotFound(NOT_FOUND_OR_DENIED)
        return group, state

    async def _other_superadmins(self, tx: Tx, title_id: str, group_id: str, user_id: str) -> int:
        return await self._store.count_others_in_state(tx, title_id, group_id, SUPERADMIN, user_id)
