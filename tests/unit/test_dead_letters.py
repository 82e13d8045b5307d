"""Parking never fails on what a message holds: whatever got as far as a consumer's handler can be stored as a
dead letter, with what can be read of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import create_engine

from handlers.messages import Message
from infra.dead_letters import DeadLetters, Undelivered

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def undelivered(payload: Any, position: Any = 7, correlation_id: str = "order-1") -> Undelivered:
    message = Message("orders:7", "OrderCreated", "orders", position, correlation_id, AT, payload)
    return Undelivered.of("redis:inventory", "redis", message, ValueError("bug"), 5)


@pytest.fixture
def store() -> DeadLetters:
    dead_letters = DeadLetters(create_engine("sqlite://"))
    dead_letters.create_table()
    return dead_letters


@pytest.mark.parametrize("payload", [["x"], None, "order-1", 7])
def test_a_payload_that_is_not_an_object_is_parked_under_the_envelopes_order(store: DeadLetters, payload: Any) -> None:
    parked = store.get(store.add(undelivered(cast(dict[str, Any], payload))))

    assert (parked["order_id"], parked["saga_mode"], parked["position"]) == ("order-1", None, 7)


@pytest.mark.parametrize("odd", [["x"], {"x": 1}, 7, None, ""])
def test_an_order_id_or_saga_mode_that_is_not_text_is_not_taken_for_one(store: DeadLetters, odd: Any) -> None:
    parked = store.get(store.add(undelivered({"order_id": odd, "saga_mode": odd}, correlation_id="")))

    assert (parked["order_id"], parked["saga_mode"]) == (None, None)


@pytest.mark.parametrize("position", [2**70, -(2**64), "abc", 7.5, True])
def test_a_position_no_bigint_holds_is_left_out(store: DeadLetters, position: Any) -> None:
    parked = store.get(store.add(undelivered({"order_id": "order-1", "saga_mode": "choreography"}, position)))

    assert (parked["position"], parked["source"], parked["order_id"]) == (None, None, "order-1")
    assert parked["saga_mode"] == "choreography"


def test_a_command_is_the_orchestrators_whatever_its_payload_says() -> None:
    message = Message("orchestrator:3", "ProcessPayment", "orchestrator", 3, "order-1", AT, {"saga_mode": "x"})
    command = replace(message, target="payments")
    parked = Undelivered.of("rabbitmq:commands.payments", "rabbitmq", command, ValueError("bug"), 5)

    assert (parked.saga_mode, parked.order_id) == ("orchestration", "order-1")
