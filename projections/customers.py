from __future__ import annotations

from sqlalchemy import Connection

from domain.common import PaymentMethod
from handlers.messages import Envelope, iso
from projections.projection import Projection, adjust, upsert
from projections.tables import customers, notifications

_BALANCE_COLUMN = {PaymentMethod.CREDIT_CARD.value: "credit_available", PaymentMethod.E_MONEY.value: "e_money_balance"}


def account_opened(connection: Connection, record: Envelope) -> None:
    p = record.payload
    upsert(
        connection,
        customers,
        {"customer_id": p["customer_id"]},
        {
            "name": p["name"],
            "email": p["email"],
            "credit_limit": p["credit_limit"],
            "initial_e_money": p["e_money"],
            "credit_available": p["credit_limit"],
            "e_money_balance": p["e_money"],
        },
    )


def funds_debited(connection: Connection, record: Envelope) -> None:
    _move(connection, record, -record.payload["amount"])


def funds_credited(connection: Connection, record: Envelope) -> None:
    _move(connection, record, record.payload["amount"])


def _move(connection: Connection, record: Envelope, delta: int) -> None:
    column = _BALANCE_COLUMN[record.payload["method"]]
    adjust(connection, customers, {"customer_id": record.payload["customer_id"]}, {column: delta})


def customer_notified(connection: Connection, record: Envelope) -> None:
    p = record.payload
    upsert(
        connection,
        notifications,
        {"order_id": p["order_id"]},
        {
            "customer_id": p["customer_id"],
            "outcome": p["outcome"],
            "reason": p["reason"],
            "at": iso(record.occurred_at),
        },
    )


projection = Projection(
    "customers",
    (customers, notifications),
    {
        "AccountOpened": account_opened,
        "FundsDebited": funds_debited,
        "FundsCredited": funds_credited,
        "CustomerNotified": customer_notified,
    },
)
