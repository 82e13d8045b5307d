"""The Saga Explorer: a web page at ``/`` that draws the sagas from the read side (docs/explorer.md).

The page is static files under ``api/explorer_assets/`` (ES modules, SVG, no build step), served by the API
itself so that it works offline. It reads the same routes as anyone else, with the admin token; the one route
of its own, ``GET /explorer/config``, says what the page cannot know: whether it may sign in by itself (the
embedded sandbox's documented token), where traces are, and how the domain names its events, so that the
browser classifies an event without a copy of the saga's rules.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from api.deps import RuntimeDep
from api.schemas import SagaStatus, Schema
from domain.saga import COMPENSATION_STARTED, COMPENSATIONS, FAILED, FORWARD, FORWARD_FAILURES, STARTED
from infra.settings import DEV_ADMIN_TOKEN, Settings
from projections.sagas import COMPENSATING_EVENTS

ASSETS = "/explorer/assets"
router = APIRouter(tags=["explorer"])

# What a reader skims past: how a service keeps its books, not a step of the saga.
BOOKKEEPING = (
    "StockLevelChanged",
    "FundsDebited",
    "FundsCredited",
    "ReplyReceived",
    "StepSucceeded",
    "ShipmentOpened",
    "ShipmentPrerequisiteMet",
    "CustomerNotified",
)


class Vocabulary(Schema):
    """The domain's names, as the page needs them to draw a saga."""

    state_path: list[str] = Field(description="the orchestration states of a saga that completes, in order")
    failure_path: list[str] = Field(description="the states of a saga that compensates, in order")
    failure_events: list[str] = Field(description="replies that fail a forward step")
    compensated_by: dict[str, str] = Field(
        description="each event that undoes a step (or records it never needs undoing), and that step"
    )
    compensation_steps: list[str] = Field(description="the orchestrator's compensating steps")
    bookkeeping_events: list[str] = Field(description="events the compact view leaves out")
    statuses: list[str] = Field(description="every status a saga can show")


class ExplorerConfig(Schema):
    admin_token: str | None = Field(
        description="the documented development token, only on the embedded sandbox (SQLite and that token); "
        "otherwise null, and the page asks for the token"
    )
    trace_url: str | None = Field(description="CLOUDMART_TRACE_URL: a trace's address, `{traceId}` to fill in")
    vocabulary: Vocabulary


def vocabulary() -> Vocabulary:
    return Vocabulary(
        state_path=[STARTED, *(step.reaches for step in FORWARD if step.reaches)],
        failure_path=[COMPENSATION_STARTED, FAILED],
        failure_events=sorted(FORWARD_FAILURES),
        compensated_by=dict(sorted(COMPENSATING_EVENTS.items())),
        compensation_steps=[step.name for step in COMPENSATIONS],
        bookkeeping_events=list(BOOKKEEPING),
        statuses=[status.value for status in SagaStatus],
    )


def signs_in_by_itself(settings: Settings) -> bool:
    """Only the embedded sandbox, whose token is documented anyway; anything else asks for it."""
    return not settings.is_postgres and settings.admin_token == DEV_ADMIN_TOKEN


@router.get("/explorer/config", operation_id="explorerConfig", response_model=ExplorerConfig)
def explorer_config(runtime: RuntimeDep) -> ExplorerConfig:
    """What the Saga Explorer page needs to know before it signs in."""
    settings = runtime.settings
    return ExplorerConfig(
        admin_token=settings.admin_token if signs_in_by_itself(settings) else None,
        trace_url=settings.trace_url,
        vocabulary=vocabulary(),
    )


def install_explorer(app: FastAPI) -> None:
    """The page at ``/``, its assets under ``/explorer/assets/`` and its configuration route."""
    assets = files("api") / "explorer_assets"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="explorer-assets")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def explorer() -> FileResponse:
        return FileResponse(str(assets / "index.html"), headers={"cache-control": "no-cache"})
