"""``saga_instances``: the orchestrator's state machine as it moved, and the same view of a
choreography derived from what the services did (there is no controller to ask).

A saga one of whose messages was parked shows as STUCK, with the reason, until it moves on or an
operator intervenes; both show in its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import events
from domain.common import SagaMode
from domain.saga import COMPENSATION_STARTED, COMPENSATIONS, FINISHING, FORWARD_FAILURES, STARTED, STUCK, OrderSaga
from handlers.messages import Record, iso
from projections.projection import Change, Fold, Projection, Rows, order_of
from projections.queries import Row
from projections.tables import saga_instances

SAGAS = Rows(saga_instances, "order_id")

COMPENSATING = "COMPENSATING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
# how an orchestration step went, and what kind of step it is
IN_PROGRESS, TIMED_OUT, SUCCEEDED, STEP_FAILED, ABANDONED = (
    "IN_PROGRESS",
    "TIMED_OUT",
    "SUCCEEDED",
    "FAILED",
    "ABANDONED",
)
FORWARD, FINISHING_STEP, COMPENSATION = "forward", "finishing", "compensation"
_STEP_KINDS = {**{s.name: FINISHING_STEP for s in FINISHING}, **{s.name: COMPENSATION for s in COMPENSATIONS}}

SAGA_STUCK = "SagaStuck"
SAGA_INTERVENED = "SagaIntervened"
_MARKS = frozenset({SAGA_STUCK, SAGA_INTERVENED})
# A choreography's status is read from the same facts the orchestration saga's steps wait for.
_COMPENSATED_BY = {step.name: step.done_by for step in COMPENSATIONS}
_FAILURES = FORWARD_FAILURES | {events.ORDER_CANCELLED}
_STOCK_SETTLED = _COMPENSATED_BY["release_stock"]
_PAYMENT_SETTLED = _COMPENSATED_BY["refund_payment"]
_SHIPPING_SETTLED = _COMPENSATED_BY["cancel_shipment"]
CHOREOGRAPHY_EVENTS = (
    _FAILURES
    | _STOCK_SETTLED
    | _PAYMENT_SETTLED
    | _SHIPPING_SETTLED
    | frozenset(
        {
            events.ORDER_CREATED,
            events.ORDER_COMPLETED,
            events.STOCK_RESERVED,
            events.STOCK_SOLD,
            events.PAYMENT_COMPLETED,
            "ShipmentPrerequisiteMet",
            events.SHIPPING_ARRANGED,
            events.SHIPMENT_ABORTED,
            events.SHIPMENT_CANCELLED,
        }
    )
)


def _new(record: Record, saga_type: str, order: dict[str, Any]) -> dict[str, Any]:
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
        "created_at": record.occurred_at,
    }


def _step(saga: dict[str, Any], name: str) -> dict[str, Any]:
    return next(step for step in reversed(saga["steps"]) if step["step"] == name)


def _orchestrated(change: Any) -> Fold:
    """Lets ``change`` edit the orchestration saga, if there is one yet."""

    def fold(saga: dict[str, Any] | None, record: Record) -> dict[str, Any] | None:
        if saga is not None:
            change(saga, record.payload, iso(record.occurred_at))
        return saga

    return fold


def saga_started(saga: dict[str, Any] | None, record: Record) -> dict[str, Any]:
    return saga or _new(record, SagaMode.ORCHESTRATION.value, record.payload["order"])


def _state_changed(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    _unstuck(saga)
    if p["state"] == COMPENSATION_STARTED:
        for step in saga["steps"]:
            if step["status"] in (IN_PROGRESS, TIMED_OUT):
                step.update(status=ABANDONED, endedAt=at)
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
                "kind": _STEP_KINDS.get(p["step"], FORWARD),
                "command": p["command"],
                "service": p["service"],
                "status": IN_PROGRESS,
                "attempts": 1,
                "startedAt": at,
            }
        )
    else:
        _step(saga, p["step"]).update(status=IN_PROGRESS, attempts=p["attempt"])
    saga["current_step"] = p["step"]
    saga["due_at"] = p["deadline"]


def _settled(status: str) -> Any:
    def change(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
        _unstuck(saga)
        _step(saga, p["step"]).update(status=status, endedAt=at, **({"reason": p["reason"]} if "reason" in p else {}))
        saga["due_at"] = None
        if saga["current_step"] == p["step"]:
            saga["current_step"] = None

    return change


def _timed_out(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    _step(saga, p["step"]).update(status=TIMED_OUT)
    saga["due_at"] = p["retry_at"]


def _stuck(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    """Shows STUCK and why; what it showed before is kept in the entry, for when it moves on."""
    was = _last_stuck(saga)["was"] if saga["status"] == STUCK else [saga["status"], saga["reason"]]
    saga["history"].append({"state": STUCK, "at": at, "reason": p["reason"], "was": was})
    saga.update(status=STUCK, reason=p["reason"], due_at=None)


def _unstuck(saga: dict[str, Any]) -> None:
    if saga["status"] == STUCK:
        saga["status"], saga["reason"] = _last_stuck(saga)["was"]


def _last_stuck(saga: dict[str, Any]) -> dict[str, Any]:
    return next(entry for entry in reversed(saga["history"]) if entry["state"] == STUCK)


def _intervened(saga: dict[str, Any], p: dict[str, Any], at: str) -> None:
    _unstuck(saga)
    saga["history"].append({"state": saga["status"], "at": at, "reason": _intervention(p)})
    if p["deadline"] is not None:
        saga["due_at"] = p["deadline"]


def _intervention(p: dict[str, Any]) -> str:
    return f"{p['action']} by operator: {p['reason']}"


def choreography_event(saga: dict[str, Any] | None, record: Record) -> dict[str, Any] | None:
    """Adds the event to the saga's steps, then derives the rest from the steps in time order, so that
    the row is the same whichever service's event the projector happened to read first."""
    if record.saga_mode != SagaMode.CHOREOGRAPHY.value:
        return saga
    saga = saga or _new(record, SagaMode.CHOREOGRAPHY.value, {})
    if record.type == events.ORDER_CREATED:
        saga["payload"] = {k: v for k, v in record.payload.items() if k != "saga_mode"}
    step = {"service": record.source, "event": record.type, "at": iso(record.occurred_at)}
    if record.payload.get("reason") and record.type in _FAILURES:
        step["reason"] = f"{record.type}: {record.payload['reason']}"
    if record.type in _MARKS:
        p = record.payload
        step["note"] = _intervention(p) if record.type == SAGA_INTERVENED else p["reason"]
    steps = sorted([*saga["steps"], step], key=lambda s: (s["at"], s["service"], s["event"]))
    saga.update(steps=steps, created_at=datetime.fromisoformat(steps[0]["at"]), **_choreography_derived(steps))
    return saga


