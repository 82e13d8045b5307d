from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadDep
from api.schemas import EventPage
from infra.messaging import camel_keys
from projections import queries

router = APIRouter(tags=["events"])


@router.get("/events", response_model=EventPage)
def list_events(
    connection: ReadDep,
    after: Annotated[int, Query(ge=0, description="only events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type_: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    aggregate_id: Annotated[str | None, Query(alias="aggregateId", max_length=64)] = None,
) -> dict[str, object]:
    """Every service's events in one stream, oldest first; page with ``after=nextAfter``."""
    rows = queries.events(connection, after, limit, type_, aggregate_id)
    events = [{**row, "payload": camel_keys(row["payload"])} for row in rows]
    return {"events": events, "next_after": rows[-1]["id"] if rows else after}
