from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from api.validation import Identifier, text
from domain import orders, payments, saga, shipping
from domain.common import PaymentMethod, SagaMode, ServiceName
from domain.inventory import MAX_STOCK
from domain.payments import MAX_BALANCE
from handlers.messages import iso
from infra.tracing import trace_id_of
from infra.wire import camel_keys
from projections import sagas

MAX_QUANTITY = 100
DEFAULT_ADDRESS = "東京都千代田区丸の内1-1-1"


# A moment in UTC, written as ``iso`` writes it everywhere (``2025-04-01T09:30:00.000000Z``): sortable as text.
Timestamp = Annotated[
    AwareDatetime, PlainSerializer(iso, when_used="json"), WithJsonSchema({"type": "string", "format": "date-time"})
]


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class OrderStatus(StrEnum):
    PENDING = orders.PENDING
    COMPLETED = orders.COMPLETED
    CANCELLED = orders.CANCELLED


class Outcome(StrEnum):
    """How an order ended, as its customer was told."""

    COMPLETED = orders.COMPLETED
    CANCELLED = orders.CANCELLED


class PaymentStatus(StrEnum):
    COMPLETED = payments.COMPLETED
    FAILED = payments.FAILED
    REFUNDED = payments.REFUNDED
    VOIDED = payments.VOIDED


class ShipmentStatus(StrEnum):
    WAITING = shipping.WAITING
    ARRANGED = shipping.ARRANGED
    FAILED = shipping.FAILED
    ABORTED = shipping.ABORTED
    CANCELLED = shipping.CANCELLED


class SagaStatus(StrEnum):
    """The orchestrator's states, and those a choreography is derived to be in (``COMPENSATING``)."""

    STARTED = saga.STARTED
    ORDER_CREATED = saga.ORDER_CREATED
    STOCK_RESERVED = saga.STOCK_RESERVED
    PAYMENT_COMPLETED = saga.PAYMENT_COMPLETED
    COMPENSATION_STARTED = saga.COMPENSATION_STARTED
    COMPENSATING = sagas.COMPENSATING
    COMPLETED = saga.COMPLETED
    FAILED = saga.FAILED
    STUCK = saga.STUCK


class StepStatus(StrEnum):
    IN_PROGRESS = sagas.IN_PROGRESS
    TIMED_OUT = sagas.TIMED_OUT
    SUCCEEDED = sagas.SUCCEEDED
    FAILED = sagas.STEP_FAILED
    ABANDONED = sagas.ABANDONED


class StepKind(StrEnum):
    FORWARD = sagas.FORWARD
    FINISHING = sagas.FINISHING_STEP
    COMPENSATION = sagas.COMPENSATION


class PlaceOrderRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    customer_id: Identifier = Field(examples=["customer-001"])
    book_id: Identifier = Field(examples=["book-123"])
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY, examples=[1])
    price: StrictInt = Field(
        ge=0, le=10_000_000, description="unit price; must be the catalogue price", examples=[3500]
    )
    payment_method: PaymentMethod = PaymentMethod.CREDIT_CARD
    shipping_address: Annotated[str, text(500)] = DEFAULT_ADDRESS
    saga_mode: SagaMode | None = Field(default=None, description="defaults to CLOUDMART_SAGA_MODE")


class OrderAccepted(Schema):
    order_id: str
    status: OrderStatus
    saga_mode: SagaMode


class Order(Schema):
    order_id: str
    customer_id: str | None
    book_id: str | None
    quantity: int | None
    unit_price: int | None
    total_amount: int | None
    payment_method: PaymentMethod | None
    shipping_address: str | None
    status: OrderStatus
    cancel_reason: str | None = None
    saga_mode: SagaMode
    tracking_number: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class OrderPage(Schema):
    items: list[Order]
    total: int
    limit: int
    offset: int


class Book(Schema):
    book_id: str
    title: str
    available_stock: int
    reserved_stock: int
    sold_stock: int
    price: int


class RestockRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    quantity: StrictInt = Field(ge=1, le=MAX_STOCK, description="copies delivered", examples=[100])


class Restocked(Schema):
    book_id: str
    restocked: int = Field(description="the copies this request added")
    available_stock: int = Field(description="available now, as the Inventory service counts them")


class AddFundsRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    amount: StrictInt = Field(ge=1, le=MAX_BALANCE, examples=[100_000])
    payment_method: PaymentMethod = PaymentMethod.CREDIT_CARD


class FundsAdded(Schema):
    customer_id: str
    payment_method: PaymentMethod
    added: int = Field(description="the amount this request added")
    balance: int = Field(description="what the customer can now spend that way, as the Payment service counts it")


class Customer(Schema):
    customer_id: str
    name: str
    email: str
    credit_available: int
    e_money_balance: int


class Notification(Schema):
    order_id: str
    outcome: Outcome
    reason: str | None = None
    at: Timestamp


class Payment(Schema):
    payment_id: str = Field(validation_alias="id")
    order_id: str
    customer_id: str | None
    amount: int
    payment_method: PaymentMethod | None
    status: PaymentStatus
    transaction_id: str | None
    refund_id: str | None
    reason: str | None
    updated_at: Timestamp


