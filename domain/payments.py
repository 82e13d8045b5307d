from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import ConflictError, DomainError, NotFoundError, PaymentMethod, stable_id
from domain.replies import Participant

COMPLETED = "COMPLETED"
FAILED = "FAILED"
REFUNDED = "REFUNDED"
VOIDED = "VOIDED"
MAX_BALANCE = 1_000_000_000  # per means of payment: top-ups stop there


class CustomerNotFoundError(NotFoundError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} not found")


class InsufficientFundsError(DomainError):
    def __init__(self, method: str, needed: int, available: int) -> None:
        super().__init__(f"insufficient {method} balance: {available} available, {needed} needed")


class BalanceLimitError(ConflictError):
    def __init__(self, customer_id: str, method: str, balance: int, amount: int) -> None:
        super().__init__(
            f"customer {customer_id} has {balance} in {method}: adding {amount} would pass the limit of {MAX_BALANCE}"
        )


def amount_refusal(amount: int, book_id: str, quantity: int, unit_price: int | None) -> str | None:
    """Why a charge of ``amount`` for ``quantity`` copies of ``book_id`` must be refused, or None if it is
    the catalogue total: a corrupted or forged message is declined, never charged."""
    if unit_price is None:
        return f"book {book_id} is not in the catalogue"
    if type(quantity) is not int or type(amount) is not int or quantity < 1:
        return f"{amount!r} for {quantity!r} copies of {book_id} is not an order"
    if amount != unit_price * quantity:
        return f"amount {amount} is not the catalogue total {unit_price * quantity} of {quantity} x {book_id}"
    return None


class Account(Aggregate):
    """A customer's means of payment: the credit still available on the card and the e-money wallet."""

    @staticmethod
    def create_id(customer_id: str) -> UUID:
        return stable_id("accounts", customer_id)

    @event("AccountOpened")
    def __init__(self, customer_id: str, name: str, email: str, credit_limit: int, e_money: int) -> None:
        self.customer_id = customer_id
        self.name = name
        self.email = email
        self.balances = {PaymentMethod.CREDIT_CARD.value: credit_limit, PaymentMethod.E_MONEY.value: e_money}
        self.initial = dict(self.balances)

    def ensure_funds(self, method: str, amount: int) -> None:
        available = self.balances[method]
        if amount > available:
            raise InsufficientFundsError(method, amount, available)

    def debit(self, order_id: str, method: str, amount: int) -> None:
        self.ensure_funds(method, amount)
        self._funds_debited(self.customer_id, order_id, method, amount)

    def credit(self, order_id: str, method: str, amount: int) -> None:
        self._funds_credited(self.customer_id, order_id, method, amount)

    # Per method. Not an annotation (see Participant.answered), and read-only here, so that an account opened
    # before top-ups existed (or read back from an older snapshot) has none; each top-up sets a new dict.
    if TYPE_CHECKING:
        funds_added: Mapping[str, int]
    else:
        funds_added = MappingProxyType({})

    def add_funds(self, method: str, amount: int) -> None:
        """Money put in from outside, by an operator: not a refund, so no order is involved."""
        if self.balances[method] + amount > MAX_BALANCE:
            raise BalanceLimitError(self.customer_id, method, self.balances[method], amount)
        self._funds_added(self.customer_id, method, amount)

    @event("FundsAdded")
    def _funds_added(self, customer_id: str, method: str, amount: int) -> None:
        self.balances[method] += amount
        self.funds_added = {**self.funds_added, method: self.funds_added.get(method, 0) + amount}

    @event("FundsDebited")
    def _funds_debited(self, customer_id: str, order_id: str, method: str, amount: int) -> None:
        self.balances[method] -= amount

    @event("FundsCredited")
    def _funds_credited(self, customer_id: str, order_id: str, method: str, amount: int) -> None:
        self.balances[method] += amount


class Payment(Participant):
    """Payments' memory of one order: charged, declined, refunded, or stopped before any charge."""

    class PaymentCompleted(Aggregate.Created):
        """Version 2 records the method; before e-money wallets, version 1 events were all card payments."""

        class_version = 2
        order_id: str
        saga_mode: str
        customer_id: str
        method: str
        amount: int
        transaction_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state.setdefault("method", PaymentMethod.CREDIT_CARD.value)

    class PaymentFailed(Aggregate.Created):
        order_id: str
        saga_mode: str
        customer_id: str
        method: str
        amount: int
        reason: str

    class PaymentVoided(Aggregate.Created):
        order_id: str
        saga_mode: str
        reason: str

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return stable_id("payments", order_id)

    def __init__(
        self,
        order_id: str,
        saga_mode: str,
        customer_id: str | None = None,
        method: str | None = None,
        amount: int = 0,
        transaction_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.order_id = order_id
        self.saga_mode = saga_mode
        self.customer_id = customer_id
        self.method = method
        self.amount = amount
        self.transaction_id = transaction_id
        self.reason = reason
        self.status = COMPLETED if transaction_id else (FAILED if customer_id else VOIDED)

    @classmethod
    def charge(
        cls, account: Account, order_id: str, saga_mode: str, method: str, amount: int, transaction_id: str
    ) -> Payment:
        account.debit(order_id, method, amount)
        return cls._create(
            cls.PaymentCompleted,
            id=cls.create_id(order_id),
            order_id=order_id,
            saga_mode=saga_mode,
            customer_id=account.customer_id,
            method=method,
            amount=amount,
            transaction_id=transaction_id,
        )

    @classmethod
    def decline(cls, order_id: str, saga_mode: str, customer_id: str, method: str, amount: int, reason: str) -> Payment:
        return cls._create(
            cls.PaymentFailed,
            id=cls.create_id(order_id),
            order_id=order_id,
            saga_mode=saga_mode,
            customer_id=customer_id,
            method=method,
            amount=amount,
            reason=reason,
        )

    @classmethod
    def void(cls, order_id: str, saga_mode: str, reason: str) -> Payment:
        return cls._create(
            cls.PaymentVoided, id=cls.create_id(order_id), order_id=order_id, saga_mode=saga_mode, reason=reason
        )

    def refund(self, account: Account, refund_id: str, reason: str) -> None:
        if self.status == COMPLETED and self.method is not None:
            account.credit(self.order_id, self.method, self.amount)
            self._refunded(self.order_id, self.saga_mode, self.amount, refund_id, reason)

    @event("PaymentRefunded")
    def _refunded(self, order_id: str, saga_mode: str, amount: int, refund_id: str, reason: str) -> None:
        self.status = REFUNDED
