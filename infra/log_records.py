"""The one mapper from stored events to what the rest reads: a record of the log, and the message it carries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification

from domain.events import COMMAND_DISPATCHED, REPLY_REPEATED
from handlers.causation import CausalMapper
from handlers.messages import Message, Record

_METADATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def to_record(source: Application[UUID], notification: Notification) -> Record:
    """A stored event as a record: what happened, where and when, what caused it, with its plain payload."""
    mapper = source.mapper
    event, cause = (
        mapper.with_cause(notification)
        if isinstance(mapper, CausalMapper)
        else (mapper.to_domain_event(notification), {})
    )
    if not isinstance(event, DomainEvent):
        raise TypeError(f"{source.name} stored {type(event).__name__}, which is not a domain event")
    payload = {key: value for key, value in vars(event).items() if key not in _METADATA}
    return Record(
        source=source.name,
        position=notification.id,
        type=type(event).__name__,
        aggregate_id=str(notification.originator_id),
        version=notification.originator_version,
        occurred_at=event.timestamp,
        payload=payload,
        schema_version=getattr(type(event), "class_version", 1),
        causation_id=cause.get("causation_id"),
        correlation=cause.get("correlation_id"),
        traceparent=cause.get("traceparent"),
    )


def read_log(source: Application[UUID], start: int = 1, stop: int | None = None, page: int = 500) -> Iterator[Record]:
    """A service's log from ``start`` to ``stop`` (inclusive; the end if None), in order, a page at a time."""
    while notifications := source.recorder.select_notifications(start=start, limit=page, stop=stop):
        yield from (to_record(source, notification) for notification in notifications)
        start = notifications[-1].id + 1


def as_event(record: Record) -> Message:
    """The record as the event message it is, whatever its type."""
    return Message(
        message_id=record.message_id,
        type=record.type,
        source=record.source,
        position=record.position,
        correlation_id=record.correlation_id,
        occurred_at=record.occurred_at,
        payload=record.payload,
        aggregate_id=record.aggregate_id,
        version=record.version,
        schema_version=record.schema_version,
        causation_id=record.causation_id,
        traceparent=record.traceparent,
    )


def to_message(record: Record) -> Message:
    """What consumers receive: events as they are, each dispatched command as the command itself, and
    each repeated reply as the reply it repeats. Both keep the record's place (source, position, order)."""
    event = as_event(record)
    if record.type == COMMAND_DISPATCHED:
        dispatched = record.payload
        return replace(
            event,
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
            event,
            type=repeated["reply_type"],
            payload=dict(repeated["reply"]),
            causation_id=repeated["command_id"],
            schema_version=1,
        )
    return event
