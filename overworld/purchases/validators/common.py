"""What the store validators share: calling a store over HTTP (a store that is down or slow is
UNAVAILABLE, never an internal error), base64 and JSON of receipts, keys and certificates given
as text or as files."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import structlog

from overworld.errors import ApiError, Code, FailedPrecondition, InvalidArgument, Unavailable

log = structlog.get_logger(__name__)


class StoreHttp:
    """An HTTP client for the stores' APIs, with the configured time limit on every call."""

    def __init__(self, timeout_sec: float, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout_sec, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def request(self, store: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The store's response (any status); UNAVAILABLE if it cannot be reached in time."""
        try:
            return await self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            log.warning("store timed out", store=store, url=url)
            raise Unavailable(f"{store} did not answer in time; try again later.") from None
        except httpx.HTTPError as exc:
            log.warning("store unreachable", store=store, url=url, error=repr(exc))
            raise Unavailable(f"{store} cannot be reached; try again later.") from None

    async def json(self, store: str, method: str, url: str, **kwargs: Any) -> tuple[int, Any, str]:
        """(status, decoded JSON body or None, body text). A 5xx or 429 answer is UNAVAILABLE."""
        response = await self.request(store, method, url, **kwargs)
        if response.status_code >= 500 or response.status_code == 429:
            log.warning("store failing", store=store, url=url, status=response.status_code)
            raise Unavailable(f"{store} is unavailable (HTTP {response.status_code}); try again later.")
        text = response.text
        try:
            body = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            body = None
        return response.status_code, body, text


def b64decode(text: str, field: str, *, url: bool = False) -> bytes:
    """Standard or URL-safe base64, padding optional; INVALID_ARGUMENT naming `field` otherwise."""
    if not isinstance(text, str):
        raise InvalidArgument(f"{field}: expected base64 text.")
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        if url:
            return base64.urlsafe_b64decode(padded.encode("ascii"))
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidArgument(f"{field}: not valid base64.") from None


def json_object(data: bytes | str, field: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidArgument(f"{field}: not valid JSON.") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected a JSON object.")
    return value


def text_field(obj: dict[str, Any], name: str, field: str, *, required: bool = True) -> str:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise InvalidArgument(f"{field}: {name} is missing.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidArgument(f"{field}: {name} must be a string.")
    return str(value)


def int_field(obj: dict[str, Any], name: str, field: str, default: int | None = None) -> int:
    value = obj.get(name)
    if value is None or value == "":
        if default is None:
            raise InvalidArgument(f"{field}: {name} is missing.")
        return default
    if isinstance(value, bool):
        raise InvalidArgument(f"{field}: {name} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{field}: {name} must be an integer.") from None


def rfc3339_ms(value: Any, field: str) -> int:
    """Unix milliseconds of an RFC 3339 time (`2026-01-02T03:04:05.678Z`)."""
    if not isinstance(value, str) or not value:
        raise FailedPrecondition(f"{field}: the store gave no time.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FailedPrecondition(f"{field}: the store gave an unreadable time {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def text_or_file(value: str) -> str:
    """Configuration given inline (PEM, JSON) or as the path of a file holding it."""
    stripped = value.strip()
    if stripped.startswith(("-----BEGIN", "{")) or "\n" in stripped:
        return value
    path = Path(stripped).expanduser()
    try:
        is_file = path.is_file()
    except OSError:  # not a path at all: a base64 key with a '/' longer than a file name can be
        return value
    if is_file:
        return path.read_text()
    return value


def refused(store: str, status: int, text: str) -> ApiError:
    """A store's 4xx answer about the title's own credentials or setup."""
    log.warning("store refused the request", store=store, status=status, body=text[:500])
    return ApiError(f"{store} refused the request (HTTP {status}).", Code.FAILED_PRECONDITION)
