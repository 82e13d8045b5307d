from __future__ import annotations

from domain.common import PaymentMethod
from handlers.messages import Record
from projections.projection import Change, Fold, Projection, Rows, added, merged
from projections.queries import Row
from projections.tables import customers, notifications

CUSTOMERS = Rows(customers, "customer_id")
NOTIFICATIONS = Rows(notifications, "order_id")
_BALANCE_COLUMN = {PaymentMethod.CREDIT_CARD.value: "credit_available", PaymentMethod.E_MONEY.value: "e_money_balance"}


def account_opened(row: Row | None, record: Record) -> Row:
    p = record.payload
    values = {
        "name": p["name"],
        "email": p["email"],
        "credit_limit": p["credit_limit"],
        "initial_e_money": p["e_money"],
        "credit_available": p["credit_limit"],
        "e_money_balance": p["e_money"],
    }
    return merged(row, {"customer_id": p["customer_id"]}, values)


def funds_debited(row: Row | None, record: Record) -> Row | None:
    return added(row, {_BALANCE_COLUMN[record.payload["method"]]: -record.payload["amount"]})


def funds_credited(row: Row | None, record: Record) -> Row | None:
    return added(row, {_BALANCE_COLUMN[record.payload["method"]]: record.payload["amount"]})


def customer_notified(row: Row | None, record: Record) -> Row:
    p = record.payload
    at = record.occurred_at
    values = {"customer_id": p["customer_id"], "outcome": p["outcome"], "reason": p["reason"], "at": at}
    return merged(row, {"order_id": p["order_id"]}, values)


def _by_customer(fold: Fold) -> Change:
    return Change(CUSTOMERS, lambda record: record.payload["customer_id"], fold)


projection = Projection(
    "customers",
    (customers, notifications),
    {
        "AccountOpened": _by_customer(account_opened),
        "FundsDebited": _by_customer(funds_debited),
        "FundsCredited": _by_customer(funds_credited),
        "FundsAdded": _by_customer(funds_credited),
        "CustomerNotified": Change(NOTIFICATIONS, lambda record: record.payload["order_id"], customer_notified),
    },
)
