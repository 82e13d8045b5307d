from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.common import SagaMode


@dataclass(frozen=True)
class Record:
    """An event as its service stored it, read back from the log: what happened to which aggregate, where
    in the log and when. Projections fold records; relays and log consumers turn them into messages."""

    source: str
    position: int
    type: str
    aggregate_id: str
    version: int
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    schema_version: int = 1  # the event class's version: old stored shapes are upcast to it when read
    causation_id: str | None = None  # the message or request whose handling saved it
    correlation: str | None = None  # the order it belongs to, as recorded when it was saved
    traceparent: str | None = None  # the W3C trace context it was saved in

    @property
    def message_id(self) -> str:
        return f"{self.source}:{self.position}"

    @property
    def correlation_id(self) -> str:
        return self.correlation or str(self.payload.get("order_id", ""))

    @property
    def order_id(self) -> str:
        return self.correlation_id

    @property
    def saga_mode(self) -> str | None:
        return self.payload.get("saga_mode")


@dataclass(frozen=True)
class Message:
    """What a handler receives and a broker carries: an event, or a command for ``target``."""

    message_id: str
    type: str
    source: str
    position: int
    correlation_id: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    aggregate_id: str = ""
    version: int = 0
    causation_id: str | None = None
    target: str | None = None
    schema_version: int = 1
    traceparent: str | None = None

    @property
    def order_id(self) -> str:
        return str(self.payload.get("order_id", self.correlation_id))

    @property
    def saga_mode(self) -> str | None:
        """The style of the saga this message is part of: a command is the orchestrator's."""
        return SagaMode.ORCHESTRATION.value if self.target else self.payload.get("saga_mode")


def iso(moment: datetime) -> str:
    """One sortable text form for every timestamp shown or stored outside the event store."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(value: Any) -> Any:
    """JSON-ready: timestamps in ``iso`` form, containers converted deeply, ids as text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
