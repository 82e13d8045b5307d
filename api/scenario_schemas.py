"""Request and response bodies of the scenario routes: the catalogue, and a run of one scenario."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from api.schemas import OrderStatus, SagaStatus, Schema
from domain.common import SagaMode


class ExpectedOutcome(Schema):
    status: OrderStatus = Field(description="the order's final status")
    saga_status: SagaStatus = Field(description="the saga's final state")
    compensations: list[str] = Field(
        description="in orchestration, the compensation steps in the order they run; in choreography the same "
        "names, in whatever order the services happen to run them"
    )
    reason: str | None = Field(description="how the order's `cancelReason` starts; null for a completed order")


class ExpectedByStyle(Schema):
    choreography: ExpectedOutcome
    orchestration: ExpectedOutcome


class ScenarioView(Schema):
    name: str = Field(examples=["carrier-outage"])
    title: str
    description: str
    expected: ExpectedByStyle


class ScenarioRunRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    saga_modes: list[SagaMode] = Field(
        default=[SagaMode.CHOREOGRAPHY, SagaMode.ORCHESTRATION],
        min_length=1,
        max_length=2,
        description="the styles to run it in, each at most once (both by default)",
    )

    @field_validator("saga_modes")
    @classmethod
    def _each_once(cls, modes: list[SagaMode]) -> list[SagaMode]:
        if len(set(modes)) != len(modes):
            raise ValueError("each saga mode at most once")
        return modes


class ScenarioRunStarted(Schema):
    saga_mode: SagaMode
    order_id: str


class ScenarioRunAccepted(Schema):
    scenario: str
    runs: list[ScenarioRunStarted]
