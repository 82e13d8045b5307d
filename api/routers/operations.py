"""Health, readiness, metrics, and the admin switchboard for breaking things on purpose."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import AdminDep, RuntimeDep
from api.errors import responses
from api.schemas import ConsumerState, FaultRequest, Faults, Health, Readiness, ReplayReport
from infra.bootstrap import Runtime
from projections.names import ProjectionName

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
admin = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[AdminDep],
    responses=responses(401, 503),
)
CHANGES = responses(400, 403, 413, 422)


@router.get("/health", operation_id="health", response_model=Health)
def health() -> Health:
    return Health(status="ok")


@router.get("/ready", operation_id="ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(runtime: RuntimeDep) -> JSONResponse:
    """Ready when the read models, every service's event store and each configured broker answer, and every
    consumer of this process works; 503 while any of them is down, naming it. It is public (load balancers
    ask it), so a failure is named by its kind only; the log has the rest."""
    checks = await runtime.health()
    health = runtime.consumers()
    down = [name for name, value in checks.items() if value != "ok"]
    down += [name for name, consumer in health.items() if not consumer.is_up]
    if down:
        log.warning("not ready: %s", {**checks, **{name: h.problem for name, h in health.items() if not h.is_up}})
    consumers = {
        name: ConsumerState(status="up")
        if consumer.is_up
        else ConsumerState(status="down", reason=_kind_only(str(consumer.problem)), down_since=consumer.down_since)
        for name, consumer in health.items()
    }
    checks = {name: _kind_only(value) for name, value in checks.items()}
    readiness = Readiness(status="unavailable" if down else "ready", checks=checks, consumers=consumers, down=down)
    code = status.HTTP_503_SERVICE_UNAVAILABLE if down else status.HTTP_200_OK
    return JSONResponse(readiness.model_dump(mode="json", by_alias=True), status_code=code)


def _kind_only(check: str) -> str:
    """``error: OperationalError: connection to 10.0.0.5 failed ...`` becomes ``error: OperationalError``."""
    return ": ".join(check.split(": ")[:2])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@admin.post(
    "/faults", operation_id="injectFault", response_model=Faults, status_code=status.HTTP_201_CREATED, responses=CHANGES
)
def inject_fault(body: FaultRequest, runtime: RuntimeDep) -> Faults:
    """Makes the next ``times`` operations of ``service`` fail, or never answer."""
    runtime.faults.inject(body.service, body.fault, body.times)
    return _faults(runtime)


@admin.get("/faults", operation_id="listFaults", response_model=Faults)
def list_faults(runtime: RuntimeDep) -> Faults:
    return _faults(runtime)


@admin.delete("/faults", operation_id="clearFaults", response_model=Faults, responses=responses(403, 413))
def clear_faults(runtime: RuntimeDep) -> Faults:
    runtime.faults.clear()
    return _faults(runtime)


def _faults(runtime: Runtime) -> Faults:
    return Faults.model_validate({"pending": runtime.faults.pending()})


@admin.post("/replay", operation_id="replay", response_model=ReplayReport, responses=CHANGES)
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
