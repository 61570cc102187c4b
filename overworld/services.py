"""The services of one server process, built once by `overworld.node` and handed to the
transports (HTTP, socket) and to server code. Typed fields only: whoever needs a service receives
this object (or the service itself) through its constructor or factory, never from a global."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from overworld.accounts.service import AccountService
from overworld.chat.service import ChatService
from overworld.config import Settings
from overworld.db import Database
from overworld.friends.service import FriendService
from overworld.groups.service import GroupService
from overworld.inventory.service import InventoryService
from overworld.leaderboards.service import LeaderboardService
from overworld.leaderboards.tournaments import TournamentService
from overworld.live_events.service import LiveEventService
from overworld.matches.service import MatchService
from overworld.matchmaking.service import MatchmakerService
from overworld.notifications.service import NotificationService
from overworld.ops.outages import Outages
from overworld.parties.service import PartyService
from overworld.privacy.service import PrivacyService
from overworld.purchases.service import PurchaseService
from overworld.realtime.hub import Hub
from overworld.runtime.hooks import Hooks
from overworld.runtime.runtime import Runtime
from overworld.sessions.revocations import Revocations
from overworld.sessions.service import SessionService
from overworld.storage.service import StorageService
from overworld.store.service import StoreService
from overworld.subsystems.counters import Counters
from overworld.subsystems.pubsub import PubSub
from overworld.subsystems.ratelimit import RateLimits
from overworld.subsystems.scheduler import Scheduler
from overworld.titles.models import Title
from overworld.titles.service import TitleService
from overworld.wallets.service import WalletService

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(kw_only=True)
class Services:
    settings: Settings
    db: Database
    pubsub: PubSub
    counters: Counters
    scheduler: Scheduler
    titles: TitleService
    revocations: Revocations
    sessions: SessionService
    accounts: AccountService
    storage: StorageService
    friends: FriendService
    groups: GroupService
    hooks: Hooks
    runtime: Runtime
    hub: Hub
    chat: ChatService
    notifications: NotificationService
    parties: PartyService
    matches: MatchService
    matchmaker: MatchmakerService
    leaderboards: LeaderboardService
    tournaments: TournamentService
    live_events: LiveEventService
    wallets: WalletService
    privacy: PrivacyService
    store: StoreService
    inventory: InventoryService
    purchases: PurchaseService
    default_title: Title
    redis: Redis | None = None
    outages: Outages = field(default_factory=Outages)  # the database or Redis found unreachable
    limits: RateLimits = field(default_factory=RateLimits.disabled)  # the rate limits of every call
