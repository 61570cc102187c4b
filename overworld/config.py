"""Server configuration: defaults, then a TOML file, then `OVERWORLD_*` environment variables.

Every setting is a field of `Settings`; its environment variable is `OVERWORLD_` plus the field
name in upper case (`port` -> `OVERWORLD_PORT`). Values are validated at start and a bad one
stops the server with a message naming the setting.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "OVERWORLD_"

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Workers = Annotated[int, msgspec.Meta(ge=1)] | Literal["auto"]


class ConfigError(Exception):
    """A setting is missing, malformed or out of range."""


Environment = Literal["production", "sandbox"]


class AppleStore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A title's App Store (docs/economy.md#store-configuration)."""

    bundle_id: str  # the app's bundle id: a transaction of another app is refused
    # Apple's root certificate(s) (PEM text, or the path of a PEM file): signed transactions and
    # notifications must chain to one of them.
    root_certificates: list[str] = msgspec.field(default_factory=list)
    shared_secret: str = ""  # the legacy verifyReceipt endpoint's app-specific shared secret
    environments: list[Environment] = msgspec.field(default_factory=lambda: ["production", "sandbox"])
    verify_receipt_url: str = "https://buy.itunes.apple.com/verifyReceipt"
    verify_receipt_sandbox_url: str = "https://sandbox.itunes.apple.com/verifyReceipt"


class GoogleStore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A title's Google Play."""

    package_name: str
    # The service account's JSON key (its text, or the path of the file): client_email, private_key.
    service_account: str = ""
    environments: list[Environment] = msgspec.field(default_factory=lambda: ["production", "sandbox"])
    token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
    api_url: str = "https://androidpublisher.googleapis.com"
    # Real-time developer notifications: when set, the push URL must carry ?token=<this>.
    notification_token: str = ""


class HuaweiStore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A title's Huawei AppGallery: the IAP public key (base64 DER as AppGallery Connect shows it,
    PEM text, or the path of a PEM file)."""

    public_key: str
    environments: list[Environment] = msgspec.field(default_factory=lambda: ["production", "sandbox"])


class FacebookInstantStore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A title's Facebook Instant Games payments: the app secret signing the purchases."""

    app_secret: str