def _choreography_derived(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Status, history and the rest, from the services' events in time order. A STUCK mark shows until an
    operator intervenes or the saga is over."""
    status, history, facts, stuck = STARTED, [{"state": STARTED, "at": steps[0]["at"]}], set(), None
    for step in steps:
        if step["event"] == SAGA_STUCK:
            stuck = step["note"]
        elif step["event"] == SAGA_INTERVENED:
            stuck = None
        else:
            facts.add(step["event"])
        underlying = _choreography_status(facts)
        shown = STUCK if stuck and underlying not in (COMPLETED, FAILED) else underlying
        if step["event"] == SAGA_INTERVENED or (step["event"] == SAGA_STUCK and shown == STUCK):
            history.append({"state": shown, "at": step["at"], "reason": step["note"]})
        elif shown != status:
            history.append({"state": shown, "at": step["at"]})
        status = shown
    failure = next((s["reason"] for s in steps if "reason" in s), None)
    return {
        "facts": sorted(facts),
        "status": status,
        "history": history,
        "current_step": next((s["event"] for s in reversed(steps) if s["event"] not in _MARKS), None),
        "reason": stuck if status == STUCK else failure,
    }


def _choreography_status(facts: set[str]) -> str:
    """Failed only once every service has settled its side: each compensates on its own, in any order, and
    a saga shown as over must not have a compensation still on its way."""
    if events.ORDER_COMPLETED in facts and events.STOCK_SOLD in facts:
        return COMPLETED
    settled = (_STOCK_SETTLED, _PAYMENT_SETTLED, _SHIPPING_SETTLED)
    if events.ORDER_CANCELLED in facts and all(facts & side for side in settled):
        return FAILED
    return COMPENSATING if facts & _FAILURES else STARTED


def _either(orchestrated: Fold) -> Fold:
    """For the events both styles record (the order's in choreography, the saga's in orchestration)."""

    def fold(saga: dict[str, Any] | None, record: Record) -> dict[str, Any] | None:
        if record.saga_mode == SagaMode.CHOREOGRAPHY.value:
            return choreography_event(saga, record)
        return orchestrated(saga, record)

    return fold


FOLDS: dict[str, Fold] = {
    **{event_type: choreography_event for event_type in CHOREOGRAPHY_EVENTS},
    SAGA_STUCK: _either(_orchestrated(_stuck)),
    SAGA_INTERVENED: _either(_orchestrated(_intervened)),
    "SagaStarted": saga_started,
    "SagaStateChanged": _orchestrated(_state_changed),
    "CommandDispatched": _orchestrated(_dispatched),
    "StepSucceeded": _orchestrated(_settled(SUCCEEDED)),
    "StepFailed": _orchestrated(_settled(STEP_FAILED)),
    "StepTimedOut": _orchestrated(_timed_out),
}


def _touched(fold: Fold) -> Change:
    def touch(saga: Row | None, record: Record) -> Row | None:
        saga = fold(saga, record)
        if saga is not None:
            saga["updated_at"] = max(saga.get("updated_at") or record.occurred_at, record.occurred_at)
        return saga

    return Change(SAGAS, order_of, touch)


projection = Projection("sagas", (saga_instances,), {event_type: _touched(fold) for event_type, fold in FOLDS.items()})


# What a saga list shows of each saga: the compensations that ran, the retries, how long it took.
COMPENSATING_EVENTS = {event: step.name for step in COMPENSATIONS for event in step.done_by - FORWARD_FAILURES}


def compensations_of(saga: Row) -> list[str]:
    """The compensations that ran: the orchestrator's compensation steps in the order it sent them; in a
    choreography, the services' compensating events in time order (nobody orders them)."""
    if saga["saga_type"] == SagaMode.ORCHESTRATION.value:
        return [step["step"] for step in saga["steps"] if step["kind"] == COMPENSATION]
    ran = (COMPENSATING_EVENTS.get(step["event"]) for step in saga["steps"])
    return list(dict.fromkeys(name for name in ran if name))


def retries_of(saga: Row) -> int:
    """Orchestration steps sent again (after a timeout, or by an operator); a choreography's services retry
    inside one step and record only its outcome."""
    return sum(step.get("attempts", 1) - 1 for step in saga["steps"])


def ended_at(saga: Row) -> datetime | None:
    """When its last step ended, once it is over (an operator's later note does not count)."""
    if saga["status"] not in (COMPLETED, FAILED) or (
        saga["saga_type"] == SagaMode.ORCHESTRATION.value and saga["current_step"]
    ):
        return None
    steps = [step for step in saga["steps"] if step.get("event") not in _MARKS]
    moments = [step.get("endedAt") or step.get("startedAt") or step.get("at") for step in steps]
    moments += [entry["at"] for entry in saga["history"] if entry["state"] == saga["status"]][:1]
    return max(datetime.fromisoformat(at) for at in moments if at)
