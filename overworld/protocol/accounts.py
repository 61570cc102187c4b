from __future__ import annotations

import msgspec

from overworld.protocol.base import Message


class AccountDevice(Message):
    id: str = ""
    vars: dict[str, str] = msgspec.field(default_factory=dict)


class AccountEmail(Message):
    email: str = ""
    password: str = ""
    vars: dict[str, str] = msgspec.field(default_factory=dict)


class AccountCustom(Message):
    id: str = ""
    vars: dict[str, str] = msgspec.field(default_factory=dict)


class AuthenticateDeviceRequest(Message):
    account: AccountDevice
    create: bool = True
    username: str = ""


class AuthenticateEmailRequest(Message):
    account: AccountEmail
    create: bool = True
    username: str = ""


class AuthenticateCustomRequest(Message):
    account: AccountCustom
    create: bool = True
    username: str = ""


class Session(Message):
    created: bool = False
    token: str = ""
    refresh_token: str = ""


class SessionRefreshRequest(Message):
    token: str = ""
    vars: dict[str, str] = msgspec.field(default_factory=dict)


class SessionLogoutRequest(Message):
    token: str = ""
    refresh_token: str = ""


class UpdateAccountRequest(Message):
    # Absent means unchanged; "" clears (StringValue wrappers in Nakama's API).
    username: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None
    lang_tag: str | None = None
    location: str | None = None
    timezone: str | None = None


class GetUsersRequest(Message):
    ids: list[str] = msgspec.field(default_factory=list)
    usernames: list[str] = msgspec.field(default_factory=list)
    facebook_ids: list[str] = msgspec.field(default_factory=list)


class User(Message):
    id: str = ""
    username: str = ""
    display_name: str = ""
    avatar_url: str = ""
    lang_tag: str = ""
    location: str = ""
    timezone: str = ""
    metadata: str = ""
    facebook_id: str = ""
    google_id: str = ""
    gamecenter_id: str = ""
    steam_id: str = ""
    online: bool = False
    edge_count: int = 0
    create_time: str = ""
    update_time: str = ""
    facebook_instant_game_id: str = ""
    apple_id: str = ""


class Users(Message):
    users: list[User] = msgspec.field(default_factory=list)


class Account(Message):
    user: User | None = None
    wallet: str = ""
    email: str = ""
    devices: list[AccountDevice] = msgspec.field(default_factory=list)
    custom_id: str = ""
    verify_time: str = ""
    disable_time: str = ""
