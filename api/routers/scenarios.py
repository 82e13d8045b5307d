"""The scenario catalogue and its launcher: each scenario run in one saga style or both, for a learner to watch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from api.deps import AdminDep, RuntimeDep, SagaEndsDep
from api.errors import responses
from api.scenario_runs import ScenarioRuns
from api.scenario_schemas import ScenarioRunAccepted, ScenarioRunRequest, ScenarioView
from handlers.scenarios import SCENARIOS, outcome_view, scenario

router = APIRouter(tags=["scenarios"], dependencies=[AdminDep], responses=responses(401, 413, 503))
ScenarioName = Annotated[str, Path(alias="name", min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]


@router.get("/scenarios", operation_id="listScenarios", response_model=list[ScenarioView])
def list_scenarios() -> list[dict[str, object]]:
    """Every scenario, with how it must end in each saga style."""
    return [
        {
            "name": s.name,
            "title": s.title,
            "description": s.description,
            "expected": {mode: outcome_view(style.expected) for mode, style in s.styles.items()},
        }
        for s in SCENARIOS
    ]


@router.post(
    "/scenarios/{name}/run",
    operation_id="runScenario",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ScenarioRunAccepted,
    responses=responses(
        400, 403, 404, 409, 422, described={404: "no such scenario", 409: "another scenario is still running"}
    ),
)
async def run_scenario(
    name: ScenarioName,
    runtime: RuntimeDep,
    saga_ends: SagaEndsDep,
    request: Request,
    body: ScenarioRunRequest | None = None,
) -> ScenarioRunAccepted:
    """Places the scenario's order in each style asked for and answers with them; what follows (a cancel, a
    duplicate delivery) goes on in the background. One scenario runs at a time."""
    chosen = scenario(name)
    modes = [mode.value for mode in (body or ScenarioRunRequest()).saga_modes]
    started = await scenario_runs(request).start(chosen, modes, runtime, saga_ends)
    return ScenarioRunAccepted.model_validate(
        {"scenario": chosen.name, "runs": [{"saga_mode": run.saga_mode, "order_id": run.order_id} for run in started]}
    )


def scenario_runs(request: Request) -> ScenarioRuns:
    runs: ScenarioRuns = request.app.state.scenario_runs
    return runs
