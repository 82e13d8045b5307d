"""Load benchmark for the order flow: place orders, wait for their sagas, print latencies and throughput.

Usage (against a running ``cloudmart serve``; ``pip install -e '.[bench]'`` first, for its HTTP client):

    python -m bench.orders --url http://127.0.0.1:8000 --orders 1000 --concurrency 50 --mode both [--json FILE]
    python -m bench.orders --rate 1000 --orders 1000 --concurrency 50 --mode both
    python -m bench.orders --orders 2000 --warmup 200 --concurrency 50 --mode both --full

Closed loop (the default): each of ``--concurrency`` workers places an order (POST /orders), then
waits until its saga is over (GET /sagas/{orderId} with ``Prefer: wait``, a long poll the server
answers when the saga is over; ``--poll``: polls it instead), then places the next one, so at most
``--concurrency`` orders are in flight and the server's speed sets the pace: it measures throughput.
Open loop (``--rate N``): orders arrive at N a minute, evenly spaced, whether or not the earlier
ones are over; at most ``--concurrency`` are in flight (POST to saga over), and an arrival that
finds no free slot waits for one. Latencies count from when the order was due, so that waiting
shows in them: it measures latency at a given load. Orders spread over customer-001/002 and book-123/789, whose stock
(5 and 10) runs out quickly, so most sagas end cancelled: a cancelled order is a finished saga too.
Stock is not restored between modes, so with ``--mode both`` the second mode may complete none.
With ``--full``, every saga can complete: before each mode the bench restocks the books and tops up the
customers' credit by what that mode's orders need (``POST /admin/books/{bookId}/restock`` and
``POST /admin/customers/{customerId}/funds``, the operator's routes), so it measures sagas that run all
their steps.

Beside throughput and latency it prints what each finished saga cost the machine while the mode ran: CPU
ms by kind of process (each ``cloudmart`` command, PostgreSQL, Redis and RabbitMQ, read from /proc; its own
apart, since the load generator shares the machine but is not part of the system),
PostgreSQL transactions (from ``pg_stat_database``, with ``--database-url`` or $CLOUDMART_DATABASE_URL;
it waits 11 s around each mode for the statistics to be reported), and the peak memory of every
``cloudmart`` process. Run it on a machine that does nothing else, or the CPU of other processes of
those kinds counts too.

It prints figures; it is not a test. It exits 1 if any POST failed or any saga did not finish,
2 if the server cannot be reached or stops answering, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench import machine

CUSTOMERS = ("customer-001", "customer-002")
BOOKS = (("book-123", 3500), ("book-789", 2800))
FINAL_STATES = ("COMPLETED", "FAILED")
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.1, 0.25  # with --poll: coarse enough not to be most of the load
LONG_POLL_SECONDS = 30
BUDGET_POST_MS, BUDGET_ORDERS_PER_MINUTE, BUDGET_CONCURRENCY = 500, 100, 50
MEMORY_LIMIT_KB = 512 * 1024
# An idle PostgreSQL backend reports its statistics within 10 s; before that a run's transactions may not show.
PG_STATS_FLUSH_SECONDS = 11

console = Console()
progress_console = Console(stderr=True)


@dataclass
class Sample:
    """One order: its POST, and when (if ever) its saga was over."""

    started: float
    post_ms: float = 0.0
    post_error: str | None = None
    outcome: str = "UNFINISHED"
    finished: float | None = None

    @property
    def completion_ms(self) -> float | None:
        return None if self.finished is None else (self.finished - self.started) * 1000


@dataclass(frozen=True)
class Waiting:
    """How a client learns that its saga is over."""

    deadline: float  # seconds from the POST before the saga counts as unfinished
    poll: bool  # poll GET /sagas with a backoff, instead of long polls


@dataclass
class ModeRun:
    mode: str
    samples: list[Sample] = field(default_factory=list)
    poll_errors: Counter[str] = field(default_factory=Counter)
    stock_at_start: dict[str, int] = field(default_factory=dict)
    waited_for_slot: int = 0  # open loop: arrivals that found --concurrency orders in flight
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by kind of process, spent during the run
    load_generator_cpu_seconds: float = 0.0  # this process's own, during the run: not the system's, so not in "all"
    transactions: int | None = None  # PostgreSQL's, during the run (None: not measured)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.orders", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the API")
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("CLOUDMART_ADMIN_TOKEN", "cloudmart-dev-admin"),
        help="the operator's bearer token, which may order for every customer (default: $CLOUDMART_ADMIN_TOKEN)",
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders to place per mode")
    parser.add_argument(
        "--warmup", type=int, default=0, help="orders placed and waited for before each mode's, not counted"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent workers (and connections)")
    parser.add_argument("--mode", choices=("choreography", "orchestration", "both"), default="both")
    parser.add_argument(
        "--rate",
        type=float,
        metavar="ORDERS_PER_MINUTE",
        help="open loop: orders arrive at this rate (default: closed)",
    )
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds before a saga counts as unfinished")
    parser.add_argument(
        "--poll", action="store_true", help="poll GET /sagas every 0.1-0.25 s instead of long polls (Prefer: wait)"
    )
    parser.add_argument(
        "--full", action="store_true", help="restock and top up before each mode, so that every saga can complete"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CLOUDMART_DATABASE_URL"),
        help="the service's PostgreSQL, to count its transactions (default: $CLOUDMART_DATABASE_URL)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    return parser.parse_args(argv)


def order_body(index: int, mode: str) -> dict[str, object]:
    book_id, price = BOOKS[index % len(BOOKS)]
    customer_id = CUSTOMERS[(index // len(BOOKS)) % len(CUSTOMERS)]
    return {"customerId": customer_id, "bookId": book_id, "quantity": 1, "price": price, "sagaMode": mode}


# --- placing orders and waiting for their sagas -------------------------------------------------


async def place_order(client: aiohttp.ClientSession, body: dict[str, object], sample: Sample) -> str | None:
    try:
        async with client.post("/orders", json=body) as response:
            status, answer = response.status, await response.json() if response.status == 202 else None
    except aiohttp.ClientConnectorError:
        raise  # nobody listens any more: the run stops
    except (aiohttp.ClientError, TimeoutError) as error:
        sample.post_error = type(error).__name__
        return None
    finally:
        sample.post_ms = (time.perf_counter() - sample.started) * 1000
    if answer is None:
        sample.post_error = str(status)
        return None
    return str(answer["orderId"])


def saga_is_over(saga: dict[str, object]) -> bool:
    """Final, and for orchestration with no finishing command still in flight."""
    return saga["status"] in FINAL_STATES and not (saga["sagaType"] == "orchestration" and saga["currentStep"])


async def fetch_saga(
    client: aiohttp.ClientSession, order_id: str, run: ModeRun, wait: float = 0
) -> dict[str, object] | None:
    try:
        async with client.get(f"/sagas/{order_id}", headers={"Prefer": f"wait={wait:g}"} if wait else {}) as response:
            status, saga = response.status, await response.json() if response.status == 200 else None
    except aiohttp.ClientConnectorError:
        raise  # nobody listens any more: the run stops
    except (aiohttp.ClientError, TimeoutError) as error:
        run.poll_errors[type(error).__name__] += 1
        return None
    if status not in (200, 404):  # 404: the saga's read model is not written yet
        run.poll_errors[str(status)] += 1
    return saga


async def wait_for_saga(
    client: aiohttp.ClientSession, order_id: str, sample: Sample, run: ModeRun, waiting: Waiting
) -> None:
    """Long polls (``Prefer: wait``: the server answers when the saga is over), or polls with a backoff."""
    pause = FIRST_POLL_SECONDS
    while (left := waiting.deadline - (time.perf_counter() - sample.started)) > 0:
        saga = await fetch_saga(client, order_id, run, wait=0 if waiting.poll else min(left, LONG_POLL_SECONDS))
        if saga is not None and saga_is_over(saga):
            sample.finished, sample.outcome = time.perf_counter(), str(saga["status"])
            return
        if waiting.poll:
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_SECONDS)


async def run_one_order(
    client: aiohttp.ClientSession, index: int, run: ModeRun, waiting: Waiting, due: float | None = None
) -> None:
    sample = Sample(started=time.perf_counter() if due is None else due)
    run.samples.append(sample)
    order_id = await place_order(client, order_body(index, run.mode), sample)
    if order_id is not None:
        await wait_for_saga(client, order_id, sample, run, waiting)


async def worker(
    client: aiohttp.ClientSession,
    indexes: asyncio.Queue[int],
    run: ModeRun,
    waiting: Waiting,
    advance: Callable[[], None],
) -> None:
    while not indexes.empty():
        await run_one_order(client, indexes.get_nowait(), run, waiting)
        advance()


async def run_mode(client: aiohttp.ClientSession, mode: str, args: argparse.Namespace, progress: Progress) -> ModeRun:
    if args.warmup:  # not counted: the first sagas of a process pay for its connections and caches
        await place_and_wait(client, ModeRun(mode), args, progress, warm_up=True)
    run = ModeRun(mode, stock_at_start=await stock_levels(client))
    await asyncio.sleep(PG_STATS_FLUSH_SECONDS if args.database_url else 0)
    cpu_before, transactions_before = machine.cpu_seconds(), machine.postgres_transactions(args.database_url)
    own_before = machine.own_cpu_seconds()
    await place_and_wait(client, run, args, progress)
    cpu_after, run.load_generator_cpu_seconds = machine.cpu_seconds(), machine.own_cpu_seconds() - own_before
    await asyncio.sleep(PG_STATS_FLUSH_SECONDS if args.database_url else 0)
    transactions_after = machine.postgres_transactions(args.database_url)
    run.cpu_seconds = {kind: cpu_after[kind] - cpu_before[kind] for kind in cpu_after}
    if transactions_before is not None and transactions_after is not None:
        run.transactions = transactions_after - transactions_before
    return run


async def place_and_wait(
    client: aiohttp.ClientSession, run: ModeRun, args: argparse.Namespace, progress: Progress, warm_up: bool = False
) -> None:
    """Places the mode's orders (``--warmup`` of them, closed loop, with ``warm_up``) and waits for their sagas."""
    orders = args.warmup if warm_up else args.orders
    indexes: asyncio.Queue[int] = asyncio.Queue()
    for index in range(orders):
        indexes.put_nowait(index)
    task = progress.add_task(f"{run.mode} (warm-up)" if warm_up else run.mode, total=orders)
    advance = partial(progress.advance, task)
    if args.rate and not warm_up:
        await arrivals(client, run, args, advance)
    else:
        waiting = Waiting(args.deadline, args.poll)
        await run_workers(args.concurrency, lambda: worker(client, indexes, run, waiting, advance))


