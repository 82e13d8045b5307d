from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

from api.validation import Identifier, text
from domain.common import PaymentMethod, SagaMode
from infra.wire import camel_keys
from projections.catalog import PROJECTIONS

MAX_QUANTITY = 100
DEFAULT_ADDRESS = "東京都千代田区丸の内1-1-1"


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


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


OrderStatus = Literal["PENDING", "COMPLETED", "CANCELLED"]


class OrderAccepted(Schema):
    order_id: str
    status: str
    saga_mode: str


class Order(Schema):
    order_id: str
    customer_id: str | None
    book_id: str | None
    quantity: int | None
    unit_price: int | None
    total_amount: int | None
    payment_method: str | None
    shipping_address: str | None
    status: OrderStatus
    cancel_reason: str | None = None
    saga_mode: str
    tracking_number: str | None = None
    created_at: str
    updated_at: str


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


class Customer(Schema):
    customer_id: str
    name: str
    email: str
    credit_available: int
    e_money_balance: int


class Notification(Schema):
    order_id: str
    outcome: str
    reason: str | None = None
    at: str


class Payment(Schema):
    payment_id: str = Field(validation_alias="id")
    order_id: str
    customer_id: str | None
    amount: int
    payment_method: str | None
    status: str
    transaction_id: str | None
    refund_id: str | None
    reason: str | None
    updated_at: str


class Shipment(Schema):
    shipment_id: str = Field(validation_alias="id")
    order_id: str
    shipping_address: str | None
    carrier: str | None
    tracking_number: str | None
    status: str
    reason: str | None
    updated_at: str


class SagaTransition(Schema):
    state: str
    at: str
    reason: str | None = None


class Saga(Schema):
    saga_id: str = Field(validation_alias="id")
    order_id: str
    saga_type: str
    status: str
    current_step: str | None
    reason: str | None
    history: list[SagaTransition]
    steps: list[dict[str, Any]]
    created_at: str
    updated_at: str


class EventRecord(Schema):
    id: int
    event_type: str
    aggregate_id: str
    version: int
    service: str
    position: int
    order_id: str | None
    message_id: str | None
    payload: dict[str, Any]
    timestamp: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventRecord:
        """A row of the event index, its payload's keys in camelCase like every other field."""
        return cls.model_validate({**row, "payload": camel_keys(row["payload"])})


class EventPage(Schema):
    events: list[EventRecord]
    next_after: int = Field(description="pass as `after` for the next page")


class FaultRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    service: Literal["inventory", "payment", "shipping"]
    fault: Literal["fail", "timeout"]
    times: StrictInt = Field(default=1, ge=1, le=1000)


class Faults(Schema):
    pending: dict[str, list[str]]


ProjectionName = StrEnum("ProjectionName", {projection.name: projection.name for projection in PROJECTIONS})  # type: ignore[misc]


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
