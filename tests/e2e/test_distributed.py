"""The distributed topology as real OS processes: two replicas of every worker, one of each killed
with SIGKILL mid-run, and the invariants in docs/architecture.md checked afterwards. Before the
kills, the saga metrics summed over the API and every worker match the orders placed."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.infrastructure import borrowed_infrastructure
from tests.integration.scenario import PRICES
from tests.support import ADMIN, ADMIN_TOKEN, eventually, metric

# A topology is about fifteen processes on a machine of two cores: in a parallel run (pytest-xdist with
# --dist loadgroup) the tests that start one run one after the other, on one worker.
pytestmark = pytest.mark.xdist_group("topology")

ROLES = ("orders", "inventory", "payments", "shipping", "orchestrator", "projector")
REPLICAS = 2
ORDERS = 200
INITIAL_STOCK = {"book-123": 5, "book-456": 0, "book-789": 10}
INITIAL_CREDIT = {"customer-001": 100_000, "customer-002": 100_000, "customer-003": 1_000}
ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT_KB = 512 * 1024
CONNECTIONS_PER_PROCESS = 3  # CLOUDMART_POSTGRES_CONNECTIONS: the least a process can make do with
CONNECTION_LIMIT = 50  # two replicas of every worker and an API: well within a default PostgreSQL's 100
CALLER = ADMIN
"""Who the tests' HTTP client is: the admin (the token the test gives CLOUDMART_ADMIN_TOKEN)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def procfile() -> dict[str, str]:
    """The Procfile's processes, name -> command: the first is the API on $PORT, then one per worker role."""
    lines = (line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    return {name.strip(): command.strip() for name, command in lines}


class Topology:
    """The Procfile's processes, each ours to kill and to start again."""

    def __init__(self, environment: dict[str, str], port: int, log_dir: Path) -> None:
        self.commands = procfile()
        self.api, *self.workers = self.commands
        self.environment = {
            **environment,
            "PORT": str(port),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        self.port = port
        self.log_dir = log_dir
        self.started: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.metrics_ports: dict[int, int] = {}  # each worker's pid -> the port it serves /metrics on
        self._launches = 0

    def start(self, name: str) -> subprocess.Popen[bytes]:
        self._launches += 1
        log = (self.log_dir / f"{name}-{self._launches}.log").open("wb")
        command = shlex.split(self.commands[name].replace("$PORT", str(self.port)))
        metrics_port = free_port()
        environment = (
            self.environment if name == self.api else {**self.environment, "CLOUDMART_METRICS_PORT": str(metrics_port)}
        )
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        if name != self.api:
            self.metrics_ports[process.pid] = metrics_port
        return process

    def kill(self, role: str, replica: int) -> None:
        """SIGKILL: no goodbye, unacknowledged work left behind."""
        process = self.started[role][replica]
        process.kill()
        process.wait()

    def restart(self, role: str, replica: int) -> None:
        self.started[role][replica] = self.start(self.api if role == "api" else role)

    def stop(self) -> None:
        for process in self.processes():
            process.send_signal(signal.SIGTERM)
        for process in self.processes():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [process for group in self.started.values() for process in group]


@contextmanager
def processes(environment: dict[str, str], port: int, log_dir: Path) -> Iterator[Topology]:
    """The Procfile topology as ``honcho start -c <every worker>=2`` runs it."""
    topology = Topology(environment, port, log_dir)
    try:
        topology.started["api"] = [topology.start(topology.api)]
        for name in topology.workers:
            topology.started[name] = [topology.start(name) for _ in range(REPLICAS)]
        yield topology
    finally:
        topology.stop()


def resident_kb(process: subprocess.Popen[bytes]) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@asynccontextmanager
async def distributed_system(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, Topology, dict[str, str]]]:
    async with borrowed_infrastructure() as infrastructure:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDMART_")},
            **{f"CLOUDMART_{key.upper()}": value for key, value in infrastructure.items()},
            "CLOUDMART_ADMIN_TOKEN": ADMIN_TOKEN,
            "CLOUDMART_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
            "CLOUDMART_STEP_TIMEOUT_SECONDS": "2",
            "CLOUDMART_RETRY_BACKOFF_SECONDS": "0.05",
            "CLOUDMART_REDIS_CLAIM_IDLE_MS": "1000",
            # 13 processes share PostgreSQL's 100 connections: open them only when needed.
            "CLOUDMART_POSTGRES_CONNECTIONS": str(CONNECTIONS_PER_PROCESS),
            "OTEL_TRACES_EXPORTER": "console",  # every process prints its spans, one JSON object per line
        }
        port = free_port()
        with processes(environment, port, tmp_path) as topology:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=CALLER) as http:
                await eventually(lambda: ready(http), timeout=60)
                yield http, topology, environment


