"""The one mapper from stored events to what the rest reads: a record of the log, and the message it carries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification

from domain.events import COMMAND_DISPATCHED, REPLY_REPEATED
from handlers.messages import Envelope

_METADATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def to_record(source: Application[UUID], notification: Notification) -> Envelope:
    """A stored event as a record: what happened, where and when, with its plain payload."""
    event = source.mapper.to_domain_event(notification)
    if not isinstance(event, DomainEvent):
        raise TypeError(f"{source.name} stored {type(event).__name__}, which is not a domain event")
    payload = {key: value for key, value in vars(event).items() if key not in _METADATA}
    return Envelope(
        message_id=f"{source.name}:{notification.id}",
        type=type(event).__name__,
        source=source.name,
        position=notification.id,
        correlation_id=str(payload.get("order_id", "")),
        occurred_at=event.timestamp,
        payload=payload,
        aggregate_id=str(notification.originator_id),
        version=notification.originator_version,
        schema_version=getattr(type(event), "class_version", 1),
    )


def read_log(source: Application[UUID], start: int = 1, stop: int | None = None, page: int = 500) -> Iterator[Envelope]:
    """A service's log from ``start`` to ``stop`` (inclusive; the end if None), in order, a page at a time."""
    while notifications := source.recorder.select_notifications(start=start, limit=page, stop=stop):
        yield from (to_record(source, notification) for notification in notifications)
        start = notifications[-1].id + 1


def to_message(record: Envelope) -> Envelope:
    """What consumers receive: events as they are, each dispatched command as the command itself, and
    each repeated reply as the reply it repeats. Both keep the record's place (source, position, order)."""
    if record.type == COMMAND_DISPATCHED:
        dispatched = record.payload
        return replace(
            record,
            message_id=dispatched["message_id"],
            type=dispatched["command"],
            payload=dict(dispatched["payload"]),
            causation_id=record.message_id,
            target=dispatched["service"],
            schema_version=1,
        )
    if record.type == REPLY_REPEATED:
        repeated = record.payload
        return replace(
            record,
            type=repeated["reply_type"],
            payload=dict(repeated["reply"]),
            causation_id=repeated["command_id"],
            schema_version=1,
        )
    return record
