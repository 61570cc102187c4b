"""`ServerApi`: what server code can do, passed to a module's `init` as `nk`.

One `ServerApi` is made per (title, module): everything it reads or writes belongs to that
title, so code running for title A can never reach title B's users or objects. The functions
are coroutines unless marked otherwise; they return plain dataclasses and raise `ApiError`
(with a gRPC code) when a request is refused, which an RPC may let through to its caller.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from prometheus_client import Counter

from overworld.accounts.models import Account, AccountUpdate, User
from overworld.errors import InvalidArgument
from overworld.friends.models import FriendPage
from overworld.groups.models import Group, GroupPage, GroupUpdate, GroupUserPage, UserGroupPage
from overworld.ids import parse_uuid
from overworld.runtime.functions.leaderboards import LeaderboardFunctions  # nk.leaderboard_*, nk.tournament_*
from overworld.runtime.functions.live_events import LiveEventFunctions  # nk.remote_config_*, nk.live_event_*
from overworld.runtime.functions.matches import MatchFunctions  # nk.match_*
from overworld.runtime.functions.matchmaking import MatchmakerFunctions  # nk.matchmaker_*
from overworld.runtime.functions.parties import PartyFunctions  # nk.party_list
from overworld.runtime.functions.privacy import PrivacyFunctions  # nk.account_export/erase, nk.consent_*
from overworld.runtime.functions.wallets import WalletFunctions  # nk.wallet_*, nk.multi_update
from overworld.storage.models import Ack, ObjectId, ObjectPage, ObjectWrite, StoredObject
from overworld.titles.models import Title

if TYPE_CHECKING:
    from overworld.friends.service import FriendService
    from overworld.groups.service import GroupService
    from overworld.notifications.service import NotificationService
    from overworld.runtime.runtime import Runtime

BUILTIN_EVENTS = frozenset({"account_created", "session_start", "session_end"})
MAX_EVENT_NAME = 128


def check_event_name(name: object) -> str:
    """A custom event's name, as server code (`nk.event`) and clients (`POST /v2/event`) may emit
    it: 1-128 characters, not a built-in event's, and not "*" (the name handlers of every event
    register under, which would run them twice)."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_EVENT_NAME:
        raise InvalidArgument(f"Event name must be 1-{MAX_EVENT_NAME} characters.")
    if name in BUILTIN_EVENTS or name == "*":
        raise InvalidArgument(f"Event name {name!r} is reserved for the server.")
    return name


_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")
# Counters are process-wide (Prometheus registers a name once): one per name, labelled by title.
_COUNTERS: dict[str, tuple[Counter, tuple[str, ...]]] = {}


