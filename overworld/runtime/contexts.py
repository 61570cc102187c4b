"""What server code is told about the moment it runs in: module init, an RPC call, an event.

(Before and after hooks receive `overworld.context.CallContext`, the same context the API
operations use.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True, slots=True)
class CronContext:
    """A run of a cron job: which title and job, and the time it was scheduled for."""

    title_id: str
    title_name: str
    job: str  # the name given to register_cron
    scheduled_time: int  # Unix milliseconds, a time of the cron expression
    node: str = ""  # the node that runs it (one per scheduled time across a cluster)
