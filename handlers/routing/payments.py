"""When an event or a command reaches payments: the order charged (if its amount is right) or refunded."""

from __future__ import annotations

from domain import commands, events
from domain.common import SagaMode
from domain.payments import Payment
from handlers.messages import Message
from handlers.routing.routes import Routes, reason_of
from handlers.services.payments import PaymentsService

CHOREOGRAPHY, ORCHESTRATION = SagaMode.CHOREOGRAPHY.value, SagaMode.ORCHESTRATION.value


def when_order_created_charge_payment(payments: PaymentsService, message: Message) -> None:
    p = message.payload
    payments.try_to_charge(
        p["order_id"],
        p["customer_id"],
        p["payment_method"],
        p["total_amount"],
        p["book_id"],
        p["quantity"],
        CHOREOGRAPHY,
    )


def when_failed_refund_payment(payments: PaymentsService, message: Message) -> None:
    payments.refund(message.order_id, CHOREOGRAPHY, reason_of(message))


def process_payment(payments: PaymentsService, command: commands.ProcessPayment) -> None:
    c = command
    payments.try_to_charge(c.order_id, c.customer_id, c.payment_method, c.amount, c.book_id, c.quantity, ORCHESTRATION)


def refund_payment(payments: PaymentsService, command: commands.RefundPayment) -> None:
    payments.refund(command.order_id, ORCHESTRATION, command.reason)


ROUTES = Routes[PaymentsService](
    participant=Payment,
    reactions={
        events.ORDER_CREATED: (when_order_created_charge_payment,),
        events.STOCK_UNAVAILABLE: (when_failed_refund_payment,),
        events.SHIPPING_FAILED: (when_failed_refund_payment,),
        events.ORDER_CANCELLED: (when_failed_refund_payment,),
    },
    commands={commands.ProcessPayment: process_payment, commands.RefundPayment: refund_payment},
)
