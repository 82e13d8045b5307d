"""A batch of messages handled as one unit of work: the messages read together are handled one after another,
see each other's changes, and are recorded in one transaction, each event with its own message's cause; the
first message that fails ends the batch, and neither it nor anything after it is recorded by the batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from eventsourcing.persistence import Recording

from domain.commands import CreateOrder
from domain.inventory import Book
from handlers.causation import current_cause
from handlers.messages import Message
from handlers.retry import RetryPolicy
from handlers.routing import handler_for
from handlers.services import Services
from handlers.services.base import Saveable
from infra.delivery import Delivery
from infra.log_records import read_log, to_message
from infra.wire import encode
from tests.unit.choreography_harness import close, fresh_services

BOOK = "book-123"


@pytest.fixture
def services() -> Iterator[Services]:
    services, _ = fresh_services()
    yield services
    close(services)


def orders_created(services: Services, count: int) -> list[Message]:
    """``count`` choreography orders of one copy each of the same book, as the inventory group receives them."""
    for number in range(count):
        command = CreateOrder(
            order_id=f"order-{number}",
            customer_id="customer-001",
            book_id=BOOK,
            quantity=1,
            unit_price=3500,
            total_amount=3500,
            payment_method="credit_card",
            shipping_address="Tokyo",
        )
        services.orders.create(command, "choreography")
    return [to_message(record) for record in read_log(services.orders) if record.type == "OrderCreated"]


def inventory_batch(services: Services, items: list[Message | bytes], **kwargs: object) -> int:
    delivery = Delivery("redis:inventory", "redis", RetryPolicy(attempts=1), "inventory")
    handle = kwargs.pop("handle", handler_for("inventory", services))
    return delivery.attempt_batch(items, handle, services.inventory.batch, **kwargs)  # type: ignore[arg-type]


def inventory_log(services: Services) -> list[tuple[str, str | None]]:
    return [(record.type, record.causation_id) for record in read_log(services.inventory)]


def stock(services: Services) -> tuple[int, int]:
    book = services.inventory.book(BOOK)
    return book.available, book.reserved


def count_transactions(services: Services) -> list[int]:
    """How many events each transaction of the inventory store recorded, from now on."""
    recorder = services.inventory.recorder
    transactions: list[int] = []
    insert = recorder.insert_events

    def counted(stored_events, **kwargs):  # type: ignore[no-untyped-def]
        transactions.append(len(stored_events))
        return insert(stored_events, **kwargs)

    recorder.insert_events = counted  # type: ignore[method-assign]
    return transactions


def test_a_batch_records_every_message_in_one_transaction_each_event_with_its_own_cause(
    services: Services,
) -> None:
    first, second = orders_created(services, 2)
    before = len(inventory_log(services))
    available, reserved = stock(services)
    transactions = count_transactions(services)

    assert inventory_batch(services, [first, second]) == 2

    assert len(transactions) == 1
    recorded = inventory_log(services)[before:]
    assert {cause for _, cause in recorded} == {first.message_id, second.message_id}
    assert [kind for kind, cause in recorded if cause == first.message_id] == [
        kind for kind, cause in recorded if cause == second.message_id
    ]
    # the second reservation saw the book as the first left it: both copies are reserved, none lost
    assert stock(services) == (available - 2, reserved + 2)


def test_nothing_is_recorded_before_the_batch_commits(services: Services) -> None:
    (message,) = orders_created(services, 1)
    before = inventory_log(services)
    with services.inventory.batch() as unit:
        handler_for("inventory", services)(message)
        unit.handled()
        assert inventory_log(services) == before
        unit.commit()
    assert len(inventory_log(services)) > len(before)


def test_the_first_failing_message_ends_the_batch_and_nothing_of_it_is_recorded(services: Services) -> None:
    first, second, third = orders_created(services, 3)
    available, reserved = stock(services)
    handle = handler_for("inventory", services)

    def failing_after_its_changes(message: Message) -> None:
        handle(message)  # it reserved, then fails: its reservation must not be recorded
        if message.message_id == second.message_id:
            raise RuntimeError("the handler failed after changing the book")

    assert inventory_batch(services, [first, second, third], handle=failing_after_its_changes) == 1

    assert {cause for _, cause in inventory_log(services)} & {second.message_id, third.message_id} == set()
    assert stock(services) == (available - 1, reserved + 1)


def test_a_batch_stops_at_a_body_that_is_not_a_message(services: Services) -> None:
    first, second = orders_created(services, 2)
    assert inventory_batch(services, [encode(first), b"not a message", encode(second)]) == 1


def test_messages_not_wanted_count_as_done_without_being_handled(services: Services) -> None:
    first, second = orders_created(services, 2)
    before = inventory_log(services)
    wanted = inventory_batch(services, [first, second], wants=lambda message: False)
    assert wanted == 2
    assert inventory_log(services) == before


def test_a_batch_another_writer_overtook_records_nothing(services: Services, caplog: pytest.LogCaptureFixture) -> None:
    """Another writer saved the book while the batch ran: the commit is refused whole, the consumer then
    hands each message to the retry path (none of it half recorded), as it expects to now and then."""
    (message,) = orders_created(services, 1)
    before = inventory_log(services)
    handle = handler_for("inventory", services)

    def overtaken(message: Message) -> None:
        handle(message)
        elsewhere = threading.Thread(target=services.inventory.restock, args=(BOOK, 1))  # outside the batch
        elsewhere.start()
        elsewhere.join()

    with caplog.at_level("INFO", logger="infra.delivery"):
        assert inventory_batch(services, [message], handle=overtaken) == 0
    assert [kind for kind, _ in inventory_log(services)[len(before) :]] == ["BookRestocked"]
    assert [(record.levelname, "not committed" in record.message) for record in caplog.records] == [("INFO", True)]


def test_a_batch_that_fails_for_an_unexpected_reason_goes_one_at_a_time_and_says_why_as_a_warning(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Not another writer, not an outage: the messages still go one at a time, but the failure is not routine, so
    it is logged as a warning with its traceback, not at the level of a lost race (hidden by default)."""
    (message,) = orders_created(services, 1)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in the store")

    services.inventory.record = broken  # type: ignore[method-assign]
    with caplog.at_level("INFO", logger="infra.delivery"):
        assert inventory_batch(services, [message]) == 0

    (said,) = caplog.records
    assert said.levelname == "WARNING"
    assert "a batch of 1 failed" in said.message
    assert said.exc_info is not None and "a bug in the store" in str(said.exc_info[1])


