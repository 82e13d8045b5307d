"""Runs a scenario of the catalogue (``handlers/scenarios.py``) on this process's runtime, one at a time.

Faults are queued per service, not per order, so a run owns them while it lasts: it clears them first, queues
its own, and clears what is left once its sagas are over. For the same reason, when a scenario has faults its
styles run one after the other (choreography first, the quicker), each order placed once the previous saga is
over. What follows the placing (the customer's cancel, the duplicate delivery) runs in the background and is
recorded in the event log like everything else, so a client following the saga sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from api.waiting import SagaEnds
from domain.common import ConflictError
from domain.events import COMMAND_DISPATCHED, ORDER_CREATED
from domain.saga import MAX_ATTEMPTS
from handlers import interventions
from handlers.cancel_order import cancel_order
from handlers.place_order import PlaceOrder, place_order
from handlers.routing import SERVICE_GROUPS, wanted_by
from handlers.scenarios import CANCEL, CHOREOGRAPHY, DELIVER_AGAIN, MODES, Scenario
from infra.bootstrap import Runtime
from infra.log_records import read_log, to_message
from infra.tracing import handling_message
from projections import queries
from projections.queries import Row

log = logging.getLogger(__name__)
T = TypeVar("T")
DELIVERED_AGAIN = {CHOREOGRAPHY: ORDER_CREATED, "orchestration": "ProcessPayment"}
"""The message of a completed saga a duplicate-delivery run hands over again, per style."""
UNCHANGED = "stock and money unchanged"


class ScenarioInProgressError(ConflictError):
    def __init__(self, running: str) -> None:
        super().__init__(f"scenario {running!r} is still running; one runs at a time, try again once it is over")


@dataclass(frozen=True)
class Started:
    saga_mode: str
    order_id: str


class ScenarioRuns:
    """The scenario running in this process, if any, and its follow-up in the background."""

    def __init__(self) -> None:
        self.running: str | None = None
        self._follow_up: asyncio.Task[None] | None = None

    async def start(self, scenario: Scenario, modes: list[str], runtime: Runtime, ends: SagaEnds) -> list[Started]:
        """Places the scenario's orders and answers; the rest of the run goes on in the background."""
        if self.running is not None:
            raise ScenarioInProgressError(self.running)
        self.running = scenario.name  # no await since the check: nothing else ran in between
        run = _Run(scenario, runtime, ends)
        try:
            started = await run.place([mode for mode in MODES if mode in modes])
        except BaseException:
            await self._done(run)
            raise
        self._follow_up = asyncio.create_task(self._finish(run, started), name=f"scenario {scenario.name}")
        return started

    async def close(self) -> None:
        if self._follow_up is not None:
            self._follow_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow_up

    async def _finish(self, run: _Run, started: list[Started]) -> None:
        try:
            await run.follow_up(started)
        except Exception:
            log.exception("scenario %s did not finish", run.scenario.name)
        finally:
            await self._done(run)

    async def _done(self, run: _Run) -> None:
        try:
            await asyncio.to_thread(run.runtime.faults.clear)
        finally:
            self.running = None


