"""The scenario catalogue: complete, consistent, and compared the way each saga style allows."""

from __future__ import annotations

import re

import pytest

from domain.saga import COMPENSATIONS
from handlers.scenarios import (
    ALL_COMPENSATIONS,
    CANCELLED,
    COMPLETED,
    MODES,
    SCENARIOS,
    Actual,
    Outcome,
    UnknownScenarioError,
    scenario,
)
from infra.faults import SERVICES_WITH_FAULTS

ISSUED = {"success", "out-of-stock", "payment-failure", "carrier-outage"}
CLOUDMART_OWN = {"step-timeout", "customer-cancellation", "duplicate-delivery"}


def test_the_catalogue_has_the_four_classic_scenarios_and_cloudmarts_own_each_named_once() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert set(names) == ISSUED | CLOUDMART_OWN
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", name) for name in names)


@pytest.mark.parametrize("entry", SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_says_how_it_ends_in_both_styles_consistently(entry: object) -> None:
    s = scenario(entry.name)  # type: ignore[attr-defined]
    assert s.title and s.description
    assert set(s.styles) == set(MODES)
    for style in s.styles.values():
        expected = style.expected
        assert (expected.status, expected.saga_status) in {(COMPLETED, "COMPLETED"), (CANCELLED, "FAILED")}
        assert (expected.reason is None) == (expected.status == COMPLETED)
        assert (expected.compensations == ()) == (expected.status == COMPLETED)
        assert set(expected.compensations) <= set(ALL_COMPENSATIONS)
        assert all(fault.service in SERVICES_WITH_FAULTS and fault.times >= 1 for fault in style.faults)
        if expected.status == CANCELLED:
            assert "cancel_order" in expected.compensations


@pytest.mark.parametrize("entry", SCENARIOS, ids=lambda s: s.name)
def test_orchestration_compensates_in_reverse_order_of_the_steps(entry: object) -> None:
    expected = entry.styles["orchestration"].expected  # type: ignore[attr-defined]
    order = [step.name for step in COMPENSATIONS]
    assert list(expected.compensations) == sorted(expected.compensations, key=order.index)


def test_compensations_are_compared_in_order_for_orchestration_and_as_a_set_for_choreography() -> None:
    expected = Outcome(CANCELLED, "FAILED", ("release_stock", "cancel_order"), "PaymentFailed")
    swapped = Actual(CANCELLED, "FAILED", ("cancel_order", "release_stock"), "PaymentFailed: no money")

    assert swapped.differences(expected, "choreography") == []
    assert swapped.differences(expected, "orchestration") == [
        "compensations ['cancel_order', 'release_stock'], expected ['release_stock', 'cancel_order']"
    ]


def test_a_different_end_is_named_field_by_field() -> None:
    expected = Outcome(COMPLETED, "COMPLETED")
    actual = Actual(CANCELLED, "FAILED", ("cancel_order",), "ShippingFailed: down", ("stock moved",))

    assert actual.differences(expected, "orchestration") == [
        "stock moved",
        "order CANCELLED, expected COMPLETED",
        "saga FAILED, expected COMPLETED",
        "compensations ['cancel_order'], expected []",
        "cancelled: ShippingFailed: down",
    ]


def test_an_unknown_scenario_is_not_found() -> None:
    with pytest.raises(UnknownScenarioError, match="no scenario called 'nope'"):
        scenario("nope")
