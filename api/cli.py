"""The ``cloudmart`` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
import uvicorn
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TextColumn

from api.app import create_app
from api.schemas import ProjectionName
from infra import audit
from infra.bootstrap import ROLES, Runtime, bootstrap
from infra.credentials import set_customer_password
from infra.maintenance import check_consistency, open_services, replay_read_models, upgrade_database
from infra.settings import Settings

app = typer.Typer(
    help="CloudMart Sagas: an online bookstore's order flow as a saga, in two styles.", no_args_is_help=True
)


# A cloudmart process is a few dozen threads that mostly wait on PostgreSQL, Redis and RabbitMQ.
# Python hands the GIL over every 5 ms by default, so a thread back from the database (holding a
# connection, or the event loop with requests to parse) can wait that long behind one that computes.
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log every saga step")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    access_log: bool = typer.Option(True, help="log every request"),
) -> None:
    """Runs the HTTP API together with every service in one process (settings from CLOUDMART_*)."""
    uvicorn.run(create_app(_startable()), host=host, port=port, log_level="info", access_log=access_log)


@app.command()
def api(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, envvar="PORT", help="port to listen on"),
    access_log: bool = typer.Option(True, help="log every request"),
) -> None:
    """Runs the HTTP API alone; the services run in `cloudmart worker` processes (distributed topology)."""
    application = create_app(_startable(), build=lambda settings: bootstrap(settings, roles=frozenset()))
    uvicorn.run(application, host=host, port=port, log_level="info", access_log=access_log)


@app.command()
def worker(
    role: str = typer.Argument(..., help=f"one of: {', '.join(sorted(ROLES))}"),
) -> None:
    """Runs one part of the system alone (any number of replicas); SIGTERM stops it gracefully."""
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(sorted(ROLES))}", param_hint="ROLE")
    asyncio.run(_run(bootstrap(_startable(), roles=frozenset({role}))))


def _startable() -> Settings:
    """The settings, unless a long-running process must not start with them: one line says why, exit code 2."""
    settings = Settings()
    if settings.unsafe_admin_token:
        typer.echo(settings.unsafe_admin_token, err=True)
        raise typer.Exit(2)
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
    violations = check_consistency(Settings())
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
    columns = (*Progress.get_default_columns(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying events", total=None, rate="")
        started = time.perf_counter()

        def advance(done: int, expected: int) -> None:
            rate = f"{done / max(time.perf_counter() - started, 1e-9):,.0f} events/s"
            bar.update(task, completed=done, total=max(done, expected), rate=rate)

        rebuilt = replay_read_models(Settings(), (name.value for name in projection), advance)
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
    service: str | None = typer.Option(None, help="only this service's log: orders, inventory, payments, …"),
    file_format: DumpFormat = typer.Option(DumpFormat.jsonl, "--format", help="jsonl or csv"),
) -> None:
    """Writes every event to standard output, one per line, streaming (memory stays flat)."""
    with open_services(Settings()) as services:
        apps = services.by_name()
        if service is not None and service not in apps:
            raise typer.BadParameter(f"{service!r} is not one of {', '.join(apps)}", param_hint="--service")
        chosen = [apps[service]] if service else list(apps.values())
        moment = since.replace(tzinfo=since.tzinfo or UTC) if since else None
        selected = (
            audit.row(record)
            for record in audit.records(chosen, moment)
            if (order is None or record.correlation_id == order) and (event_type is None or record.type == event_type)
        )
        count = audit.write(selected, sys.stdout, file_format.value)
    typer.echo(f"{count} events", err=True)


@app.command("customer-password")
def customer_password(
    customer_id: str = typer.Argument(..., help="the customer whose password to set, e.g. customer-001"),
) -> None:
    """Sets a customer's password for HTTP Basic, read from standard input (first line) or a hidden prompt."""
    settings = Settings()
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
    for line in upgrade_database(Settings()):
        typer.echo(line)


if __name__ == "__main__":
    app()