async def arrivals(
    client: aiohttp.ClientSession, run: ModeRun, args: argparse.Namespace, advance: Callable[[], None]
) -> None:
    """Open loop: order i is due i × 60 / rate seconds after the first, in flight until its saga is over."""
    slots = asyncio.Semaphore(args.concurrency)

    async def one(index: int, due: float) -> None:
        try:
            await run_one_order(client, index, run, Waiting(args.deadline, args.poll), due)
        finally:
            slots.release()
            advance()

    first = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for index in range(args.orders):
                due = first + index * 60 / args.rate
                await asyncio.sleep(due - time.perf_counter())
                run.waited_for_slot += slots.locked()
                await slots.acquire()
                group.create_task(one(index, due))
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None


async def run_workers(count: int, make_worker: Callable[[], Coroutine[None, None, None]]) -> None:
    """Runs the workers; the first one to fail stops the others, and its error is raised as it is."""
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(count):
                group.create_task(make_worker())
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None


async def stock_levels(client: aiohttp.ClientSession) -> dict[str, int]:
    async with client.get("/inventory", raise_for_status=True) as response:
        books = await response.json()
    return {book["bookId"]: book["availableStock"] for book in books if book["bookId"] in dict(BOOKS)}


async def benchmark(args: argparse.Namespace) -> list[ModeRun]:
    # aiohttp rather than httpx: with fifty connections, httpx's pool took about 8 CPU ms per saga, a sixth of what
    # the system itself took, on the same two cores. Idle connections expire before uvicorn's 5 s keep-alive does,
    # or reusing one races its close.
    connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=2)
    headers = {"Authorization": f"Bearer {args.admin_token}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(args.url, connector=connector, timeout=timeout, headers=headers) as client:
        async with client.get("/health", raise_for_status=True):
            pass
        runs = []
        with Progress(*progress_columns(), console=progress_console) as progress:
            for mode in modes(args.mode):
                if args.full:
                    await supply(client, args.warmup + args.orders)
                runs.append(await run_mode(client, mode, args, progress))
        return runs


async def supply(client: aiohttp.ClientSession, orders: int) -> None:
    """Enough copies of every book, and credit for every customer, that ``orders`` orders can all complete."""
    for book_id, _ in BOOKS:
        restock = {"quantity": math.ceil(orders / len(BOOKS))}
        async with client.post(f"/admin/books/{book_id}/restock", json=restock, raise_for_status=True):
            pass
    for customer_id in CUSTOMERS:
        funds = {"amount": math.ceil(orders / len(CUSTOMERS)) * max(price for _, price in BOOKS)}
        async with client.post(f"/admin/customers/{customer_id}/funds", json=funds, raise_for_status=True):
            pass


def modes(choice: str) -> tuple[str, ...]:
    return ("choreography", "orchestration") if choice == "both" else (choice,)


def progress_columns() -> tuple[object, ...]:
    return TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()


# --- figures --------------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float | None:
    """Nearest-rank percentile; None when there is nothing to rank."""
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * q / 100) - 1] if ordered else None


