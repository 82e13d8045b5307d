"""The operator's way out: parked messages put back or dropped, STUCK sagas marked and moved on.

A ``StuckMarker`` runs in the process that keeps a saga's store (the orchestrator's for
orchestration, the order service's for choreography) and marks STUCK the sagas whose messages were
parked, since the consumer that parked one may run in a worker that has neither store. The
``Quarantine`` is what the admin routes call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from domain.common import ConflictError, SagaMode
from handlers import interventions
from handlers.interventions import Recorded
from handlers.messages import Message, Record
from handlers.retry import MalformedMessageError
from handlers.services import Services
from handlers.services.base import Service
from infra.dead_letters import (
    DISCARDED,
    LOG,
    PARKED,
    REDRIVEN,
    DeadLetters,
    NotParkedError,
    Undelivered,
    decoded,
    describe,
)
from infra.log_records import to_message, to_record
from infra.read_database import PROJECTOR, hold_read_models
from projections.projection import Projection
from projections.queries import Row

log = logging.getLogger(__name__)


class RedriveFailedError(ConflictError):
    def __init__(self, dead_letter_id: int, error: BaseException) -> None:
        super().__init__(f"dead letter {dead_letter_id} failed again and stays parked: {describe(error)}")


class NothingParkedError(ConflictError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no message of order {order_id} is parked: there is nothing to retry")


class Quarantine:
    """Parks what consumers give up on and puts it back on an operator's word; the operator's saga interventions.

    ``handlers`` are the consumer groups' handlers (``orders`` … ``orchestrator``, ``notifier``), the
    same ones the consumers call; ``projections`` the projector's read models, by name.
    """

    def __init__(
        self,
        store: DeadLetters,
        services: Services,
        handlers: Mapping[str, Callable[[Message], None]],
        projections: Mapping[str, Projection],
    ) -> None:
        self.store = store
        self.services = services
        self.handlers = handlers
        self.projections = projections
        self.sources: Mapping[str, Service] = services.by_name()

    def park(self, undelivered: Undelivered) -> int:
        """Parks the message (a ``StuckMarker`` marks its saga); raises only if it could not be parked."""
        dead_letter_id = self.store.add(undelivered)
        log.error(
            "%s parked %s %s of order %s as dead letter %d after %d attempt(s): %s",
            undelivered.consumer,
            undelivered.message.type if undelivered.message else "an unreadable message",
            undelivered.message.message_id if undelivered.message else "",
            undelivered.order_id,
            dead_letter_id,
            undelivered.attempts,
            describe(undelivered.error),
        )
        return dead_letter_id

    def redrive(self, dead_letter_id: int) -> Row:
        """Hands a parked message to its consumer's handler again; parked it stays if that fails. The saga
        records the redrive first, so that its history reads in order."""
        parked = self.store.get(dead_letter_id)
        if parked["status"] != PARKED:
            raise NotParkedError(dead_letter_id, parked["status"])
        order_id = parked["order_id"] if not _of_a_read_model(parked) else None
        if order_id:
            interventions.redriven(self.services, order_id, f"dead letter {dead_letter_id} redriven")
        settled = self._redeliver_or_stick(parked)
        if order_id and (still_parked := self.store.parked_of(order_id)):
            self.store.to_mark_again(still_parked[0]["id"])
        return settled

    def discard(self, dead_letter_id: int) -> Row:
        return self.store.settle(dead_letter_id, DISCARDED)

    def retry_saga(self, order_id: str, reason: str) -> Recorded:
        """Orchestration sends the current step again; choreography redrives the order's parked messages."""
        if interventions.saga_mode_of(self.services, order_id) == SagaMode.ORCHESTRATION:
            return interventions.retry(self.services, order_id, reason)
        parked = self.store.parked_of(order_id)
        if not parked:
            raise NothingParkedError(order_id)
        recorded = interventions.retry(self.services, order_id, reason)
        for dead_letter in parked:
            self._redeliver_or_stick(dead_letter)
        return recorded

    def compensate_saga(self, order_id: str, reason: str) -> Recorded:
        return interventions.compensate(self.services, order_id, reason)

    def resume_saga(self, order_id: str, reason: str) -> Recorded:
        return interventions.resume(self.services, order_id, reason)

    def _redeliver_or_stick(self, parked: Row) -> Row:
        """Redelivers; if the handler fails again, the dead letter says so and its saga is STUCK again."""
        try:
            return self._redeliver(parked)
        except NotParkedError:  # someone else redrove or discarded it meanwhile
            raise
        except Exception as error:  # the handler's own failure: the operator sees it, the message stays parked
            self.store.failed_again(parked["id"], error)
            raise RedriveFailedError(parked["id"], error) from None

    def _redeliver(self, parked: Row) -> Row:
        """Runs the parked message through its consumer again and marks it redriven."""
        consumer: str = parked["consumer"]
        if _of_a_read_model(parked):
            projection = self.projections[consumer.removeprefix(f"{PROJECTOR}:")]
            with self.store.engine.begin() as connection:
                hold_read_models(connection)
                projection.apply(connection, [self._record(parked)])
                return self.store.settle(parked["id"], REDRIVEN, connection)
        message = to_message(self._record(parked)) if parked["transport"] == LOG else decoded(parked["body"])
        self.handlers[handler_of(consumer)](message)
        return self.store.settle(parked["id"], REDRIVEN)

    def _record(self, parked: Row) -> Record:
        """The event as its service stored it, read again from its log (the body may have lost detail)."""
        source, position = self.sources.get(parked["source"] or ""), parked["position"]
        notifications = source.recorder.select_notifications(start=position, limit=1) if source else []
        if not notifications or notifications[0].id != position:
            raise MalformedMessageError(f"{parked['source']} has no event at position {position}")
        return to_record(source, notifications[0])  # type: ignore[arg-type]


