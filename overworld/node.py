"""One server process: its settings, database, subsystems and services, built once and started and
stopped together. This is the composition root: the only module that chooses between the embedded
and the cluster (Redis) implementations, and the only one that knows every service. Each service
receives what it uses through its constructor; events flow back through `on_*` listeners that are
connected here.

Start-up runs under an `AsyncExitStack`: each step that opens something registers how to close it,
so a start that fails part-way closes what it had opened, and `close()` runs every step (newest
first) even when one of them fails."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from overworld.accounts.lockout import LoginLockout
from overworld.accounts.peers import PeerCaches
from overworld.accounts.service import AccountService
from overworld.api.calls import NAMES as API_CALLS
from overworld.api.calls import REST_CALLS, SOCKET_CALLS
from overworld.chat.service import ChatService
from overworld.config import ConfigError, Settings
from overworld.db import Tx, migrate, open_database
from overworld.friends.service import FriendService
from overworld.groups.service import GroupService
from overworld.inventory.service import InventoryService
from overworld.leaderboards.service import LeaderboardService
from overworld.leaderboards.tournaments import TournamentService
from overworld.live_events.offers import OfferEligibility
from overworld.live_events.service import LiveEventService
from overworld.matches.service import MatchService
from overworld.matchmaking.engine import Engine as MatchmakerEngine
from overworld.matchmaking.ratings import RatingStore
from overworld.matchmaking.service import MatchmakerService
from overworld.matchmaking.store import EmbeddedTicketStore, TicketStore
from overworld.notifications import social
from overworld.notifications.service import NotificationService
from overworld.ops import metrics
from overworld.ops.outages import Outages, Probe, Service
from overworld.parties.index import EmbeddedPartyIndex, PartyIndex
from overworld.parties.service import PartyService
from overworld.privacy.service import PrivacyService, RetentionPolicy
from overworld.purchases.grants import GrantResult, ProductGrant, ProductGrants
from overworld.purchases.service import PurchaseService
from overworld.realtime.hub import Hub
from overworld.runtime.hooks import Hooks
from overworld.runtime.runtime import Runtime
from overworld.runtime.services import ServerServices
from overworld.services import Services
from overworld.sessions.revocations import Revocations
from overworld.sessions.service import SessionService
from overworld.storage.service import StorageService
from overworld.store.catalog_service import CatalogService
from overworld.store.service import StoreService
from overworld.subsystems.counters import Counters, EmbeddedCounters
from overworld.subsystems.presence import EmbeddedTracker, Tracker
from overworld.subsystems.pubsub import EmbeddedPubSub, PubSub
from overworld.subsystems.ranks import EmbeddedRankIndex, RankIndex
from overworld.subsystems.ratelimit import EmbeddedRateLimiter, RateLimiter, RateLimits
from overworld.subsystems.scheduler import CronError, EmbeddedScheduler, Scheduler
from overworld.titles.crypto import Encryption, KeyConfigError
from overworld.titles.keys_used import check_keys, record_current
from overworld.titles.models import Title
from overworld.titles.service import TitleService
from overworld.wallets.service import WalletService

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NodeIdentity:
    """Who this process is. `name`: the configured node name, or the host name (the leaderboards'
    reset claims and hook contexts); `id`: unique per process start, without dots (party and match
    ids are "<uuid>.<id>"), wherever nodes must be told apart (presences, the matchmaker's lease
    and hook contexts). Server code's RPC, event and cron contexts still show the `node_name`
    setting as it is, as before."""

    name: str
    id: str

    @classmethod
    def of(cls, settings: Settings) -> NodeIdentity:
        name = settings.node_name or socket.gethostname()
        return cls(name=name, id=f"{name.replace('.', '_')}-{uuid.uuid4().hex[:8]}")


@dataclass(frozen=True)
class Subsystems:
    """The stateful pieces with an embedded and a Redis implementation, chosen in `_subsystems`."""

    pubsub: PubSub
    counters: Counters
    scheduler: Scheduler
    ranks: RankIndex
    tracker: Tracker
    tickets: TicketStore
    parties: PartyIndex
    limiter: RateLimiter


@dataclass(kw_only=True)
class Node(Services):
    """The services plus their life cycle: `start` builds and starts them, `close` stops them."""

    identity: NodeIdentity
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)

    @classmethod
    async def start(cls, settings: Settings, *, grants: ProductGrants | None = None) -> Node:
        """`grants`: what a validated purchase gives (the catalog); tests pass their own."""
        stack = AsyncExitStack()
        try:
            return await cls._start(settings, stack, grants)
        except BaseException:
            await stack.aclose()
            raise

    @classmethod
    async def _start(cls, settings: Settings, stack: AsyncExitStack, grants: ProductGrants | None) -> Node:
        url = settings.resolved_database_url
        try:
            encryption = Encryption.from_settings(settings.encryption_keys)
        except KeyConfigError as exc:
            raise ConfigError(str(exc)) from None
        if settings.auto_migrate:
            await migrate.upgrade(url)
        else:
            status = await migrate.status(url)
            if not status.is_current:
                raise RuntimeError(
                    f"database schema is at {status.current or 'nothing'}, needs {status.head}:"
                    " run `overworld migrate`"
                )
        identity = NodeIdentity.of(settings)
        db = await open_database(url, settings.database_pool_size)
        stack.push_async_callback(db.close)
        db.start()
        redis: Redis | None = None
        if settings.cluster:
            import redis.asyncio as aioredis

            redis = aioredis.from_url(settings.redis_url)
            metrics.count_redis_errors(redis)
            stack.push_async_callback(redis.aclose)
            await redis.ping()
        probes: dict[Service, Probe] = {"database": db.ping}
        if redis is not None:
            probes["redis"] = redis.ping
        outages = Outages(probes)
        stack.push_async_callback(outages.close)
        sub = _subsystems(settings, identity, redis)
        limits = rate_limits(settings, sub.limiter)
        stack.push_async_callback(sub.pubsub.close)  # registered first: start may fail half-way
        await sub.pubsub.start()

        # -- the services, each built once with what it uses ---------------------------------------
        titles = TitleService(db, settings.region)
        await titles.load()
        default_title, created = await titles.ensure_default(
            settings.default_title, settings.default_server_key, settings.default_http_key
        )
        if created:
            log.info("created default title", title=default_title.name)
        overlap = settings.key_rotation_overlap_sec
        if titles.has_well_known_keys(default_title) and _well_known_keys_refused(settings):
            overlap = 0  # replacing keys everyone knows: they stop working at once
        default_title = await titles.apply_configured_keys(
            default_title, settings.default_server_key, settings.default_http_key, overlap
        )
        _refuse_well_known_keys(settings, titles)
        try:  # rows sealed under a key this node lacks: refuse to start rather than fail on each
            await check_keys(db, encryption, titles.all())
        except KeyConfigError as exc:
            raise ConfigError(str(exc)) from None

        async def record_keys(title: Title) -> None:  # a title created after the start
            await record_current(db, encryption, title)

        titles.on_added(record_keys)
        revocations = Revocations(db, sub.pubsub)
        sessions = SessionService(
            titles, revocations, settings.session_expiry_sec, settings.refresh_expiry_sec
        )
        lockout = LoginLockout(
            sub.counters,
            pair_failures=settings.lockout_account_failures,
            address_failures=settings.lockout_address_failures,
            account_ceiling=settings.lockout_account_ceiling,
            window_sec=settings.lockout_window_sec,
            delay_sec=settings.lockout_delay_sec,
            delay_max_sec=settings.lockout_delay_max_sec,
        )
        accounts = AccountService(
            db, sessions, lockout, cache_size=settings.account_cache_size, encryption=encryption,
            signup_limit=limits.check_signup,
        )  # fmt: skip
        storage = StorageService(db)
        friends, groups = FriendService(db), GroupService(db)
        wallets = WalletService(db, accounts, storage)

        def title_name(title_id: str) -> str:
            title = titles.get(title_id)
            return title.name if title is not None else ""

        leaderboards = LeaderboardService(
            db, sub.ranks, sub.pubsub, sub.scheduler, identity.name,
            hook_timeout_sec=max(60.0, settings.runtime_timeout_ms / 1000), title_name=title_name,
            serves=lambda title_id: titles.get(title_id) is not None,
        )  # fmt: skip
        tournaments = TournamentService(leaderboards)
        hub = Hub(identity.id, sub.tracker, sub.pubsub, settings.socket_max_per_user, outages)

        async def username_of(title_id: str, user_id: str) -> str | None:
            title = titles.get(title_id)
            users = await accounts.get_users(title, [user_id], []) if title is not None else []
            return users[0].username if users else None

        notifications = NotificationService(db, hub, sub.pubsub)
        chat = ChatService(
            db, hub, username_of,
            rate_limit=settings.chat_rate_limit, max_content_bytes=settings.chat_max_content_bytes,
            member_state=groups.member_state, is_blocked=friends.is_blocked,
            direct_request=social.direct_request(notifications),
        )  # fmt: skip
        parties = PartyService(hub, sub.parties, grace_sec=settings.presence_timeout_sec)
        matches = MatchService(
            hub, sub.pubsub,
            max_empty_sec=settings.match_max_empty_sec, handler_timeout=settings.runtime_timeout_ms / 1000,
            index_timeout_sec=settings.presence_timeout_sec,
        )  # fmt: skip
        matchmaker = MatchmakerService(
            sub.tickets, titles, RatingStore(db), hub,
            interval_ms=settings.matchmaker_interval_ms, max_tickets=settings.matchmaker_max_tickets,
            hook_timeout_sec=settings.runtime_timeout_ms / 1000,
            sweep_grace_sec=settings.presence_timeout_sec,
        )  # fmt: skip
        live_events = LiveEventService(db, sub.scheduler, sub.pubsub, hub, leaderboards)
        catalog = CatalogService(db, sub.pubsub, OfferEligibility(live_events))
        inventory = InventoryService(db, catalog.item_spec, sub.scheduler)
        store = StoreService(db, catalog, wallets, inventory)
        try:
            privacy = PrivacyService(
                db, titles, accounts, hub, sub.counters, sub.scheduler,
                defaults=RetentionPolicy(
                    settings.retention_chat_days, settings.retention_notification_days,
                    settings.retention_ledger_metadata_days,
                ),
                tombstone_days=settings.erasure_tombstone_days, schedule=settings.retention_schedule,
                batch=settings.retention_batch_size,
            )  # fmt: skip
        except CronError as exc:
            raise ConfigError(f"setting 'retention_schedule': {exc}") from None
        purchases = PurchaseService(
            db, grants or CatalogGrants(store), settings.purchases, title_name=title_name,
            node_name=settings.node_name,
            timeout_sec=settings.purchases_store_timeout_ms / 1000,
            hook_timeout_sec=settings.runtime_timeout_ms / 1000,
        )  # fmt: skip
        stack.push_async_callback(purchases.close)
        hooks = Hooks(API_CALLS)
        runtime = Runtime(
            services=ServerServices(
                accounts=accounts, sessions=sessions, storage=storage, friends=friends, groups=groups,
                leaderboards=leaderboards, tournaments=tournaments, live_events=live_events,
                matches=matches, matchmaker=matchmaker, notifications=notifications, parties=parties,
                hub=hub, wallets=wallets, privacy=privacy, store=store, inventory=inventory,
                purchases=purchases,
            ),
            hooks=hooks, scheduler=sub.scheduler, timeout_ms=settings.runtime_timeout_ms,
            node_name=settings.node_name, rpc_error_messages=settings.runtime_rpc_error_messages,
            outages=outages,
        )  # fmt: skip

        # -- events flow upwards through listeners ------------------------------------------------
        for delete in (
            storage.delete_user_objects, friends.delete_user_edges, groups.delete_user_memberships,
            leaderboards.delete_owner, matchmaker.ratings.delete_user, chat.delete_user,
            notifications.delete_user, wallets.delete_user, store.delete_user, inventory.delete_user,
            purchases.delete_user,
        ):  # fmt: skip
            accounts.on_delete(delete)
        accounts.guard_signups(privacy.check_signup)
        accounts.on_created(runtime.account_created)
        accounts.tell_peers(PeerCaches(hub.router, hub.tracker, accounts.cache))
        friends.on_counts_changed(accounts.users_changed)
        hub.on_event(runtime.emit)
        revocations.on_revoke(hub.revoked)
        parties.changed.append(matchmaker.party_changed)
        social.connect(notifications, friends, groups)
        groups.on_membership_changed_in_tx(social.group_channel(chat))
        titles.on_added(runtime.add_title)

        # -- start, in dependency order; each close is registered as its part starts (before, where
        # a start can fail half-way), so they run newest first: the leaderboards' background resets
        # (server-code hooks) end before the runtime closes, the matches before the hub -------------
        await revocations.start()
        stack.push_async_callback(revocations.close)
        await accounts.start()
        stack.push_async_callback(wallets.close)  # after the runtime closes: its calls finish first
        stack.push_async_callback(store.close)  # before the wallets close: its batches use them
        stack.push_async_callback(runtime.close)
        stack.push_async_callback(leaderboards.close)
        await leaderboards.start()
        await runtime.load(settings.runtime_path, titles.all())
        stack.push_async_callback(hub.close)
        await hub.start()
        await notifications.start()
        stack.push_async_callback(parties.stop)
        await parties.start()
        stack.push_async_callback(matches.close)
        await matches.start()
        await matchmaker.start()
        stack.push_async_callback(matchmaker.close)
        if settings.runtime_reload:
            runtime.watch()
        privacy.start()
        await sub.scheduler.start()
        stack.push_async_callback(sub.scheduler.close)
        await leaderboards.catch_up()
        await tournaments.start()
        stack.push_async_callback(tournaments.close)
        stack.push_async_callback(live_events.close)
        await live_events.start([t.id for t in titles.all()])
        catalog.start()
        stack.callback(inventory.close)
        inventory.start()
        return cls(
            settings=settings, db=db, pubsub=sub.pubsub, counters=sub.counters, scheduler=sub.scheduler,
            titles=titles, revocations=revocations, sessions=sessions, accounts=accounts,
            storage=storage, friends=friends, groups=groups, hooks=hooks, runtime=runtime, hub=hub,
            chat=chat, notifications=notifications, parties=parties, matches=matches,
            matchmaker=matchmaker, leaderboards=leaderboards, tournaments=tournaments,
            live_events=live_events, wallets=wallets, privacy=privacy, store=store, inventory=inventory,
            purchases=purchases, default_title=default_title, redis=redis, identity=identity,
            outages=outages, limits=limits, _stack=stack,
        )  # fmt: skip

    async def drain(self) -> None:
        """Before shutdown: finish delivering to sockets and close them."""
        await self.hub.drain(min(5.0, float(self.settings.shutdown_grace_sec)))

    async def close(self) -> None:
        """Stop everything that `start` started, newest first. A step that fails does not stop the
        others from running; its error is raised once all have run."""
        await self._stack.aclose()


class CatalogGrants:
    """The `ProductGrants` of validated purchases: the title's catalog (the store domain, which sits
    below purchases and does not import it) grants and takes back what a product is worth."""

    def __init__(self, store: StoreService) -> None:
        self._store = store

    async def grant(self, tx: Tx, grant: ProductGrant) -> GrantResult:
        done = await self._store.grant(tx, grant)
        return GrantResult(done.applied, dict(done.currencies), dict(done.items))

    async def revoke(self, tx: Tx, grant: ProductGrant) -> GrantResult:
        done = await self._store.revoke(tx, grant)
        return GrantResult(done.applied, dict(done.currencies), dict(done.items))

    async def committed(self, title_id: str, user_ids: Sequence[str]) -> None:
        await self._store.committed(title_id, user_ids)


def _refuse_well_known_keys(settings: Settings, titles: TitleService) -> None:
    """Keys everyone knows (`defaultkey`, `defaulthttpkey`) are for trying the server out on this
    machine: listening beyond loopback with them is refused unless `allow_default_keys` is set."""
    in_use = titles.well_known_keys_in_use()
    if not in_use or not listens_beyond_loopback(settings.host):
        return
    if settings.allow_default_keys:
        log.warning(
            "serving with well-known keys beyond loopback (allow_default_keys)",
            host=settings.host, keys=", ".join(in_use),
        )  # fmt: skip
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} with the well-known keys ({'; '.join(in_use)}): set"
        " default_server_key and default_http_key (OVERWORLD_DEFAULT_SERVER_KEY,"
        " OVERWORLD_DEFAULT_HTTP_KEY) or run `overworld title rotate-keys NAME`, listen on"
        " 127.0.0.1 (host), or set allow_default_keys = true (OVERWORLD_ALLOW_DEFAULT_KEYS) to"
        " allow it"
    )


def _well_known_keys_refused(settings: Settings) -> bool:
    return listens_beyond_loopback(settings.host) and not settings.allow_default_keys


def listens_beyond_loopback(host: str) -> bool:
    """Whether `host` (the address listened on) is reachable from other machines."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True  # a host name: whatever it resolves to


