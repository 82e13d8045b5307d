"""What is being handled right now: the message or request whose effects are being recorded.

Whoever hands work to a service sets it (a consumer delivering a message, the API serving a request, the
saga timer finding a step overdue); the event stores record it with every event saved meanwhile, and the
logs print it on every line. It lives in a context variable, so concurrent requests and handlers in one
process each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    causation_id: str
    """The id of the message (``service:position`` of an event, the id of a command) or request being handled."""
    correlation_id: str | None = None
    """The order, and so the saga, it belongs to (None for what belongs to no order, such as a restock)."""
    service: str | None = None
    """The service or consumer handling it."""
    saga_mode: str | None = None


_current: ContextVar[Cause | None] = ContextVar("cause", default=None)


def current_cause() -> Cause | None:
    return _current.get()


@contextmanager
def handling(cause: Cause) -> Iterator[Cause]:
    """Everything saved (and logged) inside the block was caused by ``cause``."""
    token = _current.set(cause)
    try:
        yield cause
    finally:
        _current.reset(token)
