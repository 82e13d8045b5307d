"""The operator's way out: what the consumers parked, and what to do with a STUCK saga."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from api.deps import AdminDep, RuntimeDep
from api.errors import responses
from api.intervention_schemas import DeadLetter, DeadLetterPage, InterventionAccepted, InterventionRequest
from api.validation import MAX_OFFSET, PRINTABLE, OrderIdPath
from handlers.interventions import Recorded, saga_mode_of
from infra.bootstrap import Runtime
from infra.dead_letters import dead_letter_view

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[AdminDep],
    responses=responses(401, 413, 503),
)
DeadLetterId = Annotated[int, Path(alias="deadLetterId", ge=1, le=2**53 - 1)]
_READ = responses(404, 422, described={404: "no such dead letter"})
_SETTLE = responses(
    403,
    404,
    409,
    422,
    described={404: "no such dead letter", 409: "no longer parked, or it failed again (it stays parked)"},
)
_SAGA_ERRORS = responses(
    400,
    403,
    404,
    409,
    422,
    described={404: "no such order", 409: "not applicable to the saga as it stands", 422: "no valid reason given"},
)


@router.get("/dead-letters", operation_id="listDeadLetters", response_model=DeadLetterPage, responses=responses(422))
def list_dead_letters(
    runtime: RuntimeDep,
    consumer: Annotated[str | None, Query(min_length=1, max_length=80, pattern=PRINTABLE)] = None,
    order_id: Annotated[str | None, Query(alias="orderId", min_length=1, max_length=64, pattern=PRINTABLE)] = None,
    status_: Annotated[Literal["PARKED", "REDRIVEN", "DISCARDED"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, object]:
    """What every consumer parked, oldest first: log consumers, Redis, RabbitMQ and the read models."""
    rows, total = runtime.quarantine.store.page(consumer, order_id, status_, limit, offset)
    return {"items": [dead_letter_view(row) for row in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/dead-letters/{deadLetterId}", operation_id="getDeadLetter", response_model=DeadLetter, responses=_READ)
def get_dead_letter(dead_letter_id: DeadLetterId, runtime: RuntimeDep) -> dict[str, object]:
    return dead_letter_view(runtime.quarantine.store.get(dead_letter_id))


@router.post(
    "/dead-letters/{deadLetterId}/redrive",
    operation_id="redriveDeadLetter",
    response_model=DeadLetter,
    responses=_SETTLE,
)
async def redrive(dead_letter_id: DeadLetterId, runtime: RuntimeDep) -> dict[str, object]:
    """Hands the message to its consumer's handler again. Handled: it is REDRIVEN and its saga goes on."""
    return dead_letter_view(await run_in_threadpool(runtime.quarantine.redrive, dead_letter_id))


@router.post(
    "/dead-letters/{deadLetterId}/discard",
    operation_id="discardDeadLetter",
    response_model=DeadLetter,
    responses=_SETTLE,
)
async def discard(dead_letter_id: DeadLetterId, runtime: RuntimeDep) -> dict[str, object]:
    """Drops a parked message for good (it stays listed, DISCARDED)."""
    return dead_letter_view(await run_in_threadpool(runtime.quarantine.discard, dead_letter_id))


_SAGA_ROUTE = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": InterventionAccepted,
    "responses": _SAGA_ERRORS,
    "tags": ["admin", "sagas"],
}


@router.post("/sagas/{orderId}/retry", operation_id="retrySaga", **_SAGA_ROUTE)  # type: ignore[arg-type]
async def retry_saga(
    order_id: OrderIdPath, body: InterventionRequest, runtime: RuntimeDep, response: Response
) -> InterventionAccepted:
    """Orchestration sends the current step again, as a new attempt; choreography redrives the order's
    parked messages."""
    return await _intervene(runtime, runtime.quarantine.retry_saga, "retry", order_id, body, response)


@router.post("/sagas/{orderId}/compensate", operation_id="compensateSaga", **_SAGA_ROUTE)  # type: ignore[arg-type]
async def compensate_saga(
    order_id: OrderIdPath, body: InterventionRequest, runtime: RuntimeDep, response: Response
) -> InterventionAccepted:
    """Gives up on the saga: orchestration undoes the completed steps in reverse order, as a cancel does;
    choreography cancels the order, and every service undoes its part."""
    return await _intervene(runtime, runtime.quarantine.compensate_saga, "compensate", order_id, body, response)


@router.post("/sagas/{orderId}/resume", operation_id="resumeSaga", **_SAGA_ROUTE)  # type: ignore[arg-type]
async def resume_saga(
    order_id: OrderIdPath, body: InterventionRequest, runtime: RuntimeDep, response: Response
) -> InterventionAccepted:
    """Clears the STUCK mark and lets the saga go on (an orchestration step in flight is due at once)."""
    return await _intervene(runtime, runtime.quarantine.resume_saga, "resume", order_id, body, response)


async def _intervene(
    runtime: Runtime,
    act: Callable[[str, str], Recorded],
    action: Literal["retry", "compensate", "resume"],
    order_id: str,
    body: InterventionRequest,
    response: Response,
) -> InterventionAccepted:
    """Records the intervention and answers once the saga's read model shows it."""
    source, position = await run_in_threadpool(act, order_id, body.reason)
    await runtime.caught_up(source, position)
    mode = await run_in_threadpool(saga_mode_of, runtime.services, order_id)
    response.headers["Location"] = f"/sagas/{order_id}"
    return InterventionAccepted(order_id=order_id, saga_type=mode.value, action=action, reason=body.reason)