class _Run:
    def __init__(self, scenario: Scenario, runtime: Runtime, ends: SagaEnds) -> None:
        self.scenario = scenario
        self.runtime = runtime
        self.services = runtime.services
        self.ends = ends
        settings = runtime.settings
        self.deadline = settings.step_timeout_seconds * MAX_ATTEMPTS * 3 + 30
        self.poll = settings.poll_interval_seconds

    async def place(self, modes: list[str]) -> list[Started]:
        await asyncio.to_thread(self._prepare, len(modes))
        started: list[Started] = []
        for mode in modes:
            if started and self.scenario.has_faults:
                await self._over(started[-1].order_id)  # so that this order meets its own faults, not the other's
            started.append(await asyncio.to_thread(self._place, mode))
        return started

    async def follow_up(self, started: list[Started]) -> None:
        scenario = self.scenario
        for run in started:
            hold = scenario.styles[run.saga_mode].hold_step
            if scenario.follow_up == CANCEL and hold:
                await self._until(partial(_in_flight, step=hold), run.order_id)
                await asyncio.to_thread(cancel_order, self.services, run.order_id)
        for run in started:
            await self._over(run.order_id)
        if scenario.follow_up == DELIVER_AGAIN:
            for run in started:
                await asyncio.to_thread(self._deliver_again, run)

    def _prepare(self, orders: int) -> None:
        """No one else's faults; enough stock and money for every order, unless the scenario is their lack."""
        self.runtime.faults.clear()
        scenario = self.scenario
        needed = scenario.quantity * orders
        book = self.services.inventory.book(scenario.book)
        if scenario.restock and book.available < needed:
            self.services.inventory.restock(scenario.book, needed - book.available)
        balance = self.services.payments.account(scenario.customer).balances["credit_card"]
        if scenario.top_up and balance < book.price * needed:
            self.services.payments.add_funds(scenario.customer, "credit_card", book.price * needed - balance)

    def _place(self, mode: str) -> Started:
        scenario, style = self.scenario, self.scenario.styles[mode]
        for fault in style.faults:
            self.runtime.faults.inject(fault.service, fault.kind, fault.times)
        request = PlaceOrder(
            customer_id=scenario.customer,
            book_id=scenario.book,
            quantity=scenario.quantity,
            price=self.services.inventory.catalogue_price(scenario.book),
            payment_method="credit_card",
            shipping_address=f"scenario {scenario.name}",
            saga_mode=mode,
        )
        order_id = place_order(self.services, request).order_id
        log.info("scenario %s: order %s placed (%s)", scenario.name, order_id, mode)
        if scenario.follow_up == CANCEL and style.hold_step is None:
            cancel_order(self.services, order_id)  # before any service could have answered
        return Started(mode, order_id)

    async def _over(self, order_id: str) -> Row:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        while loop.time() < deadline:
            saga = await self.ends.saga(order_id, min(deadline - loop.time(), 60.0))
            if saga is not None and queries.saga_is_over(saga):
                return saga
        raise TimeoutError(f"scenario {self.scenario.name}: the saga of order {order_id} is not over")

    async def _until(self, condition: Callable[[Row], bool], order_id: str) -> Row:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        while loop.time() < deadline:
            saga = await self.runtime.query(queries.saga, order_id)
            if saga is not None and condition(saga):
                return saga
            await asyncio.sleep(self.poll)
        raise TimeoutError(f"scenario {self.scenario.name}: order {order_id} never reached the held step")

    def _deliver_again(self, run: Started) -> None:
        """Hands one message of the finished saga to every service that wants it, as a redelivering broker
        would, then records on the saga that it did and whether stock and money moved."""
        with self.runtime.read() as connection:
            trail = queries.order_trail(connection, run.order_id)
        row = next(row for row in trail if _carries(row, DELIVERED_AGAIN[run.saga_mode]))
        record = next(read_log(self.services.by_name()[row["service"]], row["position"], row["position"]))
        message = to_message(record)
        groups = [group for group in SERVICE_GROUPS if wanted_by(group)(message)]
        before = self._holdings()
        for group in groups:
            with handling_message(message, group):  # its cause and trace, as any delivery's
                self.runtime.quarantine.handlers[group](message)
        after = self._holdings()
        verdict = UNCHANGED if after == before else f"stock and money CHANGED: {before} became {after}"
        what = f"{message.type} ({record.message_id}) delivered again to {', '.join(groups)}"
        interventions.redriven(self.services, run.order_id, f"duplicate-delivery scenario: {what}: {verdict}")
        log.info("scenario %s: order %s: %s: %s", self.scenario.name, run.order_id, what, verdict)

    def _holdings(self) -> tuple[object, ...]:
        book = self.services.inventory.book(self.scenario.book)
        account = self.services.payments.account(self.scenario.customer)
        return book.available, book.reserved, book.sold, dict(account.balances)


def _in_flight(saga: Row, step: str) -> bool:
    return any(s.get("step") == step and s["status"] == "IN_PROGRESS" for s in saga["steps"])


def _carries(row: Row, message_type: str) -> bool:
    if row["event_type"] == COMMAND_DISPATCHED:
        return bool(row["payload"].get("command") == message_type)
    return bool(row["event_type"] == message_type)
