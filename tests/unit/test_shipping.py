"""Shipping's aggregate: the shipment of one order, which waits for the order, its stock and its payment."""

from __future__ import annotations

from domain.shipping import ABORTED, ARRANGED, CANCELLED, FAILED, ORDER, PAYMENT, STOCK, WAITING, Shipment
from tests.unit.recorded import given, recorded

MODE = "choreography"


def a_waiting_shipment(*met: str) -> Shipment:
    shipment = Shipment.open("order-1", MODE)
    for prerequisite in met:
        shipment.note(prerequisite, "Tokyo" if prerequisite == ORDER else None)
    return given(shipment)


def an_arranged_shipment() -> Shipment:
    shipment = a_waiting_shipment(ORDER, STOCK, PAYMENT)
    shipment.arranged("Tokyo", "mock-carrier", "TRK-1")
    return given(shipment)


def test_a_new_shipment_waits_with_nothing_met() -> None:
    shipment = Shipment.open("order-1", MODE)

    assert recorded(shipment) == [("ShipmentOpened", {"order_id": "order-1", "saga_mode": MODE})]
    assert (shipment.status, shipment.met, shipment.ready_to_ship) == (WAITING, set(), False)


def test_each_prerequisite_is_recorded_once_and_the_shipment_is_ready_when_all_three_are_met() -> None:
    shipment = a_waiting_shipment()

    shipment.note(STOCK)
    shipment.note(ORDER, "Tokyo")
    shipment.note(STOCK)
    ready_before_payment = shipment.ready_to_ship
    shipment.note(PAYMENT)

    assert recorded(shipment) == [
        (
            "ShipmentPrerequisiteMet",
            {"order_id": "order-1", "saga_mode": MODE, "prerequisite": p, "shipping_address": a},
        )
        for p, a in ((STOCK, None), (ORDER, "Tokyo"), (PAYMENT, None))
    ]
    assert (ready_before_payment, shipment.ready_to_ship, shipment.address) == (False, True, "Tokyo")


def test_arranging_records_the_carrier_and_tracking_number_once() -> None:
    shipment = a_waiting_shipment(ORDER, STOCK, PAYMENT)

    shipment.arranged("Tokyo", "mock-carrier", "TRK-1")
    shipment.arranged("Tokyo", "mock-carrier", "TRK-2")

    assert recorded(shipment) == [
        (
            "ShippingArranged",
            {
                "order_id": "order-1",
                "saga_mode": MODE,
                "shipping_address": "Tokyo",
                "carrier": "mock-carrier",
                "tracking_number": "TRK-1",
            },
        )
    ]
    assert (shipment.status, shipment.tracking_number, shipment.ready_to_ship) == (ARRANGED, "TRK-1", False)


def test_a_carrier_failure_records_shipping_failed_and_nothing_ships_after_it() -> None:
    shipment = a_waiting_shipment(ORDER, STOCK, PAYMENT)

    shipment.failed("carrier unavailable 3 times in a row")
    shipment.arranged("Tokyo", "mock-carrier", "TRK-1")
    shipment.abort("payment refunded")

    assert recorded(shipment) == [
        ("ShippingFailed", {"order_id": "order-1", "saga_mode": MODE, "reason": "carrier unavailable 3 times in a row"})
    ]
    assert (shipment.status, shipment.tracking_number) == (FAILED, None)


def test_aborting_a_waiting_shipment_means_it_never_ships() -> None:
    shipment = a_waiting_shipment(ORDER, STOCK)

    shipment.abort("payment failed")
    shipment.note(PAYMENT)
    shipment.arranged("Tokyo", "mock-carrier", "TRK-1")

    assert recorded(shipment) == [
        ("ShipmentAborted", {"order_id": "order-1", "saga_mode": MODE, "reason": "payment failed"})
    ]
    assert (shipment.status, shipment.ready_to_ship, shipment.tracking_number) == (ABORTED, False, None)


def test_aborting_an_arranged_shipment_recalls_it_by_its_tracking_number_once() -> None:
    shipment = an_arranged_shipment()

    shipment.abort("cancelled by operator")
    shipment.abort("cancelled by operator")

    assert recorded(shipment) == [
        (
            "ShipmentCancelled",
            {"order_id": "order-1", "saga_mode": MODE, "tracking_number": "TRK-1", "reason": "cancelled by operator"},
        )
    ]
    assert shipment.status == CANCELLED
