"""What no consumer can handle is parked, its saga marked STUCK, and an operator gets it moving again.

Both topologies: the log consumers and the projector on SQLite, Redis and RabbitMQ on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI

from handlers.messages import Message
from infra.bootstrap import Runtime
from infra.read_model_rebuild import Difference, differences
from infra.settings import Settings
from infra.wire import encode
from tests.conftest import TIMINGS
from tests.infrastructure import borrowed_infrastructure
from tests.integration.scenario import get, place, settled_saga, states
from tests.integration.test_delivery_guarantees import drained, running
from tests.support import ADMIN, eventually

MODES = ["choreography", "orchestration"]
ABSURD_PRICE = 10**20  # more than an INTEGER column holds, in SQLite and in PostgreSQL


class ExplodingGateway:
    """A payment gateway client with a bug: every charge raises (not a fault the service would retry)."""

    def charge(self, order_id: str, method: str, amount: int) -> str:
        raise RuntimeError("the payment gateway's client library has a bug")

    def refund(self, order_id: str, amount: int) -> str:
        raise RuntimeError("the payment gateway's client library has a bug")


async def dead_letters(http: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await http.get("/admin/dead-letters", params=filters, headers=ADMIN)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def saga_showing(http: httpx.AsyncClient, order_id: str, status: str) -> dict[str, Any]:
    async def shows() -> dict[str, Any] | None:
        response = await http.get(f"/sagas/{order_id}")
        return response.json() if response.status_code == 200 and response.json()["status"] == status else None

    return await eventually(shows)


async def intervene(http: httpx.AsyncClient, order_id: str, action: str, reason: str | None) -> httpx.Response:
    body = {} if reason is None else {"reason": reason}
    return await http.post(f"/admin/sagas/{order_id}/{action}", json=body, headers=ADMIN)


def reasons(saga: dict[str, Any]) -> list[str]:
    return [entry.get("reason") or "" for entry in saga["history"]]


def break_payments(runtime: Runtime) -> Any:
    working = runtime.services.payments.gateway
    runtime.services.payments.gateway = ExplodingGateway()
    return working


async def test_an_event_a_read_model_cannot_store_is_parked_and_the_read_models_keep_up(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    runtime: Runtime = app.state.runtime
    runtime.services.inventory.catalogue("book-absurd", "高すぎる本", ABSURD_PRICE, 1)  # past the API's checks
    if runtime.settings.is_postgres:  # SQLite stores it; PostgreSQL's text cannot hold a NUL character
        runtime.services.inventory.catalogue("book-nul", "NUL\x00本", 100, 1)

    later = [await place(client, mode, "customer-001", "book-123") for mode in MODES]
    for order_id in later:
        assert (await settled_saga(client, order_id))["status"] == "COMPLETED"

    expected = 2 if runtime.settings.is_postgres else 1
    parked, *others = await eventually(lambda: _at_least(client, expected, consumer="projections:inventory"))
    assert (parked["messageType"], parked["status"], parked["transport"]) == ("BookCatalogued", "PARKED", "log")
    assert str(ABSURD_PRICE) in parked["body"]
    assert ["\\u0000" in other["body"] for other in others] == [True] * (expected - 1)
    assert (await client.get("/inventory/book-absurd")).status_code == 404
    assert (await get(client, "/inventory/book-123"))["availableStock"] == 3  # the others kept up
    catalogued = await get(client, "/events?type=BookCatalogued")
    assert "book-absurd" in {event["payload"]["bookId"] for event in catalogued["events"]}
    assert [(await get(client, f"/orders/{order_id}"))["status"] for order_id in later] == ["COMPLETED"] * 2
    assert replay_differences(runtime) == []  # a replay sets the same event aside

    redriven = await client.post(f"/admin/dead-letters/{parked['id']}/redrive", headers=ADMIN)
    assert redriven.status_code == 409 and "failed again" in redriven.json()["detail"]
    discarded = await client.post(f"/admin/dead-letters/{parked['id']}/discard", headers=ADMIN)
    assert (discarded.status_code, discarded.json()["status"], discarded.json()["attempts"]) == (200, "DISCARDED", 2)
    assert (await client.post(f"/admin/dead-letters/{parked['id']}/discard", headers=ADMIN)).status_code == 409


@pytest.mark.parametrize("mode", MODES)
async def test_a_message_that_keeps_failing_leaves_its_saga_stuck_until_a_redrive_completes_it(
    client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    runtime: Runtime = app.state.runtime
    working = break_payments(runtime)
    order_id = await place(client, mode, "customer-001", "book-123")

    saga = await saga_showing(client, order_id, "STUCK")
    assert "could not handle" in saga["reason"] and "RuntimeError" in saga["reason"]
    assert (await get(client, f"/orders/{order_id}"))["status"] == "PENDING"
    parked, *_ = await dead_letters(client, orderId=order_id)
    assert parked["messageType"] == ("OrderCreated" if mode == "choreography" else "ProcessPayment")
    assert (parked["attempts"], parked["errorType"], parked["status"]) == (5, "RuntimeError", "PARKED")

    runtime.services.payments.gateway = working  # the cause is fixed
    response = await client.post(f"/admin/dead-letters/{parked['id']}/redrive", headers=ADMIN)

    assert (response.status_code, response.json()["status"]) == (200, "REDRIVEN")
    saga = await settled_saga(client, order_id)
    assert saga["status"] == "COMPLETED"
    assert "STUCK" in states(saga)
    assert f"redrive by operator: dead letter {parked['id']} redriven" in reasons(saga)
    assert (await get(client, f"/orders/{order_id}"))["status"] == "COMPLETED"
    assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000 - 3500


async def test_operator_retry_and_compensate_of_an_orchestration_are_recorded_on_the_saga(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    runtime: Runtime = app.state.runtime
    break_payments(runtime)
    order_id = await place(client, "orchestration", "customer-001", "book-123")
    await saga_showing(client, order_id, "STUCK")

    retried = await intervene(client, order_id, "retry", "one more try")
    assert retried.status_code == 202, retried.text
    assert retried.json() == {
        "orderId": order_id,
        "sagaType": "orchestration",
        "action": "retry",
        "reason": "one more try",
    }
    await eventually(lambda: _parked_twice(client, order_id))  # the new attempt fails the same way
    await saga_showing(client, order_id, "STUCK")
    compensated = await intervene(client, order_id, "compensate", "the gateway is down for the day")
    assert compensated.status_code == 202, compensated.text

    saga = await settled_saga(client, order_id)
    assert states(saga)[-2:] == ["COMPENSATION_STARTED", "FAILED"]
    payment_step = next(step for step in saga["steps"] if step["step"] == "process_payment")
    assert payment_step["attempts"] == 2
    assert {"retry by operator: one more try", "compensate by operator: the gateway is down for the day"} <= set(
        reasons(saga)
    )
    order = await get(client, f"/orders/{order_id}")
    assert (order["status"], order["cancelReason"]) == (
        "CANCELLED",
        "compensated by operator: the gateway is down for the day",
    )
    trail = [event["eventType"] for event in await get(client, f"/orders/{order_id}/events")]
    assert trail.count("SagaIntervened") == 2 and trail.count("SagaStuck") == 2
    assert (await get(client, "/customers/customer-001"))["creditAvailable"] == 100_000
    assert (await intervene(client, order_id, "compensate", "again")).status_code == 409
    assert (await intervene(client, order_id, "resume", "not stuck")).status_code == 409
    assert (await intervene(client, order_id, "retry", "")).status_code == 422
    assert (await intervene(client, order_id, "retry", None)).status_code == 422
    assert (await intervene(client, "no-such-order", "retry", "why not")).status_code == 404
    assert replay_differences(runtime) == []


async def test_operator_resume_and_retry_of_a_choreography_are_recorded_and_the_retry_redrives_it(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    runtime: Runtime = app.state.runtime
    working = break_payments(runtime)
    order_id = await place(client, "choreography", "customer-002", "book-789")
    await saga_showing(client, order_id, "STUCK")

    resumed = await intervene(client, order_id, "resume", "looking into it")
    assert resumed.status_code == 202, resumed.text
    assert (await get(client, f"/sagas/{order_id}"))["status"] == "STARTED"
    assert (await intervene(client, order_id, "resume", "twice")).status_code == 409
    runtime.services.payments.gateway = working
    retried = await intervene(client, order_id, "retry", "gateway fixed")
    assert retried.status_code == 202, retried.text

    saga = await settled_saga(client, order_id)
    assert saga["status"] == "COMPLETED"
    assert {"resume by operator: looking into it", "retry by operator: gateway fixed"} <= set(reasons(saga))
    assert [letter["status"] for letter in await dead_letters(client, orderId=order_id)] == ["REDRIVEN"]
    assert (await intervene(client, order_id, "compensate", "too late")).status_code == 409
    assert (await intervene(client, order_id, "retry", "nothing parked")).status_code == 409
    assert replay_differences(runtime) == []


def replay_differences(runtime: Runtime) -> list[Difference]:
    """The STUCK marks and interventions are folded the same way live and in a fresh replay."""
    return differences(runtime.engine, list(runtime.services.by_name().values()))


async def _parked_twice(http: httpx.AsyncClient, order_id: str) -> bool:
    return len(await dead_letters(http, orderId=order_id, status="PARKED")) >= 2


@pytest.fixture
async def brokers_settings() -> AsyncIterator[Settings]:
    async with borrowed_infrastructure() as infrastructure:
        yield Settings(**infrastructure, **TIMINGS)


async def test_garbage_on_the_brokers_is_parked_with_its_raw_body_and_later_orders_complete(
    brokers_settings: Settings,
) -> None:
    async with running(brokers_settings) as (runtime, http):
        redis, rabbit = runtime.brokers.redis, runtime.brokers.rabbitmq
        assert redis is not None and rabbit is not None
        await redis.client.xadd(redis.stream(0), {"envelope": b"\xff\x00 not JSON"})
        await redis.client.xadd(redis.stream(1), {"junk": b"no envelope at all"})
        garbage = b'{"orderId": "order-from-nowhere", "type": "ProcessPayment"'
        await rabbit.exchange.publish(aio_pika.Message(garbage), routing_key="commands.payments.0")

        later = [await place(http, mode, "customer-001", "book-123") for mode in MODES]
        for order_id in later:
            assert (await settled_saga(http, order_id))["status"] == "COMPLETED"

        letters = await eventually(lambda: _at_least(http, 9))  # each of 4 Redis groups parks both entries
        await drained(runtime)  # nothing held pending behind them
    by_consumer: dict[str, list[dict[str, Any]]] = {}
    for letter in letters:
        by_consumer.setdefault(letter["consumer"], []).append(letter)
    assert sorted(by_consumer) == [
        "rabbitmq:commands.payments",
        *(f"redis:{group}" for group in ("inventory", "orders", "payments", "shipping")),
    ]
    (rabbit_letter,) = by_consumer["rabbitmq:commands.payments"]
    assert (rabbit_letter["body"], rabbit_letter["orderId"]) == (garbage.decode(), "order-from-nowhere")
    for group in ("orders", "inventory", "payments", "shipping"):
        bodies = sorted(letter["body"] for letter in by_consumer[f"redis:{group}"])
        assert bodies == ["\\xff\x00 not JSON", "junk=no envelope at all"]
    assert {(letter["errorType"], letter["attempts"]) for letter in letters} == {("MalformedMessageError", 1)}


async def test_a_forged_order_with_another_amount_is_declined_not_charged(brokers_settings: Settings) -> None:
    async with running(brokers_settings) as (runtime, http):
        redis, rabbit = runtime.brokers.redis, runtime.brokers.rabbitmq
        assert redis is not None and rabbit is not None
        details = {"customer_id": "customer-001", "book_id": "book-123", "quantity": 1, "payment_method": "credit_card"}
        await redis.publish(
            forged("OrderCreated", "forged-choreography", total_amount=1, unit_price=1, shipping_address="x", **details)
        )
        command = forged("ProcessPayment", "forged-orchestration", amount=350, **details, target="payments")
        await rabbit.publish("commands.payments", command)

        for order_id in ("forged-choreography", "forged-orchestration"):
            payment = await eventually(lambda order_id=order_id: _payment(http, order_id))
            assert payment["status"] == "FAILED"
            assert "is not the catalogue total 3500 of 1 x book-123" in payment["reason"]
        assert (await get(http, "/customers/customer-001"))["creditAvailable"] == 100_000


async def test_what_a_rabbitmq_queue_does_not_carry_is_parked_not_acknowledged_unread(
    brokers_settings: Settings,
) -> None:
    misrouted = [  # the route each is sent on, and what no handler of that route takes
        ("commands.payments", forged("ReserveStock", "forged-command", target="inventory")),
        ("replies", forged("FooHappened", "forged-reply", saga_mode="orchestration")),
        ("replies", forged("StockReserved", "forged-choreography")),  # an event of a choreographed saga
    ]
    async with running(brokers_settings) as (runtime, http):
        rabbit = runtime.brokers.rabbitmq
        assert rabbit is not None
        for route, message in misrouted:
            await rabbit.publish(route, message)

        for route, message in misrouted:
            (parked,) = await eventually(lambda message=message: dead_letters(http, orderId=message.order_id))
            assert (parked["consumer"], parked["attempts"]) == (f"rabbitmq:{route}", 1)
            assert f"{route} carries" in parked["error"], parked
        saga = await settled_saga(http, await place(http, "orchestration", "customer-001", "book-123"))
        assert saga["status"] == "COMPLETED"


def forged(kind: str, order_id: str, target: str | None = None, **payload: Any) -> Message:
    event = {} if target else {"saga_mode": "choreography"}  # a command names no mode; an event does
    return Message(
        message_id=f"forged:{order_id}",
        type=kind,
        source="orders",
        position=0,
        correlation_id=order_id,
        occurred_at=datetime.now(UTC),
        payload={"order_id": order_id, **event, **payload},
        target=target,
    )


async def _at_least(http: httpx.AsyncClient, count: int, **filters: str) -> list[dict[str, Any]] | None:
    letters = await dead_letters(http, **filters)
    return letters if len(letters) >= count else None


async def _payment(http: httpx.AsyncClient, order_id: str) -> dict[str, Any] | None:
    response = await http.get(f"/payments/{order_id}")
    return response.json() if response.status_code == 200 else None


@pytest.mark.parametrize("mode", MODES)
async def test_a_message_parked_by_a_worker_without_the_sagas_store_still_marks_its_saga_stuck(
    brokers_settings: Settings, mode: str
) -> None:
    """The distributed topology: the payments worker keeps only its own stores (and the catalogue's)."""

    async with (
        running(brokers_settings, break_payments, roles=frozenset({"payments"})) as _,
        running(brokers_settings, stopped=frozenset({"payments"})) as (_, http),
    ):
        order_id = await place(http, mode, "customer-001", "book-123")

        saga = await saga_showing(http, order_id, "STUCK")
    assert saga["reason"].startswith("rabbitmq:commands.payments" if mode == "orchestration" else "redis:payments")


BROKEN_PROMISES = {  # envelopes whose every key is there, but not what the envelope promises
    "a payload that is a list": {"payload": ["x"]},
    "no payload": {"payload": None},
    "a position that is no number": {"position": "abc"},
    "a position no bigint holds": {"position": 2**70},
}
WHAT_DECODE_SAYS = {
    "payload is ['x'], not a JSON object",
    "payload is None, not a JSON object",
    "position is 'abc', not an integer",
    f"position is {2**70}, not an integer",
}


def breaking_its_promise(message: Message, broken: dict[str, Any]) -> bytes:
    envelope = json.loads(encode(message))
    return json.dumps({**envelope, **broken}).encode()


async def test_an_envelope_that_breaks_its_promises_is_parked_at_once_and_its_redis_partition_goes_on(
    brokers_settings: Settings,
) -> None:
    async with running(brokers_settings) as (runtime, http):
        redis = runtime.brokers.redis
        assert redis is not None
        event = forged("OrderCreated", "order-from-nowhere")
        for partition in range(redis.partitions):  # so the next order finds them ahead of it, wherever it goes
            for broken in BROKEN_PROMISES.values():
                await redis.client.xadd(redis.stream(partition), {"envelope": breaking_its_promise(event, broken)})

        order_id = await place(http, "choreography", "customer-001", "book-123")
        assert (await settled_saga(http, order_id))["status"] == "COMPLETED"

        every_group_parks_each = 4 * redis.partitions * len(BROKEN_PROMISES)
        letters = await eventually(lambda: _at_least(http, every_group_parks_each, limit="500"))
        await drained(runtime)  # nothing held pending behind them
    assert {(letter["errorType"], letter["attempts"], letter["transport"]) for letter in letters} == {
        ("MalformedMessageError", 1, "redis")
    }
    assert {said for said in WHAT_DECODE_SAYS for letter in letters if said in letter["error"]} == WHAT_DECODE_SAYS
    assert {letter["orderId"] for letter in letters} == {"order-from-nowhere"}


async def test_an_envelope_that_breaks_its_promises_on_rabbitmq_is_parked_not_rejected_into_the_brokers_queue(
    brokers_settings: Settings,
) -> None:
    async with running(brokers_settings) as (runtime, http):
        rabbit = runtime.brokers.rabbitmq
        assert rabbit is not None
        reply = forged("StockReserved", "order-from-nowhere")
        command = forged("ProcessPayment", "order-from-nowhere", target="payments")
        for route, message in (("replies", reply), ("commands.payments", command)):
            for broken in BROKEN_PROMISES.values():
                body = aio_pika.Message(breaking_its_promise(message, broken))
                await rabbit.exchange.publish(body, routing_key=f"{route}.0")

        order_id = await place(http, "orchestration", "customer-001", "book-123")
        assert (await settled_saga(http, order_id))["status"] == "COMPLETED"

        letters = await eventually(lambda: _at_least(http, 2 * len(BROKEN_PROMISES)))
        await drained(runtime)
        channel = await rabbit.connection.channel()  # type: ignore[union-attr]
        rejected = await channel.declare_queue(rabbit.queue_name("dead-letters"), passive=True)
        await channel.close()
    assert rejected.declaration_result.message_count == 0
    assert sorted({letter["consumer"] for letter in letters}) == ["rabbitmq:commands.payments", "rabbitmq:replies"]
    assert {(letter["errorType"], letter["attempts"]) for letter in letters} == {("MalformedMessageError", 1)}
    assert {said for said in WHAT_DECODE_SAYS for letter in letters if said in letter["error"]} == WHAT_DECODE_SAYS
