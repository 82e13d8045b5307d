"""The wire envelope: what ``encode`` writes ``decode`` reads back, and ``decode`` refuses whatever is not a message,
so that every consumer parks it at once instead of handing it on."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.messages import Message
from handlers.retry import MalformedMessageError
from infra.dead_letters import decoded
from infra.wire import decode, encode

MESSAGE = Message(
    message_id="orders:7",
    type="OrderCreated",
    source="orders",
    position=7,
    correlation_id="order-1",
    occurred_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    payload={"order_id": "order-1", "saga_mode": "choreography", "line_items": [{"book_id": "book-123"}]},
    aggregate_id="7c1f",
    version=1,
    traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
)


def envelope(**changes: Any) -> bytes:
    wire = json.loads(encode(MESSAGE))
    wire.update(changes)
    return json.dumps(wire).encode()


def test_what_encode_writes_decode_reads_back() -> None:
    assert decode(encode(MESSAGE)) == MESSAGE
    command = replace(MESSAGE, target="payments", causation_id="orchestrator:3")
    assert decode(encode(command)) == command


def test_an_envelope_of_before_schema_versions_and_traces_reads_with_their_defaults() -> None:
    wire = json.loads(encode(MESSAGE))
    del wire["schemaVersion"], wire["traceparent"]

    message = decode(json.dumps(wire).encode())

    assert (message.schema_version, message.traceparent) == (1, None)


REFUSALS = [
    ({"payload": ["x"]}, "payload is ['x'], not a JSON object"),
    ({"payload": None}, "payload is None, not a JSON object"),
    ({"payload": "order-1"}, "payload is 'order-1', not a JSON object"),
    ({"position": "abc"}, "position is 'abc', not an integer"),
    ({"position": 2**70}, f"position is {2**70}, not an integer within"),
    ({"position": -(2**63) - 1}, "not an integer within -9223372036854775808..9223372036854775807"),
    ({"position": 7.0}, "position is 7.0, not an integer"),
    ({"position": True}, "position is True, not an integer"),
    ({"aggregateVersion": None}, "aggregateVersion is None, not an integer"),
    ({"schemaVersion": "1"}, "schemaVersion is '1', not an integer"),
    ({"messageId": 7}, "messageId is 7, not text"),
    ({"type": None}, "type is None, not text"),
    ({"correlationId": ["order-1"]}, "correlationId is ['order-1'], not text"),
    ({"target": 3}, "target is 3, not text"),
    ({"causationId": {}}, "causationId is {}, not text"),
    ({"traceparent": 1}, "traceparent is 1, not text"),
    ({"occurredAt": 1767603600}, "occurredAt is 1767603600, not text"),
    ({"occurredAt": "2026-01-05T09:00:00"}, "a moment without its time zone"),
    ({"occurredAt": "yesterday"}, "Invalid isoformat string"),
    ({"version": True}, "unsupported envelope version True"),
    ({"version": 2}, "unsupported envelope version 2"),
]


@pytest.mark.parametrize(("changes", "said"), REFUSALS, ids=[said for _, said in REFUSALS])
def test_decode_refuses_what_the_envelope_does_not_promise_and_says_what(changes: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        decode(envelope(**changes))

    with pytest.raises(MalformedMessageError, match="not a message envelope"):  # what a consumer parks at once
        decoded(envelope(**changes))


@pytest.mark.parametrize("body", [b'["version", 1]', b"null", b'"envelope"'])
def test_json_that_is_not_an_object_is_no_envelope(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"the envelope is a JSON \w+, not an object"):
        decode(body)


def test_a_missing_key_is_refused_too() -> None:
    wire = json.loads(encode(MESSAGE))
    del wire["position"]

    with pytest.raises(MalformedMessageError, match="KeyError: 'position'"):
        decoded(json.dumps(wire).encode())


def test_the_refusal_of_a_huge_value_stays_short() -> None:
    with pytest.raises(ValueError) as refused:
        decode(envelope(payload=["x" * 10_000] * 1000))

    assert len(str(refused.value)) < 300  # not the 10 MB it was given
