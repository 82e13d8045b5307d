from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from api.errors import install_error_handlers
from api.routers import catalog, events, interventions, operations, orders
from api.waiting import SagaEnds
from infra.bootstrap import Runtime, bootstrap
from infra.settings import Settings


def create_app(settings: Settings | None = None, build: Callable[[Settings], Runtime] = bootstrap) -> FastAPI:
    """The HTTP API, running every service of the configured topology for as long as it is up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build(settings or Settings())
        app.state.runtime = runtime
        app.state.saga_ends = SagaEnds(runtime)
        await runtime.start()
        try:
            yield
        finally:
            await app.state.saga_ends.close()
            await runtime.stop()

    app = FastAPI(
        title="CloudMart Sagas",
        summary="An online bookstore's order flow as a saga: choreography and orchestration, event-sourced.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.metrics = CollectorRegistry()
    app.state.orders_placed = Counter(
        "cloudmart_orders_placed", "Orders accepted by POST /orders", ["saga_mode"], registry=app.state.metrics
    )
    install_error_handlers(app)
    for router in (orders.router, catalog.router, events.router, operations.router, operations.admin):
        app.include_router(router)
    app.include_router(interventions.router)
    return app
