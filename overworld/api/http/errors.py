"""Every error leaves as Nakama's body: {"error": msg, "code": grpc_code, "message": msg}."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from overworld.api.http.names import CamelRequest
from overworld.errors import HTTP_STATUS, ApiError, Code, RateLimited
from overworld.protocol.base import error_body
from overworld.protocol.jsondepth import check_depth

log = structlog.get_logger(__name__)

_STATUS_CODES: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    405: Code.UNIMPLEMENTED,
    409: Code.ALREADY_EXISTS,
    413: Code.INVALID_ARGUMENT,
    429: Code.RESOURCE_EXHAUSTED,
    503: Code.UNAVAILABLE,
}


def error_response(
    code: Code, message: str, status: int | None = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        content=error_body(code, message),
        status_code=status or HTTP_STATUS.get(code, 500),
        media_type="application/json",
        headers=headers,
    )


def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    if isinstance(exc, RateLimited):  # 429 with the seconds to wait
        return error_response(exc.code, exc.message, 429, {"Retry-After": str(exc.retry_after)})
    return error_response(exc.code, exc.message, exc.http_status)


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            where = item.get("key") or item.get("source") or ""
            text = str(item.get("message", "invalid"))
            problems.append(f"{where}: {text}" if where else text)
    message = "Invalid request: " + "; ".join(problems) if problems else _plain(exc.detail)
    return error_response(Code.INVALID_ARGUMENT, message)


def _plain(detail: str) -> str:
    if not detail:
        return "Invalid request."
    if detail.startswith("Validation failed"):
        return detail
    return f"Invalid request body: {detail}"


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = _STATUS_CODES.get(status, Code.INTERNAL if status >= 500 else Code.INVALID_ARGUMENT)
    if status == 404:
        message = "Not Found"
    elif status == 405:
        message = "Method Not Allowed"
    elif status == 413:
        message = "Request body is too large."
    else:
        message = _plain(exc.detail)
    return error_response(code, message, status)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, RecursionError):  # a parser's own limit met before ours (JsonRequest)
        return error_response(Code.INVALID_ARGUMENT, "Invalid request body: nested too deeply.")
    node = getattr(request.app.state, "node", None)
    unavailable = node.outages.unavailable(exc) if node is not None else None
    if unavailable is not None:  # logged once per outage by Outages, not once per request
        return error_response(unavailable.code, unavailable.message)
    log.error("unhandled error", path=request.url.path, exc_info=exc)
    return error_response(Code.INTERNAL, "Internal server error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: internal_error,
}


class JsonRequest(CamelRequest):
    """The app's request (CamelRequest), refusing a JSON body nested deeper than MAX_JSON_DEPTH
    before it is parsed (the parser would otherwise recurse until RecursionError)."""

    async def json(self) -> Any:
        check_depth(await self.body(), "request body")
        return await super().json()