def test_each_messages_listeners_hear_its_own_events_in_its_own_context(services: Services) -> None:
    first, second = orders_created(services, 2)
    heard: list[tuple[str | None, int]] = []

    def listener(_: str, saved: object, recordings: list[Recording[UUID]]) -> None:
        cause = current_cause()
        heard.append((cause.causation_id if cause else None, len(recordings)))

    services.inventory.saved_listeners.append(listener)
    inventory_batch(services, [first, second])

    assert [cause for cause, _ in heard] == [first.message_id, second.message_id]
    assert all(count > 0 for _, count in heard)


def test_outside_a_batch_a_save_records_at_once(services: Services) -> None:
    before = len(inventory_log(services))
    saved: list[Saveable] = []
    services.inventory.saved_listeners.append(lambda _, objs, recordings: saved.extend(objs))
    services.inventory.restock(BOOK, 1)
    assert [type(obj) for obj in saved] == [Book]
    assert len(inventory_log(services)) == before + 1


def test_a_snapshot_that_cannot_be_written_leaves_the_committed_batch_done(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """The batch brings the book to a snapshot's version; the snapshot store refuses it. The events are committed by
    then, so the batch counts as done (its messages are not handled again) and the refusal is logged."""
    (message,) = orders_created(services, 1)
    interval = services.inventory.snapshotting_intervals[Book]
    while services.inventory.book(BOOK).version % interval != interval - 1:
        services.inventory.restock(BOOK, 1)
    snapshots = services.inventory.snapshots
    assert snapshots is not None

    def refused(*_: object, **__: object) -> None:
        raise RuntimeError("the snapshot store is away")

    snapshots.put = refused  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger="handlers.services.base"):
        done = inventory_batch(services, [message])

    assert done == 1
    assert services.inventory.book(BOOK).version % interval == 0
    assert [kind for kind, _ in inventory_log(services)[-2:]] == ["StockLevelChanged", "StockReserved"]
    assert "a snapshot could not be taken" in caplog.text
