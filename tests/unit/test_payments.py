"""Payments' aggregates: a customer's account and the payment of one order."""

from __future__ import annotations

import pytest

from domain.payments import (
    COMPLETED,
    FAILED,
    MAX_BALANCE,
    REFUNDED,
    VOIDED,
    Account,
    BalanceLimitError,
    InsufficientFundsError,
    Payment,
    amount_refusal,
)
from tests.unit.recorded import given, recorded

MODE = "orchestration"
CARD = "credit_card"
E_MONEY = "e_money"


def an_account(credit: int = 100_000, e_money: int = 20_000) -> Account:
    return given(
        Account(
            customer_id="customer-001", name="田中太郎", email="t@example.com", credit_limit=credit, e_money=e_money
        )
    )


def a_charged_payment(account: Account, amount: int = 3500) -> Payment:
    payment = given(Payment.charge(account, "order-1", MODE, CARD, amount, "txn-1"))
    given(account)
    return payment


def test_opening_an_account_records_its_credit_and_wallet_as_the_initial_balances() -> None:
    account = Account(customer_id="customer-003", name="山田", email="y@example.com", credit_limit=1000, e_money=0)

    assert recorded(account) == [
        (
            "AccountOpened",
            {
                "customer_id": "customer-003",
                "name": "山田",
                "email": "y@example.com",
                "credit_limit": 1000,
                "e_money": 0,
            },
        )
    ]
    assert account.balances == account.initial == {CARD: 1000, E_MONEY: 0}


def test_charging_debits_the_method_and_records_payment_completed() -> None:
    account = an_account(e_money=20_000)

    payment = Payment.charge(account, "order-1", MODE, E_MONEY, 7000, "txn-1")

    assert recorded(account, payment) == [
        ("FundsDebited", {"customer_id": "customer-001", "order_id": "order-1", "method": E_MONEY, "amount": 7000}),
        (
            "PaymentCompleted",
            {
                "order_id": "order-1",
                "saga_mode": MODE,
                "customer_id": "customer-001",
                "method": E_MONEY,
                "amount": 7000,
                "transaction_id": "txn-1",
            },
        ),
    ]
    assert (account.balances, payment.status) == ({CARD: 100_000, E_MONEY: 13_000}, COMPLETED)


def test_charging_more_than_the_balance_is_refused_before_anything_is_recorded() -> None:
    account = an_account(credit=1000)

    with pytest.raises(InsufficientFundsError, match="1000 available, 3500 needed"):
        Payment.charge(account, "order-1", MODE, CARD, 3500, "txn-1")

    assert (recorded(account), account.balances[CARD]) == ([], 1000)


def test_declining_records_payment_failed_and_takes_no_money() -> None:
    payment = Payment.decline("order-1", MODE, "customer-003", CARD, 3500, "insufficient credit_card balance")

    assert recorded(payment) == [
        (
            "PaymentFailed",
            {
                "order_id": "order-1",
                "saga_mode": MODE,
                "customer_id": "customer-003",
                "method": CARD,
                "amount": 3500,
                "reason": "insufficient credit_card balance",
            },
        )
    ]
    assert payment.status == FAILED


def test_refunding_a_completed_payment_credits_the_account_once() -> None:
    account = an_account(credit=100_000)
    payment = a_charged_payment(account, amount=3500)

    payment.refund(account, "refund-1", "carrier unavailable")
    payment.refund(account, "refund-2", "carrier unavailable")

    assert recorded(account, payment) == [
        ("FundsCredited", {"customer_id": "customer-001", "order_id": "order-1", "method": CARD, "amount": 3500}),
        (
            "PaymentRefunded",
            {
                "order_id": "order-1",
                "saga_mode": MODE,
                "amount": 3500,
                "refund_id": "refund-1",
                "reason": "carrier unavailable",
            },
        ),
    ]
    assert (account.balances[CARD], payment.status) == (100_000, REFUNDED)


def test_a_voided_payment_is_a_tombstone_that_refunds_nothing() -> None:
    account = an_account()

    payment = Payment.void("order-1", MODE, "stock unavailable")
    voided = recorded(payment)
    payment.refund(account, "refund-1", "stock unavailable")

    assert voided == [("PaymentVoided", {"order_id": "order-1", "saga_mode": MODE, "reason": "stock unavailable"})]
    assert (recorded(account, payment), payment.status) == ([], VOIDED)


def test_a_declined_payment_refunds_nothing() -> None:
    account = an_account()
    payment = given(Payment.decline("order-1", MODE, "customer-001", CARD, 3500, "declined"))

    payment.refund(account, "refund-1", "stock unavailable")

    assert (recorded(account, payment), account.balances[CARD], payment.status) == ([], 100_000, FAILED)


def test_the_catalogue_total_is_a_charge_to_make() -> None:
    assert amount_refusal(7000, "book-123", 2, 3500) is None


@pytest.mark.parametrize(
    ("amount", "quantity", "unit_price", "why"),
    [
        (3500, 1, None, "book book-123 is not in the catalogue"),
        (3000, 1, 3500, "amount 3000 is not the catalogue total 3500 of 1 x book-123"),
        (0, 0, 3500, "0 for 0 copies of book-123 is not an order"),
        (3500, True, 3500, "3500 for True copies of book-123 is not an order"),
        (3500.0, 1, 3500, "3500.0 for 1 copies of book-123 is not an order"),
    ],
)
def test_an_amount_that_is_not_the_catalogue_total_is_refused_with_the_reason(
    amount: int, quantity: int, unit_price: int | None, why: str
) -> None:
    assert amount_refusal(amount, "book-123", quantity, unit_price) == why


def test_funds_added_by_the_operator_raise_that_balance_and_are_counted_apart_from_refunds() -> None:
    account = an_account(credit=1000, e_money=0)

    account.add_funds(E_MONEY, 500)
    account.add_funds(E_MONEY, 250)

    assert recorded(account) == [
        ("FundsAdded", {"customer_id": "customer-001", "method": E_MONEY, "amount": 500}),
        ("FundsAdded", {"customer_id": "customer-001", "method": E_MONEY, "amount": 250}),
    ]
    assert account.balances == {CARD: 1000, E_MONEY: 750}
    assert account.funds_added == {E_MONEY: 750}
    assert account.initial == {CARD: 1000, E_MONEY: 0}


def test_funds_that_would_pass_the_balance_limit_are_refused_and_record_nothing() -> None:
    account = an_account(credit=1000)

    with pytest.raises(BalanceLimitError, match=f"has 1000 in credit_card: adding {MAX_BALANCE}"):
        account.add_funds(CARD, MAX_BALANCE)

    assert recorded(account) == []
    assert account.funds_added == {}