def rate_limits(settings: Settings, limiter: RateLimiter) -> RateLimits:
    """The settings' rate limits over `limiter`, for every call of the registry by name, every
    socket message kind (a socket call's name stands for its kind) and RPCs (`rpc`)."""
    names = [c.name for c in REST_CALLS] + [c.kind for c in SOCKET_CALLS] + ["rpc", "ping", "pong"]
    aliases = {c.name: c.kind for c in SOCKET_CALLS} | {"Rpc": "rpc"}
    return RateLimits.of(settings, limiter, names, aliases)


def _subsystems(settings: Settings, identity: NodeIdentity, redis: Redis | None) -> Subsystems:
    """Embedded (one process) or cluster (Redis) implementations: chosen here and nowhere else."""
    engine = MatchmakerEngine(max_intervals=settings.matchmaker_max_intervals)
    if redis is None:
        return Subsystems(
            pubsub=EmbeddedPubSub(),
            counters=EmbeddedCounters(),
            scheduler=EmbeddedScheduler(grace_sec=settings.shutdown_grace_sec),
            ranks=EmbeddedRankIndex(),
            tracker=EmbeddedTracker(identity.id),
            tickets=EmbeddedTicketStore(engine),
            parties=EmbeddedPartyIndex(),
            limiter=EmbeddedRateLimiter(),
        )
    from overworld.matchmaking.redis_store import RedisTicketStore
    from overworld.parties.redis_index import RedisPartyIndex
    from overworld.subsystems.counters.redis import RedisCounters
    from overworld.subsystems.presence.cluster import ClusterTracker
    from overworld.subsystems.pubsub.redis import RedisPubSub
    from overworld.subsystems.ranks.redis import RedisRankIndex
    from overworld.subsystems.ratelimit.redis import RedisRateLimiter
    from overworld.subsystems.scheduler.redis import RedisScheduler

    prefix = settings.redis_prefix
    pubsub = RedisPubSub(redis, prefix)
    return Subsystems(
        pubsub=pubsub,
        counters=RedisCounters(redis, prefix),
        scheduler=RedisScheduler(redis, prefix, settings.node_name, grace_sec=settings.shutdown_grace_sec),
        ranks=RedisRankIndex(redis, prefix),
        tracker=ClusterTracker(identity.id, pubsub, timeout_sec=settings.presence_timeout_sec),
        tickets=RedisTicketStore(
            redis, prefix, identity.id, engine, lease_ms=max(3000, 3 * settings.matchmaker_interval_ms)
        ),
        parties=RedisPartyIndex(redis, prefix),
        limiter=RedisRateLimiter(redis, prefix),
    )