class Shipment(Schema):
    shipment_id: str = Field(validation_alias="id")
    order_id: str
    shipping_address: str | None
    carrier: str | None
    tracking_number: str | None
    status: ShipmentStatus
    reason: str | None
    updated_at: Timestamp


class SagaTransition(Schema):
    state: SagaStatus
    at: Timestamp
    reason: str | None = None


def _absent_if_none(**constraints: Any) -> Any:
    """A field a step shows only when it has it: one that has not ended has no ``endedAt``, not a null one."""
    return Field(default=None, exclude_if=lambda value: value is None, **constraints)


class OrchestrationStep(Schema):
    """A command the orchestrator sent, and how it went."""

    step: str = Field(examples=["reserve_stock"])
    kind: StepKind
    command: str = Field(examples=["ReserveStock"])
    service: ServiceName
    status: StepStatus
    attempts: int
    started_at: Timestamp
    ended_at: Timestamp | None = _absent_if_none()
    reason: str | None = _absent_if_none(description="why it failed")


class ChoreographyStep(Schema):
    """An event a service recorded about the order (there is no controller: these are the saga)."""

    service: ServiceName
    event: str = Field(examples=["StockReserved"])
    at: Timestamp
    reason: str | None = _absent_if_none(description="why it failed, for a failure event")
    note: str | None = _absent_if_none(description="why it was marked STUCK, or the operator's intervention")


class Saga(Schema):
    saga_id: str = Field(validation_alias="id")
    order_id: str
    saga_type: SagaMode
    status: SagaStatus
    current_step: str | None = Field(description="the step in flight (orchestration) or the latest event")
    reason: str | None
    history: list[SagaTransition]
    steps: list[OrchestrationStep] | list[ChoreographyStep]
    created_at: Timestamp
    updated_at: Timestamp


class SagaSummary(Schema):
    """A saga as a list shows it (``GET /sagas``); ``GET /sagas/{orderId}`` has the rest."""

    order_id: str
    saga_type: SagaMode
    status: SagaStatus
    current_step: str | None
    reason: str | None
    created_at: Timestamp
    updated_at: Timestamp
    duration_ms: int | None = Field(description="from its start to the end of its last step; null while it runs")
    retries: int = Field(description="orchestration steps sent again (a choreography's services retry inside a step)")
    compensations: list[str] = Field(
        description="the compensations that ran (`cancel_shipment`, `refund_payment`, `release_stock`, "
        "`cancel_order`): in orchestration in the order they were sent, in choreography in time order"
    )


class SagaPage(Schema):
    items: list[SagaSummary]
    total: int
    limit: int
    offset: int


class EventRecord(Schema):
    id: int
    event_type: str
    aggregate_id: str
    version: int
    service: ServiceName
    position: int
    order_id: str | None
    message_id: str | None = Field(description="this event as a message: `service:position`")
    correlation_id: str | None = Field(description="the order, and so the saga, it belongs to")
    causation_id: str | None = Field(
        description="what its service was handling when it saved it: the `messageId` of an event, the "
        "`messageId` in a `CommandDispatched` payload (a command), or `request:<X-Request-ID>` of an HTTP "
        "request; null for events saved before causes were recorded"
    )
    trace_id: str | None = Field(description="its OpenTelemetry trace: every event of one saga shares it")
    payload: dict[str, Any]
    timestamp: Timestamp

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventRecord:
        """A row of the event index, its payload's keys in camelCase like every other field."""
        return cls.model_validate(
            {
                **row,
                "payload": camel_keys(row["payload"]),
                "correlation_id": row["order_id"],
                "trace_id": trace_id_of(row["traceparent"]),
            }
        )


class EventPage(Schema):
    events: list[EventRecord]
    next_after: int = Field(description="pass as `after` for the next page")


class FaultyService(StrEnum):
    INVENTORY = "inventory"
    PAYMENTS = "payments"
    SHIPPING = "shipping"


class FaultKind(StrEnum):
    FAIL = "fail"
    TIMEOUT = "timeout"


def _renamed(service: object) -> object:
    return FaultyService.PAYMENTS if service == "payment" else service


class FaultRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    service: Annotated[
        FaultyService,
        BeforeValidator(_renamed),
        Field(description="`payment`, the name it had before, is accepted too"),
    ]
    fault: FaultKind
    times: StrictInt = Field(default=1, ge=1, le=1000)


class Faults(Schema):
    pending: dict[FaultyService, list[FaultKind]]


class Health(Schema):
    status: Literal["ok"]


class ReplayReport(Schema):
    projections: list[str]
    events: int = Field(description="events replayed into the rebuilt read models")
    seconds: float
    events_per_second: float


class ConsumerState(Schema):
    status: Literal["up", "down"]
    reason: str | None = Field(default=None, description="why it is down: the last error it met")
    down_since: datetime | None = None


class Readiness(Schema):
    """Ready when every backend answers and every loop of this process works; otherwise 503, naming what is down."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(
        description="each backend (readModels, every service's event store, redis, rabbitmq): ok, or its error"
    )
    consumers: dict[str, ConsumerState] = Field(
        default_factory=dict,
        description="each loop this process runs (log consumers, relays, Redis and RabbitMQ consumers, projector, "
        "saga timer, log notifications), by name",
    )
    down: list[str] = Field(default_factory=list, description="every backend and consumer that is down, by name")
