"""Who is making a call and in what moment server code runs: `CallContext` is passed from the
transports to the API operations and their hooks; the others are what server code is told when
its module's init, an RPC, an event handler or a cron job runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overworld.titles.models import Title


@dataclass(frozen=True, slots=True)
class CallContext:
    title: Title
    user_id: str = ""  # empty for calls made with a server key or http key
    username: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    token_id: str = ""  # the session token's id, for logout
    session_expires_at: int = 0
    client_ip: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class InitContext:
    """Passed to a module's `init`; `init` runs once per title the module serves."""

    title_id: str
    title_name: str
    module: str  # "echo" for a shared module, "default/rewards" for a title's own one
    path: Path  # the module's file
    node: str = ""  # the node's name (setting node_name)


@dataclass(frozen=True, slots=True)
class RpcContext:
    """Who called an RPC, and how."""

    title_id: str
    title_name: str
    rpc_id: str
    user_id: str = ""  # empty when called with the title's http key (server to server)
    username: str = ""
    vars: dict[str, str] = field(default_factory=dict)  # the session's vars
    session_expires_at: int = 0  # Unix seconds; 0 without a session
    client_ip: str = ""
    request_id: str = ""
    query_params: dict[str, list[str]] = field(default_factory=dict)  # without http_key
    headers: dict[str, list[str]] = field(default_factory=dict)  # lower-case names, no Authorization
    node: str = ""


@dataclass(frozen=True, slots=True)
class EventContext:
    """The title an event happened in and the user it concerns, if any."""

    title_id: str
    title_name: str
    user_id: str = ""
    node: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """A server event: built in (`account_created`) or emitted by server code with `nk.event`."""

    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: int = 0  # Unix milliseconds
    external: bool = False  # sent by a client (`POST /v2/event`) flagged as from outside the game


@dataclass(frozen=True, slots=True)
class CronContext:
    """A run of a cron job: which title and job, and the time it was scheduled for."""

    title_id: str
    title_name: str
    job: str  # the name given to register_cron
    scheduled_time: int  # Unix milliseconds, a time of the cron expression
    node: str = ""  # the node that runs it (one per scheduled time across a cluster)
