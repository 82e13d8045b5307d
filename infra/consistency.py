"""`cloudmart check`: the invariants in docs/architecture.md, verified against the event stores and the read models."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from domain import inventory, orders, payments, shipping
from domain.saga import COMPLETED as SAGA_COMPLETED
from domain.saga import FAILED as SAGA_FAILED
from domain.saga import FORWARD, STEPS
from handlers.services import Services
from handlers.services.base import Service
from infra.read_model_rebuild import differences
from projections import queries


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str
    orders: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.detail}" + (f" (orders: {', '.join(self.orders)})" if self.orders else "")


def check(services: Services, engine: Engine) -> list[Violation]:
    found = {kind: aggregates for app in services.by_name().values() for kind, aggregates in _aggregates(app).items()}
    state = _State(found)
    with engine.connect() as connection:
        read_models = {
            "orders": {row["order_id"]: row for row in queries.orders_page(connection, None, None, 10**9, 0)[0]},
            "books": {row["book_id"]: row for row in queries.books(connection)},
            "customers": {row["customer_id"]: row for row in queries.customers_all(connection)},
        }
    return [
        *_stock(state),
        *_money(state),
        *_orders_and_shipments(state),
        *_sagas(state),
        *_compensation_order(services, state),
        *_read_models(state, read_models),
        *_replayed(services, engine),
    ]


class _State:
    def __init__(self, found: dict[str, list[Any]]) -> None:
        self.books: list[inventory.Book] = found.get("Book", [])
        self.reservations: list[inventory.Reservation] = found.get("Reservation", [])
        self.accounts: list[payments.Account] = found.get("Account", [])
        self.payments = {p.order_id: p for p in found.get("Payment", [])}
        self.orders = {o.order_id: o for o in found.get("Order", [])}
        self.shipments = {s.order_id: s for s in found.get("Shipment", [])}
        self.sagas = found.get("OrderSaga", [])


def _aggregates(app: Service) -> dict[str, list[Any]]:
    """Every aggregate in a service's store, by class name, as it stands now."""
    ids: dict[str, set[Any]] = defaultdict(set)
    start = 1
    while page := app.recorder.select_notifications(start=start, limit=1000):
        for notification in page:
            ids[notification.topic.split(":")[1].split(".")[0]].add(notification.originator_id)
        start = page[-1].id + 1
    return {kind: [app.repository.get(aggregate_id) for aggregate_id in sorted(found)] for kind, found in ids.items()}


def _stock(state: _State) -> list[Violation]:
    violations = []
    for book in state.books:
        mine = [r for r in state.reservations if r.book_id == book.book_id]
        reserved = sum(r.quantity for r in mine if r.status == inventory.RESERVED)
        sold = sum(r.quantity for r in mine if r.status == inventory.SOLD)
        if min(book.available, book.reserved, book.sold) < 0 or (book.reserved, book.sold) != (reserved, sold):
            violations.append(
                Violation(
                    "stock conserved",
                    f"{book.book_id}: available {book.available}, reserved "
                    f"{book.reserved}, sold {book.sold}; reservations say {reserved} reserved, {sold} sold",
                )
            )
        held = [r.order_id for r in mine if r.status == inventory.RESERVED and _final(state, r.order_id)]
        if held:
            violations.append(
                Violation("nothing stays reserved", f"{book.book_id}: stock held for finished orders", held)
            )
    return violations


def _money(state: _State) -> list[Violation]:
    violations = []
    for account in state.accounts:
        for method, initial in account.initial.items():
            charged = [
                p
                for p in state.payments.values()
                if p.customer_id == account.customer_id and p.method == method and p.status == payments.COMPLETED
            ]
            spent = initial + account.funds_added.get(method, 0) - account.balances[method]
            if spent != sum(p.amount for p in charged):
                violations.append(
                    Violation(
                        "money conserved",
                        f"{account.customer_id} {method}: balance moved by "
                        f"{spent}, payments charged {sum(p.amount for p in charged)}",
                        [p.order_id for p in charged],
                    )
                )
    return violations


def _orders_and_shipments(state: _State) -> list[Violation]:
    violations = []
    for order_id, order in state.orders.items():
        payment, shipment = state.payments.get(order_id), state.shipments.get(order_id)
        charged = payment is not None and payment.status == payments.COMPLETED
        shipped = shipment is not None and shipment.status == shipping.ARRANGED and bool(shipment.tracking_number)
        if order.status == orders.PENDING:
            violations.append(Violation("one final state", "order still PENDING", [order_id]))
        elif order.status == orders.COMPLETED and not (
            charged and shipped and payment is not None and payment.amount == order.total_amount
        ):
            violations.append(
                Violation("completed orders are paid and shipped", "missing charge or shipment", [order_id])
            )
        elif order.status == orders.CANCELLED and (charged or shipped):
            violations.append(
                Violation("cancelled orders cost nothing and ship nothing", "charge or shipment left", [order_id])
            )
    return violations


def _sagas(state: _State) -> list[Violation]:
    unfinished = [
        s.order_id for s in state.sagas if not (s.state == SAGA_FAILED or (s.state == SAGA_COMPLETED and not s.pending))
    ]
    return [Violation("every saga ends COMPLETED or FAILED", "sagas still running", unfinished)] if unfinished else []


def _compensation_order(services: Services, state: _State) -> list[Violation]:
    """A failed orchestration undid every completed step, the last one first."""
    forward = [step.name for step in FORWARD]
    undoes = {step.compensation: step.name for step in FORWARD if step.compensation}
    wrong = []
    for saga in state.sagas:
        if saga.state != SAGA_FAILED:
            continue
        events = services.orchestrator.events.get(saga.id)
        succeeded = [vars(e)["step"] for e in events if type(e).__name__ == "StepSucceeded"]
        undone = [undoes[step] for step in succeeded if step in undoes]
        in_reverse = undone == sorted(undone, key=forward.index, reverse=True) and len(set(undone)) == len(undone)
        if not in_reverse or not {name for name in saga.completed if STEPS[name].compensation} <= set(undone):
            wrong.append(saga.order_id)
    detail = "a failed saga did not undo its completed steps in reverse order"
    return [Violation("compensation order is the reverse of the completed steps", detail, wrong)] if wrong else []


def _read_models(state: _State, read: dict[str, dict[str, Any]]) -> list[Violation]:
    violations = []
    for order_id, order in state.orders.items():
        row = read["orders"].get(order_id)
        if row is None or (row["status"], row["cancel_reason"], row["tracking_number"]) != (
            order.status,
            order.cancel_reason,
            order.tracking_number,
        ):
            violations.append(Violation("read models equal the event stores", "orders row differs", [order_id]))
    for book in state.books:
        row = read["books"].get(book.book_id)
        if row is None or (row["available_stock"], row["reserved_stock"], row["sold_stock"]) != (
            book.available,
            book.reserved,
            book.sold,
        ):
            violations.append(
                Violation("read models equal the event stores", f"inventory row of {book.book_id} differs")
            )
    for account in state.accounts:
        row = read["customers"].get(account.customer_id)
        if row is None or (row["credit_available"], row["e_money_balance"]) != tuple(account.balances.values()):
            violations.append(
                Violation("read models equal the event stores", f"customers row of {account.customer_id} differs")
            )
    return violations


def _replayed(services: Services, engine: Engine) -> list[Violation]:
    return [
        Violation("read models equal a replay", f"{found.table} row {found.key} differs", found.order_ids)
        for found in differences(engine, list(services.by_name().values()))
    ]


def _final(state: _State, order_id: str) -> bool:
    order = state.orders.get(order_id)
    return order is not None and order.is_final
