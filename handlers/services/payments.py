from __future__ import annotations

import logging
from typing import Any, ClassVar

from eventsourcing.application import ProjectorFunction
from eventsourcing.domain import MutableOrImmutableAggregate

from domain.inventory import BookNotFoundError
from domain.payments import COMPLETED, Account, CustomerNotFoundError, InsufficientFundsError, Payment, amount_refusal
from handlers.ports import Catalogue, FaultInjector, PaymentGateway, raise_injected_fault
from handlers.retry import RetryPolicy
from handlers.services.base import Service, replayed, retry_on_conflict

log = logging.getLogger(__name__)


class PaymentsService(Service):
    """Each customer's account, and each order's payment: charged once, refunded or voided at most once."""

    name = "payments"
    per_order = (Payment.create_id,)
    per_order_histories = True
    fault_key = "payments"
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {Account: 50}
    snapshotting_projectors: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], ProjectorFunction[Any, Any]]] = {
        Account: replayed
    }

    def __init__(
        self,
        faults: FaultInjector,
        gateway: PaymentGateway,
        catalogue: Catalogue,
        retry: RetryPolicy,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(env)
        self.faults = faults
        self.gateway = gateway
        self.catalogue = catalogue
        self.retry = retry
        self._customers: set[str] = set()

    @retry_on_conflict
    def open_account(self, customer_id: str, name: str, email: str, credit_limit: int, e_money: int) -> None:
        if not self.find(Account.create_id(customer_id), Account):
            self.save(Account(customer_id, name, email, credit_limit, e_money))

    @retry_on_conflict
    def add_funds(self, customer_id: str, method: str, amount: int) -> Account:
        account = self.account(customer_id)
        account.add_funds(method, amount)
        self.save(account)
        return account

    def ensure_customer(self, customer_id: str) -> None:
        """Raises unless the customer has an account; accounts are never closed, so one found is remembered."""
        if customer_id not in self._customers:
            self.account(customer_id)
            self._customers.add(customer_id)

    def account(self, customer_id: str) -> Account:
        account = self.find(Account.create_id(customer_id), Account)
        if account is None:
            raise CustomerNotFoundError(customer_id)
        return account

    def payment(self, order_id: str) -> Payment | None:
        return self.find(Payment.create_id(order_id), Payment)

    def try_to_charge(
        self, order_id: str, customer_id: str, method: str, amount: int, book_id: str, quantity: int, saga_mode: str
    ) -> None:
        """Charges an amount that matches the catalogue, retried while it fails transiently; declined when
        the amount is wrong or the retries run out."""
        refusal = amount_refusal(amount, book_id, quantity, self._price_of(book_id))
        if refusal is not None:
            log.warning("order %s: payment refused: %s", order_id, refusal)
            self.decline(order_id, customer_id, method, amount, saga_mode, refusal)
            return
        self.retry.attempt(
            lambda: self.charge(order_id, customer_id, method, amount, saga_mode),
            lambda reason: self.decline(order_id, customer_id, method, amount, saga_mode, reason),
            saga_mode,
        )

    def _price_of(self, book_id: str) -> int | None:
        try:
            return self.catalogue.catalogue_price(book_id)
        except BookNotFoundError:
            return None

    @retry_on_conflict
    def charge(self, order_id: str, customer_id: str, method: str, amount: int, saga_mode: str) -> Payment:
        existing = self.payment(order_id)
        if existing:
            return existing
        raise_injected_fault(self.faults, self.fault_key)
        account = self.find(Account.create_id(customer_id), Account)
        if account is None:
            return self.decline(order_id, customer_id, method, amount, saga_mode, f"customer {customer_id} not found")
        try:
            account.ensure_funds(method, amount)
        except InsufficientFundsError as error:
            return self.decline(order_id, customer_id, method, amount, saga_mode, str(error))
        transaction_id = self.gateway.charge(order_id, method, amount)
        payment = Payment.charge(account, order_id, saga_mode, method, amount, transaction_id)
        self.save(account, payment)
        return payment

    @retry_on_conflict
    def decline(
        self, order_id: str, customer_id: str, method: str, amount: int, saga_mode: str, reason: str
    ) -> Payment:
        payment = self.payment(order_id) or Payment.decline(order_id, saga_mode, customer_id, method, amount, reason)
        self.save(payment)
        return payment

    @retry_on_conflict
    def refund(self, order_id: str, saga_mode: str, reason: str) -> None:
        """Gives the money back if it was taken; otherwise makes sure it never will be."""
        payment = self.payment(order_id)
        if payment is None:
            self.save(Payment.void(order_id, saga_mode, reason))
        elif payment.status == COMPLETED and payment.customer_id:
            account = self.account(payment.customer_id)
            payment.refund(account, self.gateway.refund(order_id, payment.amount), reason)
            self.save(account, payment)
