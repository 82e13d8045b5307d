"""The ``cloudmart`` command starts light: it knows its commands, services, roles and read models by name without
loading the HTTP API, the event stores or the database and broker clients, so that ``--help`` and a command
refused for its arguments or settings answer at once; and once started, a process sets what start-up made aside
from the garbage collector."""

from __future__ import annotations

import os
import subprocess
import sys

from handlers.routing import ORCHESTRATOR, SERVICE_GROUPS
from infra.roles import ROLES
from projections.catalog import PROJECTIONS
from projections.names import ProjectionName

HEAVY = ("fastapi", "sqlalchemy", "psycopg", "redis", "aio_pika", "uvicorn", "opentelemetry.sdk", "projections.catalog")


def loaded_after(statement: str) -> list[str]:
    probe = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, check=True)
    return result.stdout.split()


def test_the_command_line_loads_no_client_store_or_web_framework_before_a_command_runs() -> None:
    loaded = loaded_after("import api.cli")
    assert [module for module in HEAVY if module in loaded] == []


def test_the_read_models_are_named_as_the_catalogue_builds_them() -> None:
    assert [projection.name for projection in PROJECTIONS] == [name.value for name in ProjectionName]


def test_a_worker_role_is_each_routed_service_or_the_projector() -> None:
    assert set(ROLES) == {*SERVICE_GROUPS, ORCHESTRATOR, "projector"}


def test_a_started_process_sets_aside_what_start_up_made_and_collects_its_young_less_often() -> None:
    from api.cli import YOUNG_GENERATION_THRESHOLD

    probe = "import gc, api.cli; api.cli._started_objects_frozen(); print(gc.get_freeze_count(), gc.get_threshold()[0])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    frozen, young = map(int, result.stdout.split())
    assert frozen > 10_000  # the modules' functions and classes at least
    assert young == YOUNG_GENERATION_THRESHOLD
