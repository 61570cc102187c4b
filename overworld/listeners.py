"""Telling listeners of domain events (friend requests, group changes...) after a change commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)
E = TypeVar("E")


def announce(listeners: Iterable[Callable[[E], None]], events: Iterable[E], domain: str) -> None:
    """Call every listener with every event; a listener's error is logged, never raised."""
    listeners = list(listeners)
    for event in events:
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception(f"{domain} listener failed", kind=type(event).__name__)
