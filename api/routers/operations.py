"""Health, readiness, metrics, and the admin switchboard for breaking things on purpose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import AdminDep, RuntimeDep
from api.schemas import ConsumerState, FaultRequest, Faults, ProjectionName, Readiness, ReplayReport

router = APIRouter(tags=["operations"])
admin = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[AdminDep],
    responses={401: {"description": "missing or wrong bearer token"}},
)


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(runtime: RuntimeDep) -> JSONResponse:
    """Ready when the read models, every service's event store and each configured broker answer, and every
    consumer of this process works; 503 while any of them is down, naming it and why."""
    checks = await runtime.health()
    consumers = {
        name: ConsumerState(status="up")
        if health.is_up
        else ConsumerState(status="down", reason=health.problem, down_since=health.down_since)
        for name, health in runtime.consumers().items()
    }
    down = [name for name, value in checks.items() if value != "ok"]
    down += [name for name, state in consumers.items() if state.status == "down"]
    readiness = Readiness(status="unavailable" if down else "ready", checks=checks, consumers=consumers, down=down)
    code = status.HTTP_503_SERVICE_UNAVAILABLE if down else status.HTTP_200_OK
    return JSONResponse(readiness.model_dump(mode="json", by_alias=True), status_code=code)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@admin.post("/faults", response_model=Faults, status_code=status.HTTP_201_CREATED)
def inject_fault(body: FaultRequest, runtime: RuntimeDep) -> Faults:
    """Makes the next ``times`` operations of ``service`` fail, or never answer."""
    runtime.faults.inject(body.service, body.fault, body.times)
    return Faults(pending=runtime.faults.pending())


@admin.get("/faults", response_model=Faults)
def list_faults(runtime: RuntimeDep) -> Faults:
    return Faults(pending=runtime.faults.pending())


@admin.delete("/faults", response_model=Faults)
def clear_faults(runtime: RuntimeDep) -> Faults:
    runtime.faults.clear()
    return Faults(pending=runtime.faults.pending())


@admin.post("/replay", response_model=ReplayReport)
async def replay(
    runtime: RuntimeDep,
    projection: Annotated[list[ProjectionName], Query(description="rebuild only these (every one if none)")] = [],  # noqa: B006
) -> ReplayReport:
    """Rebuilds read models from the event stores aside, then swaps them in: readers never see half of them."""
    rebuilt = await runtime.rebuild(name.value for name in projection)
    return ReplayReport(
        projections=rebuilt.projections,
        events=rebuilt.events,
        seconds=round(rebuilt.seconds, 3),
        events_per_second=round(rebuilt.events_per_second, 1),
    )
