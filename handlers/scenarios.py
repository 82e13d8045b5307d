"""The scenarios a learner runs to watch sagas: what each one does, and how it must end in each saga style.

Plain data, read by the API (``GET /scenarios``, ``POST /scenarios/{name}/run``) and by ``cloudmart demo``.
The seed data makes each outcome: customer-002 finds book-456 out of stock, customer-003 cannot pay for
book-789. Before a run the book is restocked and the customer topped up when the order would otherwise run
out (``restock``, ``top_up``), so that no outcome depends on what ran before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from domain.common import NotFoundError, SagaMode

CHOREOGRAPHY, ORCHESTRATION = SagaMode.CHOREOGRAPHY.value, SagaMode.ORCHESTRATION.value
MODES = (CHOREOGRAPHY, ORCHESTRATION)
COMPLETED, CANCELLED = "COMPLETED", "CANCELLED"
SAGA_COMPLETED, SAGA_FAILED = "COMPLETED", "FAILED"
CANCEL = "cancel"
"""Follow-up: the customer cancels the order while its saga is held at ``hold_step`` (or at once, if none)."""
DELIVER_AGAIN = "deliver-again"
"""Follow-up: once the saga is over, one of its messages is handed again to every consumer that wants it."""
CUSTOMER_CANCELLED = "cancelled by customer"
ALL_COMPENSATIONS = ("cancel_shipment", "refund_payment", "release_stock", "cancel_order")


class UnknownScenarioError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no scenario called {name!r}; GET /scenarios lists them")


@dataclass(frozen=True)
class Fault:
    """Queued with the fault injector (``POST /admin/faults``) just before the order is placed."""

    service: str
    kind: str
    times: int


@dataclass(frozen=True)
class Outcome:
    """How the saga must end: the order's status, the saga's final state, the compensations that ran (in
    orchestration in this order; a choreography has no one to order them, so there they are compared as a
    set) and how the order's cancel reason starts (None for a completed order)."""

    status: str
    saga_status: str
    compensations: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Style:
    """The scenario in one saga style: the faults it needs, the step held while the customer cancels, and
    the outcome."""

    expected: Outcome
    faults: tuple[Fault, ...] = ()
    hold_step: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    customer: str
    book: str
    styles: Mapping[str, Style]
    quantity: int = 1
    restock: bool = True
    top_up: bool = True
    follow_up: str | None = None

    @property
    def has_faults(self) -> bool:
        return any(style.faults for style in self.styles.values())


def _both(expected: Outcome, *faults: Fault) -> Mapping[str, Style]:
    return _styles(Style(expected, faults), Style(expected, faults))


def _styles(choreography: Style, orchestration: Style) -> Mapping[str, Style]:
    return MappingProxyType({CHOREOGRAPHY: choreography, ORCHESTRATION: orchestration})


def _cancelled(reason: str, *compensations: str) -> Outcome:
    return Outcome(CANCELLED, SAGA_FAILED, compensations, reason)