class TitleStores(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The stores a title validates purchases with; a store left out refuses its receipts."""

    apple: AppleStore | None = None
    google: GoogleStore | None = None
    huawei: HuaweiStore | None = None
    facebook_instant: FacebookInstantStore | None = None


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Network
    host: str = "127.0.0.1"  # this machine only; 0.0.0.0: every interface (the container image)
    port: Port = 7350
    workers: Workers = 1  # overworld serve: processes sharing the port, a cluster ("auto": one per core)
    # Addresses or networks of the reverse proxies whose X-Forwarded-For is believed (env: comma-separated).
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # Data: SQLite file under data_dir unless database_url names PostgreSQL.
    data_dir: str = "./data"
    database_url: str = ""
    database_pool_size: Positive = 20
    account_cache_size: NonNegative = 100_000
    auto_migrate: bool = True
    redis_url: str = ""
    redis_prefix: str = "ow"
    node_name: str = ""
    # Data residency (docs/data-protection.md): this node's region; it serves only the titles of
    # this region ('' serves only the titles without one) and refuses the others' requests.
    region: str = ""
    # Encryption at rest of personal fields (docs/data-protection.md): per title name ('*': every
    # title not listed) a keyring, `file:/path/to/keyring` or inline `id:base64,id:base64`,
    # newest key first. A title without one stores them in plaintext. Env: `title=spec;title=spec`.
    encryption_keys: dict[str, str] = msgspec.field(default_factory=dict)
    # The title created on first start.
    default_title: str = "default"
    default_server_key: Key = "defaultkey"
    default_http_key: Key = "defaulthttpkey"
    # Serve with the well-known keys above while listening beyond loopback (refused otherwise).
    allow_default_keys: bool = False
    # How long a title's replaced keys keep working (title rotate-keys; changed key settings).
    key_rotation_overlap_sec: NonNegative = 86_400
    # Sessions.
    session_expiry_sec: Annotated[int, msgspec.Meta(ge=60)] = 7200
    refresh_expiry_sec: Annotated[int, msgspec.Meta(ge=60)] = 30 * 24 * 3600
    # Login protection (overworld/accounts/lockout.py): password guesses allowed per window at one
    # account from one address, from one address at any account, at one account from anywhere.
    lockout_account_failures: Positive = 5
    lockout_address_failures: Positive = 50
    lockout_account_ceiling: Positive = 100
    lockout_window_sec: Positive = 900
    # Growing delays (docs/security.md#password-guessing): after a failed guess at an account from
    # an address, that address waits before its next guess there: lockout_delay_sec, doubled at
    # each further failure, at most lockout_delay_max_sec (0: no delays).
    lockout_delay_sec: NonNegative = 1
    lockout_delay_max_sec: NonNegative = 300
    # Rate limits (docs/security.md#rate-limits): every REST call and socket message kind has a
    # budget per address, per user and per title, each written "N/period" ("100/s", "30/m",
    # "600/10m", "1000/h") or "off". The defaults below apply to every call; `rate_limit_calls`
    # overrides them by call name or socket kind, e.g. {AuthenticateEmail = {address = "60/m"}}.
    rate_limits: bool = True  # false: no rate limit at all (the sign-up limit stays)
    rate_limit_address: str = "1000/s"
    rate_limit_user: str = "100/s"
    rate_limit_title: str = "off"
    rate_limit_calls: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    signup_limit_address: str = "30/h"  # accounts one address may create ("off": no limit)
    # Server code: a folder of Python modules (docs/runtime.md), and the time limit of each call.
    runtime_path: str = ""
    runtime_timeout_ms: Positive = 5000
    runtime_reload: bool = False  # development: reload the server code when a file changes
    # An RPC's or a before hook's unexpected exception answers with its message (as Nakama: code 13)
    runtime_rpc_error_messages: bool = True
    # Requests.
    max_request_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 262_144
    # How long an idle keep-alive connection stays open: longer than a load balancer's own idle
    # timeout (60 s at AWS's and most others), so the balancer, never the server, closes it first.
    http_idle_timeout_sec: Positive = 75
    # Browsers (CORS, and the socket upgrade's Origin check; docs/api.md#browsers-cors): the web
    # origins allowed (["*"]: any, as Nakama), and per title name a narrower list for that title.
    cors_origins: list[str] = msgspec.field(default_factory=lambda: ["*"])
    cors_title_origins: dict[str, list[str]] = msgspec.field(default_factory=dict)
    cors_max_age_sec: NonNegative = 7200  # how long a browser may reuse a preflight's answer
    # Realtime socket
    socket_max_message_bytes: Annotated[int, msgspec.Meta(ge=256)] = 4096
    socket_rate_limit: Positive = 100  # messages a socket may send per second (burst: twice that)
    socket_outbound_queue: Positive = 256  # messages queued for a slow reader before it is dropped
    socket_max_per_user: NonNegative = 0  # 0: no limit; 1: Nakama's single_socket (replaces older sockets)
    socket_cap_per_user: NonNegative = 8  # sockets a user may hold open at once; more are refused (0: no cap)
    socket_ping_interval_sec: Positive = 15
    socket_pong_timeout_sec: Positive = 25
    # Garbage collector (overworld serve): freeze start-up objects, collect the young generations as
    # overworld/ops/gc.py sets, and the whole heap only every gc_full_collect_sec (0: never).
    gc_tuning: bool = True
    gc_full_collect_sec: NonNegative = 600
    match_max_empty_sec: NonNegative = 0  # an authoritative match this long without players ends (0: never)
    chat_rate_limit: Positive = 10  # chat messages a user may send per second (burst: twice that)
    chat_max_content_bytes: Positive = 4096
    presence_timeout_sec: Positive = 5  # a cluster node silent this long is presumed dead
    # Matchmaker (docs/matchmaking.md).
    matchmaker_interval_ms: Annotated[int, msgspec.Meta(ge=10)] = 1000  # time between matching passes
    matchmaker_max_tickets: Positive = 3  # tickets a session (or a party) may have waiting
    matchmaker_max_intervals: NonNegative = 2  # from its Nth pass a ticket takes its min count (Nakama's)
    shutdown_grace_sec: NonNegative = 10
    # Security headers (docs/security.md#headers): Strict-Transport-Security's max-age, sent only
    # when set (TLS ends at a proxy in front of Overworld); 0: no such header.
    hsts_max_age_sec: NonNegative = 0
    # Data protection (docs/data-protection.md). Retention: days to keep each kind of data (0: for
    # ever), the default of every title's policy (server code's retention_policy_set overrides).
    retention_chat_days: NonNegative = 0
    retention_notification_days: NonNegative = 0
    retention_ledger_metadata_days: NonNegative = 0
    retention_schedule: str = "23 * * * *"  # cron (UTC) of the purge, run by one node per cluster
    retention_batch_size: Positive = 1000  # rows deleted or changed per statement
    # How long an erased account's device, custom ID and email cannot sign up again (0: for ever).
    erasure_tombstone_days: NonNegative = 30
    # In-app purchases (docs/economy.md#store-configuration): per title name, its stores (env: JSON).
    purchases: dict[str, TitleStores] = msgspec.field(default_factory=dict)
    purchases_store_timeout_ms: Annotated[int, msgspec.Meta(ge=100)] = 10_000  # a store call's limit
    # Operations.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    metrics: bool = True

    def __post_init__(self) -> None:
        self.cors_origins = _origins("cors_origins", self.cors_origins, wildcard=True)
        narrowed: dict[str, list[str]] = {}
        for title, origins in self.cors_title_origins.items():
            where = f"cors_title_origins[{title!r}]"
            narrowed[title] = _origins(where, origins, wildcard=False)
            if "*" not in self.cors_origins:
                wider = sorted(set(narrowed[title]) - set(self.cors_origins))
                if wider:
                    raise ValueError(
                        f"setting {where}: {', '.join(wider)} not in cors_origins (a title only narrows)"
                    )
        self.cors_title_origins = narrowed
        proxies = [item.strip() for item in self.trusted_proxies if item.strip()]
        for item in proxies:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"setting 'trusted_proxies' (env {ENV_PREFIX}TRUSTED_PROXIES): {item!r} is not"
                    " an IP address or network"
                ) from None
        self.trusted_proxies = proxies
        if self.region and not _REGION.match(self.region):
            raise ValueError(
                f"setting 'region' (env {ENV_PREFIX}REGION): {self.region!r} must be 1-32 characters of"
                " lower-case letters, digits, '-' or '_'"
            )
        for title, spec in self.encryption_keys.items():
            if title != "*" and not _TITLE.match(title):
                raise ValueError(f"setting 'encryption_keys': {title!r} is not a title name (or '*')")
            if not spec.strip():
                raise ValueError(f"setting 'encryption_keys' [{title!r}]: no keyring given")
        for name in ("rate_limit_address", "rate_limit_user", "rate_limit_title", "signup_limit_address"):
            _rate(name, getattr(self, name))
        for call, scopes in self.rate_limit_calls.items():
            for scope, text in scopes.items():
                where = f"rate_limit_calls[{call!r}][{scope!r}]"
                if scope not in RATE_SCOPES:
                    raise ValueError(f"setting {where}: the scope is one of {', '.join(RATE_SCOPES)}")
                _rate(where, text)

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith(("postgres://", "postgresql://"))

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir) / 'overworld.db'}"

    @property
    def cluster(self) -> bool:
        return bool(self.redis_url)


class Rate:
    """`count` events per `period` seconds, up to `count` at once (a token bucket of `count`
    tokens refilled at `count / period` per second). `interval`: the seconds one event's token
    takes to come back."""

    __slots__ = ("count", "interval", "period")

    def __init__(self, count: int, period: float) -> None:
        if count < 1 or period <= 0:
            raise ValueError("a rate needs a count of at least one and a positive period")
        self.count = count
        self.period = float(period)
        self.interval = self.period / count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rate) and (self.count, self.period) == (other.count, other.period)

    def __hash__(self) -> int:
        return hash((self.count, self.period))

    def __repr__(self) -> str:
        return f"Rate({self})"

    def __str__(self) -> str:
        for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.period % seconds == 0:
                n = int(self.period // seconds)
                return f"{self.count}/{n if n != 1 else ''}{unit}"
        seconds_text = f"{self.period:g}" if self.period != 1 else ""
        return f"{self.count}/{seconds_text}s"


RATE_SCOPES = ("address", "user", "title")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(text: str) -> Rate | None:
    """ "100/s", "30/m", "600/10m", "1000/h", "5/d" -> a Rate; "off" (or "0/...") -> None."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    found = _RATE.match(text.lower())
    if found is None:
        raise ValueError(f"{text!r} is not a rate like 100/s, 30/m, 600/10m or 1000/h, or off")
    count, every, unit = int(found[1]), int(found[2] or 1), _UNITS[found[3][0]]
    if count == 0:
        return None
    if every == 0:
        raise ValueError(f"{text!r}: the period is zero")
    return Rate(count, float(every * unit))


def _rate(where: str, text: str) -> Rate | None:
    try:
        return parse_rate(text)
    except ValueError as exc:
        if not where.startswith("rate_limit_calls"):
            where = f"{where!r} (env {ENV_PREFIX}{where.upper()})"
        raise ValueError(f"setting {where}: {exc}") from None


FIELDS: tuple[str, ...] = Settings.__struct_fields__
# Settings naming files: relative ones in a config file are relative to the file's folder.
_PATHS = ("data_dir", "runtime_path")
_REGION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_TITLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s?#]+$")


def _origins(where: str, origins: list[str], *, wildcard: bool) -> list[str]:
    """Origins as browsers send them (`https://game.example:8443`, lower case, no path), or `*`."""
    found = [o.strip().lower().rstrip("/") for o in origins if o.strip()]
    for origin in found:
        if origin == "*" and not wildcard:
            raise ValueError(f"setting {where}: '*' cannot narrow; list the origins")
        if origin not in ("*", "null") and not _ORIGIN.match(origin):
            raise ValueError(f"setting {where}: {origin!r} is not an origin like https://game.example:8443")
    if not found:
        raise ValueError(f"setting {where}: no origin given")
    return ["*"] if "*" in found else list(dict.fromkeys(found))


def _env_value(name: str, value: str) -> Any:
    """An environment variable's value: lists are comma-separated, `cors_title_origins` is
    `title=origin,origin;title=origin`."""
    if name in ("cors_origins", "trusted_proxies"):
        return value.split(",")
    if name == "purchases":
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"setting 'purchases' (env {ENV_PREFIX}PURCHASES): not JSON: {exc}") from None
    if name == "encryption_keys":
        rings: dict[str, str] = {}
        for part in value.split(";"):
            title, sep, spec = part.partition("=")
            if not part.strip():
                continue
            if not sep or not title.strip():
                raise ConfigError(
                    f"setting 'encryption_keys' (env {ENV_PREFIX}ENCRYPTION_KEYS): "
                    "expected title=keyring;*=keyring"
                )
            rings[title.strip()] = spec.strip()
        return rings
    if name == "rate_limit_calls":
        return _rate_calls(value)
    if name == "cors_title_origins":
        titles: dict[str, list[str]] = {}
        for part in value.split(";"):
            title, sep, origins = part.partition("=")
            if not part.strip():
                continue
            if not sep or not title.strip():
                raise ConfigError(
                    f"setting 'cors_title_origins' (env {ENV_PREFIX}CORS_TITLE_ORIGINS): "
                    f"expected title=origin,origin;title=origin, got {part!r}"
                )
            titles[title.strip()] = origins.split(",")
        return titles
    return value


