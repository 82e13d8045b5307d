"""The ``cloudmart`` command.

Each command imports what it runs when it runs (the HTTP API, the demo, the maintenance operations, the database
and broker clients), so that a worker does not load the API first and a command refused for a wrong argument or
setting says so at once: nothing below imports more than the settings and the log format.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.preflight import USAGE, CannotProceedError, explain, listening_socket, reach, settings_from_environment
from domain.common import ServiceName
from infra import logs
from infra.logs import LogFormat
from infra.roles import ROLES
from infra.settings import DEV_ADMIN_TOKEN, Settings
from projections.names import ProjectionName

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.demo import Result
    from infra.runtime import Runtime

PORT = typer.Option(8000, min=1, max=65535, help="port to listen on")

app = typer.Typer(
    help="CloudMart Sagas: an online bookstore's order flow as a saga, in two styles.", no_args_is_help=True
)


# A cloudmart process is a few dozen threads that mostly wait on PostgreSQL, Redis and RabbitMQ.
# Python hands the GIL over every 5 ms by default, so a thread back from the database (holding a
# connection, or the event loop with requests to parse) can wait that long behind one that computes.
GIL_SWITCH_INTERVAL_SECONDS = 0.0005

# What a process makes as it starts (modules, classes, the app, its stores and pools) lives as long as it does,
# yet each full collection walks all of it again, and the youngest generation's default threshold (700 objects)
# runs a collection every saga or so. Measured under the full-saga benchmark, garbage collection took 3 to 8 % of
# each process's CPU, a full collection 60 to 130 ms of it at a time.
YOUNG_GENERATION_THRESHOLD = 10_000


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log every saga step"),
    log_format: LogFormat = typer.Option(
        LogFormat.text, envvar="CLOUDMART_LOG_FORMAT", help="text, or json: one object per line for a log collector"
    ),
) -> None:
    logs.configure(verbose, log_format)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = PORT,
    access_log: bool = typer.Option(True, help="log every request"),
) -> None:
    """Runs the HTTP API together with every service in one process (settings from CLOUDMART_*)."""
    settings = _startable()
    from api.app import create_app

    _serve(create_app(settings), listening_socket(host, port), settings, access_log)


@app.command()
def api(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, envvar="PORT", help="port to listen on"),
    access_log: bool = typer.Option(True, help="log every request"),
) -> None:
    """Runs the HTTP API alone; the services run in `cloudmart worker` processes (distributed topology)."""
    settings = _startable()
    from api.app import create_app
    from infra.bootstrap import bootstrap

    application = create_app(settings, build=lambda settings: bootstrap(settings, roles=frozenset()))
    _serve(application, listening_socket(host, port), settings, access_log)


def _serve(application: FastAPI, listener: socket.socket, settings: Settings, access_log: bool) -> None:
    """Serves on a socket already bound, once every server the settings name has answered."""
    import uvicorn

    reach(settings, brokers=True)
    # log_config=None: uvicorn's lines go through this process's handler, in its format, instead of its own
    config = uvicorn.Config(application, log_config=None, log_level="info", access_log=access_log)
    server = uvicorn.Server(config)
    host, port = listener.getsockname()[:2]
    logging.getLogger("uvicorn.error").info("serving on http://%s:%d (Ctrl+C to stop)", host, port)
    _started_objects_frozen()
    server.run(sockets=[listener])
    if not server.started:
        raise CannotProceedError("the API did not start: the log above says why")


def _started_objects_frozen() -> None:
    """Moves what start-up made out of the collector's way for good (``gc.freeze``) and lets the youngest
    generation grow larger before it is collected. Once per process, after it started: in a process that starts
    and stops many runtimes (the tests), frozen cycles would never be freed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


def _fastest_event_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (uvicorn's ``standard`` extra brings it; the API runs on it too), else
    asyncio's own loop: a worker spends a good part of its time in its event loop."""
    try:
        import uvloop  # optional: only where installed
    except ImportError:
        return None
    return uvloop.new_event_loop


@app.command()
def worker(
    role: str = typer.Argument(..., help=f"one of: {', '.join(sorted(ROLES))}"),
) -> None:
    """Runs one part of the system alone (any number of replicas); SIGTERM stops it gracefully."""
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(sorted(ROLES))}", param_hint="ROLE")
    settings = _startable()
    reach(settings, brokers=True)
    from infra.bootstrap import bootstrap

    runtime = bootstrap(settings, roles=frozenset({role}), answers_requests=False)
    stop_serving_metrics = _serve_metrics(runtime)
    _started_objects_frozen()
    try:
        with asyncio.Runner(loop_factory=_fastest_event_loop()) as runner:
            runner.run(_run(runtime))
    finally:
        stop_serving_metrics()


