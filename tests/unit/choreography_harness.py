"""An in-memory message network for the choreography saga whose delivery order the test chooses.

No transport, no workers: every service's event log is read directly, and every event is turned
into one pending delivery per consumer group that reads that log (as ``infra.bootstrap`` wires
the real consumers). The test then picks which pending delivery happens next, and may deliver
an already delivered message again, as an at-least-once transport would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from domain.commands import CreateOrder
from handlers.messages import Message
from handlers.routing import NOTIFIER, ROUTES, SERVICE_GROUPS, handler_for
from handlers.services import Services
from infra.bootstrap import build_services
from infra.faults import InMemoryFaults
from infra.log_records import to_message, to_record
from infra.seed import seed
from infra.settings import Settings

ORDER_ID = "order-convergence"
ARRANGE_ATTEMPTS = 3
FINAL_ORDER_EVENTS = frozenset({"OrderCompleted", "OrderCancelled"})
REACTING = sorted(
    {(group, kind) for group, routes in ROUTES.items() for kind in routes.reactions}
    | {(NOTIFIER, kind) for kind in FINAL_ORDER_EVENTS}
)
"""Every kind of delivery (consumer group, message type) that some consumer reacts to."""


def readers_of(source: str) -> tuple[str, ...]:
    """The consumer groups that read ``source``'s log: every other service, and the notifier for orders."""
    groups = tuple(group for group in SERVICE_GROUPS if group != source)
    return (*groups, NOTIFIER) if source == "orders" else groups


@dataclass(frozen=True)
class Delivery:
    group: str
    message: Message

    @property
    def kind(self) -> tuple[str, str]:
        return self.group, self.message.type

    @property
    def reacted_to(self) -> bool:
        return self.kind in REACTING

    def __str__(self) -> str:
        return f"{self.message.type}({self.message.message_id}) -> {self.group}"


@dataclass
class Network:
    """The pending deliveries of one process's services, and what was delivered so far."""

    services: Services
    positions: dict[str, int] = field(default_factory=dict)
    pending: list[Delivery] = field(default_factory=list)
    delivered: list[Delivery] = field(default_factory=list)
    published: list[Message] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    ignored: int = 0

    def __post_init__(self) -> None:
        # What is already in the logs (the seed data) is history, not part of the saga under test:
        # build the network before placing the order.
        for name, app in self.services.by_name().items():
            self.positions.setdefault(name, app.recorder.max_notification_id() or 0)

    def collect(self) -> None:
        """Turns every event saved since the last look into deliveries for the groups reading its log."""
        for name, app in self.services.by_name().items():
            for notification in app.recorder.select_notifications(start=self.positions[name] + 1, limit=1000):
                message = to_message(to_record(app, notification))
                self.positions[name] = notification.id
                self.published.append(message)
                self.pending.extend(Delivery(group, message) for group in readers_of(name))

    def deliver(self, index: int) -> Delivery:
        delivery = self.pending.pop(index)
        self._hand_over(delivery, "deliver")
        self.delivered.append(delivery)
        return delivery

    def requeue(self, index: int) -> None:
        """Puts a copy of a pending delivery back in the pool: it will arrive twice (a lost acknowledgement)."""
        delivery = self.pending[index]
        if delivery.reacted_to:
            self.trace.append(f"requeue {delivery}")
        self.pending.append(delivery)

    def redeliver(self, index: int) -> Delivery:
        delivery = self.delivered[index]
        self._hand_over(delivery, "DUPLICATE")
        return delivery

    def _hand_over(self, delivery: Delivery, how: str) -> None:
        if delivery.reacted_to:
            self.trace.append(f"{how} {delivery}")
        else:  # every consumer ignores it: delivered all the same, but kept out of the story
            self.ignored += 1
        handler_for(delivery.group, self.services)(delivery.message)
        self.collect()

    def run(self, choose: Callable[[Network], tuple[str, int] | None], max_steps: int = 400) -> None:
        """Delivers until nothing is pending; ``choose`` answers ("deliver"|"redeliver", index) or None to stop."""
        self.collect()
        for _ in range(max_steps):
            if not self.pending:
                return
            choice = choose(self)
            if choice is None:
                break
            how, index = choice
            (self.redeliver if how == "redeliver" else self.deliver)(index)
        while self.pending:  # whatever the chooser left, in publication order
            if len(self.delivered) > max_steps * 4:
                raise AssertionError(f"the saga does not quiesce: {len(self.pending)} deliveries still pending")
            self.deliver(0)

    def types_published(self, source: str) -> list[str]:
        return [message.type for message in self.published if message.source == source]


@dataclass(frozen=True)
class Scenario:
    name: str
    customer_id: str
    book_id: str
    price: int
    carrier_outages: int = 0
    quantity: int = 1

    @property
    def total(self) -> int:
        return self.price * self.quantity


def fresh_services() -> tuple[Services, InMemoryFaults]:
    faults = InMemoryFaults()
    services = build_services(Settings(database_url="memory://", retry_backoff_seconds=0), faults)
    seed(services)
    return services, faults


def place_order(services: Services, faults: InMemoryFaults, scenario: Scenario) -> None:
    if scenario.carrier_outages:
        faults.inject("shipping", "fail", scenario.carrier_outages)
    services.orders.create(
        CreateOrder(
            order_id=ORDER_ID,
            customer_id=scenario.customer_id,
            book_id=scenario.book_id,
            quantity=scenario.quantity,
            unit_price=scenario.price,
            total_amount=scenario.total,
            payment_method="credit_card",
            shipping_address="Tokyo",
        ),
        "choreography",
    )


def close(services: Services) -> None:
    for app in services.by_name().values():
        app.close()