@dataclass
class StuckMarker:
    """Marks STUCK the sagas of one style whose messages were parked, from the process that keeps their store."""

    store: DeadLetters
    services: Services
    saga_mode: str

    @property
    def name(self) -> str:
        return f"stuck-marker:{_MARKER_ROLES[self.saga_mode]}"

    def step(self) -> int:
        """How many sagas it marked. One it could not mark is tried again when the marker next looks on its own
        (``CLOUDMART_IDLE_POLL_SECONDS``), not at once: whatever failed (the saga's store, say) may take a while."""
        marked = 0
        for dead_letter in self.store.claim_unmarked(self.saga_mode):
            try:
                interventions.mark_stuck(
                    self.services, dead_letter["order_id"], stuck_reason(dead_letter), dead_letter["id"]
                )
                marked += 1
            except Exception:  # the dead letter is listed meanwhile
                log.exception("could not mark the saga of order %s STUCK", dead_letter["order_id"])
                self.store.to_mark_again(dead_letter["id"])
        return marked


_MARKER_ROLES = {SagaMode.ORCHESTRATION.value: "orchestrator", SagaMode.CHOREOGRAPHY.value: "orders"}


def stuck_reason(dead_letter: Row) -> str:
    what = dead_letter["message_type"] or "a message it could not read"
    return (
        f"{dead_letter['consumer']} could not handle {what}: {dead_letter['error_type']}: {dead_letter['error'][:300]}"
    )


def _of_a_read_model(dead_letter: Row) -> bool:
    return str(dead_letter["consumer"]).startswith(f"{PROJECTOR}:")


def handler_of(consumer: str) -> str:
    """The consumer group whose handler a consumer calls: ``redis:payments``, ``rabbitmq:commands.payments``
    and ``payments`` are all payments'; ``rabbitmq:replies`` is the orchestrator's."""
    group = consumer.split(":", 1)[-1].removeprefix("commands.")
    return "orchestrator" if group == "replies" else group
