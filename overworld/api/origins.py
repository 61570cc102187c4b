"""Which web pages may use the API: CORS for REST and the Origin check of the socket upgrade.

As Nakama (gorilla's CORS handler in front of its gateway): allowed origins are configured
(`cors_origins`, default `*`); with `*` every response carries `Access-Control-Allow-Origin: *`,
otherwise an allowed request origin is echoed with `Vary: Origin`. A preflight (`OPTIONS` with
`Origin` and `Access-Control-Request-Method`) is answered by the edge before any route or
authentication runs.

A title may narrow its origins (`cors_title_origins`, by title name). A preflight carries no
credentials, so it cannot tell the title and is answered by the deployment's list; the narrowing is
enforced once the title is known — where the server key, the http key or the session token is
resolved — by refusing a request whose `Origin` the title does not allow (`PERMISSION_DENIED`)
before its operation runs. Requests without `Origin` (native clients, servers) are never refused:
only browsers send it, and CORS only concerns browsers.

Everything a response needs is computed once here, so the per-request cost is a dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from overworld.config import Settings
from overworld.errors import PermissionDenied
from overworld.titles.models import Title

ALLOW_METHODS = b"GET, HEAD, POST, PUT, DELETE, PATCH"  # Nakama's
ALLOW_HEADERS = b"Authorization, Content-Type, User-Agent"  # Nakama's
ORIGIN_REFUSED = "Origin not allowed"
_ACAO = b"access-control-allow-origin"
_VARY = (b"vary", b"Origin")

Header = tuple[bytes, bytes]


class ResponseHeaders:
    """The CORS headers of a response, as ASGI header pairs and as raw header lines."""

    __slots__ = ("pairs", "raw")

    def __init__(self, pairs: list[Header]) -> None:
        self.pairs = pairs
        self.raw = b"".join(name + b": " + value + b"\r\n" for name, value in pairs)


class Cors:
    """The deployment's CORS policy, built once from the settings. `always`: headers every
    response carries besides (the security headers), precomputed with the CORS ones."""

    def __init__(self, settings: Settings, always: Sequence[Header] = ()) -> None:
        self.any = settings.cors_origins == ["*"]
        self.origins = frozenset(settings.cors_origins)
        self.max_age = str(settings.cors_max_age_sec).encode()
        # With `*`, what every response carries, whatever its origin (the edge's shortcut).
        self.wildcard = ResponseHeaders([(_ACAO, b"*"), *always]) if self.any else None
        self._by_origin = {
            o.encode(): ResponseHeaders([(_ACAO, o.encode()), _VARY, *always])
            for o in self.origins
            if o != "*"
        }
        self._refused = ResponseHeaders([_VARY, *always])

    def allows(self, origin: bytes) -> bool:
        return self.any or origin.lower() in self._by_origin

    def response_headers(self, origin: bytes) -> ResponseHeaders:
        """What a response to a request with this `Origin` (b"" for none) carries."""
        if self.wildcard is not None:
            return self.wildcard
        return self._by_origin.get(origin.lower(), self._refused)

    def preflight_headers(self, origin: bytes) -> list[Header] | None:
        """The answer's headers to a preflight from `origin`, None if the origin is not allowed."""
        if not self.allows(origin):
            return None
        return [
            *self.response_headers(origin).pairs,
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", self.max_age),
        ]


def header(headers: Iterable[Header], name: bytes) -> bytes:
    for key, value in headers:
        if key == name:
            return value
    return b""


def title_allows(settings: Settings, title: Title, origin: str) -> bool:
    """False when the title narrows its origins (`cors_title_origins`) and `origin` (non-empty) is
    not among them."""
    narrowed = settings.cors_title_origins.get(title.name) if settings.cors_title_origins else None
    return narrowed is None or not origin or origin.lower() in narrowed


def check_title_origin(settings: Settings, title: Title, headers: Iterable[Header]) -> None:
    """Refuse (PERMISSION_DENIED) a request from a browser page whose origin the title does not
    allow. Hot callers test `settings.cors_title_origins` first, so that without any narrowing
    title this is never called."""
    if title.name in settings.cors_title_origins:
        origin = header(headers, b"origin").decode("latin-1")
        if not title_allows(settings, title, origin):
            raise PermissionDenied(ORIGIN_REFUSED)