def distribution(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": percentile(values, q) for q in (50, 95, 99)} | {"max": max(values, default=None)}


def wall_seconds(run: ModeRun) -> float:
    """From the first POST to the last saga over."""
    ends = [sample.finished for sample in run.samples if sample.finished is not None]
    return max(ends) - min(sample.started for sample in run.samples) if ends else 0.0


@dataclass
class Figures:
    """What one mode's run measured; latencies in milliseconds."""

    mode: str
    concurrency: int
    rate: float | None  # orders a minute offered (open loop); None: closed loop
    waited_for_slot: int
    stock_at_start: dict[str, int]
    orders_placed: int
    post_errors: dict[str, int]
    poll_errors: dict[str, int]
    completed: int
    cancelled: int
    unfinished: int
    wall_seconds: float
    post_ms: dict[str, float | None]
    completion_ms: dict[str, float | None]
    cpu_ms_per_saga: dict[str, float]  # by kind of process, and "all"
    load_generator_cpu_ms_per_saga: float | None  # this benchmark's own process, which shares the machine
    transactions_per_saga: float | None

    @property
    def sagas_per_second(self) -> float:
        return (self.completed + self.cancelled) / self.wall_seconds if self.wall_seconds else 0.0

    def headroom(self) -> dict[str, float | None]:
        """How many times within the performance budget each figure is (below 1: over budget)."""
        p99 = self.post_ms["p99"]
        return {
            "postLatency": BUDGET_POST_MS / p99 if p99 else None,
            "throughput": self.sagas_per_second * 60 / BUDGET_ORDERS_PER_MINUTE,
            "concurrency": self.concurrency / BUDGET_CONCURRENCY,
        }


def figures(run: ModeRun, concurrency: int, rate: float | None) -> Figures:
    placed = [sample for sample in run.samples if sample.post_error is None]
    outcomes = Counter(sample.outcome for sample in placed)
    sagas = outcomes["COMPLETED"] + outcomes["FAILED"]
    return Figures(
        mode=run.mode,
        concurrency=concurrency,
        rate=rate,
        waited_for_slot=run.waited_for_slot,
        stock_at_start=run.stock_at_start,
        orders_placed=len(run.samples),
        post_errors=dict(Counter(sample.post_error for sample in run.samples if sample.post_error)),
        poll_errors=dict(run.poll_errors),
        completed=outcomes["COMPLETED"],
        cancelled=outcomes["FAILED"],
        unfinished=outcomes["UNFINISHED"],
        wall_seconds=wall_seconds(run),
        post_ms=distribution([sample.post_ms for sample in placed]),
        completion_ms=distribution([sample.completion_ms for sample in placed if sample.completion_ms is not None]),
        cpu_ms_per_saga=per_saga({**run.cpu_seconds, "all": sum(run.cpu_seconds.values())}, sagas, 1000),
        load_generator_cpu_ms_per_saga=run.load_generator_cpu_seconds * 1000 / sagas if sagas else None,
        transactions_per_saga=run.transactions / sagas if run.transactions is not None and sagas else None,
    )


def per_saga(totals: dict[str, float], sagas: int, scale: float = 1.0) -> dict[str, float]:
    return {kind: total * scale / sagas for kind, total in totals.items()} if sagas else {}


def as_json(result: Figures) -> dict[str, object]:
    return {**asdict(result), "sagas_per_second": result.sagas_per_second, "headroom": result.headroom()}


def failed(results: list[Figures]) -> bool:
    return any(result.post_errors or result.unfinished for result in results)


# --- printing -------------------------------------------------------------------------------------


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key}×{value}" for key, value in sorted(counter.items())) or "0"


