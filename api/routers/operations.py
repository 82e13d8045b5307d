"""Health, readiness, metrics, and the admin switchboard for breaking things on purpose."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import AdminDep, RuntimeDep
from api.schemas import FaultRequest, Faults, Readiness

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
    """Ready when the read models, every service's event store and each configured broker answer."""
    checks = await runtime.health()
    ok = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ok else "unavailable", checks=checks).model_dump(by_alias=True)
    return JSONResponse(body, status_code=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE)


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
