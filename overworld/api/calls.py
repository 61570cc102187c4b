"""Every API call, declared once: its Nakama name (which is also its hook name), its request and
response messages, its operation, and how it is reached.

A `Call` is reached over REST (its `rest` bindings, "METHOD /path" in Litestar's path syntax),
some of them on the HTTP fast path too (`fast`); its operation takes the caller's context. A
`SocketCall` is a realtime message (`kind`, the envelope field it arrives in, and `reply`, the
one its answer goes out in, if any); its operation takes the caller's connection. A socket call
that `joins` a stream answers once every node has the presences it tracked. `nk` names the
function of the runtime's `ServerApi` that does the same for server code, where there is one.

What is built from this registry:

- the hook names: `NAMES`, handed to `runtime.hooks.Hooks` by the node, so registering a hook for
  a name not declared here fails at start;
- the Litestar routes: each route is decorated with `api.http.routes.bind.route(<call>)`, which
  takes its method and path from the call's binding;
- the HTTP fast path's tables (`api.http.fastpath`): the calls with `fast=True`, at their bindings;
- the socket's dispatch table (`api.socket.dispatch.HANDLERS`): every `SocketCall` by its kind.

Every transport runs a call with `Call.run` or `SocketCall.serve`, which apply the call's
before/after hooks under its name. tests/api/test_calls.py checks that the routes, the fast path,
the socket and the `ServerApi` agree with the registry.

RPCs (`/v2/rpc/{id}`, the socket's `rpc`) are not calls here: they run server code by id and have
no hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from overworld.api.operations import (
    accounts,
    chat,
    events,
    friends,
    groups,
    live_events,
    matches,
    privacy,
    purchases,
    storage,
    wallets,
)
from overworld.api.operations import leaderboards as lb
from overworld.api.operations import matchmaker as matchmaker_ops
from overworld.api.operations import parties as party_ops
from overworld.api.operations import store as store_ops
from overworld.api.socket import chat as socket_chat
from overworld.api.socket import matches as socket_matches
from overworld.api.socket import matchmaker as socket_matchmaker
from overworld.api.socket import party as socket_party
from overworld.api.socket import status as socket_status
from overworld.context import CallContext
from overworld.protocol import accounts as aw
from overworld.protocol import chat as cw
from overworld.protocol import events as ew
from overworld.protocol import friends as fw
from overworld.protocol import groups as gw
from overworld.protocol import leaderboards as lw
from overworld.protocol import live_events as lew
from overworld.protocol import matches as mw
from overworld.protocol import matchmaker as mmw
from overworld.protocol import parties as pw
from overworld.protocol import purchases as iw
from overworld.protocol import realtime as rt
from overworld.protocol import storage as sw
from overworld.protocol.base import Empty
from overworld.realtime.connection import Connection
from overworld.services import Services

Req = TypeVar("Req")
Resp = TypeVar("Resp")
METHODS = ("GET", "POST", "PUT", "DELETE")


@dataclass(frozen=True, slots=True)
class Rest:
    """One REST binding: an HTTP method and a path in Litestar's syntax (`{name:str}` parameters)."""

    method: str
    path: str

    @classmethod
    def parse(cls, line: str) -> Rest:
        method, _, path = line.partition(" ")
        if method not in METHODS or not path.startswith("/"):
            raise ValueError(f"a REST binding is 'METHOD /path' with one of {METHODS}, got {line!r}")
        return cls(method, path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class Call(Generic[Req, Resp]):
    """An API call served over REST: `operation(node, ctx, request) -> response`."""

    __slots__ = ("fast", "name", "nk", "operation", "request", "response", "rest")

    def __init__(
        self,
        name: str,
        request: type[Req],
        response: type[Resp],
        operation: Callable[[Services, CallContext, Req], Awaitable[Resp]],
        *,
        rest: str | Sequence[str],
        fast: bool = False,
        nk: str = "",
    ) -> None:
        self.name = name
        self.request = request
        self.response = response
        self.operation = operation
        self.rest = tuple(Rest.parse(line) for line in ((rest,) if isinstance(rest, str) else rest))
        if not self.rest:
            raise ValueError(f"{name}: a call needs at least one REST binding")
        self.fast = fast
        self.nk = nk

    async def run(self, node: Services, ctx: CallContext, request: Req) -> Resp:
        """The operation on `request`, through the call's before and after hooks, once the
        caller's rate limits for this call let it through (else RateLimited: HTTP 429)."""
        limits = node.limits
        if limits.enabled:
            pending = limits.spend(self.name, ctx.title.id, ctx.user_id, ctx.client_ip)
            if pending is not None:  # the limiter must ask Redis first
                await pending
        return await node.hooks.call(self.name, ctx, request, partial(self.operation, node, ctx))

    def binding(self, method: str = "", path: str = "") -> Rest:
        """The REST binding with this method and/or path (either may be left out when that leaves
        exactly one)."""
        found = [r for r in self.rest if method in ("", r.method) and path in ("", r.path)]
        if len(found) != 1:
            bindings = ", ".join(map(str, self.rest))
            raise ValueError(f"{self.name}: no single REST binding {method} {path} among {bindings}")
        return found[0]

    def __repr__(self) -> str:
        return f"Call({self.name})"


class SocketCall(Generic[Req, Resp]):
    """An API call served as a realtime message: `operation(node, conn, request) -> response`,
    the response sent back in the envelope field `reply` (no reply, just the `cid`, without one)."""

    __slots__ = ("joins", "kind", "name", "nk", "operation", "reply", "request", "response")

    def __init__(
        self,
        name: str,
        request: type[Req],
        response: type[Resp] | None,
        operation: Callable[[Services, Connection, Req], Awaitable[Resp]],
        *,
        kind: str,
        reply: str = "",
        nk: str = "",
        joins: bool = False,
    ) -> None:
        if (response is None) != (not reply):
            raise ValueError(f"{name}: a reply kind goes with a response type, and only with one")
        self.name = name
        self.request = request
        self.response = response
        self.operation = operation
        self.kind = kind
        self.reply = reply
        self.nk = nk
        # A join: the presences it tracked reach every node before its reply, so that whatever
        # anyone sends to the stream once the reply is out reaches the joiner, on any node.
        self.joins = joins

    async def serve(self, node: Services, conn: Connection, message: Req) -> tuple[str, Resp] | None:
        """The operation on `message`, through the call's before and after hooks; the reply to
        send, as (envelope field, message), or None."""
        response = await node.hooks.call(self.name, conn.ctx, message, partial(self.operation, node, conn))
        if self.joins:
            await node.hub.tracker.replicated()
        return (self.reply, response) if self.reply else None

    def __repr__(self) -> str:
        return f"SocketCall({self.name})"


# -- authentication, sessions, accounts, users ---------------------------------------------------

AUTHENTICATE_DEVICE = Call(
    "AuthenticateDevice", aw.AuthenticateDeviceRequest, aw.Session, accounts.authenticate_device,
    rest="POST /v2/account/authenticate/device", fast=True,
)  # fmt: skip
AUTHENTICATE_EMAIL = Call(
    "AuthenticateEmail", aw.AuthenticateEmailRequest, aw.Session, accounts.authenticate_email,
    rest="POST /v2/account/authenticate/email",
)  # fmt: skip
AUTHENTICATE_CUSTOM = Call(
    "AuthenticateCustom", aw.AuthenticateCustomRequest, aw.Session, accounts.authenticate_custom,
    rest="POST /v2/account/authenticate/custom", fast=True,
)  # fmt: skip
SESSION_REFRESH = Call(
    "SessionRefresh", aw.SessionRefreshRequest, aw.Session, accounts.session_refresh,
    rest="POST /v2/account/session/refresh",
)  # fmt: skip
SESSION_LOGOUT = Call(
    "SessionLogout", aw.SessionLogoutRequest, Empty, accounts.session_logout,
    rest="POST /v2/session/logout", nk="sessions_logout",
)  # fmt: skip
GET_ACCOUNT = Call(
    "GetAccount", Empty, aw.Account, accounts.get_account,
    rest="GET /v2/account", fast=True, nk="account_get",
)  # fmt: skip
UPDATE_ACCOUNT = Call(
    "UpdateAccount", aw.UpdateAccountRequest, Empty, accounts.update_account,
    rest="PUT /v2/account", nk="account_update",
)  # fmt: skip
DELETE_ACCOUNT = Call(
    "DeleteAccount", Empty, Empty, accounts.delete_account,
    rest="DELETE /v2/account", nk="account_delete",
)  # fmt: skip
LINK_DEVICE = Call(
    "LinkDevice", aw.AccountDevice, Empty, accounts.link_device,
    rest="POST /v2/account/link/device",
)  # fmt: skip
LINK_EMAIL = Call(
    "LinkEmail", aw.AccountEmail, Empty, accounts.link_email,
    rest="POST /v2/account/link/email",
)  # fmt: skip
LINK_CUSTOM = Call(
    "LinkCustom", aw.AccountCustom, Empty, accounts.link_custom,
    rest="POST /v2/account/link/custom",
)  # fmt: skip
UNLINK_DEVICE = Call(
    "UnlinkDevice", aw.AccountDevice, Empty, accounts.unlink_device,
    rest="POST /v2/account/unlink/device",
)  # fmt: skip
UNLINK_EMAIL = Call(
    "UnlinkEmail", aw.AccountEmail, Empty, accounts.unlink_email,
    rest="POST /v2/account/unlink/email",
)  # fmt: skip
UNLINK_CUSTOM = Call(
    "UnlinkCustom", aw.AccountCustom, Empty, accounts.unlink_custom,
    rest="POST /v2/account/unlink/custom",
)  # fmt: skip
GET_USERS = Call(
    "GetUsers", aw.GetUsersRequest, aw.Users, accounts.get_users,
    rest="GET /v2/user", nk="users_get",
)  # fmt: skip

# -- storage -------------------------------------------------------------------------------------

READ_STORAGE_OBJECTS = Call(
    "ReadStorageObjects", sw.ReadStorageObjectsRequest, sw.StorageObjects, storage.read_objects,
    rest="POST /v2/storage", fast=True, nk="storage_read",
)  # fmt: skip
WRITE_STORAGE_OBJECTS = Call(
    "WriteStorageObjects", sw.WriteStorageObjectsRequest, sw.StorageObjectAcks, storage.write_objects,
    rest="PUT /v2/storage", fast=True, nk="storage_write",
)  # fmt: skip
DELETE_STORAGE_OBJECTS = Call(
    "DeleteStorageObjects", sw.DeleteStorageObjectsRequest, Empty, storage.delete_objects,
    rest="PUT /v2/storage/delete", nk="storage_delete",
)  # fmt: skip
LIST_STORAGE_OBJECTS = Call(
    "ListStorageObjects", sw.ListStorageObjectsRequest, sw.StorageObjectList, storage.list_objects,
    rest=["GET /v2/storage/{collection:str}", "GET /v2/storage/{collection:str}/{user_id:str}"],
    nk="storage_list",
)  # fmt: skip

# -- chat history and notifications (REST) ---------------------------------------------------------

LIST_CHANNEL_MESSAGES = Call(
    "ListChannelMessages", cw.ListChannelMessagesRequest, cw.ChannelMessageList, chat.list_channel_messages,
    rest="GET /v2/channel/{channel_id:str}",
)  # fmt: skip
LIST_NOTIFICATIONS = Call(
    "ListNotifications", cw.ListNotificationsRequest, cw.NotificationList, chat.list_notifications,
    rest="GET /v2/notification",
)  # fmt: skip
DELETE_NOTIFICATIONS = Call(
    "DeleteNotifications", cw.DeleteNotificationsRequest, Empty, chat.delete_notifications,
    rest="DELETE /v2/notification",
)  # fmt: skip
EVENT = Call("Event", ew.Event, Empty, events.send_event, rest="POST /v2/event", nk="event")

# -- friends -------------------------------------------------------------------------------------

LIST_FRIENDS = Call(
    "ListFriends", fw.ListFriendsRequest, fw.FriendList, friends.list_friends,
    rest="GET /v2/friend", nk="friends_list",
)  # fmt: skip
ADD_FRIENDS = Call(
    "AddFriends", fw.AddFriendsRequest, Empty, friends.add_friends,
    rest="POST /v2/friend", nk="friends_add",
)  # fmt: skip
DELETE_FRIENDS = Call(
    "DeleteFriends", fw.DeleteFriendsRequest, Empty, friends.delete_friends,
    rest="DELETE /v2/friend", nk="friends_delete",
)  # fmt: skip
BLOCK_FRIENDS = Call(
    "BlockFriends", fw.BlockFriendsRequest, Empty, friends.block_friends,
    rest="POST /v2/friend/block", nk="friends_block",
)  # fmt: skip
LIST_FRIENDS_OF_FRIENDS = Call(
    "ListFriendsOfFriends", fw.ListFriendsOfFriendsRequest, fw.FriendsOfFriendsList,
    friends.list_friends_of_friends,
    rest="GET /v2/friend/friends",
)  # fmt: skip

# -- groups --------------------------------------------------------------------------------------

LIST_GROUPS = Call(
    "ListGroups", gw.ListGroupsRequest, gw.GroupList, groups.list_groups,
    rest="GET /v2/group", nk="groups_list",
)  # fmt: skip
CREATE_GROUP = Call(
    "CreateGroup", gw.CreateGroupRequest, gw.Group, groups.create_group,
    rest="POST /v2/group", nk="group_create",
)  # fmt: skip
UPDATE_GROUP = Call(
    "UpdateGroup", gw.UpdateGroupRequest, Empty, groups.update_group,
    rest="PUT /v2/group/{group_id:str}", nk="group_update",
)  # fmt: skip
DELETE_GROUP = Call(
    "DeleteGroup", gw.DeleteGroupRequest, Empty, groups.delete_group,
    rest="DELETE /v2/group/{group_id:str}", nk="group_delete",
)  # fmt: skip
JOIN_GROUP = Call(
    "JoinGroup", gw.JoinGroupRequest, Empty, groups.join_group,
    rest="POST /v2/group/{group_id:str}/join", nk="group_user_join",
)  # fmt: skip
LEAVE_GROUP = Call(
    "LeaveGroup", gw.LeaveGroupRequest, Empty, groups.leave_group,
    rest="POST /v2/group/{group_id:str}/leave", nk="group_user_leave",
)  # fmt: skip
ADD_GROUP_USERS = Call(
    "AddGroupUsers", gw.AddGroupUsersRequest, Empty, groups.add_group_users,
    rest="POST /v2/group/{group_id:str}/add", nk="group_users_add",
)  # fmt: skip
KICK_GROUP_USERS = Call(
    "KickGroupUsers", gw.KickGroupUsersRequest, Empty, groups.kick_group_users,
    rest="POST /v2/group/{group_id:str}/kick", nk="group_users_kick",
)  # fmt: skip
BAN_GROUP_USERS = Call(
    "BanGroupUsers", gw.BanGroupUsersRequest, Empty, groups.ban_group_users,
    rest="POST /v2/group/{group_id:str}/ban", nk="group_users_ban",
)  # fmt: skip
PROMOTE_GROUP_USERS = Call(
    "PromoteGroupUsers", gw.PromoteGroupUsersRequest, Empty, groups.promote_group_users,
    rest="POST /v2/group/{group_id:str}/promote", nk="group_users_promote",
)  # fmt: skip
DEMOTE_GROUP_USERS = Call(
    "DemoteGroupUsers", gw.DemoteGroupUsersRequest, Empty, groups.demote_group_users,
    rest="POST /v2/group/{group_id:str}/demote", nk="group_users_demote",
)  # fmt: skip
LIST_GROUP_USERS = Call(
    "ListGroupUsers", gw.ListGroupUsersRequest, gw.GroupUserList, groups.list_group_users,
    rest="GET /v2/group/{group_id:str}/user", nk="group_users_list",
)  # fmt: skip
LIST_USER_GROUPS = Call(
    "ListUserGroups", gw.ListUserGroupsRequest, gw.UserGroupList, groups.list_user_groups,
    rest="GET /v2/user/{user_id:str}/group", nk="user_groups_list",
)  # fmt: skip

# -- leaderboards and tournaments (ListLeaderboardPeriods is Overworld's own) ----------------------

WRITE_LEADERBOARD_RECORD = Call(
    "WriteLeaderboardRecord", lw.WriteLeaderboardRecordRequest, lw.LeaderboardRecord,
    lb.write_leaderboard_record,
    rest="POST /v2/leaderboard/{leaderboard_id:str}", fast=True, nk="leaderboard_record_write",
)  # fmt: skip
DELETE_LEADERBOARD_RECORD = Call(
    "DeleteLeaderboardRecord", lw.DeleteLeaderboardRecordRequest, Empty, lb.delete_leaderboard_record,
    rest="DELETE /v2/leaderboard/{leaderboard_id:str}", nk="leaderboard_record_delete",
)  # fmt: skip
LIST_LEADERBOARD_RECORDS = Call(
    "ListLeaderboardRecords", lw.ListLeaderboardRecordsRequest, lw.LeaderboardRecordList,
    lb.list_leaderboard_records,
    rest="GET /v2/leaderboard/{leaderboard_id:str}", fast=True, nk="leaderboard_records_list",
)  # fmt: skip
LIST_LEADERBOARD_RECORDS_AROUND_OWNER = Call(
    "ListLeaderboardRecordsAroundOwner", lw.ListLeaderboardRecordsAroundOwnerRequest,
    lw.LeaderboardRecordList, lb.list_leaderboard_records_around_owner,
    rest="GET /v2/leaderboard/{leaderboard_id:str}/owner/{owner_id:str}",
    fast=True, nk="leaderboard_records_haystack",
)  # fmt: skip
LIST_LEADERBOARD_PERIODS = Call(
    "ListLeaderboardPeriods", lw.ListLeaderboardPeriodsRequest, lw.LeaderboardPeriodList,
    lb.list_leaderboard_periods,
    rest=["GET /v2/leaderboard/{leaderboard_id:str}/periods",
          "GET /v2/tournament/{tournament_id:str}/periods"],
    nk="leaderboard_periods",
)  # fmt: skip
LIST_TOURNAMENTS = Call(
    "ListTournaments", lw.ListTournamentsRequest, lw.TournamentList, lb.list_tournaments,
    rest="GET /v2/tournament", nk="tournament_list",
)  # fmt: skip
JOIN_TOURNAMENT = Call(
    "JoinTournament", lw.JoinTournamentRequest, Empty, lb.join_tournament,
    rest="POST /v2/tournament/{tournament_id:str}/join", nk="tournament_join",
)  # fmt: skip
WRITE_TOURNAMENT_RECORD = Call(
    "WriteTournamentRecord", lw.WriteTournamentRecordRequest, lw.LeaderboardRecord,
    lb.write_tournament_record,
    rest=["PUT /v2/tournament/{tournament_id:str}", "POST /v2/tournament/{tournament_id:str}"],
    nk="tournament_record_write",
)  # fmt: skip
DELETE_TOURNAMENT_RECORD = Call(
    "DeleteTournamentRecord", lw.DeleteTournamentRecordRequest, Empty, lb.delete_tournament_record,
    rest="DELETE /v2/tournament/{tournament_id:str}", nk="tournament_record_delete",
)  # fmt: skip
LIST_TOURNAMENT_RECORDS = Call(
    "ListTournamentRecords", lw.ListTournamentRecordsRequest, lw.TournamentRecordList,
    lb.list_tournament_records,
    rest="GET /v2/tournament/{tournament_id:str}", nk="tournament_records_list",
)  # fmt: skip
LIST_TOURNAMENT_RECORDS_AROUND_OWNER = Call(
    "ListTournamentRecordsAroundOwner", lw.ListTournamentRecordsAroundOwnerRequest, lw.TournamentRecordList,
    lb.list_tournament_records_around_owner,
    rest="GET /v2/tournament/{tournament_id:str}/owner/{owner_id:str}", nk="tournament_records_haystack",
)  # fmt: skip

# -- remote config and live events (Overworld's own, docs/live_events.md) ---------------------------
# Players (session) and operators (the title's HTTP key, under /admin).

GET_REMOTE_CONFIG = Call(
    "GetRemoteConfig", lew.GetRemoteConfigRequest, lew.RemoteConfig,
    live_events.get_remote_config,
    rest="GET /v2/overworld/config", nk="remote_config_effective",
)  # fmt: skip
LIST_LIVE_EVENTS = Call(
    "ListLiveEvents", lew.ListLiveEventsRequest, lew.LiveEventViewList,
    live_events.list_live_events,
    rest="GET /v2/overworld/events", nk="live_event_list",
)  # fmt: skip
LIST_REMOTE_CONFIG = Call(
    "ListRemoteConfig", lew.ListRemoteConfigRequest, lew.ConfigValueList,
    live_events.list_remote_config,
    rest="GET /v2/overworld/admin/config", nk="remote_config_get",
)  # fmt: skip
SET_REMOTE_CONFIG = Call(
    "SetRemoteConfig", lew.SetRemoteConfigRequest, lew.ConfigValueView,
    live_events.set_remote_config,
    rest="PUT /v2/overworld/admin/config/{key:str}", nk="remote_config_set",
)  # fmt: skip
DELETE_REMOTE_CONFIG = Call(
    "DeleteRemoteConfig", lew.DeleteRemoteConfigRequest, lew.Done,
    live_events.delete_remote_config,
    rest="DELETE /v2/overworld/admin/config/{key:str}", nk="remote_config_delete",
)  # fmt: skip
CREATE_LIVE_EVENT = Call(
    "CreateLiveEvent", lew.LiveEventWrite, lew.LiveEventFull, live_events.create_live_event,
    rest="POST /v2/overworld/admin/events", nk="live_event_create",
)  # fmt: skip
LIST_ALL_LIVE_EVENTS = Call(
    "ListAllLiveEvents", lew.ListAllLiveEventsRequest, lew.LiveEventFullList,
    live_events.list_all_live_events,
    rest="GET /v2/overworld/admin/events", nk="live_event_list",
)  # fmt: skip
GET_LIVE_EVENT = Call(
    "GetLiveEvent", lew.LiveEventIdRequest, lew.LiveEventFull, live_events.get_live_event,
    rest="GET /v2/overworld/admin/events/{event_id:str}", nk="live_event_get",
)  # fmt: skip
UPDATE_LIVE_EVENT = Call(
    "UpdateLiveEvent", lew.UpdateLiveEventRequest, lew.LiveEventFull,
    live_events.update_live_event,
    rest="PUT /v2/overworld/admin/events/{event_id:str}", nk="live_event_update",
)  # fmt: skip
DELETE_LIVE_EVENT = Call(
    "DeleteLiveEvent", lew.LiveEventIdRequest, lew.Done, live_events.delete_live_event,
    rest="DELETE /v2/overworld/admin/events/{event_id:str}", nk="live_event_delete",
)  # fmt: skip

# -- wallets (Overworld's own, read-only for players, docs/economy.md) -------------------------------

GET_WALLET = Call(
    "GetWallet", wallets.GetWalletRequest, wallets.Wallet, wallets.get_wallet,
    rest="GET /v2/overworld/wallet",
)  # fmt: skip
LIST_WALLET_LEDGER = Call(
    "ListWalletLedger", wallets.ListWalletLedgerRequest, wallets.WalletLedgerList, wallets.list_wallet_ledger,
    rest="GET /v2/overworld/wallet/ledger", nk="wallet_ledger_list",
)  # fmt: skip

# -- data protection (Overworld's own, the player's own data, docs/data-protection.md) -------------

EXPORT_ACCOUNT = Call(
    "ExportAccount", Empty, bytes, privacy.export_account,
    rest="GET /v2/overworld/account/export", nk="account_export",
)  # fmt: skip
RECORD_CONSENT = Call(
    "RecordConsent", privacy.ConsentWrite, privacy.ConsentRecord, privacy.record_consent,
    rest="PUT /v2/overworld/account/consent", nk="consent_record",
)  # fmt: skip
LIST_CONSENTS = Call(
    "ListConsents", privacy.ListConsentsRequest, privacy.ConsentList, privacy.list_consents,
    rest="GET /v2/overworld/account/consent", nk="consent_list",
)  # fmt: skip

# -- store and inventory (Overworld's own, docs/economy.md) -------------------------------------------
# Players (session) and operators (the title's HTTP key, under /admin).

GET_STORE = Call(
    "GetStore", store_ops.GetStoreRequest, store_ops.StoreListing, store_ops.get_store,
    rest="GET /v2/overworld/store", nk="store_list",
)  # fmt: skip
STORE_PURCHASE = Call(
    "StorePurchase", store_ops.StorePurchaseRequest, store_ops.StorePurchase, store_ops.purchase,
    rest="POST /v2/overworld/store/purchase", nk="store_purchase",
)  # fmt: skip
LIST_STORE_PURCHASES = Call(
    "ListStorePurchases", store_ops.ListStorePurchasesRequest, store_ops.StorePurchaseList,
    store_ops.list_purchases,
    rest="GET /v2/overworld/store/purchases", nk="store_purchases_list",
)  # fmt: skip
LIST_INVENTORY = Call(
    "ListInventory", store_ops.ListInventoryRequest, store_ops.Inventory, store_ops.list_inventory,
    rest="GET /v2/overworld/inventory", nk="inventory_list",
)  # fmt: skip
CONSUME_INVENTORY = Call(
    "ConsumeInventory", store_ops.ConsumeInventoryRequest, store_ops.Inventory, store_ops.consume_inventory,
    rest="POST /v2/overworld/inventory/consume", nk="inventory_consume",
)  # fmt: skip
GET_STORE_CATALOG = Call(
    "GetStoreCatalog", store_ops.GetStoreCatalogRequest, store_ops.StoreCatalog, store_ops.get_catalog,
    rest="GET /v2/overworld/admin/store", nk="store_catalog_get",
)  # fmt: skip
SET_STORE_ITEM = Call(
    "SetStoreItem", store_ops.SetStoreEntryRequest, store_ops.StoreItem, store_ops.set_item,
    rest="PUT /v2/overworld/admin/store/items/{entry_id:str}", nk="store_item_set",
)  # fmt: skip
SET_STORE_BUNDLE = Call(
    "SetStoreBundle", store_ops.SetStoreEntryRequest, store_ops.StoreBundle, store_ops.set_bundle,
    rest="PUT /v2/overworld/admin/store/bundles/{entry_id:str}", nk="store_bundle_set",
)  # fmt: skip
SET_STORE_OFFER = Call(
    "SetStoreOffer", store_ops.SetStoreEntryRequest, store_ops.StoreOffer, store_ops.set_offer,
    rest="PUT /v2/overworld/admin/store/offers/{entry_id:str}", nk="store_offer_set",
)  # fmt: skip
DELETE_STORE_ENTRY = Call(
    "DeleteStoreEntry", store_ops.DeleteStoreEntryRequest, store_ops.StoreDone, store_ops.delete_entry,
    rest=(
        "DELETE /v2/overworld/admin/store/items/{entry_id:str}",
        "DELETE /v2/overworld/admin/store/bundles/{entry_id:str}",
        "DELETE /v2/overworld/admin/store/offers/{entry_id:str}",
    ),
    nk="store_entry_delete",
)  # fmt: skip
GRANT_INVENTORY = Call(
    "GrantInventory", store_ops.ChangeInventoryRequest, store_ops.Inventory, store_ops.grant_inventory,
    rest="POST /v2/overworld/admin/inventory/{user_id:str}/grant", nk="inventory_grant",
)  # fmt: skip
REVOKE_INVENTORY = Call(
    "RevokeInventory", store_ops.ChangeInventoryRequest, store_ops.Inventory, store_ops.revoke_inventory,
    rest="POST /v2/overworld/admin/inventory/{user_id:str}/revoke", nk="inventory_revoke",
)  # fmt: skip

# -- in-app purchases and subscriptions (Nakama's /v2/iap, docs/economy.md) -----------------------

VALIDATE_PURCHASE_APPLE = Call(
    "ValidatePurchaseApple", iw.ValidatePurchaseAppleRequest, iw.ValidatePurchaseResponse,
    purchases.validate_purchase_apple,
    rest="POST /v2/iap/purchase/apple", nk="purchase_validate_apple",
)  # fmt: skip
VALIDATE_PURCHASE_GOOGLE = Call(
    "ValidatePurchaseGoogle", iw.ValidatePurchaseGoogleRequest, iw.ValidatePurchaseResponse,
    purchases.validate_purchase_google,
    rest="POST /v2/iap/purchase/google", nk="purchase_validate_google",
)  # fmt: skip
VALIDATE_PURCHASE_HUAWEI = Call(
    "ValidatePurchaseHuawei", iw.ValidatePurchaseHuaweiRequest, iw.ValidatePurchaseResponse,
    purchases.validate_purchase_huawei,
    rest="POST /v2/iap/purchase/huawei", nk="purchase_validate_huawei",
)  # fmt: skip
VALIDATE_PURCHASE_FACEBOOK_INSTANT = Call(
    "ValidatePurchaseFacebookInstant", iw.ValidatePurchaseFacebookInstantRequest, iw.ValidatePurchaseResponse,
    purchases.validate_purchase_facebook_instant,
    rest="POST /v2/iap/purchase/facebookinstant", nk="purchase_validate_facebook_instant",
)  # fmt: skip
VALIDATE_SUBSCRIPTION_APPLE = Call(
    "ValidateSubscriptionApple", iw.ValidateSubscriptionAppleRequest, iw.ValidateSubscriptionResponse,
    purchases.validate_subscription_apple,
    rest="POST /v2/iap/subscription/apple", nk="subscription_validate_apple",
)  # fmt: skip
VALIDATE_SUBSCRIPTION_GOOGLE = Call(
    "ValidateSubscriptionGoogle", iw.ValidateSubscriptionGoogleRequest, iw.ValidateSubscriptionResponse,
    purchases.validate_subscription_google,
    rest="POST /v2/iap/subscription/google", nk="subscription_validate_google",
)  # fmt: skip
GET_SUBSCRIPTION = Call(
    "GetSubscription", iw.GetSubscriptionRequest, iw.ValidatedSubscription, purchases.get_subscription,
    rest="GET /v2/iap/subscription/{product_id:str}", nk="subscription_get_by_product_id",
)  # fmt: skip
LIST_SUBSCRIPTIONS = Call(
    "ListSubscriptions", iw.ListSubscriptionsRequest, iw.SubscriptionList, purchases.list_subscriptions,
    rest="POST /v2/iap/subscription", nk="subscriptions_list",
)  # fmt: skip

# -- matches -------------------------------------------------------------------------------------

LIST_MATCHES = Call(
    "ListMatches", mw.ListMatchesRequest, mw.MatchList, matches.list_matches,
    rest="GET /v2/match", nk="match_list",
)  # fmt: skip
MATCH_CREATE = SocketCall(
    "MatchCreate", mw.MatchCreate, mw.Match, socket_matches.match_create,
    kind="match_create", reply="match", nk="match_create", joins=True,
)  # fmt: skip
MATCH_JOIN = SocketCall(
    "MatchJoin", mw.MatchJoin, mw.Match, socket_matches.match_join,
    kind="match_join", reply="match", joins=True,
)  # fmt: skip
MATCH_LEAVE = SocketCall(
    "MatchLeave", mw.MatchLeave, None, socket_matches.match_leave,
    kind="match_leave",
)  # fmt: skip
MATCH_DATA_SEND = SocketCall(
    "MatchDataSend", mw.MatchDataSend, None, socket_matches.match_data_send,
    kind="match_data_send",
)  # fmt: skip

# -- chat on the socket ----------------------------------------------------------------------------

CHANNEL_JOIN = SocketCall(
    "ChannelJoin", rt.ChannelJoin, rt.Channel, socket_chat.channel_join,
    kind="channel_join", reply="channel", joins=True,
)  # fmt: skip
CHANNEL_LEAVE = SocketCall(
    "ChannelLeave", rt.ChannelLeave, None, socket_chat.channel_leave,
    kind="channel_leave",
)  # fmt: skip
CHANNEL_MESSAGE_SEND = SocketCall(
    "ChannelMessageSend", rt.ChannelMessageSend, rt.ChannelMessageAck, socket_chat.channel_message_send,
    kind="channel_message_send", reply="channel_message_ack",
)  # fmt: skip
CHANNEL_MESSAGE_UPDATE = SocketCall(
    "ChannelMessageUpdate", rt.ChannelMessageUpdate, rt.ChannelMessageAck, socket_chat.channel_message_update,
    kind="channel_message_update", reply="channel_message_ack",
)  # fmt: skip
CHANNEL_MESSAGE_REMOVE = SocketCall(
    "ChannelMessageRemove", rt.ChannelMessageRemove, rt.ChannelMessageAck, socket_chat.channel_message_remove,
    kind="channel_message_remove", reply="channel_message_ack",
)  # fmt: skip

# -- status ----------------------------------------------------------------------------------------

STATUS_FOLLOW = SocketCall(
    "StatusFollow", rt.StatusFollow, rt.Status, socket_status.status_follow,
    kind="status_follow", reply="status",
)  # fmt: skip
STATUS_UNFOLLOW = SocketCall(
    "StatusUnfollow", rt.StatusUnfollow, None, socket_status.status_unfollow,
    kind="status_unfollow",
)  # fmt: skip
STATUS_UPDATE = SocketCall(
    "StatusUpdate", rt.StatusUpdate, None, socket_status.status_update,
    kind="status_update",
)  # fmt: skip

# -- parties ---------------------------------------------------------------------------------------

PARTY_CREATE = SocketCall(
    "PartyCreate", rt.PartyCreate, rt.Party, socket_party.party_create,
    kind="party_create", reply="party", joins=True,
)  # fmt: skip
PARTY_JOIN = SocketCall(
    "PartyJoin", rt.PartyId, None, socket_party.party_join,
    kind="party_join", joins=True,
)  # fmt: skip
PARTY_LEAVE = SocketCall(
    "PartyLeave", rt.PartyId, None, socket_party.party_leave,
    kind="party_leave",
)  # fmt: skip
PARTY_PROMOTE = SocketCall(
    "PartyPromote", rt.PartyMember, rt.PartyLeader, socket_party.party_promote,
    kind="party_promote", reply="party_leader",
)  # fmt: skip
PARTY_ACCEPT = SocketCall(
    "PartyAccept", rt.PartyMember, None, socket_party.party_accept,
    kind="party_accept",
)  # fmt: skip
PARTY_REMOVE = SocketCall(
    "PartyRemove", rt.PartyMember, None, socket_party.party_remove,
    kind="party_remove",
)  # fmt: skip
PARTY_CLOSE = SocketCall(
    "PartyClose", rt.PartyId, None, socket_party.party_close,
    kind="party_close",
)  # fmt: skip
PARTY_JOIN_REQUEST_LIST = SocketCall(
    "PartyJoinRequestList", rt.PartyId, rt.PartyJoinRequest, socket_party.party_join_request_list,
    kind="party_join_request_list", reply="party_join_request",
)  # fmt: skip
PARTY_DATA_SEND = SocketCall(
    "PartyDataSend", rt.PartyDataSend, None, socket_party.party_data_send,
    kind="party_data_send",
)  # fmt: skip
PARTY_UPDATE = SocketCall(
    "PartyUpdate", rt.PartyUpdate, None, socket_party.party_update,
    kind="party_update",
)  # fmt: skip
LIST_PARTIES = Call(
    "ListParties", pw.ListPartiesRequest, pw.PartyList, party_ops.list_parties,
    rest="GET /v2/party", nk="party_list",
)  # fmt: skip

# -- the matchmaker --------------------------------------------------------------------------------

MATCHMAKER_ADD = SocketCall(
    "MatchmakerAdd", mmw.MatchmakerAdd, mmw.MatchmakerTicket, socket_matchmaker.matchmaker_add,
    kind="matchmaker_add", reply="matchmaker_ticket",
)  # fmt: skip
MATCHMAKER_REMOVE = SocketCall(
    "MatchmakerRemove", mmw.MatchmakerRemove, None, socket_matchmaker.matchmaker_remove,
    kind="matchmaker_remove",
)  # fmt: skip
PARTY_MATCHMAKER_ADD = SocketCall(
    "PartyMatchmakerAdd", mmw.PartyMatchmakerAdd, mmw.PartyMatchmakerTicket,
    socket_matchmaker.party_matchmaker_add,
    kind="party_matchmaker_add", reply="party_matchmaker_ticket",
)  # fmt: skip
PARTY_MATCHMAKER_REMOVE = SocketCall(
    "PartyMatchmakerRemove", mmw.PartyMatchmakerRemove, None, socket_matchmaker.party_matchmaker_remove,
    kind="party_matchmaker_remove",
)  # fmt: skip
GET_MATCHMAKER_STATS = Call(
    "GetMatchmakerStats", Empty, mmw.MatchmakerStats, matchmaker_ops.get_matchmaker_stats,
    rest="GET /v2/matchmaker/stats", nk="matchmaker_stats",
)  # fmt: skip


# -- the registry ----------------------------------------------------------------------------------

REST_CALLS: tuple[Call[Any, Any], ...] = tuple(v for v in list(globals().values()) if isinstance(v, Call))
SOCKET_CALLS: tuple[SocketCall[Any, Any], ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, SocketCall)
)
CALLS: tuple[Call[Any, Any] | SocketCall[Any, Any], ...] = (*REST_CALLS, *SOCKET_CALLS)
BY_NAME: dict[str, Call[Any, Any] | SocketCall[Any, Any]] = {c.name: c for c in CALLS}
NAMES: frozenset[str] = frozenset(BY_NAME)  # the names hooks can be registered for


def _check() -> None:
    """One entry per name, per REST binding and per socket kind."""
    if len(BY_NAME) != len(CALLS):
        raise RuntimeError(
            f"API calls declared twice: {sorted(c.name for c in CALLS if BY_NAME[c.name] is not c)}"
        )
    bindings = [r for c in REST_CALLS for r in c.rest]
    if len(set(bindings)) != len(bindings):
        raise RuntimeError("a REST binding is declared for two calls")
    kinds = [c.kind for c in SOCKET_CALLS]
    if len(set(kinds)) != len(kinds):
        raise RuntimeError("a socket message kind is declared for two calls")


_check()
