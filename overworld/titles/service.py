"""Create and look up titles. Lookups by key are served from memory and compared in constant time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from overworld.clock import now_ms, rfc3339
from overworld.db import Database, IntegrityError
from overworld.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from overworld.titles.models import Title
from overworld.titles.store import TitleRow, TitleStore

NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
REGION_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
log = structlog.get_logger(__name__)
_RELOAD_INTERVAL = 0.25  # seconds between reloads triggered by unknown keys
# Titles known longer than this are read again before a key is looked up (one query per node and
# interval, shared by the lookups waiting on it): a key rotated or a title disabled on another node
# takes effect here within it.
REFRESH_INTERVAL = 5.0
# The key settings' defaults: known to everyone, so refused beyond loopback (`allow_default_keys`).
WELL_KNOWN_KEYS = frozenset({"defaultkey", "defaulthttpkey"})


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _title_from_row(r: TitleRow) -> Title:
    secret = bytes.fromhex(r.token_secret)
    return Title(
        id=r.id,
        name=r.name,
        server_key=r.server_key,
        http_key=r.http_key,
        token_secret=hmac.new(secret, b"session", hashlib.sha256).digest(),
        refresh_secret=hmac.new(secret, b"refresh", hashlib.sha256).digest(),
        disabled=r.disabled,
        previous_server_key=r.previous_server_key,
        previous_http_key=r.previous_http_key,
        previous_keys_expire=r.previous_keys_expire_time or 0,
        region=r.region or "",
    )


def check_region(region: str) -> str:
    """A region label as given to `title create --region` or the `region` setting ('' for none)."""
    if region and not REGION_RULE.match(region):
        raise InvalidArgument(
            "Region must be 1-32 characters of lower-case letters, digits, '-' or '_', starting with"
            " a letter or digit."
        )
    return region


def wrong_region(title: Title, node_region: str) -> FailedPrecondition:
    """The error for a request to a title that this node must not serve (docs/data-protection.md)."""
    served_by = f"nodes of region {title.region!r}" if title.region else "nodes without a region"
    here = f"region {node_region!r}" if node_region else "no region"
    return FailedPrecondition(
        f"Title {title.name!r} is served by {served_by}; this node serves {here}. Connect to a node"
        " of the title's region."
    )


def config_digest(server_key: str, http_key: str) -> str:
    """What the default title records of the key settings it was given (to notice a change)."""
    return hashlib.sha256(f"{server_key}\0{http_key}".encode()).hexdigest()


def _keys(title: Title, kind: str, now: int) -> list[str]:
    """The title's keys of `kind` that work at `now`: the current one, and the previous one until
    it expires."""
    current = title.server_key if kind == "server" else title.http_key
    previous = title.previous_server_key if kind == "server" else title.previous_http_key
    return [current, previous] if previous and now < title.previous_keys_expire else [current]


class TitleService:
    """The titles this node serves, from memory. Data residency: a title whose region is not the
    node's (`region`) is never served here: it is absent from `all()` and `get()` (so no service
    loads its data or schedules its jobs), and its keys and tokens are answered with
    FAILED_PRECONDITION naming the region that serves it (`foreign`, `wrong_region`)."""

    def __init__(self, db: Database, region: str = "") -> None:
        self._store = TitleStore(db)
        self.region = region
        self._by_id: dict[str, Title] = {}
        self._foreign: dict[str, Title] = {}
        self._by_server_key: dict[bytes, Title] = {}
        self._by_http_key: dict[bytes, Title] = {}
        self._last_reload = 0.0
        self._reloading: asyncio.Task[None] | None = None
        self._added_listeners: list[Callable[[Title], Awaitable[None]]] = []

    def on_added(self, listener: Callable[[Title], Awaitable[None]]) -> None:
        """Register a coroutine function awaited with each title that appears in a later
        `load()` (created here or by another process)."""
        self._added_listeners.append(listener)

    def serves(self, title: Title) -> bool:
        """Whether this node may serve the title's data (its region is the node's)."""
        return title.region == self.region

    def foreign(self, title_id: str) -> Title | None:
        """The title if it exists but another region serves it."""
        return self._foreign.get(title_id)

    async def load(self) -> None:
        every = [_title_from_row(r) for r in await self._store.all()]
        titles = [t for t in every if self.serves(t)]
        known = self._by_id
        self._by_id = {t.id: t for t in titles}
        self._foreign = {t.id: t for t in every if not self.serves(t)}
        now = now_ms()
        # Foreign titles stay in the key indexes so their callers are told which region serves them.
        self._by_server_key = {_digest(k): t for t in every for k in _keys(t, "server", now)}
        self._by_http_key = {_digest(k): t for t in every for k in _keys(t, "http", now)}
        self._last_reload = time.monotonic()
        for title in titles:
            if title.id not in known:
                for listener in self._added_listeners:
                    await listener(title)

    def all(self) -> list[Title]:
        return sorted(self._by_id.values(), key=lambda t: t.name)

    def get(self, title_id: str) -> Title | None:
        return self._by_id.get(title_id)

    async def by_server_key(self, key: str) -> Title | None:
        return await self._by_key(self._by_server_key, key, "server")

    async def by_http_key(self, key: str) -> Title | None:
        return await self._by_key(self._by_http_key, key, "http")

    async def _by_key(self, index: dict[bytes, Title], key: str, kind: str) -> Title | None:
        digest = _digest(key)
        since = time.monotonic() - self._last_reload
        if since > REFRESH_INTERVAL:
            await self._reload()  # keys rotated, titles disabled on other nodes meanwhile
        index = self._by_server_key if kind == "server" else self._by_http_key
        title = index.get(digest)
        if title is None and time.monotonic() - self._last_reload > _RELOAD_INTERVAL:
            await self._reload()  # a title created (or a key rotated) by another process
            index = self._by_server_key if kind == "server" else self._by_http_key
            title = index.get(digest)
        if title is None or title.disabled:
            return None
        matched = False
        for expected in _keys(title, kind, now_ms()):  # the previous key: only until it expires
            matched |= hmac.compare_digest(expected.encode(), key.encode())
        if matched and title.id in self._foreign:
            raise wrong_region(title, self.region)
        return title if matched else None

    async def _reload(self) -> None:
        """`load`, once for all the lookups that need it at the same time."""
        task = self._reloading
        if task is None or task.done():
            task = self._reloading = asyncio.get_running_loop().create_task(self.load())
        await asyncio.shield(task)

    async def every(self) -> list[Title]:
        """Every title in the database, whichever region serves it (operator commands)."""
        return sorted((_title_from_row(r) for r in await self._store.all()), key=lambda t: t.name)

    async def find_by_name(self, name: str) -> Title | None:
        row = await self._store.by_name(name)
        return None if row is None else _title_from_row(row)

    async def create(
        self, name: str, server_key: str | None = None, http_key: str | None = None, region: str = ""
    ) -> Title:
        if not NAME_RULE.match(name):
            raise InvalidArgument(
                "Title name must be 1-64 characters of lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit."
            )
        _check_keys(server_key, http_key)
        check_region(region)
        title_id = str(uuid.uuid4())
        try:
            await self._store.insert(
                title_id,
                name,
                server_key or secrets.token_urlsafe(24),
                http_key or secrets.token_urlsafe(24),
                secrets.token_hex(32),
                now_ms(),
            )
        except IntegrityError as exc:
            if exc.involves("name"):
                raise AlreadyExists(f"A title named {name!r} already exists.") from None
            raise AlreadyExists("That server key or http key is already used by another title.") from None
        if region:
            await self._store.set_region(title_id, region)
        await self.load()
        return self._by_id.get(title_id) or self._foreign[title_id]

    async def set_region(self, name: str, region: str) -> Title:
        """Set (or with '' clear) the region whose nodes serve the title. Nodes take it into
        account at their next reload of the titles (within REFRESH_INTERVAL for requests; server
        code and scheduled jobs follow a restart)."""
        check_region(region)
        found = await self.find_by_name(name)
        if found is None:
            raise NotFound(f"No title named {name!r}.")
        await self._store.set_region(found.id, region or None)
        await self.load()
        return self._by_id.get(found.id) or self._foreign[found.id]

    async def ensure_default(self, name: str, server_key: str, http_key: str) -> tuple[Title, bool]:
        """The title created on first start (in this node's region); returns it and whether it
        was created now."""
        existing = await self.find_by_name(name)
        if existing is not None:
            await self.load()
            return existing, False
        try:
            return await self.create(name, server_key, http_key, region=self.region), True
        except AlreadyExists:  # another node created it at the same moment
            await self.load()
            found = await self.find_by_name(name)
            if found is None:
                raise
            return found, False

    async def rotate_keys(
        self,
        name: str,
        overlap_sec: int,
        server_key: str | None = None,
        http_key: str | None = None,
    ) -> tuple[Title, int]:
        """Give the title new keys (random unless given); its current keys keep working for
        `overlap_sec` more seconds, on every node (stored with the title). Returns the title and
        when the old keys stop working (ms). Raises NotFound, InvalidArgument, AlreadyExists."""
        found = await self.find_by_name(name)
        if found is None:
            raise NotFound(f"No title named {name!r}.")
        _check_keys(server_key, http_key)
        expire = now_ms() + overlap_sec * 1000
        try:
            await self._store.rotate_keys(
                found.id,
                server_key or secrets.token_urlsafe(24),
                http_key or secrets.token_urlsafe(24),
                expire,
            )
        except IntegrityError:
            raise AlreadyExists("That server key or http key is already used by another title.") from None
        await self.load()
        return self._by_id.get(found.id) or self._foreign[found.id], expire

    async def apply_configured_keys(
        self, title: Title, server_key: str, http_key: str, overlap_sec: int
    ) -> Title:
        """The default title's keys as the settings give them: when the key settings differ from
        those last applied (or, for a title created before this was recorded, from its keys), they
        become its keys, the replaced ones working `overlap_sec` more seconds. A key rotated with
        `rotate_keys` stays while the settings stay as they were. One node of a cluster applies a
        change; the others load the result."""
        digest = config_digest(server_key, http_key)
        row = await self._store.by_name(title.name)
        if row is None or row.config_keys_digest == digest:
            return title
        if row.config_keys_digest is None and (row.server_key, row.http_key) == (server_key, http_key):
            await self._store.set_config_digest(row.id, digest)
            return title
        _check_keys(server_key, http_key)
        expire = now_ms() + overlap_sec * 1000
        try:
            changed = await self._store.rotate_keys(row.id, server_key, http_key, expire, digest)
        except IntegrityError:
            raise AlreadyExists(
                "default_server_key or default_http_key is already a key of another title"
            ) from None
        await self.load()
        updated = self._by_id.get(row.id) or self._foreign[row.id]
        if changed:
            log.warning(
                "the default title's keys were changed to the configured ones",
                title=title.name, previous_keys_work_until=rfc3339(expire),
            )  # fmt: skip
        return updated

    def well_known_keys_in_use(self) -> list[str]:
        """'<title>: <setting>' for each title whose working keys include a well-known one."""
        now = now_ms()
        found = []
        for title in self.all():
            if title.disabled:
                continue
            for kind in ("server", "http"):
                current, *previous = _keys(title, kind, now)
                if current in WELL_KNOWN_KEYS:
                    found.append(f"title {title.name!r}: its {kind} key")
                elif WELL_KNOWN_KEYS & set(previous):
                    until = rfc3339(title.previous_keys_expire)
                    found.append(f"title {title.name!r}: its previous {kind} key, working until {until}")
        return found

    def has_well_known_keys(self, title: Title) -> bool:
        """Whether the title's current keys are the well-known ones (a rotation away from them
        need not keep them working)."""
        return bool(WELL_KNOWN_KEYS & {title.server_key, title.http_key})


def _check_keys(server_key: str | None, http_key: str | None) -> None:
    for label, value in (("server key", server_key), ("http key", http_key)):
        if value is not None and not 8 <= len(value) <= 128:
            raise InvalidArgument(f"The {label} must be 8-128 characters.")