class HttpRequestError(Exception):
    """`http_request` could not get a response: bad URL, connection failure or time limit."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: str = ""

    def json(self) -> Any:
        return orjson.loads(self.body)


class ServerApi(
    LeaderboardFunctions,
    LiveEventFunctions,
    MatchFunctions,
    MatchmakerFunctions,
    PartyFunctions,
    PrivacyFunctions,
    WalletFunctions,
):
    """The server functions available to one module for one title."""

    def __init__(self, runtime: Runtime, title: Title, module: str) -> None:
        self._runtime = runtime
        self._title = title
        self.module = module
        self.logger: Any = structlog.get_logger("overworld.runtime.module").bind(
            title=title.name, module=module
        )

    @property
    def title_id(self) -> str:
        return self._title.id

    @property
    def title_name(self) -> str:
        return self._title.name

    # -- accounts and users ---------------------------------------------------------------------

    async def account_get(self, user_id: str) -> Account:
        """A user's account: profile (`.user`), email, custom id, devices, disable time.
        NOT_FOUND if the title has no such user."""
        return await self._runtime.services.accounts.get_account(self._title, _uuid(user_id))

    async def users_get(self, ids: Iterable[str] = (), usernames: Iterable[str] = ()) -> list[User]:
        """Public profiles by id and/or username (100 at most); unknown ones are left out."""
        return await self._runtime.services.accounts.get_users(self._title, list(ids), list(usernames))

    async def account_update(
        self,
        user_id: str,
        *,
        username: str | None = None,
        display_name: str | None = None,
        avatar_url: str | None = None,
        lang_tag: str | None = None,
        location: str | None = None,
        timezone: str | None = None,
        metadata: Mapping[str, Any] | str | None = None,
    ) -> None:
        """Change profile fields; None leaves a field as it is, "" clears it. `metadata` (a dict
        or a JSON object text, 16 KiB at most) replaces the user's metadata, which clients can
        read but not change."""
        if metadata is not None and not isinstance(metadata, str):
            metadata = orjson.dumps(dict(metadata)).decode()
        update = AccountUpdate(
            username=username,
            display_name=display_name,
            avatar_url=avatar_url,
            lang_tag=lang_tag,
            location=location,
            timezone=timezone,
            metadata=metadata,
        )
        await self._runtime.services.accounts.update_account(self._title, _uuid(user_id), update)

    async def account_delete(self, user_id: str) -> None:
        """Delete a user and everything it owns; its sessions end at once."""
        await self._runtime.services.accounts.delete_account(self._title, _uuid(user_id))

    async def sessions_logout(self, user_id: str) -> None:
        """End every session and refresh token of a user, on every node."""
        await self._runtime.services.sessions.logout_everywhere(self._title, _uuid(user_id))

    # -- storage (no permission checks: server code may read and write any object) -------------

    async def storage_read(self, ids: Sequence[ObjectId | Mapping[str, Any]]) -> list[StoredObject]:
        """Objects by collection, key and owner (`user_id`, "" for the system user); missing ones
        are left out."""
        return await self._runtime.services.storage.read(self._title.id, None, [_object_id(i) for i in ids])

    async def storage_write(self, objects: Sequence[ObjectWrite | Mapping[str, Any]]) -> list[Ack]:
        """Write up to 100 objects in one transaction (all or none). A `value` may be a dict
        (encoded as JSON) or JSON object text; `version` works as for clients ("*": only if
        absent; a version: only if it matches)."""
        return await self._runtime.services.storage.write(
            self._title.id, None, [_object_write(o) for o in objects]
        )

    async def storage_delete(self, ids: Sequence[ObjectId | Mapping[str, Any]]) -> None:
        """Delete objects in one transaction; with a `version`, only if it matches."""
        await self._runtime.services.storage.delete(self._title.id, None, [_object_id(i) for i in ids])

    async def storage_list(
        self, collection: str, user_id: str = "", limit: int = 100, cursor: str = ""
    ) -> ObjectPage:
        """One page (1-100 objects) of a collection: of one owner when `user_id` is given
        (the system user's with `SYSTEM_USER`), otherwise of every owner. Pass the page's
        `cursor` back for the next page; it is "" after the last."""
        return await self._runtime.services.storage.list_objects(
            self._title.id, None, collection, user_id, limit, cursor
        )

    # -- events, HTTP, metrics ------------------------------------------------------------------

    def event(self, name: str, properties: Mapping[str, Any] | None = None, user_id: str = "") -> None:
        """Emit a custom event to this title's handlers (not a coroutine: they run in the
        background after this returns)."""
        self._runtime.emit(self._title, check_event_name(name), dict(properties or {}), user_id)

    async def http_request(
        self,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - handed to httpx, which enforces it
    ) -> HttpResponse:
        """Call another HTTP service. Raises `HttpRequestError` when no response arrives
        within `timeout` seconds or the URL is not http(s); any status code is a response."""
        import httpx

        if not url.startswith(("http://", "https://")):
            raise HttpRequestError(f"not an http or https URL: {url!r}")
        client = self._runtime.http_client()
        try:
            response = await client.request(
                method.upper(), url, headers=dict(headers or {}), content=body, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise HttpRequestError(f"{method.upper()} {url} failed: {type(exc).__name__}: {exc}") from None
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.text,
        )

    def metrics_counter_add(
        self, name: str, delta: float = 1, labels: Mapping[str, str] | None = None
    ) -> None:
        """Add to the Prometheus counter `overworld_runtime_<name>_total` (labels: `title` and
        the given ones, which must be the same set on every call for a name). Not a coroutine."""
        if not _METRIC_NAME.match(name):
            raise ValueError(f"metric name {name!r}: letters, digits and '_', not starting with a digit")
        extra = dict(labels or {})
        keys = tuple(sorted(extra))
        entry = _COUNTERS.get(name)
        if entry is None:
            counter = Counter(f"overworld_runtime_{name}", f"Server code counter {name}", ["title", *keys])
            entry = _COUNTERS[name] = (counter, keys)
        counter, known = entry
        if keys != known:
            raise ValueError(f"metric {name!r} has labels {list(known)}, got {list(keys)}")
        counter.labels(self._title.name, *(extra[k] for k in keys)).inc(delta)

    # == notifications and sockets (overworld.notifications, overworld.realtime) ===============

    async def notification_send(
        self, user_id: str, subject: str, content: Mapping[str, Any] | str | None = None, code: int = 1,
        sender_id: str = "", persistent: bool = True,
    ) -> None:  # fmt: skip
        """Send a notification to one user: stored (when `persistent`) and delivered live to
        their open sockets on any node. `code` must be positive (lower codes are the server's).

            await nk.notification_send(user_id, "Reward", {"coins": 100}, code=101)
        """
        await self.notifications_send(
            [{"user_id": user_id, "subject": subject, "content": content, "code": code,
              "sender_id": sender_id, "persistent": persistent}]
        )  # fmt: skip

    async def notifications_send(self, notifications: Sequence[Mapping[str, Any]]) -> None:
        """Send several notifications at once (all stored or none), each a mapping with
        `user_id`, `subject`, `content`, `code`, and optionally `sender_id` and `persistent`.

            await nk.notifications_send([{"user_id": a, "subject": "Hi", "content": {}, "code": 2}])
        """
        service = self._notifications
        built = []
        for n in notifications:
            code = int(n.get("code", 1))
            if code <= 0:
                raise InvalidArgument("Notification code must be greater than 0 (lower codes are reserved).")
            content = _json_object(n.get("content")) or "{}"
            built.append(
                service.make(
                    _uuid(str(n["user_id"])), str(n.get("subject", "")), content, code,
                    str(n.get("sender_id", "")), bool(n.get("persistent", True)),
                )
            )  # fmt: skip
        await service.send(self._title.id, built)

    async def notifications_send_all(
        self,
        subject: str,
        content: Mapping[str, Any] | str | None = None,
        code: int = 1,
        persistent: bool = True,
    ) -> int:
        """Notify every user of the title: stored for each (when `persistent`) and delivered to
        every connected one. Returns how many were stored.

            await nk.notifications_send_all("Maintenance at 02:00 UTC", {"minutes": 30}, code=900)
        """
        if code <= 0:
            raise InvalidArgument("Notification code must be greater than 0 (lower codes are reserved).")
        content_json = _json_object(content) or "{}"
        return await self._notifications.send_all(self._title.id, subject, content_json, code, persistent)

    def user_online(self, user_ids: Iterable[str]) -> set[str]:
        """Which of these users appear online (a socket with `status=true`) on any node.

        online = nk.user_online([friend_id])
        """
        return self._runtime.services.hub.online(self._title.id, list(user_ids))

    def disconnect_user(self, user_id: str, reason: str = "Disconnected by the server") -> None:
        """Close every socket of a user, on every node.

        nk.disconnect_user(user_id, "banned")
        """
        self._runtime.services.hub.disconnect_user(self._title.id, user_id, reason)

    @property
    def _notifications(self) -> NotificationService:
        return self._runtime.services.notifications

    # == friends and groups (overworld.friends, overworld.groups) ================================

    @property
    def _friends(self) -> FriendService:
        return self._runtime.services.friends

    @property
    def _groups(self) -> GroupService:
        return self._runtime.services.groups

    async def friends_list(
        self, user_id: str, limit: int = 100, state: int | None = None, cursor: str = ""
    ) -> FriendPage:
        """One page (1-1000) of a user's relationships, each a `Friend` (`.user`, `.state`: 0
        friend, 1 invitation sent, 2 invitation received, 3 blocked); all, or those in `state`.

            page = await nk.friends_list(ctx.user_id, state=0)
            names = [f.user.username for f in page.friends]
        """
        return await self._friends.list_friends(self._title.id, _uuid(user_id), limit, state, cursor)

    async def friends_add(
        self,
        user_id: str,
        ids: Iterable[str] = (),
        usernames: Iterable[str] = (),
        metadata: Mapping[str, Any] | str | None = None,
    ) -> None:
        """Invite users (by id and/or username) as the user, or accept their invitations, with
        the rules of the client call (unknown and blocking users are skipped). `metadata` (a dict
        or JSON object text) is stored on the user's side of the relationship.

            await nk.friends_add(ctx.user_id, usernames=["alice"])
        """
        await self._friends.add(
            self._title.id, _uuid(user_id), "", list(ids), list(usernames), _json_object(metadata)
        )

    async def friends_delete(
        self, user_id: str, ids: Iterable[str] = (), usernames: Iterable[str] = ()
    ) -> None:
        """Remove friends and invitations of the user, and lift its blocks.

        await nk.friends_delete(ctx.user_id, ids=[other_id])
        """
        await self._friends.delete(self._title.id, _uuid(user_id), "", list(ids), list(usernames))

    async def friends_block(
        self, user_id: str, ids: Iterable[str] = (), usernames: Iterable[str] = ()
    ) -> None:
        """Block users for the user.

        await nk.friends_block(ctx.user_id, ids=[troll_id])
        """
        await self._friends.block(self._title.id, _uuid(user_id), "", list(ids), list(usernames))

    async def group_create(
        self,
        user_id: str,
        name: str,
        *,
        creator_id: str = "",
        lang_tag: str = "",
        description: str = "",
        avatar_url: str = "",
        open: bool = False,
        metadata: Mapping[str, Any] | str | None = None,
        max_count: int = 100,
    ) -> Group:
        """Create a group with `user_id` as its superadmin (and creator, unless `creator_id`).
        ALREADY_EXISTS if the name is taken in this title.

            group = await nk.group_create(ctx.user_id, "Night Owls", open=True, max_count=50,
                                          metadata={"region": "eu"})
        """
        return await self._groups.create(
            self._title.id, _uuid(user_id), name, creator_id=creator_id, description=description,
            avatar_url=avatar_url, lang_tag=lang_tag, metadata=_json_object(metadata), open=open,
            max_count=max_count,
        )  # fmt: skip

    async def group_update(
        self,
        group_id: str,
        *,
        name: str | None = None,
        creator_id: str | None = None,
        lang_tag: str | None = None,
        description: str | None = None,
        avatar_url: str | None = None,
        open: bool | None = None,
        metadata: Mapping[str, Any] | str | None = None,
        max_count: int | None = None,
    ) -> None:
        """Change a group's fields; None leaves a field as it is. NOT_FOUND if there is no such
        group.

            await nk.group_update(group_id, open=False, metadata={"season": 3})
        """
        update = GroupUpdate(
            name=name, description=description, lang_tag=lang_tag, avatar_url=avatar_url, open=open,
            metadata=None if metadata is None else _json_object(metadata), max_count=max_count,
            creator_id=creator_id,
        )  # fmt: skip
        await self._groups.update(self._title.id, None, group_id, update)

    async def group_delete(self, group_id: str) -> None:
        """Delete a group and its memberships (nothing happens if there is no such group).

        await nk.group_delete(group_id)
        """
        await self._groups.delete(self._title.id, None, group_id)

    async def groups_get_id(self, group_ids: Iterable[str]) -> list[Group]:
        """Groups by id; unknown ones are left out.

        [group] = await nk.groups_get_id([group_id])
        """
        return await self._groups.get(self._title.id, group_ids)

    async def groups_list(
        self,
        name: str = "",
        lang_tag: str = "",
        members: int | None = None,
        open: bool | None = None,
        limit: int = 100,
        cursor: str = "",
    ) -> GroupPage:
        """One page (1-100) of groups: by `name` (`%` wildcard, alone), or by language, open or
        closed and at most `members` members.

            page = await nk.groups_list(name="night%")
        """
        return await self._groups.list_groups(self._title.id, name, lang_tag, members, open, limit, cursor)

    async def group_users_list(
        self, group_id: str, limit: int = 100, state: int | None = None, cursor: str = ""
    ) -> GroupUserPage:
        """One page (1-100) of a group's users, each a `GroupUser` (`.user`, `.state`: 0
        superadmin, 1 admin, 2 member, 3 join request; 4 banned, listed only with `state=4`).

            page = await nk.group_users_list(group_id, state=3)  # pending join requests
        """
        return await self._groups.list_group_users(self._title.id, group_id, limit, state, cursor)

    async def user_groups_list(
        self, user_id: str, limit: int = 100, state: int | None = None, cursor: str = ""
    ) -> UserGroupPage:
        """One page (1-100) of the groups of a user, each a `UserGroup` (`.group`, `.state`).

        page = await nk.user_groups_list(ctx.user_id)
        """
        return await self._groups.list_user_groups(self._title.id, _uuid(user_id), limit, state, cursor)

    async def group_users_add(self, group_id: str, user_ids: Iterable[str], caller_id: str = "") -> None:
        """Add users to a group (accepting their join requests), all or none. Without
        `caller_id` server code acts as a superadmin; with it, that user's rights apply.

            await nk.group_users_add(group_id, [user_id])
        """
        await self._groups.add_users(self._title.id, _caller(caller_id), group_id, user_ids)

    async def group_users_kick(self, group_id: str, user_ids: Iterable[str], caller_id: str = "") -> None:
        """Remove users from a group or decline their join requests (never its last superadmin).

        await nk.group_users_kick(group_id, [user_id])
        """
        await self._groups.kick(self._title.id, _caller(caller_id), group_id, user_ids)

    async def group_users_ban(self, group_id: str, user_ids: Iterable[str], caller_id: str = "") -> None:
        """Remove users from a group and keep them out.

        await nk.group_users_ban(group_id, [user_id])
        """
        await self._groups.ban(self._title.id, _caller(caller_id), group_id, user_ids)

    async def group_users_promote(self, group_id: str, user_ids: Iterable[str], caller_id: str = "") -> None:
        """Move users one rank up (member -> admin -> superadmin).

        await nk.group_users_promote(group_id, [user_id])
        """
        await self._groups.promote(self._title.id, _caller(caller_id), group_id, user_ids)

    async def group_users_demote(self, group_id: str, user_ids: Iterable[str], caller_id: str = "") -> None:
        """Move users one rank down (superadmin -> admin -> member); one superadmin always remains.

        await nk.group_users_demote(group_id, [user_id])
        """
        await self._groups.demote(self._title.id, _caller(caller_id), group_id, user_ids)

    async def group_user_join(self, group_id: str, user_id: str) -> None:
        """Join a user to an open group, or make its request to join a closed one.

        await nk.group_user_join(group_id, ctx.user_id)
        """
        await self._groups.join(self._title.id, group_id, _uuid(user_id))

    async def group_user_leave(self, group_id: str, user_id: str) -> None:
        """Take a user out of a group (INVALID_ARGUMENT for its last superadmin).

        await nk.group_user_leave(group_id, ctx.user_id)
        """
        await self._groups.leave(self._title.id, group_id, _uuid(user_id))

    # == end of friends and groups ===============================================================


def _uuid(value: str) -> str:
    parsed = parse_uuid(value)
    if parsed is None:
        raise InvalidArgument(f"Invalid user ID {value!r}.")
    return str(parsed)


def _object_id(value: ObjectId | Mapping[str, Any]) -> ObjectId:
    if isinstance(value, ObjectId):
        return dataclasses.replace(value)
    return ObjectId(**value)


def _object_write(value: ObjectWrite | Mapping[str, Any]) -> ObjectWrite:
    obj = dataclasses.replace(value) if isinstance(value, ObjectWrite) else ObjectWrite(**value)
    raw: Any = obj.value  # a dict is welcome too
    if not isinstance(raw, str):
        obj.value = orjson.dumps(raw).decode()
    return obj


def _caller(user_id: str) -> str | None:
    return _uuid(user_id) if user_id else None


def _json_object(value: Mapping[str, Any] | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(dict(value)).decode()


# == end of friends and groups =====================================================================
