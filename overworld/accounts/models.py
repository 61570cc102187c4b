from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class User:
    id: str
    username: str
    display_name: str = ""
    avatar_url: str = ""
    lang_tag: str = "en"
    location: str = ""
    timezone: str = ""
    metadata: str = "{}"
    edge_count: int = 0
    create_time: int = 0
    update_time: int = 0
    online: bool = False


@dataclass(slots=True)
class Device:
    id: str
    vars: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Account:
    user: User
    email: str = ""
    custom_id: str = ""
    devices: list[Device] = field(default_factory=list)
    verify_time: int | None = None
    disable_time: int | None = None
    wallet: str = "{}"


@dataclass(slots=True)
class AccountUpdate:
    """Fields to change; None leaves a field as it is."""

    username: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None
    lang_tag: str | None = None
    location: str | None = None
    timezone: str | None = None
    metadata: str | None = None
