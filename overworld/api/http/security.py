"""The security headers of every HTTP response (docs/security.md#headers).

Every response carries `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
`X-Frame-Options: DENY` and, when configured (`hsts_max_age_sec`: TLS ends at a proxy in front
of Overworld, which knows whether the client came over HTTPS), `Strict-Transport-Security`.

API responses (JSON, never meant to be rendered) add `Content-Security-Policy: default-src
'none'; frame-ancestors 'none'` and `Cache-Control: no-store`: they are the caller's own data
(sessions, accounts, storage) and no cache on the way may keep them. The docs pages under `/docs`
are public and cacheable; their HTML gets a policy that lets Swagger UI work from this server only:
scripts and style sheets from this origin, plus each inline `<script>` of the page by its SHA-256
hash (the page embeds the OpenAPI document in one), inline styles (Swagger UI sets them),
images from here or `data:`, requests to this origin only, and no framing.
"""

from __future__ import annotations

import base64
import hashlib
import re

from overworld.config import Settings

Header = tuple[bytes, bytes]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_PREFIX = "/docs"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


class SecurityHeaders:
    """The deployment's security headers, built once from the settings."""

    def __init__(self, settings: Settings) -> None:
        common: list[Header] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        if settings.hsts_max_age_sec:
            common.append(
                (
                    b"strict-transport-security",
                    f"max-age={settings.hsts_max_age_sec}; includeSubDomains".encode(),
                )
            )
        self.common = common  # every response
        self.api = [*common, (b"content-security-policy", API_CSP), (b"cache-control", b"no-store")]


def html_csp(body: bytes) -> bytes:
    """The Content-Security-Policy of an HTML page of ours (the docs page), allowing its own
    inline scripts by hash and nothing else inline but styles."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
        if script.strip()
    )
    return (
        "default-src 'none'; "
        f"script-src 'self'{hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ).encode()
