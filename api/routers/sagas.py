"""The list of sagas, both styles, newest first: what a saga explorer pages through."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import CallerDep
from api.deps import ReadDep
from api.errors import responses
from api.schemas import SagaPage, SagaStatus
from api.validation import MAX_OFFSET
from domain.common import SagaMode
from projections import queries
from projections.sagas import compensations_of, ended_at, retries_of

router = APIRouter(tags=["sagas"])


@router.get("/sagas", operation_id="listSagas", response_model=SagaPage, responses=responses(401, 422, 503))
def list_sagas(
    caller: CallerDep,
    connection: ReadDep,
    saga_type: Annotated[SagaMode | None, Query(alias="sagaType")] = None,
    status_: Annotated[SagaStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, object]:
    """Sagas of both styles, newest first; a customer sees only those of their own orders."""
    rows, total = queries.sagas_page(connection, caller.customer_id, saga_type, status_, limit, offset)
    return {"items": [_summary(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def _summary(saga: queries.Row) -> dict[str, object]:
    ended = ended_at(saga)
    duration = None if ended is None else round((ended - saga["created_at"]).total_seconds() * 1000)
    return {
        **saga,
        "duration_ms": duration if duration is None else max(duration, 0),
        "retries": retries_of(saga),
        "compensations": compensations_of(saga),
    }
