"""What server code reaches through `nk`: the node's domain services, given to the `Runtime` at
construction and, through it, to every `ServerApi` and `Initializer` it makes."""

from __future__ import annotations

from dataclasses import dataclass

from overworld.accounts.service import AccountService
from overworld.friends.service import FriendService
from overworld.groups.service import GroupService
from overworld.leaderboards.service import LeaderboardService
from overworld.leaderboards.tournaments import TournamentService
from overworld.live_events.service import LiveEventService
from overworld.matches.service import MatchService
from overworld.matchmaking.service import MatchmakerService
from overworld.notifications.service import NotificationService
from overworld.parties.service import PartyService
from overworld.privacy.service import PrivacyService
from overworld.realtime.hub import Hub
from overworld.sessions.service import SessionService
from overworld.storage.service import StorageService
from overworld.wallets.service import WalletService


@dataclass(frozen=True)
class ServerServices:
    accounts: AccountService
    sessions: SessionService
    storage: StorageService
    friends: FriendService
    groups: GroupService
    leaderboards: LeaderboardService
    tournaments: TournamentService
    live_events: LiveEventService
    matches: MatchService
    matchmaker: MatchmakerService
    notifications: NotificationService
    parties: PartyService
    hub: Hub
    wallets: WalletService
    privacy: PrivacyService
