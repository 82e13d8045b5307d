"""Commands the orchestrator sends to the services: imperative, frozen, fields only."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class CreateOrder:
    order_id: str
    customer_id: str
    book_id: str
    quantity: int
    unit_price: int
    total_amount: int
    payment_method: str
    shipping_address: str


@dataclass(frozen=True)
class ReserveStock:
    order_id: str
    book_id: str
    quantity: int


@dataclass(frozen=True)
class ProcessPayment:
    order_id: str
    customer_id: str
    payment_method: str
    amount: int
    book_id: str  # with the quantity, what lets Payments check the amount against the catalogue
    quantity: int


@dataclass(frozen=True)
class ArrangeShipping:
    order_id: str
    shipping_address: str


@dataclass(frozen=True)
class CompleteOrder:
    order_id: str
    tracking_number: str


@dataclass(frozen=True)
class CommitStock:
    order_id: str


@dataclass(frozen=True)
class RefundPayment:
    order_id: str
    reason: str


@dataclass(frozen=True)
class ReleaseStock:
    order_id: str
    reason: str


@dataclass(frozen=True)
class CancelShipment:
    order_id: str
    reason: str


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str


Command = (
    CreateOrder
    | ReserveStock
    | ProcessPayment
    | ArrangeShipping
    | CompleteOrder
    | CommitStock
    | RefundPayment
    | ReleaseStock
    | CancelShipment
    | CancelOrder
)
COMMANDS: dict[str, type[Command]] = {
    cls.__name__: cls
    for cls in (
        CreateOrder,
        ReserveStock,
        ProcessPayment,
        ArrangeShipping,
        CompleteOrder,
        CommitStock,
        RefundPayment,
        ReleaseStock,
        CancelShipment,
        CancelOrder,
    )
}

ORDER_FIELDS = tuple(field.name for field in fields(CreateOrder) if field.name != "order_id")
"""What an order is made of besides its id: the fields every view of a placed order shows."""