def _rate_calls(value: str) -> dict[str, dict[str, str]]:
    """`OVERWORLD_RATE_LIMIT_CALLS`: `Call:scope=rate,scope=rate;Call:scope=rate`."""
    calls: dict[str, dict[str, str]] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        call, sep, scopes = part.partition(":")
        if not sep or not call.strip():
            raise ConfigError(
                f"setting 'rate_limit_calls' (env {ENV_PREFIX}RATE_LIMIT_CALLS): expected"
                f" Call:scope=rate,scope=rate;Call:scope=rate, got {part!r}"
            )
        entry = calls.setdefault(call.strip(), {})
        for item in scopes.split(","):
            scope, eq, rate = item.partition("=")
            if not eq:
                raise ConfigError(
                    f"setting 'rate_limit_calls' (env {ENV_PREFIX}RATE_LIMIT_CALLS): expected"
                    f" scope=rate after {call.strip()}:, got {item!r}"
                )
            entry[scope.strip()] = rate.strip()
    return calls


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
    section = data.get("overworld", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path!r}: [overworld] must be a table")
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise ConfigError(f"config file {path!r}: unknown setting(s) {', '.join(unknown)}")
    folder = Path(path).resolve().parent
    for name in _PATHS:
        value = section.get(name)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            section[name] = str(folder / value)
    url = section.get("database_url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not Path(url[10:]).is_absolute():
        section["database_url"] = f"sqlite:///{folder / url[10:]}"
    return section


def load_settings(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from a TOML file, the environment and explicit overrides (command-line flags),
    in that order. An error names the setting and where its value came from."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    source: dict[str, str] = {}
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG") or None
    if config_file:
        raw.update(_read_toml(config_file))
        source.update(dict.fromkeys(raw, f"config file {config_file}"))
    for name in FIELDS:
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None and value != "":
            raw[name] = _env_value(name, value)
            source[name] = f"env {ENV_PREFIX}{name.upper()}"
    for name, value in (overrides or {}).items():
        if value is not None:
            raw[name] = value
            source[name] = "flag --" + name.replace("_", "-")
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc), source)) from None
    _check(settings, source)
    return settings