async def ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def place_orders(http: httpx.AsyncClient, count: int, first: int = 0) -> list[str]:
    """Orders ``first`` to ``first + count`` of a mixed load: both saga modes, every customer (customer-003 cannot
    pay) and every book (book-456 is out of stock, book-123 soon). Each has an Idempotency-Key and is sent
    again, with it, until the API accepts it: a request whose answer was lost in a crash places nothing twice."""
    limit = asyncio.Semaphore(20)

    async def one(i: int) -> str:
        book = ("book-123", "book-789", "book-456")[i % 3]
        body = {
            "customerId": f"customer-00{1 + i % 3}",
            "bookId": book,
            "quantity": 1,
            "price": PRICES[book],
            "sagaMode": ("choreography", "orchestration")[i % 2],
        }
        async with limit:
            response = await sent_until_answered(http, "/orders", body, {"Idempotency-Key": f"load-{i}"})
        assert response.status_code == 202, response.text
        return str(response.json()["orderId"])

    return list(await asyncio.gather(*(one(i) for i in range(first, first + count))))


async def sent_until_answered(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    """POSTs until the API answers (it may be down, or die before answering), with a deadline."""

    async def answered() -> httpx.Response | None:
        try:
            response = await http.post(path, json=body, headers=headers)
        except httpx.TransportError:
            return None
        return None if response.status_code >= 500 else response

    return await eventually(answered, timeout=90, interval=0.5)


async def inject_fault(http: httpx.AsyncClient, service: str, fault: str, times: int) -> None:
    body = {"service": service, "fault": fault, "times": times}
    assert (await sent_until_answered(http, "/admin/faults", body)).status_code == 201


async def every_saga_over(http: httpx.AsyncClient, order_ids: list[str], timeout: float) -> None:
    """Waits until every saga is COMPLETED or FAILED with no orchestration command of its own in flight."""

    async def all_over() -> bool:
        sagas = [(await http.get(f"/sagas/{order_id}")).json() for order_id in order_ids]
        return all(
            s.get("status") in ("COMPLETED", "FAILED") and not (s["sagaType"] == "orchestration" and s["currentStep"])
            for s in sagas
        )

    await eventually(all_over, timeout=timeout, interval=1)


SCENARIOS = {  # how a saga ends: (customer, book, carrier failures injected before it)
    "completed": ("customer-001", "book-123", 0),
    "out_of_stock": ("customer-002", "book-456", 0),
    "payment_declined": ("customer-003", "book-789", 0),
    "carrier_down": ("customer-001", "book-789", 3),
}


async def every_scenario_counted(http: httpx.AsyncClient, topology: Topology) -> list[str]:
    """One order per scenario in each style, one after the other; the saga metrics summed over the API and every
    worker (each serving its own on CLOUDMART_METRICS_PORT) match them. Returns the orders."""
    order_ids = []
    for mode in ("choreography", "orchestration"):
        for customer, book, carrier_failures in SCENARIOS.values():
            if carrier_failures:
                await inject_fault(http, "shipping", "fail", carrier_failures)
            body = {"customerId": customer, "bookId": book, "quantity": 1, "price": PRICES[book], "sagaMode": mode}
            order_ids.append((await sent_until_answered(http, "/orders", body)).json()["orderId"])
            await every_saga_over(http, order_ids[-1:], timeout=60)

    async def counted() -> list[str] | None:
        try:
            expositions = await metrics_of_every_process(http, topology)
        except httpx.TransportError:  # a replica still starting
            return None
        ends = [
            sum(metric(text, "cloudmart_saga_duration_seconds_count", saga_mode=mode) for text in expositions)
            for mode in ("choreography", "orchestration")
        ]
        return expositions if ends == [len(SCENARIOS)] * 2 else None

    expositions = await eventually(counted, timeout=30, interval=0.5)
    for mode in ("choreography", "orchestration"):
        for name, labels, expected in (
            ("cloudmart_sagas_started_total", {}, len(SCENARIOS)),
            ("cloudmart_sagas_completed_total", {}, 1),
            *(("cloudmart_sagas_compensated_total", {"reason": reason}, 1) for reason in list(SCENARIOS)[1:]),
        ):
            assert sum(metric(text, name, saga_mode=mode, **labels) for text in expositions) == expected, (mode, name)
    workers = expositions[1:]
    assert len(workers) == REPLICAS * len(ROLES)
    assert all("cloudmart_retries_total{" in text for text in workers), "every worker serves its own metrics"
    assert sum(metric(text, "cloudmart_step_duration_seconds_count") for text in workers) > 0
    return order_ids


async def metrics_of_every_process(http: httpx.AsyncClient, topology: Topology) -> list[str]:
    """The /metrics of the API, then of every worker still running; an error where one does not answer yet."""
    expositions = [(await http.get("/metrics")).text]
    async with httpx.AsyncClient(timeout=10) as plain:
        for process in topology.processes():
            if process.pid in topology.metrics_ports and process.poll() is None:
                port = topology.metrics_ports[process.pid]
                expositions.append((await plain.get(f"http://127.0.0.1:{port}/metrics")).text)
    return expositions


async def cloudmart_check_passes(environment: dict[str, str]) -> None:
    """``cloudmart check``, the CLI, against the system's stores, until it exits 0 (read models catch up)."""
    checker_env = {**environment, "CLOUDMART_SEED_DATA": "false"}
    last: list[str] = []

    async def invariants_hold() -> bool:
        checked = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "api.cli", "check"],
            cwd=ROOT,
            env=checker_env,
            capture_output=True,
            check=False,
        )
        last[:] = [checked.stdout.decode(), checked.stderr.decode()[-2000:]]
        return checked.returncode == 0

    try:
        await eventually(invariants_hold, timeout=60, interval=1)
    except AssertionError as failure:
        raise AssertionError(f"cloudmart check keeps failing: {last}") from failure


