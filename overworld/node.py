"""One server process: its settings, database, subsystems and services, started and stopped
together. The choice between embedded and cluster subsystems is made here and nowhere else."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import orjson
import structlog

from overworld.accounts.lockout import LoginLockout
from overworld.accounts.service import AccountService
from overworld.api.calls import NAMES as API_CALLS
from overworld.chat.service import ChatService
from overworld.config import Settings
from overworld.db import Database, migrate, open_database
from overworld.friends.service import FriendService
from overworld.groups.service import GroupService
from overworld.leaderboards.server_api import attach as attach_leaderboards
from overworld.leaderboards.service import LeaderboardService
from overworld.leaderboards.tournaments import TournamentService
from overworld.live_events.server_api import attach as attach_live_events
from overworld.live_events.service import LiveEventService
from overworld.matches.server_api import attach as attach_matches
from overworld.matches.server_api import handlers as match_handlers
from overworld.matches.service import MatchService
from overworld.matchmaking.engine import Engine as MatchmakerEngine
from overworld.matchmaking.ratings import RatingStore
from overworld.matchmaking.server_api import attach as attach_matchmaker
from overworld.matchmaking.service import MatchmakerService
from overworld.matchmaking.store import EmbeddedTicketStore, TicketStore
from overworld.notifications import social as social_notifications
from overworld.notifications.service import DM_REQUEST, NotificationService
from overworld.parties.service import PartyService
from overworld.realtime.hub import Hub
from overworld.runtime.hooks import Hooks
from overworld.runtime.runtime import Runtime
from overworld.runtime.server_api import ServerApi, attach_social
from overworld.services import Services
from overworld.sessions.revocations import Revocations
from overworld.sessions.service import SessionService
from overworld.storage.service import StorageService
from overworld.subsystems.counters import Counters, EmbeddedCounters
from overworld.subsystems.presence import EmbeddedTracker, Tracker
from overworld.subsystems.pubsub import EmbeddedPubSub, PubSub
from overworld.subsystems.scheduler import EmbeddedScheduler, Scheduler
from overworld.titles.service import TitleService

log = structlog.get_logger(__name__)


class Node(Services):
    """The services plus their life cycle: `start` builds and starts them, `close` stops them."""

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
        scheduler: Scheduler
        if settings.cluster:
            import redis.asyncio as aioredis

            from overworld.subsystems.counters.redis import RedisCounters
            from overworld.subsystems.pubsub.redis import RedisPubSub
            from overworld.subsystems.scheduler.redis import RedisScheduler

            redis = aioredis.from_url(settings.redis_url)
            await redis.ping()
            pubsub = RedisPubSub(redis, settings.redis_prefix)
            counters = RedisCounters(redis, settings.redis_prefix)
            scheduler = RedisScheduler(
                redis, settings.redis_prefix, settings.node_name, grace_sec=settings.shutdown_grace_sec
            )
        else:
            pubsub = EmbeddedPubSub()
            counters = EmbeddedCounters()
            scheduler = EmbeddedScheduler(grace_sec=settings.shutdown_grace_sec)
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
        accounts = AccountService(db, sessions, lockout, cache_size=settings.account_cache_size)
        await accounts.start()
        storage = StorageService(db)
        accounts.on_delete(storage.delete_user_objects)
        friends, groups = FriendService(db), GroupService(db)
        accounts.on_delete(friends.delete_user_edges)
        accounts.on_delete(groups.delete_user_memberships)
        hooks = Hooks(API_CALLS)
        runtime = Runtime(
            accounts=accounts, storage=storage, sessions=sessions, hooks=hooks,
            scheduler=scheduler, timeout_ms=settings.runtime_timeout_ms, node_name=settings.node_name,
        )  # fmt: skip
        attach_social(runtime, friends, groups)
        leaderboards, tournaments = await _start_leaderboards(settings, db, pubsub, scheduler, titles, redis)
        accounts.on_delete(leaderboards.delete_owner)
        attach_leaderboards(runtime, leaderboards, tournaments)
        live_events = LiveEventService(db, scheduler, pubsub, leaderboards)
        attach_live_events(runtime, live_events)
        matchmaker = MatchmakerService(
            _matchmaker_store(settings, redis), titles, RatingStore(db),
            interval_ms=settings.matchmaker_interval_ms, max_tickets=settings.matchmaker_max_tickets,
            hook_timeout_sec=settings.runtime_timeout_ms / 1000,
            sweep_grace_sec=settings.presence_timeout_sec,
        )  # fmt: skip
        attach_matchmaker(runtime, matchmaker)
        accounts.on_delete(matchmaker.ratings.delete_user)
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
        hub, chat, notifications = await _start_realtime(settings, db, pubsub, titles, accounts, runtime)
        parties = PartyService(hub)
        matches = MatchService(
            hub, pubsub, match_handlers(runtime), lambda title, name: ServerApi(runtime, title, name),
            max_empty_sec=settings.match_max_empty_sec, handler_timeout=settings.runtime_timeout_ms / 1000,
            index_timeout_sec=settings.presence_timeout_sec,
        )  # fmt: skip
        attach_matches(runtime, matches)
        await matches.start()
        matchmaker.bind(hub)
        parties.changed.append(matchmaker.party_changed)
        await matchmaker.start()
        runtime.notifications, runtime.hub = notifications, hub
        social_notifications.connect(notifications, chat, friends, groups)
        revocations.on_revoke(hub.revoked)
        titles.on_added(runtime.add_title)
        if settings.runtime_reload:
            runtime.watch()
        await scheduler.start()
        await leaderboards.catch_up()
        await tournaments.start()
        await live_events.start(hub, [t.id for t in titles.all()])
        return cls(
            settings=settings, db=db, pubsub=pubsub, counters=counters, scheduler=scheduler, titles=titles,
            revocations=revocations, sessions=sessions, accounts=accounts, storage=storage,
            friends=friends, groups=groups,
            hooks=hooks, runtime=runtime, hub=hub, chat=chat, notifications=notifications, parties=parties,
            matches=matches, matchmaker=matchmaker,
            leaderboards=leaderboards, tournaments=tournaments, live_events=live_events,
            default_title=default_title, redis=redis,
        )  # fmt: skip

    async def drain(self) -> None:
        """Before shutdown: finish delivering to sockets and close them."""
        await self.hub.drain(min(5.0, float(self.settings.shutdown_grace_sec)))

    async def close(self) -> None:
        await self.matchmaker.close()
        await self.matches.close()
        await self.hub.close()
        await self.live_events.close()
        await self.scheduler.close()
        await self.tournaments.close()
        await self.leaderboards.close()
        await self.runtime.close()
        await self.revocations.close()
        await self.pubsub.close()
        await self.db.close()
        if self.redis is not None:
            await self.redis.aclose()


async def _start_realtime(
    settings: Settings, db: Database, pubsub: PubSub, titles: TitleService, accounts: AccountService,
    runtime: Runtime,
) -> tuple[Hub, ChatService, NotificationService]:  # fmt: skip
    """The socket hub with its presence tracker (replicated over pub/sub in a cluster), chat and
    notifications."""
    # Unique per process start, without dots (party ids are "<uuid>.<node>").
    name = (settings.node_name or socket.gethostname()).replace(".", "_")
    node_id = f"{name}-{uuid.uuid4().hex[:8]}"
    tracker: Tracker
    if settings.cluster:
        from overworld.subsystems.presence.cluster import ClusterTracker

        tracker = ClusterTracker(node_id, pubsub, timeout_sec=settings.presence_timeout_sec)
    else:
        tracker = EmbeddedTracker(node_id)
    hub = Hub(node_id, tracker, pubsub, runtime, settings.socket_max_per_user)

    async def username_of(title_id: str, user_id: str) -> str | None:
        title = titles.get(title_id)
        users = await accounts.get_users(title, [user_id], []) if title is not None else []
        return users[0].username if users else None

    chat = ChatService(
        db,
        hub,
        username_of,
        rate_limit=settings.chat_rate_limit,
        max_content_bytes=settings.chat_max_content_bytes,
    )
    notifications = NotificationService(db, hub, pubsub)

    async def direct_request(title_id: str, to_user: str, from_user: str, from_name: str) -> None:
        note = notifications.make(
            to_user, f"{from_name} wants to chat", orjson.dumps({"username": from_name}).decode(),
            DM_REQUEST, from_user,
        )  # fmt: skip
        await notifications.send(title_id, [note])

    chat.direct_request = direct_request
    accounts.on_delete(chat.delete_user)
    accounts.on_delete(notifications.delete_user)
    await hub.start()
    await notifications.start()
    return hub, chat, notifications


async def _start_leaderboards(
    settings: Settings, db: Database, pubsub: PubSub, scheduler: Scheduler, titles: TitleService, redis: Any
) -> tuple[LeaderboardService, TournamentService]:
    """Leaderboards and tournaments, with the rank index of every current period built."""
    from overworld.subsystems.ranks import EmbeddedRankIndex, RankIndex

    ranks: RankIndex
    if redis is not None:
        from overworld.subsystems.ranks.redis import RedisRankIndex

        ranks = RedisRankIndex(redis, settings.redis_prefix)
    else:
        ranks = EmbeddedRankIndex()

    def title_name(title_id: str) -> str:
        title = titles.get(title_id)
        return title.name if title is not None else ""

    leaderboards = LeaderboardService(
        db, ranks, pubsub, scheduler, settings.node_name or socket.gethostname(),
        hook_timeout_sec=max(60.0, settings.runtime_timeout_ms / 1000), title_name=title_name,
    )  # fmt: skip
    await leaderboards.start()
    return leaderboards, TournamentService(leaderboards)


def _matchmaker_store(settings: Settings, redis: Any) -> TicketStore:
    """The matchmaker's tickets: in this process, or in Redis with one matcher per cluster."""
    engine = MatchmakerEngine(max_intervals=settings.matchmaker_max_intervals)
    if redis is None:
        return EmbeddedTicketStore(engine)
    from overworld.matchmaking.redis_store import RedisTicketStore

    name = f"{settings.node_name or socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    lease_ms = max(3000, 3 * settings.matchmaker_interval_ms)
    return RedisTicketStore(redis, settings.redis_prefix, name, engine, lease_ms=lease_ms)