def _serve_metrics(runtime: Runtime) -> Callable[[], None]:
    """Serves the worker's ``/metrics`` on ``CLOUDMART_METRICS_PORT``, if set; returns what stops it."""
    port = runtime.settings.metrics_port
    if port is None:
        return lambda: None
    try:
        return runtime.metrics.serve(port)
    except OSError as error:
        raise CannotProceedError(
            f"CLOUDMART_METRICS_PORT={port}: cannot listen there ({error.strerror}); set a free port, or unset it"
        ) from None


def _startable() -> Settings:
    """The settings, unless a long-running process must not start with them (exit code 2)."""
    settings = settings_from_environment()
    if settings.unsafe_admin_token:
        raise CannotProceedError(settings.unsafe_admin_token, USAGE)
    return settings


def _existing() -> Settings:
    """The settings of a command that works on the database as it is: it must be there and answer."""
    settings = settings_from_environment()
    reach(settings, existing=True)
    return settings


HEARTBEAT = Path(os.environ.get("CLOUDMART_HEARTBEAT_FILE", "/tmp/cloudmart-worker.heartbeat"))
HEARTBEAT_SECONDS, STALE_SECONDS = 5.0, 30.0


async def _run(runtime: Runtime) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    await runtime.start()
    logging.getLogger(__name__).warning("worker running: %s", ", ".join(w.name for w in runtime.workers))
    while not stopping.is_set():
        if runtime.alive:
            HEARTBEAT.touch()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), HEARTBEAT_SECONDS)
    await runtime.stop()  # in-flight handlers finish; nothing unfinished is acknowledged


@app.command("worker-health")
def worker_health() -> None:
    """Exits non-zero unless this machine's worker has beaten its heart in the last 30 s (a container healthcheck)."""
    age = time.time() - HEARTBEAT.stat().st_mtime if HEARTBEAT.exists() else math.inf
    if age > STALE_SECONDS:
        typer.echo(f"no heartbeat for {age:.0f} s", err=True)
        raise typer.Exit(1)


@app.command("check")
def check_command() -> None:
    """Verifies the invariants in docs/architecture.md (stock, money, final states, shipments, read models);
    exit 1 names each violation and the orders involved."""
    settings = _existing()
    from infra.maintenance import check_consistency

    violations = check_consistency(settings)
    for violation in violations:
        typer.echo(str(violation))
    if violations:
        typer.echo(f"{len(violations)} violation(s)", err=True)
        raise typer.Exit(1)
    typer.echo("every invariant holds")


