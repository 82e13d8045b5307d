"""``saga_instances``: the orchestrator's state machine as it moved, and the same view of a
choreography derived from what the services did (there is no controller to ask)."""

from __future__ import annotations

from typing import Any

from domain.common import SagaMode
from domain.saga import COMPENSATION_STARTED, COMPENSATIONS, FINISHING, STARTED, OrderSaga
from handlers.messages import Envelope, iso
from projections.projection import Change, Fold, Projection, Row, Rows, order_of
from projections.tables import saga_instances

SAGAS = Rows(saga_instances, "order_id")

COMPENSATING = "COMPENSATING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
_STEP_KINDS = {**{s.name: "finishing" for s in FINISHING}, **{s.name: "compensation" for s in COMPENSATIONS}}

_FAILURES = frozenset({"StockUnavailable", "PaymentFailed", "ShippingFailed", "OrderCancelled"})
_STOCK_SETTLED = frozenset({"StockReleased", "ReservationVoided", "StockUnavailable"})
_PAYMENT_SETTLED = frozenset({"PaymentRefunded", "PaymentVoided", "PaymentFailed"})
CHOREOGRAPHY_EVENTS = (
    _FAILURES
    | _STOCK_SETTLED
    | _PAYMENT_SETTLED
    | frozenset(
        {
            "OrderCreated",
            "OrderCompleted",
            "StockReserved",
            "StockSold",
            "PaymentCompleted",
            "ShipmentPrerequisiteMet",
            "ShippingArranged",
            "ShipmentAborted",
            "ShipmentCancelled",
        }
    )
)


def _new(record: Envelope, saga_type: str, order: dict[str, Any]) -> dict[str, Any]:
    at = iso(record.occurred_at)
    return {
        "id": str(OrderSaga.create_id(record.order_id)),
        "order_id": record.order_id,
        "saga_type": saga_type,
        "status": STARTED,
        "current_step": None,
        "payload": order,
        "history": [{"state": STARTED, "at": at}],
        "steps": [],
        "facts": [],
        "reason": None,
        "due_at": None,
        "created_at": at,
    }


def _step(saga: dict[str, Any], name: str) -> dict[str, Any]:
    return next(step for step in reversed(saga["steps"]) if step["step"] == name)


def _orchestrated(change: Any) -> Fold:
    """Lets ``change`` edit the orchestration saga, if there is one yet."""

    def fold(saga: dict[str, Any] | None, record: Envelope) -> dict[str, Any] | None:
        if saga is not None:
            change(saga, record.payload, iso(record.occurred_at))
        return saga

    return fold


def saga_started(saga: dict[str, Any] | None, record: Envelope) -> dict[str, Any]:
    return saga or _new(record, SagaMode.ORCHESTRATION.value, record.payload["order"])


def _state_changed(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    if p["state"] == COMPENSATION_STARTED:
        for step in saga["steps"]:
            if step["status"] in ("IN_PROGRESS", "TIMED_OUT"):
                step.update(status="ABANDONED", endedAt=at)
    saga["status"] = p["state"]
    saga["history"].append({"state": p["state"], "at": at, **({"reason": p["reason"]} if p["reason"] else {})})
    saga["current_step"] = p["next_steps"][0] if p["next_steps"] else None
    saga["reason"] = p["reason"] or saga["reason"]
    saga["due_at"] = None


def _dispatched(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    if p["attempt"] == 1:
        saga["steps"].append(
            {
                "step": p["step"],
                "kind": _STEP_KINDS.get(p["step"], "forward"),
                "command": p["command"],
                "service": p["service"],
                "status": "IN_PROGRESS",
                "attempts": 1,
                "startedAt": at,
            }
        )
    else:
        _step(saga, p["step"]).update(status="IN_PROGRESS", attempts=p["attempt"])
    saga["current_step"] = p["step"]
    saga["due_at"] = iso(p["deadline"])


def _settled(status: str) -> Any:
    def change(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
        _step(saga, p["step"]).update(status=status, endedAt=at, **({"reason": p["reason"]} if "reason" in p else {}))
        saga["due_at"] = None
        if saga["current_step"] == p["step"]:
            saga["current_step"] = None

    return change


def _timed_out(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    _step(saga, p["step"]).update(status="TIMED_OUT")
    saga["due_at"] = iso(p["retry_at"])


def choreography_event(saga: dict[str, Any] | None, record: Envelope) -> dict[str, Any] | None:
    """Adds the event to the saga's steps, then derives the rest from the steps in time order, so that
    the row is the same whichever service's event the projector happened to read first."""
    if record.saga_mode != SagaMode.CHOREOGRAPHY.value:
        return saga
    saga = saga or _new(record, SagaMode.CHOREOGRAPHY.value, {})
    if record.type == "OrderCreated":
        saga["payload"] = {k: v for k, v in record.payload.items() if k != "saga_mode"}
    step = {"service": record.source, "event": record.type, "at": iso(record.occurred_at)}
    if record.payload.get("reason") and record.type in _FAILURES:
        step["reason"] = f"{record.type}: {record.payload['reason']}"
    steps = sorted([*saga["steps"], step], key=lambda s: (s["at"], s["service"], s["event"]))
    status, history, facts = STARTED, [{"state": STARTED, "at": steps[0]["at"]}], set()
    for earlier in steps:
        facts.add(earlier["event"])
        if (now := _choreography_status(facts)) != status:
            status = now
            history.append({"state": status, "at": earlier["at"]})
    saga.update(
        steps=steps,
        facts=sorted(facts),
        status=status,
        history=history,
        current_step=steps[-1]["event"],
        reason=next((s["reason"] for s in steps if "reason" in s), None),
        created_at=steps[0]["at"],
    )
    return saga


def _choreography_status(facts: set[str]) -> str:
    if "OrderCompleted" in facts and "StockSold" in facts:
        return COMPLETED
    if "OrderCancelled" in facts and facts & _STOCK_SETTLED and facts & _PAYMENT_SETTLED:
        return FAILED
    return COMPENSATING if facts & _FAILURES else STARTED


FOLDS: dict[str, Fold] = {
    **{event_type: choreography_event for event_type in CHOREOGRAPHY_EVENTS},
    "SagaStarted": saga_started,
    "SagaStateChanged": _orchestrated(_state_changed),
    "CommandDispatched": _orchestrated(_dispatched),
    "StepSucceeded": _orchestrated(_settled("SUCCEEDED")),
    "StepFailed": _orchestrated(_settled("FAILED")),
    "StepTimedOut": _orchestrated(_timed_out),
}


def _touched(fold: Fold) -> Change:
    def touch(saga: Row | None, record: Envelope) -> Row | None:
        saga = fold(saga, record)
        if saga is not None:
            saga["updated_at"] = max(saga.get("updated_at") or "", iso(record.occurred_at))
        return saga

    return Change(SAGAS, order_of, touch)


projection = Projection("sagas", (saga_instances,), {event_type: _touched(fold) for event_type, fold in FOLDS.items()})
