"""The event-name constants are the class names the aggregates record: a typo would silently route nothing."""

from __future__ import annotations

import pytest
from eventsourcing.domain import Aggregate

from domain import events, inventory, orders, payments, replies, saga, shipping

pytestmark = pytest.mark.unit

RECORDED = {
    name
    for module in (orders, inventory, payments, shipping, saga, replies)
    for aggregate in vars(module).values()
    if isinstance(aggregate, type) and issubclass(aggregate, Aggregate)
    for name, nested in vars(aggregate).items()
    if isinstance(nested, type) and issubclass(nested, Aggregate.Event)
}
CONSTANTS = {name: value for name, value in vars(events).items() if name.isupper() and isinstance(value, str)}


@pytest.mark.parametrize("constant", sorted(CONSTANTS))
def test_each_event_name_is_an_event_an_aggregate_records(constant: str) -> None:
    assert CONSTANTS[constant] in RECORDED


def test_every_reply_the_saga_waits_for_is_a_recorded_event() -> None:
    assert saga.REPLY_TYPES <= RECORDED
