"""The HTTP contract as OpenAPI states it: camelCase parameters, a typed error body on every error answer,
enums for statuses, date-times for moments, typed saga steps; and the wire format those types keep."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.app import create_app
from api.schemas import FaultRequest, FaultyService, Notification, Saga
from infra.settings import Settings

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z]*$")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory: Path = tmp_path_factory.mktemp("contract")
    schema: dict[str, Any] = create_app(Settings(database_url=f"sqlite:///{directory}/cloudmart.db")).openapi()
    return schema


def operations(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op) for path, item in openapi["paths"].items() for method, op in item.items()]


def test_every_parameter_is_named_in_camel_case(openapi: dict[str, Any]) -> None:
    names = {(label, p["name"]) for label, op in operations(openapi) for p in op.get("parameters", [])}
    wrong = sorted((label, name) for label, name in names if not CAMEL_CASE.match(name) and "-" not in name)
    assert not wrong, wrong
    assert "/orders/{orderId}" in openapi["paths"]
    assert "/inventory/{bookId}" in openapi["paths"]
    assert "/customers/{customerId}/notifications" in openapi["paths"]


def test_every_error_answer_has_the_error_body(openapi: dict[str, Any]) -> None:
    untyped = [
        (label, code)
        for label, op in operations(openapi)
        for code, answer in op["responses"].items()
        if code.startswith(("4", "5")) and label != "GET /ready"
        if answer.get("content", {}).get("application/json", {}).get("schema") != ERROR_BODY
    ]
    assert not untyped, untyped
    problems = openapi["components"]["schemas"]["ErrorBody"]["properties"]["detail"]["anyOf"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}} in problems


def test_every_route_with_inputs_declares_how_it_refuses_them(openapi: dict[str, Any]) -> None:
    silent = [
        label
        for label, op in operations(openapi)
        if (op.get("parameters") or op.get("requestBody")) and "422" not in op["responses"]
    ]
    assert not silent, silent


@pytest.mark.parametrize(
    ("schema", "field", "enum"),
    [
        ("Order", "status", "OrderStatus"),
        ("Order", "sagaMode", "SagaMode"),
        ("OrderAccepted", "status", "OrderStatus"),
        ("Payment", "status", "PaymentStatus"),
        ("Shipment", "status", "ShipmentStatus"),
        ("Saga", "status", "SagaStatus"),
        ("Saga", "sagaType", "SagaMode"),
        ("SagaTransition", "state", "SagaStatus"),
        ("OrchestrationStep", "status", "StepStatus"),
        ("OrchestrationStep", "service", "ServiceName"),
        ("Notification", "outcome", "Outcome"),
        ("EventRecord", "service", "ServiceName"),
        ("FaultRequest", "service", "FaultyService"),
    ],
)
def test_statuses_and_names_are_enums(openapi: dict[str, Any], schema: str, field: str, enum: str) -> None:
    components = openapi["components"]["schemas"]
    assert components[schema]["properties"][field]["$ref"] == f"#/components/schemas/{enum}"
    assert components[enum]["type"] == "string"
    assert components[enum]["enum"]


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ("Order", "createdAt"),
        ("Order", "updatedAt"),
        ("Payment", "updatedAt"),
        ("Shipment", "updatedAt"),
        ("Notification", "at"),
        ("Saga", "createdAt"),
        ("SagaTransition", "at"),
        ("ChoreographyStep", "at"),
        ("OrchestrationStep", "startedAt"),
        ("EventRecord", "timestamp"),
        ("DeadLetter", "parkedAt"),
    ],
)
def test_moments_are_date_times(openapi: dict[str, Any], schema: str, field: str) -> None:
    assert openapi["components"]["schemas"][schema]["properties"][field]["format"] == "date-time"


def test_saga_steps_are_typed(openapi: dict[str, Any]) -> None:
    steps = openapi["components"]["schemas"]["Saga"]["properties"]["steps"]["anyOf"]

    assert [choice["items"]["$ref"].rsplit("/", 1)[1] for choice in steps] == ["OrchestrationStep", "ChoreographyStep"]


SAGA_ROW = {
    "id": "b7a0c6de-0000-5000-8000-000000000001",
    "order_id": "order-1",
    "saga_type": "orchestration",
    "status": "STUCK",
    "current_step": "reserve_stock",
    "reason": "parked",
    "history": [
        {"state": "STARTED", "at": "2025-04-01T09:30:00.000000Z"},
        {"state": "STUCK", "at": "2025-04-01T09:30:02.500000Z", "reason": "parked", "was": ["STARTED", None]},
    ],
    "steps": [
        {
            "step": "reserve_stock",
            "kind": "forward",
            "command": "ReserveStock",
            "service": "inventory",
            "status": "TIMED_OUT",
            "attempts": 2,
            "startedAt": "2025-04-01T09:30:00.100000Z",
        }
    ],
    "created_at": datetime(2025, 4, 1, 9, 30, tzinfo=UTC),
    "updated_at": datetime(2025, 4, 1, 18, 30, 2, 500000, tzinfo=timezone(timedelta(hours=9))),
}


def test_a_saga_is_written_as_before_its_fields_were_typed() -> None:
    written = Saga.model_validate(SAGA_ROW).model_dump(mode="json", by_alias=True)

    assert written["createdAt"] == "2025-04-01T09:30:00.000000Z"
    assert written["updatedAt"] == "2025-04-01T09:30:02.500000Z"  # in UTC, whatever zone it was read in
    assert written["history"][1] == {"state": "STUCK", "at": "2025-04-01T09:30:02.500000Z", "reason": "parked"}
    assert written["steps"] == SAGA_ROW["steps"]  # a step that has not ended shows no endedAt


def test_a_status_outside_the_contract_is_not_written() -> None:
    with pytest.raises(ValidationError):
        Saga.model_validate({**SAGA_ROW, "status": "SOMEWHERE"})
    with pytest.raises(ValidationError):
        Notification.model_validate({"order_id": "o", "outcome": "PENDING", "at": SAGA_ROW["created_at"]})


@pytest.mark.parametrize("service", ["payments", "payment"])
def test_faults_are_asked_of_payments_by_either_name(service: str) -> None:
    request = FaultRequest.model_validate({"service": service, "fault": "fail"})

    assert request.service is FaultyService.PAYMENTS
