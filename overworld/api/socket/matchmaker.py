"""The matchmaker messages on the socket (placeholder: handlers are being built)."""

from __future__ import annotations

from typing import Any

HANDLERS: dict[str, Any] = {}