def _where(name: str, source: Mapping[str, str]) -> str:
    return f"setting {name!r} ({source.get(name, f'env {ENV_PREFIX}{name.upper()}')})"


def _explain(message: str, source: Mapping[str, str]) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the setting and its source.
    if " - at `$." in message:
        text, _, where = message.partition(" - at `$.")
        return f"{_where(where.rstrip('`'), source)}: {text.replace('`', '')}"
    return f"invalid configuration: {message}"


def _check(settings: Settings, source: Mapping[str, str]) -> None:
    """What a single value cannot say: the database URL's form, cluster mode needing PostgreSQL."""
    url = settings.database_url
    if url and not url.startswith(("postgres://", "postgresql://", "sqlite:///")):
        scheme = url.partition("://")[0] or url
        if scheme.startswith(("postgres", "postgresql")):
            hint = f"{scheme!r} is SQLAlchemy's form: write postgresql://user@host:5432/db"
        else:
            hint = (
                f"{scheme!r} is not supported: use postgresql://user@host:5432/db, sqlite:///path.db,"
                " or nothing for SQLite under data_dir"
            )
        raise ConfigError(f"{_where('database_url', source)}: {hint}")
    if settings.cluster and not settings.is_postgres:
        raise ConfigError(
            f"{_where('redis_url', source)}: a cluster (redis_url set) needs PostgreSQL:"
            " set database_url = postgresql://user@host:5432/db (SQLite serves one process)"
        )
