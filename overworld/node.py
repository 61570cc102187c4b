"""One server process: its settings, database, subsystems and services, started and stopped
together. The choice between embedded and cluster subsystems is made here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from overworld.accounts.lockout import LoginLockout
from overworld.accounts.service import AccountService
from overworld.config import Settings
from overworld.db import Database, migrate, open_database
from overworld.runtime.hooks import Hooks
from overworld.runtime.runtime import Runtime
from overworld.sessions.revocations import Revocations
from overworld.sessions.service import SessionService
from overworld.storage.service import StorageService
from overworld.subsystems.counters import Counters, EmbeddedCounters
from overworld.subsystems.pubsub import EmbeddedPubSub, PubSub
from overworld.titles.models import Title
from overworld.titles.service import TitleService

log = structlog.get_logger(__name__)


@dataclass
class Node:
    settings: Settings
    db: Database
    pubsub: PubSub
    counters: Counters
    titles: TitleService
    revocations: Revocations
    sessions: SessionService
    accounts: AccountService
    storage: StorageService
    hooks: Hooks
    runtime: Runtime
    default_title: Title
    redis: Any = None
    closers: list[Any] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> Node:
        url = settings.resolved_database_url
        if settings.auto_migrate:
            await migrate.upgrade(url)
        else:
            status = await migrate.status(url)
            if not status.is_current:
                raise RuntimeError(
                    f"database schema is at {status.current or 'nothing'}, needs {status.head}:"
                    " run `overworld migrate`"
                )
        db = await open_database(url, settings.database_pool_size)
        db.start()
        redis = None
        pubsub: PubSub
        counters: Counters
        if settings.cluster:
            import redis.asyncio as aioredis

            from overworld.subsystems.counters.redis import RedisCounters
            from overworld.subsystems.pubsub.redis import RedisPubSub

            redis = aioredis.from_url(settings.redis_url)
            await redis.ping()
            pubsub = RedisPubSub(redis, settings.redis_prefix)
            counters = RedisCounters(redis, settings.redis_prefix)
        else:
            pubsub = EmbeddedPubSub()
            counters = EmbeddedCounters()
        await pubsub.start()

        titles = TitleService(db)
        await titles.load()
        default_title, created = await titles.ensure_default(
            settings.default_title, settings.default_server_key, settings.default_http_key
        )
        if created:
            log.info("created default title", title=default_title.name)
        revocations = Revocations(db, pubsub)
        await revocations.start()
        sessions = SessionService(
            titles, revocations, settings.session_expiry_sec, settings.refresh_expiry_sec
        )
        lockout = LoginLockout(
            counters,
            settings.lockout_account_failures,
            settings.lockout_address_failures,
            settings.lockout_window_sec,
        )
        accounts = AccountService(db, sessions, lockout)
        storage = StorageService(db)
        accounts.on_delete(storage.delete_user_objects)
        hooks = Hooks()
        runtime = Runtime(
            accounts=accounts, storage=storage, sessions=sessions, hooks=hooks,
            timeout_ms=settings.runtime_timeout_ms, node_name=settings.node_name,
        )  # fmt: skip
        try:
            await runtime.load(settings.runtime_path, titles.all())
        except BaseException:
            await revocations.close()
            await pubsub.close()
            await db.close()
            if redis is not None:
                await redis.aclose()
            raise
        accounts.on_created(runtime.account_created)
        titles.on_added(runtime.add_title)
        return cls(
            settings=settings, db=db, pubsub=pubsub, counters=counters, titles=titles,
            revocations=revocations, sessions=sessions, accounts=accounts, storage=storage,
            hooks=hooks, runtime=runtime, default_title=default_title, redis=redis,
        )  # fmt: skip

    async def close(self) -> None:
        await self.runtime.close()
        await self.revocations.close()
        await self.pubsub.close()
        await self.db.close()
        if self.redis is not None:
            await self.redis.aclose()
