"""A participant answers a retried command again with its recorded outcome; a redelivered command
(the very same message) changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.commands import CreateOrder
from handlers.messages import Message, Record
from handlers.routing import ORCHESTRATOR, handler_for
from handlers.services import Services
from infra.bootstrap import build_services
from infra.event_stores import IN_MEMORY
from infra.faults import InMemoryFaults
from infra.log_records import read_log, to_message
from infra.seed import seed
from infra.settings import Settings

ORDER = CreateOrder(
    order_id="order-retried",
    customer_id="customer-001",
    book_id="book-123",
    quantity=1,
    unit_price=3500,
    total_amount=3500,
    payment_method="credit_card",
    shipping_address="Tokyo",
)
FORWARD_COMMANDS = ("CreateOrder", "ReserveStock", "ProcessPayment", "ArrangeShipping")


@pytest.fixture
def services() -> Iterator[Services]:
    services = build_services(Settings(database_url=IN_MEMORY), InMemoryFaults())
    seed(services)
    services.orchestrator.start(ORDER)
    yield services
    for app in services.by_name().values():
        app.close()


def _log(services: Services, name: str) -> list[Record]:
    return list(read_log(services.by_name()[name]))


def _last_command(services: Services) -> Message:
    return to_message([r for r in _log(services, "orchestrator") if r.type == "CommandDispatched"][-1])


def _up_to(services: Services, command_type: str) -> Message:
    """Runs the saga, each reply delivered, until it sends ``command_type``; returns that command."""
    while (command := _last_command(services)).type != command_type:
        handler_for(str(command.target), services)(command)
        handler_for(ORCHESTRATOR, services)(to_message(_log(services, str(command.target))[-1]))
    return command


@pytest.mark.parametrize("command_type", FORWARD_COMMANDS)
def test_a_redelivered_command_records_nothing_new(services: Services, command_type: str) -> None:
    command = _up_to(services, command_type)
    handler_for(str(command.target), services)(command)
    after_first = _log(services, str(command.target))

    handler_for(str(command.target), services)(command)

    assert _log(services, str(command.target)) == after_first


@pytest.mark.parametrize("command_type", FORWARD_COMMANDS)
def test_a_retried_command_is_answered_again_with_the_recorded_outcome_once(
    services: Services, command_type: str
) -> None:
    command = _up_to(services, command_type)
    handler_for(str(command.target), services)(command)
    before = _log(services, str(command.target))
    outcome = before[-1]
    retry = replace(command, message_id=command.message_id.replace(":1", ":2"), occurred_at=datetime.now(UTC))

    handler_for(str(retry.target), services)(retry)
    handler_for(str(retry.target), services)(retry)  # and that retry redelivered

    after = _log(services, str(command.target))
    assert after[: len(before)] == before
    assert [record.type for record in after[len(before) :]] == ["ReplyRepeated"]
    answer = to_message(after[-1])
    assert (answer.type, answer.payload, answer.causation_id) == (outcome.type, outcome.payload, retry.message_id)
    assert answer.saga_mode == "orchestration"


def test_a_compensation_sent_after_its_outcome_gets_that_outcome(services: Services) -> None:
    """Stock that was never reserved needs no release: the command is answered with why it was not."""
    services.inventory.refuse(ORDER.order_id, ORDER.book_id, ORDER.quantity, "orchestration", "out of stock")
    reserve = _up_to(services, "ReserveStock")
    release = replace(
        reserve,
        message_id=reserve.message_id.replace("reserve_stock", "release_stock"),
        type="ReleaseStock",
        payload={"order_id": ORDER.order_id, "reason": "gave up"},
        occurred_at=datetime.now(UTC),
    )

    handler_for(str(release.target), services)(release)

    answer = to_message(_log(services, "inventory")[-1])
    assert (answer.type, answer.payload["reason"]) == ("StockUnavailable", "out of stock")
