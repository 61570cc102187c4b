"""Structured logs (JSON by default) through structlog, with the request id bound per request.

Nothing secret is logged: request bodies, tokens and keys never reach a log call, and the
`redact` processor masks any field whose name says it holds a secret, should one slip in.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_WORDS = ("password", "token", "secret", "authorization", "server_key", "http_key")


# Secrets in query strings of logged URLs (uvicorn logs the socket's `/ws?token=...`).
_SECRET_PARAM = re.compile(r"((?:token|http_key|server_key|password)=)[^&\s\"]+", re.IGNORECASE)


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for name in list(event):
        if any(word in name.lower() for word in _SECRET_WORDS):
            event[name] = "[redacted]"
    message = event.get("event")
    if isinstance(message, str) and "=" in message:
        event["event"] = _SECRET_PARAM.sub(r"\1[redacted]", message)
    return event


class _ClientFaults(logging.Filter):
    """uvicorn (websockets-sansio) logs as ERRORs two things a client did, which were answered as
    they should be and where nothing failed on the server; those lines become DEBUG ones (without
    the traceback), so that a client cannot fill the log with errors:

    - every socket refused with an HTTP response (the ASGI denial response: a bad token's 401, a
      503 while shutting down): "ASGI callable returned without completing handshake" (the
      socket endpoint refuses only that way, so no real failure hides behind it);
    - a text frame that is not UTF-8: "Invalid UTF-8 sequence received from client", with the
      decoding error's traceback; uvicorn closes the socket with 1007 (invalid data), a close
      frame the client gets (tests/realtime/test_socket_fuzz.py)."""

    MESSAGES = {
        "ASGI callable returned without completing handshake.": (
            "socket refused with an HTTP error before its handshake"
        ),
        "Invalid UTF-8 sequence received from client.": "socket closed (1007): a text frame not in UTF-8",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn") and isinstance(record.msg, str):
            replacement = self.MESSAGES.get(record.msg)
            if replacement is not None:
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                record.msg, record.args, record.exc_info, record.exc_text = replacement, (), None, None
                return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure(level: str = "info", fmt: str = "json", cache: bool = True) -> None:
    """`cache=False` keeps loggers re-reading the configuration (tests use structlog's capture_logs)."""
    numeric = logging.getLevelName(level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=cache,
    )
    # Route the standard library's logs (uvicorn, asyncpg, alembic) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.addFilter(_ClientFaults())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
