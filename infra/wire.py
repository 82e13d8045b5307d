"""The wire form of a message on Redis and RabbitMQ: a flat, versioned JSON envelope, and its partition."""

from __future__ import annotations

import json
import re
import reprlib
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
    """The message in a wire envelope. Anything else raises ``ValueError`` (or ``KeyError`` for a missing key):
    this is where every broker's body is checked, so what gets past it has the types ``Message`` promises."""
    wire = json.loads(body)
    if not isinstance(wire, dict):
        raise ValueError(f"the envelope is a JSON {type(wire).__name__}, not an object")
    version = wire.get("version")
    if type(version) is not int or version != ENVELOPE_VERSION:  # true and 1.0 equal 1 in Python
        raise ValueError(f"unsupported envelope version {reprlib.repr(version)}")
    wire = {"schemaVersion": 1, "traceparent": None, **wire}  # keys the first envelopes did not have
    return Message(
        message_id=_text(wire, "messageId"),
        type=_text(wire, "type"),
        source=_text(wire, "source"),
        position=_integer(wire, "position"),
        correlation_id=_text(wire, "correlationId"),
        occurred_at=_moment(wire, "occurredAt"),
        payload=snake_keys(_object(wire, "payload")),
        aggregate_id=_text(wire, "aggregateId"),
        version=_integer(wire, "aggregateVersion"),
        causation_id=_text_or_none(wire, "causationId"),
        target=_text_or_none(wire, "target"),
        schema_version=_integer(wire, "schemaVersion"),
        traceparent=_text_or_none(wire, "traceparent"),
    )


BIGINT = range(-(2**63), 2**63)
"""The integers PostgreSQL's ``bigint`` holds: a parked message's position is stored in one."""


def _text(wire: dict[str, Any], key: str) -> str:
    value = wire[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} is {reprlib.repr(value)}, not text")
    return value


def _text_or_none(wire: dict[str, Any], key: str) -> str | None:
    return None if wire[key] is None else _text(wire, key)


def _integer(wire: dict[str, Any], key: str) -> int:
    value = wire[key]
    if type(value) is not int or value not in BIGINT:  # type(): true is an int to Python, not to JSON
        raise ValueError(f"{key} is {reprlib.repr(value)}, not an integer within {BIGINT.start}..{BIGINT.stop - 1}")
    return value


def _moment(wire: dict[str, Any], key: str) -> datetime:
    moment = datetime.fromisoformat(_text(wire, key))
    if moment.tzinfo is None:
        raise ValueError(f"{key} is {reprlib.repr(wire[key])}, a moment without its time zone")
    return moment


def _object(wire: dict[str, Any], key: str) -> dict[str, Any]:
    value = wire[key]
    if not isinstance(value, dict):
        raise ValueError(f"{key} is {reprlib.repr(value)}, not a JSON object")
    return value


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
