"""``cloudmart --log-format json -v serve``, as an operator runs it for a log collector: every line it writes to
stderr is one JSON object, and the lines about an order say which order, saga mode, service and trace they are
about."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.common import SagaMode
from tests.infrastructure import free_port
from tests.support import as_customer, eventually

PARTICIPANTS = {"orders", "inventory", "payments", "shipping"}
ACTED = {SagaMode.CHOREOGRAPHY: PARTICIPANTS, SagaMode.ORCHESTRATION: {*PARTICIPANTS, "orchestrator"}}


class Served:
    """A ``cloudmart --log-format json -v serve`` of the test's own, in ``directory`` (its SQLite files in ./var/)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr = directory / "stderr.log"
        command = [sys.executable, "-m", "api.cli", "--log-format", "json", "-v", "serve", "--port", str(self.port)]
        environment = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}
        with self.stderr.open("wb") as stderr:
            self.process = subprocess.Popen(
                command, cwd=directory, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
            )

    def lines(self) -> list[str]:
        return self.stderr.read_text().splitlines()

    def stop(self) -> None:
        """SIGTERM, as a container runtime stops it: what it logs while shutting down is in ``lines`` too."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    served = Served(tmp_path)
    try:
        await eventually(lambda: ready(served), timeout=30)
        yield served
    finally:
        served.stop()


async def ready(served: Served) -> bool:
    assert served.process.poll() is None, "\n".join(served.lines())
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{served.url}/ready", timeout=1)).status_code == 200
    except httpx.TransportError:
        return False


async def place(served: Served, mode: SagaMode) -> str:
    """One order of book-789 for customer-001, answered once its saga is over."""
    body = {"customerId": "customer-001", "bookId": "book-789", "quantity": 1, "price": 2800, "sagaMode": mode}
    headers = {**as_customer("customer-001"), "Prefer": "wait=10"}
    async with httpx.AsyncClient(base_url=served.url, timeout=15) as http:
        answer = (await http.post("/orders", json=body, headers=headers)).json()
    assert answer["status"] == "COMPLETED", answer
    return str(answer["orderId"])


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"stderr line {number} is not JSON: {line!r}")
    return records


def notified(served: Served, order_id: str) -> bool:
    """Whether the customer has been told about the order: the last line its saga writes."""
    return any("notify customer-001" in line and order_id in line for line in served.lines())


@pytest.mark.parametrize("mode", list(SagaMode))
async def test_every_line_is_json_and_the_lines_about_an_order_name_it_its_saga_mode_service_and_trace(
    served: Served, mode: SagaMode
) -> None:
    order_id = await place(served, mode)
    await eventually(lambda: notified(served, order_id), timeout=10)
    served.stop()

    records = parsed(served.lines())

    about = [record for record in records if record.get("order_id") == order_id]
    assert about, "no line names the order"
    assert {record.get("saga_mode") for record in about} == {mode.value}, about
    assert all(record.get("service") for record in about), about
    assert ACTED[mode] <= {record["service"] for record in about}, "every service that acted says so"
    [trace_id] = {record.get("trace_id") for record in about}
    assert trace_id is not None and len(trace_id) == 32, "every line about a saga names its one trace"