@app.command()
def replay(
    projection: list[ProjectionName] = typer.Option([], help="rebuild only this read model (repeatable; all if none)"),
) -> None:
    """Rebuilds read models from the event stores, aside, then swaps them in (safe while the system runs)."""
    settings = _existing()
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, TextColumn

    from infra.maintenance import replay_read_models

    columns = (*Progress.get_default_columns(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying events", total=None, rate="")
        started = time.perf_counter()

        def advance(done: int, expected: int) -> None:
            rate = f"{done / max(time.perf_counter() - started, 1e-9):,.0f} events/s"
            bar.update(task, completed=done, total=max(done, expected), rate=rate)

        rebuilt = replay_read_models(settings, (name.value for name in projection), advance)
    typer.echo(
        f"rebuilt {', '.join(rebuilt.projections)} from {rebuilt.events:,} events "
        f"in {rebuilt.seconds:.1f} s ({rebuilt.events_per_second:,.0f} events/s)"
    )


events = typer.Typer(help="The event stream, straight from the services' event stores.", no_args_is_help=True)
app.add_typer(events, name="events")


class DumpFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@events.command()
def dump(
    order: str | None = typer.Option(None, help="only the events about this order id"),
    event_type: str | None = typer.Option(None, "--type", help="only events of this type, e.g. PaymentRefunded"),
    since: datetime | None = typer.Option(None, help="only events at or after this time (ISO 8601, UTC if naive)"),
    service: ServiceName | None = typer.Option(None, help="only this service's log"),
    file_format: DumpFormat = typer.Option(DumpFormat.jsonl, "--format", help="jsonl or csv"),
) -> None:
    """Writes every event to standard output, one per line, streaming (memory stays flat)."""
    settings = _existing()
    from infra import audit
    from infra.maintenance import open_services

    with open_services(settings) as services:
        apps = services.by_name()
        chosen = [apps[service.value]] if service else list(apps.values())
        moment = since.replace(tzinfo=since.tzinfo or UTC) if since else None
        selected = (
            audit.row(record)
            for record in audit.records(chosen, moment)
            if (order is None or record.correlation_id == order) and (event_type is None or record.type == event_type)
        )
        count = audit.write(selected, sys.stdout, file_format.value)
    typer.echo(f"{count} events", err=True)


class DemoModes(StrEnum):
    CHOREOGRAPHY = "choreography"
    ORCHESTRATION = "orchestration"
    BOTH = "both"


@app.command()
def demo(
    url: str | None = typer.Option(None, help="a running CloudMart to drive; by default the demo runs its own"),
    token: str | None = typer.Option(
        None, envvar="CLOUDMART_ADMIN_TOKEN", help="the admin token of --url (default: CLOUDMART_ADMIN_TOKEN)"
    ),
    scenario: list[str] = typer.Option([], "--scenario", help="a scenario to run (repeat it); all by default"),
    mode: DemoModes = typer.Option(DemoModes.BOTH, help="the saga style to run them in"),
) -> None:
    """Runs the scenarios in each saga style, prints each saga as a timeline, then expected against actual
    outcomes; exit code 1 if any differs."""
    from rich.console import Console

    from api.demo import embedded, remote, run_demo

    if not logging.getLogger().isEnabledFor(logging.INFO):  # the faults the scenarios inject would be warned of
        logging.getLogger().setLevel(logging.ERROR)
    modes = ["choreography", "orchestration"] if mode == DemoModes.BOTH else [mode.value]
    console = Console()

    async def run() -> list[Result]:
        client = remote(url, token or DEV_ADMIN_TOKEN) if url else embedded()
        async with client as http:
            return await run_demo(http, scenario, modes, console)

    results = asyncio.run(run())
    if any(result.differences for result in results):
        raise typer.Exit(1)


@app.command("customer-password")
def customer_password(
    customer_id: str = typer.Argument(..., help="the customer whose password to set, e.g. customer-001"),
) -> None:
    """Sets a customer's password for HTTP Basic, read from standard input (first line) or a hidden prompt."""
    settings = _existing()
    from infra.credentials import set_customer_password

    password = typer.prompt("password", hide_input=True) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    problem = set_customer_password(settings, customer_id, password)
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(1)
    typer.echo(f"password of {customer_id} set")


database = typer.Typer(help="The event stores' and read models' schemas.", no_args_is_help=True)
app.add_typer(database, name="db")


@database.command()
def upgrade() -> None:
    """Creates the schemas and tables the configured database lacks (idempotent; serve does it too)."""
    settings = settings_from_environment()
    reach(settings)
    from infra.maintenance import upgrade_database

    for line in upgrade_database(settings):
        typer.echo(line)


def run() -> None:
    """The ``cloudmart`` command. Whatever keeps it from doing its work (a wrong argument or setting, a port in
    use, a server that does not answer) is one line on stderr: exit code 2 for the first two, 1 for the rest."""
    try:
        code = typer.main.get_command(app).main(prog_name="cloudmart", standalone_mode=False)
    except typer.Abort:
        code = _fail("aborted", 1)
    except typer.TyperException as error:  # typer's own click: a usage error (exit code 2) or a help screen
        code = _usage(error)
    except CannotProceedError as error:
        code = _fail(str(error), error.code)
    except Exception as error:
        line = explain(error, settings_from_environment())
        if line is None:
            raise
        code = _fail(line, 1)
    sys.exit(code if isinstance(code, int) else 0)


def _usage(error: typer.TyperException) -> int:
    context: typer.Context | None = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":  # its message is the help (typer tells it by name too)
        typer.echo(context.get_help() if context else str(error), err=True)
        return USAGE
    hint = f"; see `{context.command_path} --help`" if context else ""
    message = error.format_message().replace("Value error, ", "").rstrip(".")
    return _fail(f"{message}{hint}", getattr(error, "exit_code", USAGE))


def _fail(line: str, code: int) -> int:
    typer.echo(f"cloudmart: {line}", err=True)
    return code


if __name__ == "__main__":
    run()
