"""Request and response bodies of the operator's routes: dead letters and saga interventions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.schemas import Timestamp
from api.validation import UNPRINTABLE


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DeadLetter(_Camel):
    id: int
    consumer: str = Field(
        description="who parked it: a log consumer group, `redis:<group>`, `rabbitmq:<queue>`, "
        "or `projections:<read model>`"
    )
    transport: Literal["log", "redis", "rabbitmq"]
    message_id: str | None
    order_id: str | None
    message_type: str | None = Field(description="None when the body could not be read as a message")
    source: str | None = Field(description="the service whose log holds the event (log transport)")
    position: int | None
    body: str = Field(description="the message as it came: the encoded envelope, or the raw body")
    error_type: str
    error: str
    attempts: int = Field(description="how many times it was tried before it was parked (1: never worth retrying)")
    parked_at: Timestamp
    status: Literal["PARKED", "REDRIVEN", "DISCARDED"]
    resolved_at: Timestamp | None


class DeadLetterPage(_Camel):
    items: list[DeadLetter]
    total: int
    limit: int
    offset: int


class InterventionRequest(_Camel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=500,
        pattern=rf"^[^{UNPRINTABLE}]*[^\s{UNPRINTABLE}][^{UNPRINTABLE}]*$",  # printable, not blank
        description="why: recorded on the saga, shown in its history",
        examples=["carrier API fixed; sending the step again"],
    )


class InterventionAccepted(_Camel):
    order_id: str
    saga_type: Literal["choreography", "orchestration"]
    action: Literal["retry", "compensate", "resume"]
    reason: str
