"""The one mapper between stored events and messages (envelopes)."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification

from handlers.messages import Envelope, iso, plain

_METADATA = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
COMMAND_DISPATCHED = "CommandDispatched"
REPLY_REPEATED = "ReplyRepeated"


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


ENVELOPE_VERSION = 1


def encode(message: Envelope) -> bytes:
    """The wire form: a flat, versioned JSON envelope with camelCase keys."""
    return json.dumps(
        {
            "version": ENVELOPE_VERSION,
            "messageId": message.message_id,
            "type": message.type,
            "correlationId": message.correlation_id,
            "causationId": message.causation_id,
            "occurredAt": iso(message.occurred_at),
            "source": message.source,
            "position": message.position,
            "aggregateId": message.aggregate_id,
            "aggregateVersion": message.version,
            "target": message.target,
            "schemaVersion": message.schema_version,
            "payload": camel_keys(plain(message.payload)),
        },
        ensure_ascii=False,
    ).encode()


def decode(body: bytes) -> Envelope:
    wire = json.loads(body)
    if wire.get("version") != ENVELOPE_VERSION:
        raise ValueError(f"unsupported envelope version {wire.get('version')!r}")
    return Envelope(
        message_id=wire["messageId"],
        type=wire["type"],
        source=wire["source"],
        position=wire["position"],
        correlation_id=wire["correlationId"],
        occurred_at=datetime.fromisoformat(wire["occurredAt"]),
        payload=snake_keys(wire["payload"]),
        aggregate_id=wire["aggregateId"],
        version=wire["aggregateVersion"],
        causation_id=wire["causationId"],
        target=wire["target"],
        schema_version=wire.get("schemaVersion", 1),
    )


def partition_of(order_id: str, partitions: int) -> int:
    """The partition that carries every message about ``order_id``: one consumer at a time, in order."""
    return zlib.crc32(order_id.encode()) % partitions


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_keys(value: Any) -> Any:
    return _renamed_keys(value, camel)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snake_keys(value: Any) -> Any:
    return _renamed_keys(value, snake)


def _renamed_keys(value: Any, rename: Callable[[str], str]) -> Any:
    """``value`` with every dictionary key, however deep, renamed."""
    if isinstance(value, dict):
        return {rename(key): _renamed_keys(item, rename) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed_keys(item, rename) for item in value]
    return value
