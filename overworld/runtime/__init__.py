"""Server code written in Python: modules under `runtime_path` register RPCs, before/after hooks,
event handlers and cron jobs, and use the `ServerApi`. See docs/runtime.md.

Everything a module needs is importable from here:

    from overworld.runtime import ApiError, Code, InitContext, Initializer, RpcContext, ServerApi
"""

from overworld.accounts.models import Account, User
from overworld.context import CallContext, CronContext, Event, EventContext, InitContext, RpcContext
from overworld.errors import (
    AlreadyExists,
    ApiError,
    Code,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from overworld.runtime.initializer import Initializer
from overworld.runtime.loader import RuntimeLoadError
from overworld.runtime.server_api import HttpRequestError, HttpResponse, ServerApi
from overworld.storage.models import SYSTEM_USER, Ack, ObjectId, ObjectPage, ObjectWrite, StoredObject
from overworld.wallets.models import (
    LedgerItem,
    LedgerPage,
    MultiUpdateResult,
    WalletNegative,
    WalletUpdate,
    WalletUpdateResult,
)

__all__ = [
    "SYSTEM_USER",
    "Account",
    "Ack",
    "AlreadyExists",
    "ApiError",
    "CallContext",
    "Code",
    "CronContext",
    "Event",
    "EventContext",
    "FailedPrecondition",
    "HttpRequestError",
    "HttpResponse",
    "InitContext",
    "Initializer",
    "Internal",
    "InvalidArgument",
    "LedgerItem",
    "LedgerPage",
    "MultiUpdateResult",
    "NotFound",
    "ObjectId",
    "ObjectPage",
    "ObjectWrite",
    "PermissionDenied",
    "ResourceExhausted",
    "RpcContext",
    "RuntimeLoadError",
    "ServerApi",
    "StoredObject",
    "Unauthenticated",
    "Unavailable",
    "User",
    "WalletNegative",
    "WalletUpdate",
    "WalletUpdateResult",
]