async def assert_conserved(http: httpx.AsyncClient, order_ids: list[str]) -> None:
    """Every order final, stock and money conserved, one shipment per completed order and none otherwise."""
    orders = [(await http.get(f"/orders/{order_id}")).json() for order_id in order_ids]
    books = {book["bookId"]: book for book in (await http.get("/inventory")).json()}
    customers = {c: (await http.get(f"/customers/{c}")).json() for c in INITIAL_CREDIT}
    shipments = [(await http.get(f"/shipments/{order_id}")).json().get("status") for order_id in order_ids]
    assert {order["status"] for order in orders} <= {"COMPLETED", "CANCELLED"}
    completed = [order for order in orders if order["status"] == "COMPLETED"]
    for book_id, initial in INITIAL_STOCK.items():
        book = books[book_id]
        sold = sum(order["quantity"] for order in completed if order["bookId"] == book_id)
        assert (book["reservedStock"], book["soldStock"]) == (0, sold)
        assert book["availableStock"] + book["reservedStock"] + book["soldStock"] == initial
        assert book["availableStock"] >= 0
    for customer_id, initial in INITIAL_CREDIT.items():
        spent = sum(order["totalAmount"] for order in completed if order["customerId"] == customer_id)
        assert initial - customers[customer_id]["creditAvailable"] == spent
    for order, shipment in zip(orders, shipments, strict=True):
        assert (shipment == "ARRANGED") == (order["status"] == "COMPLETED")


