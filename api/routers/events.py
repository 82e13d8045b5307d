from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import ReadDep, RuntimeDep
from api.schemas import EventPage, EventRecord
from infra.bootstrap import Runtime
from projections import queries

router = APIRouter(tags=["events"])
TypeFilter = Annotated[str | None, Query(alias="type", max_length=64)]
AggregateFilter = Annotated[str | None, Query(alias="aggregateId", max_length=64)]
STREAM_PAGE = 100


@router.get("/events", response_model=EventPage)
def list_events(
    connection: ReadDep,
    after: Annotated[int, Query(ge=0, description="only events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type_: TypeFilter = None,
    aggregate_id: AggregateFilter = None,
) -> dict[str, object]:
    """Every service's events in one stream, oldest first; page with ``after=nextAfter``."""
    rows = queries.events(connection, after, limit, type_, aggregate_id)
    return {"events": [EventRecord.of(row) for row in rows], "next_after": rows[-1]["id"] if rows else after}


@router.get(
    "/events/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "one SSE event per stored event"}},
)
async def stream_events(
    runtime: RuntimeDep,
    after: Annotated[int | None, Query(ge=0, description="start after this id (default: only new events)")] = None,
    type_: TypeFilter = None,
    aggregate_id: AggregateFilter = None,
    order_id: Annotated[str | None, Query(alias="orderId", max_length=64)] = None,
    last_event_id: Annotated[int | None, Header(ge=0, description="a reconnecting client resumes after it")] = None,
) -> EventSourceResponse:
    """New events as Server-Sent Events as they are recorded: ``id`` is the event's place in ``GET /events``,
    ``event`` its type, ``data`` the same record as there. A reconnecting client resumes after ``Last-Event-ID``."""
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await runtime.query(queries.last_event_id)
    return EventSourceResponse(_tail(runtime, start, type_, aggregate_id, order_id), ping=15)


async def _tail(runtime: Runtime, after: int, *filters: str | None) -> AsyncIterator[ServerSentEvent]:
    pause = max(runtime.settings.poll_interval_seconds, 0.25)
    while True:
        rows = await runtime.query(queries.events, after, STREAM_PAGE, *filters)
        for row in rows:
            record = EventRecord.of(row).model_dump_json(by_alias=True)
            yield ServerSentEvent(record, id=str(row["id"]), event=row["event_type"])
        if rows:
            after = rows[-1]["id"]
        else:
            await asyncio.sleep(pause)
