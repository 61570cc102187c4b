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
from overworld.storage.models import Ack, ObjectId, ObjectPage, ObjectWrite, StoredObject
from overworld.titles.models import Title

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime

BUILTIN_EVENTS = frozenset({"account_created", "session_start", "session_end"})
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


class ServerApi:
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
        return await self._runtime.accounts.get_account(self._title, _uuid(user_id))

    async def users_get(self, ids: Iterable[str] = (), usernames: Iterable[str] = ()) -> list[User]:
        """Public profiles by id and/or username (100 at most); unknown ones are left out."""
        return await self._runtime.accounts.get_users(self._title, list(ids), list(usernames))

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
        await self._runtime.accounts.update_account(self._title, _uuid(user_id), update)

    async def account_delete(self, user_id: str) -> None:
        """Delete a user and everything it owns; its sessions end at once."""
        await self._runtime.accounts.delete_account(self._title, _uuid(user_id))

    async def sessions_logout(self, user_id: str) -> None:
        """End every session and refresh token of a user, on every node."""
        await self._runtime.sessions.logout_everywhere(self._title, _uuid(user_id))

    # -- storage (no permission checks: server code may read and write any object) -------------

    async def storage_read(self, ids: Sequence[ObjectId | Mapping[str, Any]]) -> list[StoredObject]:
        """Objects by collection, key and owner (`user_id`, "" for the system user); missing ones
        are left out."""
        return await self._runtime.storage.read(self._title.id, None, [_object_id(i) for i in ids])

    async def storage_write(self, objects: Sequence[ObjectWrite | Mapping[str, Any]]) -> list[Ack]:
        """Write up to 100 objects in one transaction (all or none). A `value` may be a dict
        (encoded as JSON) or JSON object text; `version` works as for clients ("*": only if
        absent; a version: only if it matches)."""
        return await self._runtime.storage.write(self._title.id, None, [_object_write(o) for o in objects])

    async def storage_delete(self, ids: Sequence[ObjectId | Mapping[str, Any]]) -> None:
        """Delete objects in one transaction; with a `version`, only if it matches."""
        await self._runtime.storage.delete(self._title.id, None, [_object_id(i) for i in ids])

    async def storage_list(
        self, collection: str, user_id: str = "", limit: int = 100, cursor: str = ""
    ) -> ObjectPage:
        """One page (1-100 objects) of a collection: of one owner when `user_id` is given
        (the system user's with `SYSTEM_USER`), otherwise of every owner. Pass the page's
        `cursor` back for the next page; it is "" after the last."""
        return await self._runtime.storage.list_objects(
            self._title.id, None, collection, user_id, limit, cursor
        )

    # -- events, HTTP, metrics ------------------------------------------------------------------

    def event(self, name: str, properties: Mapping[str, Any] | None = None, user_id: str = "") -> None:
        """Emit a custom event to this title's handlers (not a coroutine: they run in the
        background after this returns)."""
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise InvalidArgument("Event name must be 1-128 characters.")
        if name in BUILTIN_EVENTS:
            raise InvalidArgument(f"Event name {name!r} is reserved for the server.")
        self._runtime.emit(self._title, name, dict(properties or {}), user_id)

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


def _uuid(value: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"Invalid user ID {value!r}.") from None


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