@asynccontextmanager
async def connections_counted(database_url: str) -> AsyncIterator[list[int]]:
    """Counts the database's connections every 100 ms while the block runs (from another database of the
    same server, so as not to count itself); the counts so far."""
    url = make_url(database_url)
    counts: list[int] = []
    conninfo = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)

    async def count() -> None:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
            while True:
                cursor = await connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (url.database,)
                )
                counts.append(int((await cursor.fetchone() or (0,))[0]))
                await asyncio.sleep(0.1)

    counting = asyncio.create_task(count())
    try:
        yield counts
    finally:
        counting.cancel()
        await asyncio.gather(counting, return_exceptions=True)


async def test_two_replicas_of_every_worker_survive_a_sigkill_of_one_each_and_keep_every_invariant(
    tmp_path: Path,
) -> None:
    async with (
        distributed_system(tmp_path) as (http, topology, environment),
        connections_counted(environment["CLOUDMART_DATABASE_URL"]) as connections,
    ):
        counted = await every_scenario_counted(http, topology)
        for service, fault, times in (("shipping", "fail", 3), ("payment", "timeout", 2), ("inventory", "fail", 1)):
            await inject_fault(http, service, fault, times)
        first = counted + await place_orders(http, ORDERS // 2)
        assert set(topology.started) == {"api", *ROLES}
        for role in ROLES:
            topology.kill(role, 0)
        order_ids = first + await place_orders(http, ORDERS - len(first), first=len(first))

        await every_saga_over(http, order_ids, timeout=240)
        trails = [(await http.get(f"/orders/{order_id}/events")).json() for order_id in order_ids[-2:]]  # both modes
        await cloudmart_check_passes(environment)
        health = subprocess.run(
            [sys.executable, "-m", "api.cli", "worker-health"],
            cwd=ROOT,
            capture_output=True,
            check=False,
            env={**os.environ, "CLOUDMART_HEARTBEAT_FILE": str(tmp_path / "heartbeat")},
        )
        memory = {
            f"{role}-{i}": resident_kb(p)
            for role, group in topology.started.items()
            for i, p in enumerate(group)
            if p.poll() is None
        }
        await assert_conserved(http, order_ids)

    assert health.returncode == 0, health.stderr
    processes = 1 + REPLICAS * len(ROLES) + 1  # the API, the workers, and `cloudmart check` at the end
    print(f"PostgreSQL connections: peak {max(connections)} of {processes} processes", flush=True)
    assert len(connections) > 100, "the connections were counted throughout the run"
    assert max(connections) <= processes * CONNECTIONS_PER_PROCESS < CONNECTION_LIMIT
    print("resident memory (MB):", {name: round(kb / 1024) for name, kb in memory.items()})
    assert all(kb < MEMORY_LIMIT_KB for kb in memory.values()), memory
    for trail in trails:
        assert_one_trace_across_processes(trail, printed_spans(tmp_path))


def printed_spans(log_dir: Path) -> list[dict[str, Any]]:
    """The spans every process printed (flushed when it stopped)."""
    lines = (line for log in log_dir.glob("*.log") for line in log.read_text(errors="replace").splitlines())
    return [json.loads(line) for line in lines if line.startswith('{"name"')]


def assert_one_trace_across_processes(trail: list[dict[str, Any]], spans: list[dict[str, Any]]) -> None:
    """Every event of the saga carries one trace id, and the spans of that trace, printed by several processes,
    cover every service that handled one of its messages."""
    trace_ids = {event["traceId"] for event in trail}
    assert len(trace_ids) == 1 and None not in trace_ids, trace_ids
    trace_id = f"0x{trace_ids.pop()}"
    in_trace = [span for span in spans if span["context"]["trace_id"] == trace_id]
    handled_by = {span["attributes"].get("cloudmart.service") for span in in_trace}
    acted = {event["service"] for event in trail[1:]}
    assert acted <= handled_by, (acted, handled_by)
    processes = {span["resource"]["attributes"]["service.name"] for span in in_trace}
    assert {"cloudmart-api", *(f"cloudmart-{service}" for service in acted)} <= processes, processes
