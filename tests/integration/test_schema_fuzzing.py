"""The whole OpenAPI description, exercised by schemathesis: generated valid and invalid requests to every
route, as the operator and as a customer, then chains of calls that follow the links a placed order's answer
declares. No answer may be a 5xx, have a status the route does not declare, or have a body or content type other
than declared.

On PostgreSQL, Redis and RabbitMQ only, the stricter topology: the edge and the handlers are the same code in
both, and what only SQLite or only PostgreSQL refuses (a NUL character, an integer beyond BIGINT) is tested on
both topologies in ``test_edge.py``. The examples are derandomised, so a second topology would send the very same
requests again. Bounded so that it takes a minute or two: a few dozen examples per route and mode. Each caller and
mode, and each caller's chains, is a test of its own on a fresh app, so that a parallel run (pytest-xdist) spreads
them over its workers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema

from api.app import create_app
from infra.settings import Settings
from tests.conftest import TIMINGS
from tests.infrastructure import borrowed_infrastructure
from tests.support import ADMIN, as_customer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 40}
STATEFUL_SCENARIOS = 40
CALLERS = {"operator": ADMIN, "customer": as_customer("customer-001")}
GOOD_ORDER = {"customerId": "customer-001", "bookId": "book-789", "quantity": 1, "price": 2800}
# schemathesis' own strategies use `random`, which Hypothesis frowns upon; nothing this test can change
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
STREAM_SECONDS, CALL_SECONDS = 1.0, 70.0  # a long poll may wait 60 s; the event stream never ends by itself
# Each call to the event stream lasts STREAM_SECONDS, and must answer within them: fewer examples of it, each
# with time enough to start under a parallel run's load (at 0.2 s and at 0.5 s one was late in CI). Its
# parameters' edge cases are unit tests (tests/unit/api).
STREAM_EXAMPLES = 10
# Links are followed as declared (and from Location headers), not inferred from list answers: an inferred link
# from GET /orders draws once per order listed, so the draws of a replayed scenario depend on what the server
# holds by then, and Hypothesis stops the run as a "flaky strategy" (seen once in a full run).
CONFIG = SchemathesisConfig.from_dict({"phases": {"stateful": {"inference": {"algorithms": ["location-headers"]}}}})


@pytest.fixture
async def settings() -> AsyncIterator[Settings]:
    """The real servers' topology only (see above)."""
    async with borrowed_infrastructure() as infrastructure:
        yield Settings(**infrastructure, **TIMINGS)


@pytest.fixture
async def schema(settings: Settings) -> AsyncIterator[OpenApiSchema]:
    """The running app's schema; schemathesis runs the app (lifespan included) on an event loop of its own."""
    app: FastAPI = create_app(settings)
    loaded = await asyncio.to_thread(schemathesis.openapi.from_asgi, "/openapi.json", app, config=CONFIG)
    try:
        yield loaded
    finally:
        await asyncio.to_thread(asgi.shutdown_lifespans)


def _call_kwargs(case: Any, headers: dict[str, str]) -> dict[str, Any]:
    stream = case.operation.path == "/events/stream"
    return {"headers": headers, "timeout": STREAM_SECONDS if stream else CALL_SECONDS}


Answers = Counter[tuple[str, int]]


def _validate(case: Any, response: Any, headers: dict[str, str], answered: Answers, failures: list[str]) -> None:
    answered[(case.operation.label, response.status_code)] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        failures.extend(_describe(case, response, group.exceptions))
    except Failure as failure:
        failures.extend(_describe(case, response, [failure]))


def _exercise(
    schema: OpenApiSchema, headers: dict[str, str], mode: GenerationMode, answered: Answers, failures: list[str]
) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        stream = operation.path == "/events/stream"

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=min(EXAMPLES[mode], STREAM_EXAMPLES) if stream else EXAMPLES[mode],
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def one(case: Any) -> None:
            _validate(case, case.call(**_call_kwargs(case, headers)), headers, answered, failures)

        try:
            one()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # a route without inputs has no invalid ones


def _describe(case: Any, response: Any, found: Any) -> list[str]:
    request = f"{case.method} {case.formatted_path} query={case.query} headers={case.headers} body={case.body!r}"
    return [f"{failure.title}: {request} -> {response.status_code} {response.text[:300]}" for failure in found]


def _stateful(schema: OpenApiSchema, headers: dict[str, str], answered: Answers, failures: list[str]) -> None:
    base: type[Any] = schema.as_state_machine()

    class Orders(base):  # type: ignore[misc, valid-type]
        """Most orders placed are valid ones, so that the links lead to orders that exist."""

        def before_call(self, case: Any) -> None:
            if case.operation.method.upper() == "POST" and case.operation.path == "/orders":
                case.body = GOOD_ORDER

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return _call_kwargs(case, headers)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            _validate(case, response, headers, answered, failures)

    Orders.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_every_route_answers_as_its_schema_declares(
    schema: OpenApiSchema, caller: str, mode: GenerationMode
) -> None:
    failures: list[str] = []
    answered = Answers()

    await asyncio.to_thread(_exercise, schema, CALLERS[caller], mode, answered, failures)

    every_route = {op.ok().label for op in schema.get_all_operations()}
    if mode is GenerationMode.POSITIVE:
        assert {label for label, _ in answered} == every_route
    else:  # a route without inputs has no invalid ones (see _exercise)
        assert {label for label, _ in answered} <= every_route
    assert not failures, f"{len(failures)} answers break the schema:\n" + "\n".join(sorted(set(failures))[:40])


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_chains_of_calls_that_follow_the_declared_links_answer_as_declared(
    schema: OpenApiSchema, caller: str
) -> None:
    failures: list[str] = []
    chained = Answers()

    await asyncio.to_thread(_stateful, schema, CALLERS[caller], chained, failures)

    followed = {label for (label, status), _ in chained.items() if status < 300}
    assert {"POST /orders", "GET /orders/{orderId}", "GET /sagas/{orderId}"} <= followed, sorted(chained.items())
    assert not failures, f"{len(failures)} answers break the schema:\n" + "\n".join(sorted(set(failures))[:40])


def test_a_placed_order_links_to_everything_about_it() -> None:
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    links = app.openapi()["paths"]["/orders"]["post"]["responses"]["202"]["links"]
    targets = {link["operationId"] for link in links.values()}

    assert {"getOrder", "cancelOrder", "getOrderEvents", "getSaga", "getPayment", "getShipment"} <= targets
    assert all(link["parameters"]["orderId"] == "$response.body#/orderId" for link in links.values())