def run_context(argv: list[str]) -> dict[str, object]:
    return {
        "command": shlex.join(["python", "-m", "bench.orders", *argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "note": "the load generator runs on the same machine as the server and shares its CPUs",
    }


def print_header(context: dict[str, object]) -> None:
    for key, value in context.items():
        console.print(f"{key + ':':<10} {value}", soft_wrap=True)


def results_rows(result: Figures) -> list[str]:
    stock = ", ".join(f"{book} {level}" for book, level in result.stock_at_start.items())
    offered = "closed loop" if result.rate is None else f"{number(result.rate, 0)}/min"
    rows = [offered, str(result.waited_for_slot), stock, str(result.orders_placed)]
    rows += [counts(result.post_errors), counts(result.poll_errors)]
    rows += [str(result.completed), str(result.cancelled), str(result.unfinished)]
    rows += [number(result.wall_seconds, 2), number(result.sagas_per_second, 1)]
    rows += [
        number(latency[q]) for latency in (result.post_ms, result.completion_ms) for q in ("p50", "p95", "p99", "max")
    ]
    return rows


RESULT_LABELS = [
    "arrivals", "arrivals that waited for a slot", "stock at start", "orders placed",
    "POST errors", "poll errors (GET /sagas)",
    "completed", "cancelled", "unfinished", "wall time (s)", "sagas / s",
    "POST p50 (ms)", "POST p95 (ms)", "POST p99 (ms)", "POST max (ms)",
    "completion p50 (ms)", "completion p95 (ms)", "completion p99 (ms)", "completion max (ms)",
]  # fmt: skip


def budget_rows(result: Figures) -> list[str]:
    room = result.headroom()
    return [
        f"{number(room['postLatency'], 2)}×  ({number(result.post_ms['p99'], 0)} ms)",
        f"{number(room['throughput'], 2)}×  ({number(result.sagas_per_second * 60, 0)}/min)",
        f"{number(room['concurrency'], 2)}×  ({result.concurrency})",
    ]


BUDGET_LABELS = ["API < 500 ms: 500 / POST p99", "100 orders/min: sagas/min / 100", "50 concurrent: workers / 50"]


def print_table(title: str, labels: list[str], columns: dict[str, list[str]]) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for mode in columns:
        table.add_column(mode, justify="right")
    for label, *cells in zip(labels, *columns.values(), strict=True):
        table.add_row(label, *cells)
    console.print(table)


def print_report(context: dict[str, object], results: list[Figures]) -> None:
    print_header(context)
    print_table("Results", RESULT_LABELS, {result.mode: results_rows(result) for result in results})
    print_table("Headroom against the performance budget", BUDGET_LABELS, {r.mode: budget_rows(r) for r in results})
    print_cost(results)
    print_memory(machine.peak_memory_kb())


def print_cost(results: list[Figures]) -> None:
    """CPU per saga by kind of process (the servers included), and PostgreSQL transactions per saga."""
    kinds = sorted({kind for result in results for kind in result.cpu_ms_per_saga}, key=lambda k: (k == "all", k))
    labels = [f"CPU ms / saga: {kind}" for kind in kinds]
    labels += ["CPU ms / saga: this load generator (not in all)", "PostgreSQL transactions / saga"]
    columns = {
        result.mode: [number(result.cpu_ms_per_saga.get(kind), 1) for kind in kinds]
        + [number(result.load_generator_cpu_ms_per_saga, 1), number(result.transactions_per_saga, 1)]
        for result in results
    }
    print_table("Cost per finished saga, during the run", labels, columns)


def print_memory(memory: dict[str, int]) -> None:
    if memory:
        limit = "within" if max(memory.values()) < MEMORY_LIMIT_KB else "OVER"
        console.print(f"peak resident memory of the cloudmart processes here ({limit} the 512 MB allowed each):")
        for process, kilobytes in sorted(memory.items(), key=lambda item: -item[1]):
            console.print(f"  {kilobytes / 1024:7.1f} MB  {process}")


def write_json(path: str, context: dict[str, object], results: list[Figures]) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump({**context, "modes": [as_json(result) for result in results]}, file, indent=2)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, context = parse_args(argv), run_context(argv)
    try:
        runs = asyncio.run(benchmark(args))
    except (aiohttp.ClientError, TimeoutError) as error:
        console.print(f"[red]no answer from {args.url}[/red] ({type(error).__name__}: {error})", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: no figures printed")
        return 130
    results = [figures(run, args.concurrency, args.rate) for run in runs]
    print_report(context, results)
    if args.json:
        write_json(args.json, context, results)
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
