"""Create and look up titles. Lookups by key are served from memory and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable

from overworld.clock import now_ms
from overworld.db import Database, IntegrityError
from overworld.errors import AlreadyExists, InvalidArgument
from overworld.titles.models import Title
from overworld.titles.store import TitleRow, TitleStore

NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_RELOAD_INTERVAL = 0.25  # seconds between reloads triggered by unknown keys


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
    )


class TitleService:
    def __init__(self, db: Database) -> None:
        self._store = TitleStore(db)
        self._by_id: dict[str, Title] = {}
        self._by_server_key: dict[bytes, Title] = {}
        self._by_http_key: dict[bytes, Title] = {}
        self._last_reload = 0.0
        self._added_listeners: list[Callable[[Title], Awaitable[None]]] = []

    def on_added(self, listener: Callable[[Title], Awaitable[None]]) -> None:
        """Register a coroutine function awaited with each title that appears in a later
        `load()` (created here or by another process)."""
        self._added_listeners.append(listener)

    async def load(self) -> None:
        titles = [_title_from_row(r) for r in await self._store.all()]
        known = self._by_id
        self._by_id = {t.id: t for t in titles}
        self._by_server_key = {_digest(t.server_key): t for t in titles}
        self._by_http_key = {_digest(t.http_key): t for t in titles}
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
        title = index.get(digest)
        if title is None and time.monotonic() - self._last_reload > _RELOAD_INTERVAL:
            await self.load()  # a title created by another process since we last looked
            index = self._by_server_key if kind == "server" else self._by_http_key
            title = index.get(digest)
        if title is None or title.disabled:
            return None
        expected = title.server_key if kind == "server" else title.http_key
        return title if hmac.compare_digest(expected.encode(), key.encode()) else None

    async def find_by_name(self, name: str) -> Title | None:
        row = await self._store.by_name(name)
        return None if row is None else _title_from_row(row)

    async def create(self, name: str, server_key: str | None = None, http_key: str | None = None) -> Title:
        if not NAME_RULE.match(name):
            raise InvalidArgument(
                "Title name must be 1-64 characters of lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit."
            )
        for label, value in (("server key", server_key), ("http key", http_key)):
            if value is not None and not 8 <= len(value) <= 128:
                raise InvalidArgument(f"The {label} must be 8-128 characters.")
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
        await self.load()
        title = self._by_id[title_id]
        return title

    async def ensure_default(self, name: str, server_key: str, http_key: str) -> tuple[Title, bool]:
        """The title created on first start; returns it and whether it was created now."""
        existing = await self.find_by_name(name)
        if existing is not None:
            await self.load()
            return existing, False
        try:
            return await self.create(name, server_key, http_key), True
        except AlreadyExists:  # another node created it at the same moment
            await self.load()
            found = await self.find_by_name(name)
            if found is None:
                raise
            return found, False
