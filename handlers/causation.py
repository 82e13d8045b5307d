"""What is being handled right now: the message or request whose effects are being recorded.

Whoever hands work to a service sets it (a consumer delivering a message, the API serving a request, the
saga timer finding a step overdue); the event stores record it with every event saved meanwhile, and the
logs print it on every line. It lives in a context variable, so concurrent requests and handlers in one
process each see their own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent


@dataclass(frozen=True)
class Cause:
    causation_id: str
    """The id of the message (``service:position`` of an event, the id of a command) or request being handled."""
    correlation_id: str | None = None
    """The order, and so the saga, it belongs to (None for what belongs to no order, such as a restock)."""
    service: str | None = None
    """The service or consumer handling it."""
    saga_mode: str | None = None
    traceparent: str | None = None
    """The W3C trace context of the work in progress, so what it causes joins the same trace."""


_current: ContextVar[Cause | None] = ContextVar("cause", default=None)
_recorded: ContextVar[Mapping[int, Cause | None] | None] = ContextVar("recorded causes", default=None)


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


@contextmanager
def concerning(order_id: str, saga_mode: str | None = None) -> Iterator[None]:
    """The work in progress, now known to concern ``order_id`` (a request learns its order as it handles it)."""
    cause = current_cause()
    if cause is None:
        yield
        return
    with handling(replace(cause, correlation_id=order_id, saga_mode=saga_mode or cause.saga_mode)):
        yield


@contextmanager
def recorded_with(causes: Mapping[int, Cause | None]) -> Iterator[None]:
    """Events saved inside the block are stamped with their own cause (by ``id`` of the event), the one
    current when their handler saved them, rather than the cause current now: a batch records many
    messages' events at once (``handlers/services/unit_of_work.py``)."""
    token = _recorded.set(causes)
    try:
        yield
    finally:
        _recorded.reset(token)


CAUSE = "__cause__"
"""The key of an event's stored state that holds what caused it (never an attribute of the event itself)."""


class CausalMapper(Mapper[UUID]):
    """Records with every event the cause current when it is saved, inside the event's stored state, so every
    event store (PostgreSQL, SQLite, in memory) keeps it, and reads it back apart from the event."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        recorded = _recorded.get()
        cause = current_cause() if recorded is None else recorded.get(id(domain_event))
        if cause is None:
            return super().to_stored_event(domain_event)
        stamped = copy.copy(domain_event)  # the aggregate's own event stays as it was triggered
        order_id = getattr(domain_event, "order_id", None)
        stored = {
            "causation_id": cause.causation_id,
            "correlation_id": cause.correlation_id or (str(order_id) if order_id else None),
            "traceparent": cause.traceparent,
        }
        object.__setattr__(stamped, CAUSE, stored)
        return super().to_stored_event(stamped)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self.with_cause(stored_event)[0]

    def with_cause(self, stored_event: StoredEvent) -> tuple[DomainEventProtocol[UUID], dict[str, Any]]:
        """The event, and what caused it (empty for events saved before causes were recorded)."""
        event = super().to_domain_event(stored_event)
        return event, vars(event).pop(CAUSE, None) or {}
