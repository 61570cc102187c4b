"""Domain objects to Nakama's wire messages. The transports (and only they) turn what a service
returns into the protocol's Structs: int64 fields as strings, times as RFC 3339, as Nakama sends
them."""

from __future__ import annotations

from typing import TypeVar

from overworld.accounts.models import Account as AccountModel
from overworld.accounts.models import User as UserModel
from overworld.clock import rfc3339
from overworld.friends.models import Friend as FriendModel
from overworld.groups.models import Group as GroupModel
from overworld.leaderboards.models import Period, Record, RecordList
from overworld.leaderboards.tournaments import TournamentView
from overworld.live_events.models import ConfigValue, LiveEvent, Occurrence
from overworld.matchmaking.models import MatchmakerStats as StatsModel
from overworld.parties.index import PartyEntry
from overworld.protocol import accounts, friends, groups, leaderboards, live_events, purchases, storage
from overworld.protocol import matchmaker as mmw
from overworld.protocol import parties as pw
from overworld.purchases.models import ENVIRONMENTS, STORES
from overworld.purchases.models import Purchase as PurchaseModel
from overworld.purchases.models import Subscription as SubscriptionModel
from overworld.storage.models import Ack, StoredObject

Page = TypeVar("Page", bound=leaderboards.LeaderboardRecordList)


def int64(value: int) -> str:
    """An int64 field as Nakama sends it: a string, "" for 0."""
    return str(value) if value else ""


def _seconds(ms: int) -> str:
    return rfc3339(ms - ms % 1000) if ms else ""


def user(u: UserModel, online: bool = False) -> accounts.User:
    """`online`: whether the user has a socket open (the hub knows; the domain object does not)."""
    return accounts.User(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        avatar_url=u.avatar_url,
        lang_tag=u.lang_tag,
        location=u.location,
        timezone=u.timezone,
        metadata=u.metadata,
        online=online,
        edge_count=u.edge_count,
        create_time=rfc3339(u.create_time),
        update_time=rfc3339(u.update_time),
    )


def account(a: AccountModel) -> accounts.Account:
    return accounts.Account(
        user=user(a.user),
        wallet=a.wallet,
        email=a.email,
        devices=[accounts.AccountDevice(id=d.id, vars=d.vars) for d in a.devices],
        custom_id=a.custom_id,
        verify_time=rfc3339(a.verify_time),
        disable_time=rfc3339(a.disable_time),
    )


def friend(f: FriendModel, online: bool = False) -> friends.Friend:
    return friends.Friend(
        user=user(f.user, online), state=f.state, update_time=rfc3339(f.update_time), metadata=f.metadata
    )


def group(g: GroupModel) -> groups.Group:
    return groups.Group(
        id=g.id,
        creator_id=g.creator_id,
        name=g.name,
        description=g.description,
        lang_tag=g.lang_tag,
        metadata=g.metadata,
        avatar_url=g.avatar_url,
        open=g.open,
        edge_count=g.edge_count,
        max_count=g.max_count,
        create_time=rfc3339(g.create_time),
        update_time=rfc3339(g.update_time),
    )


def record(r: Record) -> leaderboards.LeaderboardRecord:
    return leaderboards.LeaderboardRecord(
        leaderboard_id=r.leaderboard_id,
        owner_id=r.owner_id,
        username=r.username,
        score=int64(r.score),
        subscore=int64(r.subscore),
        num_score=r.num_score,
        metadata=r.metadata,
        create_time=_seconds(r.create_time),
        update_time=_seconds(r.update_time),
        expiry_time=_seconds(r.expiry_time),
        rank=int64(r.rank),
        max_num_score=r.max_num_score,
    )


def record_list(page: RecordList) -> leaderboards.LeaderboardRecordList:
    return _record_page(leaderboards.LeaderboardRecordList, page)


def tournament_record_list(page: RecordList) -> leaderboards.TournamentRecordList:
    return _record_page(leaderboards.TournamentRecordList, page)


def _record_page(kind: type[Page], page: RecordList) -> Page:
    return kind(
        records=[record(r) for r in page.records],
        owner_records=[record(r) for r in page.owner_records],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        rank_count=int64(page.rank_count),
    )


def tournament(v: TournamentView) -> leaderboards.Tournament:
    t = v.board
    return leaderboards.Tournament(
        id=t.id,
        title=t.title,
        description=t.description,
        category=t.category,
        sort_order=t.sort_order,
        size=v.size,
        max_size=t.max_size,
        max_num_score=t.max_num_score,
        can_enter=v.can_enter,
        end_active=v.end_active,
        next_reset=v.next_reset,
        metadata=t.metadata,
        create_time=_seconds(t.create_time),
        start_time=_seconds(t.start_time),
        end_time=_seconds(t.end_time),
        duration=t.duration,
        start_active=v.start_active,
        prev_reset=v.prev_reset,
        operator=t.operator,
        authoritative=t.authoritative,
        join_required=t.join_required,
    )


