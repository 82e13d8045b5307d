"""The distributed topology as real OS processes: two replicas of every worker, one of each killed
with SIGKILL mid-run, and the invariants of DESIGN.md §5 checked afterwards."""

from __future__ import annotations

import asyncio
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

from tests.infrastructure import borrowed_infrastructure
from tests.integration.scenario import PRICES
from tests.support import ADMIN, ADMIN_TOKEN, eventually

ROLES = ("orders", "inventory", "payments", "shipping", "orchestrator", "projector")
REPLICAS = 2
ORDERS = 200
INITIAL_STOCK = {"book-123": 5, "book-456": 0, "book-789": 10}
INITIAL_CREDIT = {"customer-001": 100_000, "customer-002": 100_000, "customer-003": 1_000}
ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT_KB = 512 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def procfile() -> dict[str, str]:
    """The Procfile's processes, name -> command: the first is the API on $PORT, then one per worker role."""
    lines = (line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    return {name.strip(): command.strip() for name, command in lines}


@contextmanager
def processes(
    environment: dict[str, str], port: int, log_dir: Path
) -> Iterator[dict[str, list[subprocess.Popen[bytes]]]]:
    """The Procfile topology as ``honcho start -c <every worker>=2`` runs it, each process ours to kill."""
    commands = procfile()
    api, *workers = commands
    environment = {**environment, "PORT": str(port), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (log_dir / f"{name}-{len(started.get(name, []))}.log").open("wb")
        command = shlex.split(commands[name].replace("$PORT", str(port)))
        return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)

    started: dict[str, list[subprocess.Popen[bytes]]] = {}
    try:
        started["api"] = [start(api)]
        for name in workers:
            started[name] = [start(name) for _ in range(REPLICAS)]
        yield started
    finally:
        for process in (p for group in started.values() for p in group):
            process.send_signal(signal.SIGTERM)
        for process in (p for group in started.values() for p in group):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def resident_kb(process: subprocess.Popen[bytes]) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@asynccontextmanager
async def distributed_system(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any], dict[str, str]]]:
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
            "CLOUDMART_POSTGRES_POOL_SIZE": "0",
            "CLOUDMART_POSTGRES_MAX_OVERFLOW": "2",
            "CLOUDMART_READ_POOL_SIZE": "1",
            "CLOUDMART_READ_MAX_OVERFLOW": "2",
        }
        port = free_port()
        with processes(environment, port, tmp_path) as started:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=ADMIN) as http:

                async def ready() -> bool:
                    try:
                        return (await http.get("/ready")).status_code == 200
                    except httpx.TransportError:
                        return False

                await eventually(ready, timeout=60)
                yield http, started, environment


async def place_orders(http: httpx.AsyncClient, count: int) -> list[str]:
    plan = [
        (
            ("choreography", "orchestration")[i % 2],
            f"customer-00{1 + i % 3}",
            ("book-123", "book-789", "book-456")[i % 3],
        )
        for i in range(count)
    ]
    limit = asyncio.Semaphore(20)

    async def one(mode: str, customer: str, book: str) -> str:
        body = {"customerId": customer, "bookId": book, "quantity": 1, "price": PRICES[book], "sagaMode": mode}
        async with limit:
            response = await http.post("/orders", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["orderId"])

    return list(await asyncio.gather(*(one(*order) for order in plan)))


async def test_two_replicas_of_every_worker_survive_a_sigkill_of_one_each_and_keep_every_invariant(
    tmp_path: Path,
) -> None:
    async with distributed_system(tmp_path) as (http, started, environment):
        for service, fault, times in (("shipping", "fail", 3), ("payment", "timeout", 2), ("inventory", "fail", 1)):
            response = await http.post(
                "/admin/faults", json={"service": service, "fault": fault, "times": times}, headers=ADMIN
            )
            assert response.status_code == 201
        first = await place_orders(http, ORDERS // 2)
        assert set(started) == {"api", *ROLES}
        for role in ROLES:
            started[role][0].kill()  # SIGKILL: no goodbye, unacknowledged work left behind
        order_ids = first + await place_orders(http, ORDERS - len(first))

        async def all_over() -> bool:
            sagas = [(await http.get(f"/sagas/{order_id}")).json() for order_id in order_ids]
            return all(
                s.get("status") in ("COMPLETED", "FAILED")
                and not (s["sagaType"] == "orchestration" and s["currentStep"])
                for s in sagas
            )

        await eventually(all_over, timeout=240, interval=1)
        checker_env = {**environment, "CLOUDMART_SEED_DATA": "false"}

        async def invariants_hold() -> bool:
            checked = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "api.cli", "check"],
                cwd=ROOT,
                env=checker_env,
                capture_output=True,
                check=False,
            )
            return checked.returncode == 0

        await eventually(invariants_hold, timeout=60, interval=1)
        health = subprocess.run(
            [sys.executable, "-m", "api.cli", "worker-health"],
            cwd=ROOT,
            capture_output=True,
            check=False,
            env={**os.environ, "CLOUDMART_HEARTBEAT_FILE": str(tmp_path / "heartbeat")},
        )
        memory = {
            f"{role}-{i}": resident_kb(p)
            for role, group in started.items()
            for i, p in enumerate(group)
            if p.poll() is None
        }
        orders = [(await http.get(f"/orders/{order_id}")).json() for order_id in order_ids]
        books = {book["bookId"]: book for book in (await http.get("/inventory")).json()}
        customers = {c: (await http.get(f"/customers/{c}")).json() for c in INITIAL_CREDIT}
        shipments = [(await http.get(f"/shipments/{order_id}")).json().get("status") for order_id in order_ids]

    assert health.returncode == 0, health.stderr
    print("resident memory (MB):", {name: round(kb / 1024) for name, kb in memory.items()})
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
    assert all(kb < MEMORY_LIMIT_KB for kb in memory.values()), memory
