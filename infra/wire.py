"""The wire form of a message on Redis and RabbitMQ: a flat, versioned JSON envelope, and its partition."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from handlers.messages import Message, iso, plain

ENVELOPE_VERSION = 1


def encode(message: Message) -> bytes:
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
            "traceparent": message.traceparent,
            "payload": camel_keys(plain(message.payload)),
        },
        ensure_ascii=False,
    ).encode()


def decode(body: bytes) -> Message:
    wire = json.loads(body)
    if wire.get("version") != ENVELOPE_VERSION:
        raise ValueError(f"unsupported envelope version {wire.get('version')!r}")
    return Message(
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
        traceparent=wire.get("traceparent"),
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