_COMPLETES = Outcome(COMPLETED, SAGA_COMPLETED)
_UNDO_ALL_BUT_SHIPPING = ("refund_payment", "release_stock", "cancel_order")
_PAYMENT_NEVER_ANSWERS = (Fault("payments", "timeout", 3),)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="success",
        title="Success",
        description="Every step succeeds: stock reserved, payment charged, delivery booked, order completed.",
        customer="customer-001",
        book="book-123",
        styles=_both(_COMPLETES),
    ),
    Scenario(
        name="out-of-stock",
        title="Out of stock",
        description="The book has no copies left: the order is cancelled at once and costs nothing.",
        customer="customer-002",
        book="book-456",
        restock=False,
        styles=_styles(
            Style(_cancelled("StockUnavailable", "cancel_shipment", "refund_payment", "cancel_order")),
            Style(_cancelled("StockUnavailable", "cancel_order")),
        ),
    ),
    Scenario(
        name="payment-failure",
        title="Payment failure",
        description="The customer cannot pay: the reserved stock is released and the order cancelled.",
        customer="customer-003",
        book="book-789",
        top_up=False,
        styles=_styles(
            Style(_cancelled("PaymentFailed", "cancel_shipment", "release_stock", "cancel_order")),
            Style(_cancelled("PaymentFailed", "release_stock", "cancel_order")),
        ),
    ),
    Scenario(
        name="carrier-outage",
        title="Carrier outage",
        description="The carrier fails three times in a row: the payment is refunded, the stock released, "
        "the order cancelled.",
        customer="customer-001",
        book="book-789",
        styles=_both(_cancelled("ShippingFailed", *_UNDO_ALL_BUT_SHIPPING), Fault("shipping", "fail", 3)),
    ),
    Scenario(
        name="step-timeout",
        title="Step timeout",
        description="The payment service never answers: each try times out, and after the third the saga compensates.",
        customer="customer-001",
        book="book-123",
        styles=_styles(
            Style(
                _cancelled("PaymentFailed", "cancel_shipment", "release_stock", "cancel_order"), _PAYMENT_NEVER_ANSWERS
            ),
            Style(
                _cancelled("payments did not answer ProcessPayment", *_UNDO_ALL_BUT_SHIPPING), _PAYMENT_NEVER_ANSWERS
            ),
        ),
    ),
    Scenario(
        name="customer-cancellation",
        title="Customer cancellation",
        description="The customer cancels while the saga is still running: whatever was done is undone.",
        customer="customer-001",
        book="book-123",
        follow_up=CANCEL,
        styles=_styles(
            # cancelled the moment it is placed, before any service could have answered
            Style(_cancelled(CUSTOMER_CANCELLED, *ALL_COMPENSATIONS)),
            # held while the payment service does not answer, then cancelled
            Style(
                _cancelled(CUSTOMER_CANCELLED, *_UNDO_ALL_BUT_SHIPPING),
                _PAYMENT_NEVER_ANSWERS,
                hold_step="process_payment",
            ),
        ),
    ),
    Scenario(
        name="duplicate-delivery",
        title="Duplicate delivery",
        description="A message of a completed saga is delivered again: it changes nothing, stock and money "
        "stay as they were.",
        customer="customer-001",
        book="book-123",
        follow_up=DELIVER_AGAIN,
        styles=_both(_COMPLETES),
    ),
)
_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def scenario(name: str) -> Scenario:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownScenarioError(name) from None


def outcome_view(outcome: Outcome) -> dict[str, object]:
    """An outcome as the API shows it (camelCase)."""
    return {
        "status": outcome.status,
        "sagaStatus": outcome.saga_status,
        "compensations": list(outcome.compensations),
        "reason": outcome.reason,
    }


@dataclass(frozen=True)
class Actual:
    """How a saga did end, to compare with its ``Outcome``."""

    status: str
    saga_status: str
    compensations: tuple[str, ...]
    cancel_reason: str | None = None
    problems: tuple[str, ...] = field(default=())

    def differences(self, expected: Outcome, mode: str) -> list[str]:
        """What differs from ``expected``; empty when it ended as it should."""
        found = list(self.problems)
        if self.status != expected.status:
            found.append(f"order {self.status}, expected {expected.status}")
        if self.saga_status != expected.saga_status:
            found.append(f"saga {self.saga_status}, expected {expected.saga_status}")
        ran, wanted = self.compensations, expected.compensations
        if (ran != wanted) if mode == ORCHESTRATION else (set(ran) != set(wanted)):
            found.append(f"compensations {list(ran)}, expected {list(wanted)}")
        if expected.reason is None and self.cancel_reason is not None:
            found.append(f"cancelled: {self.cancel_reason}")
        if expected.reason is not None and not (self.cancel_reason or "").startswith(expected.reason):
            found.append(f"reason {self.cancel_reason!r}, expected {expected.reason!r}…")
        return found
