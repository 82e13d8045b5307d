"""Replay and audit-dump benchmark: how fast read models are rebuilt and the event stream is dumped, and the
dump's peak memory, on a store of generated events.

Usage:

    python -m bench.replay [--database-url postgresql://postgres@127.0.0.1:5432/cloudmart_bench] [--events 100000]

It fills a fresh database (created, and dropped afterwards unless ``--keep``) by running real sagas of both
modes through the services in this process, with the log-reading consumers stepped in a loop (no brokers, no
projector), restocking now and then so that sagas keep completing as well as failing. Then it times, as
separate processes, ``cloudmart replay`` (every read model, from nothing) and ``cloudmart events dump`` to
/dev/null, at a tenth of the events and at all of them, reporting each one's peak resident memory: a dump
that streams stays flat as the store grows. It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import count

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from domain.common import PaymentMethod, SagaMode
from handlers.place_order import PlaceOrder, place_order
from infra.bootstrap import Runtime, bootstrap
from infra.loops import Worker
from infra.read_database import PROJECTOR
from infra.settings import Settings

BOOKS = (("book-123", 3500), ("book-789", 2800))
CUSTOMERS = ("customer-001", "customer-002")
ORDERS_PER_ROUND = 40
SERVICES = ("orders", "inventory", "payments", "shipping", "orchestrator")
console = Console()


@dataclass(frozen=True)
class Measured:
    what: str
    events: int
    seconds: float
    peak_rss_mb: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/cloudmart_bench")
    parser.add_argument("--events", type=int, default=100_000, help="events to generate (at least)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept earlier (no generating)")
    return parser.parse_args(argv)


def fresh_database(url: str) -> None:
    """Creates the PostgreSQL database of ``url`` afresh (a SQLite file is removed with its stores instead)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for path in {parsed.database or "", *(f"{parsed.database[:-3]}-{s}.db" for s in SERVICES)}:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        return
    with psycopg.connect(str(parsed.set(database="postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{parsed.database}"')


def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        fresh_database(url)
        return
    with psycopg.connect(str(parsed.set(database="postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def stored_events(runtime: Runtime) -> int:
    return sum(app.recorder.max_notification_id() or 0 for app in runtime.services.by_name().values())


def generate(runtime: Runtime, target: int, progress: Progress) -> int:
    """Runs sagas until the stores hold ``target`` events; returns how many they hold."""
    consumers = [w for w in runtime.workers if isinstance(w, Worker) and w.name not in (PROJECTOR, "saga-timer")]
    task = progress.add_task("generating events", total=target)
    orders = count()
    while (held := stored_events(runtime)) < target:
        for index in (next(orders) for _ in range(ORDERS_PER_ROUND)):
            book_id, price = BOOKS[index % len(BOOKS)]
            mode = (SagaMode.CHOREOGRAPHY, SagaMode.ORCHESTRATION)[index % 2]
            request = PlaceOrder(
                customer_id=CUSTOMERS[(index // 2) % len(CUSTOMERS)],
                book_id=book_id,
                quantity=1,
                price=price,
                payment_method=(PaymentMethod.CREDIT_CARD, PaymentMethod.E_MONEY)[(index // 4) % 2].value,
                shipping_address="東京都千代田区丸の内1-1-1",
                saga_mode=mode.value,
            )
            place_order(runtime.services, request)
        while sum(worker.step() for worker in consumers):
            pass
        for book_id, _ in BOOKS:  # keep some sagas completing, not only failing for want of stock
            book = runtime.services.inventory.book(book_id)
            book.restock(ORDERS_PER_ROUND // 4)
            runtime.services.inventory.save(book)
        progress.update(task, completed=held)
    progress.update(task, completed=held)
    return held


def timed(what: str, command: list[str], env: dict[str, str], events: int) -> tuple[Measured, str]:
    """Runs ``command`` to completion; its wall time and peak resident memory (from the kernel's accounting)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors}")
    return Measured(what, events, seconds, usage.ru_maxrss / 1024), errors


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = {**os.environ, "CLOUDMART_DATABASE_URL": args.database_url}
    env.pop("CLOUDMART_REDIS_URL", None)
    env.pop("CLOUDMART_RABBITMQ_URL", None)
    settings = Settings(database_url=args.database_url, redis_url=None, rabbitmq_url=None, aggregate_cache_size=10_000)
    cloudmart = [sys.executable, "-m", "api.cli"]
    if not args.reuse:
        fresh_database(args.database_url)
    results: list[Measured] = []
    try:
        runtime = bootstrap(settings)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        dump = [*cloudmart, "events", "dump"]
        with Progress(*columns, console=Console(stderr=True)) as progress:
            for target in () if args.reuse else (args.events // 10, args.events):
                started = time.perf_counter()
                held = generate(runtime, target, progress)
                results.append(Measured("generate (sagas run in-process)", held, time.perf_counter() - started, 0))
                results.append(timed("cloudmart events dump > /dev/null", dump, env, held)[0])
        held = stored_events(runtime)
        if args.reuse:
            results.append(timed("cloudmart events dump > /dev/null", dump, env, held)[0])
        replay, output = timed("cloudmart replay (every read model)", [*cloudmart, "replay"], env, held)
        reported = re.search(r"from ([\d,]+) events", output)
        results.append(replay)
        for app in runtime.services.by_name().values():
            app.close()
        runtime.engine.dispose()
    finally:
        if not (args.keep or args.reuse):
            drop_database(args.database_url)
    table = Table(title=f"replay and dump, {make_url(args.database_url).get_backend_name()}")
    for column in ("step", "events", "seconds", "events/s", "peak RSS"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for m in results:
        rss = f"{m.peak_rss_mb:.0f} MB" if m.peak_rss_mb else ""
        table.add_row(m.what, f"{m.events:,}", f"{m.seconds:.1f}", f"{m.per_second:,.0f}", rss)
    console.print(table)
    if reported:
        console.print(f"cloudmart replay reported replaying {reported.group(1)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
