from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection

from api.auth import require_admin
from api.waiting import SagaEnds
from handlers.services import Services
from infra.bootstrap import Runtime

# The dependencies that only look something up are coroutines: FastAPI runs a plain function's on a worker
# thread, a round trip through the thread pool per dependency and per request.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_saga_ends(request: Request) -> SagaEnds:
    saga_ends: SagaEnds = request.app.state.saga_ends
    return saga_ends


async def get_services(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Services:
    return runtime.services


def get_read_connection(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Connection]:
    with runtime.read() as connection:
        yield connection


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServicesDep = Annotated[Services, Depends(get_services)]
SagaEndsDep = Annotated[SagaEnds, Depends(get_saga_ends)]
ReadDep = Annotated[Connection, Depends(get_read_connection)]
AdminDep = Depends(require_admin)  # the operator only: Authorization: Bearer <CLOUDMART_ADMIN_TOKEN>