def period(p: Period) -> leaderboards.LeaderboardPeriod:
    return leaderboards.LeaderboardPeriod(
        leaderboard_id=p.leaderboard_id,
        expiry=int64(p.expiry_time // 1000),
        expiry_time=_seconds(p.expiry_time),
        reset_time=rfc3339(p.reset_time),
        records=p.records,
    )


def storage_object(o: StoredObject) -> storage.StorageObject:
    return storage.StorageObject(
        collection=o.collection,
        key=o.key,
        user_id=o.user_id,
        value=o.value,
        version=o.version,
        permission_read=o.permission_read,
        permission_write=o.permission_write,
        create_time=rfc3339(o.create_time),
        update_time=rfc3339(o.update_time),
    )


def storage_ack(a: Ack) -> storage.StorageObjectAck:
    return storage.StorageObjectAck(
        collection=a.collection,
        key=a.key,
        version=a.version,
        user_id=a.user_id,
        create_time=rfc3339(a.create_time),
        update_time=rfc3339(a.update_time),
    )


def listed_party(entry: PartyEntry) -> pw.ApiParty:
    return pw.ApiParty(
        party_id=entry.party_id, open=entry.open, hidden=entry.hidden, max_size=entry.max_size,
        label=entry.label,
    )  # fmt: skip


def _time(seconds: float) -> str:
    return rfc3339(round(seconds * 1000))


def matchmaker_stats(stats: StatsModel) -> mmw.MatchmakerStats:
    return mmw.MatchmakerStats(
        ticket_count=stats.ticket_count,
        oldest_ticket_create_time=None if stats.oldest is None else _time(stats.oldest),
        completions=[
            mmw.MatchmakerCompletionStats(create_time=_time(made), complete_time=_time(done))
            for made, done in stats.completions
        ],
    )


def live_event_view(o: Occurrence) -> live_events.LiveEventView:
    """An event as a player sees it: its current (`live`) or next occurrence."""
    e = o.event
    return live_events.LiveEventView(
        id=e.id, name=e.name, description=e.description, start_time=rfc3339(o.start_time),
        end_time=rfc3339(o.end_time), live=o.live, cron=e.cron, duration=e.duration, config=e.config,
        leaderboard_id=e.leaderboard_id, metadata=e.metadata,
    )  # fmt: skip


def live_event(e: LiveEvent) -> live_events.LiveEventFull:
    """An event as operators see it."""
    return live_events.LiveEventFull(
        id=e.id, name=e.name, description=e.description, start_time=rfc3339(e.start_time),
        end_time=rfc3339(e.end_time) if e.end_time else "", cron=e.cron, duration=e.duration,
        audience=e.audience, config=e.config, leaderboard_id=e.leaderboard_id, metadata=e.metadata,
        enabled=e.enabled, create_time=rfc3339(e.create_time), update_time=rfc3339(e.update_time),
    )  # fmt: skip


def config_value(v: ConfigValue) -> live_events.ConfigValueView:
    return live_events.ConfigValueView(
        key=v.key, value=v.value, version=v.version, update_time=rfc3339(v.update_time)
    )


# -- in-app purchases -----------------------------------------------------------------------------

_STORES = {name: i for i, name in enumerate(STORES)}
_ENVIRONMENTS = {name: i for i, name in enumerate(ENVIRONMENTS)}
_EPOCH = "1970-01-01T00:00:00Z"  # Nakama's refund (and expiry) time of "never"


def _time_or_epoch(ms: int) -> str:
    return rfc3339(ms) if ms else _EPOCH


def _time_or_empty(ms: int) -> str:
    return rfc3339(ms) if ms else ""


def validated_purchase(p: PurchaseModel) -> purchases.ValidatedPurchase:
    return purchases.ValidatedPurchase(
        user_id=p.user_id, product_id=p.product_id, transaction_id=p.transaction_id,
        store=_STORES.get(p.store, 0), purchase_time=_time_or_empty(p.purchase_time),
        create_time=_time_or_empty(p.create_time), update_time=_time_or_empty(p.update_time),
        refund_time=_time_or_epoch(p.refund_time), provider_response=p.provider_response,
        environment=_ENVIRONMENTS.get(p.environment, 0), seen_before=p.seen_before,
    )  # fmt: skip


def validated_subscription(s: SubscriptionModel) -> purchases.ValidatedSubscription:
    return purchases.ValidatedSubscription(
        user_id=s.user_id, product_id=s.product_id, original_transaction_id=s.original_transaction_id,
        store=_STORES.get(s.store, 0), purchase_time=_time_or_empty(s.purchase_time),
        create_time=_time_or_empty(s.create_time), update_time=_time_or_empty(s.update_time),
        environment=_ENVIRONMENTS.get(s.environment, 0), expiry_time=_time_or_epoch(s.expiry_time),
        refund_time=_time_or_epoch(s.refund_time), provider_response=s.provider_response,
        provider_notification=s.provider_notification, active=s.active,
    )  # fmt: skip
