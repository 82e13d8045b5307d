from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CollectorRegistry, Counter
from prometheus_fastapi_instrumentator import Instrumentator

from api.documentation import install_documentation
from api.edge import LastResort, RequestCause, RequestGuard, SecurityHeaders
from api.errors import install_error_handlers, responses
from api.explorer import install_explorer
from api.routers import catalog, events, interventions, operations, orders, sagas, scenarios, supplies
from api.scenario_runs import ScenarioRuns
from api.waiting import SagaEnds
from infra.bootstrap import Runtime, bootstrap
from infra.credentials import CredentialStore
from infra.postgres_events import one_at_a_time
from infra.seed import seed_credentials
from infra.settings import Settings


def create_app(settings: Settings | None = None, build: Callable[[Settings], Runtime] = bootstrap) -> FastAPI:
    """The HTTP API, running every service of the configured topology for as long as it is up."""
    configured = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build(configured)
        app.state.runtime = runtime
        app.state.credentials = open_credentials(runtime)
        app.state.saga_ends = SagaEnds(runtime)
        app.state.metrics.register(runtime.metrics.registry)  # one /metrics: the HTTP edge's and the runtime's
        app.state.scenario_runs = ScenarioRuns()
        await runtime.start()
        try:
            yield
        finally:
            await app.state.scenario_runs.close()
            await app.state.saga_ends.close()
            await runtime.stop()
            app.state.metrics.unregister(runtime.metrics.registry)

    app = FastAPI(
        title="CloudMart Sagas",
        summary="An online bookstore's order flow as a saga: choreography and orchestration, event-sourced.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from local bundles by install_documentation
        redoc_url=None,
        responses=responses(413),  # any request may carry a body, and each is measured
    )
    app.state.metrics = CollectorRegistry()
    app.state.orders_placed = Counter(
        "cloudmart_orders_placed", "Orders accepted by POST /orders", ["saga_mode"], registry=app.state.metrics
    )
    install_error_handlers(app)
    for router in (orders.router, catalog.router, events.router, operations.router, operations.admin):
        app.include_router(router)
    app.include_router(interventions.router)
    app.include_router(supplies.router)
    app.include_router(sagas.router)
    app.include_router(scenarios.router)
    install_documentation(app)
    install_explorer(app)
    app.add_middleware(RequestCause)
    app.add_middleware(RequestGuard, max_body_bytes=configured.max_body_bytes)
    app.add_middleware(LastResort)
    Instrumentator(registry=app.state.metrics, excluded_handlers=["/metrics"]).instrument(app)  # sees refusals too
    app.add_middleware(SecurityHeaders)  # every answer carries them, a refusal or a 500 too
    # outside them all: a request's server span is current for everything the request does
    FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
    return app


def open_credentials(runtime: Runtime) -> CredentialStore:
    """The customers' password store, with the seed customers' demo password where they have none yet."""
    store = CredentialStore(runtime.engine)
    with one_at_a_time(runtime.settings):
        store.create_table()
        if runtime.settings.seed_data:
            seed_credentials(store)
    return store
