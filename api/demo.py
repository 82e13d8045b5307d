"""``cloudmart demo``: every scenario of the catalogue, run through the API in each saga style, each saga
printed as a timeline of its events in causal order, then a table of what was expected and what happened.

With no ``--url`` the demo runs the whole system itself, embedded, in a temporary directory; otherwise it
drives a running service with its admin token."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from api.app import create_app
from api.preflight import USAGE, CannotProceedError
from api.scenario_runs import UNCHANGED
from domain import saga as saga_states
from domain.events import COMMAND_DISPATCHED
from handlers.scenarios import DELIVER_AGAIN, SCENARIOS, Actual, Outcome
from infra.settings import Settings
from projections.sagas import COMPENSATING_EVENTS, SAGA_INTERVENED, SAGA_STUCK, compensations_of

T = TypeVar("T")
EMBEDDED_STEP_TIMEOUT_SECONDS = 1.0  # the step-timeout scenario's three tries take seconds, not a quarter minute
WAIT_SECONDS = 120.0
LONG_POLL_SECONDS = 20
CUSTOMER_NOTIFIED = "CustomerNotified"
EFFECTS = ("StockReserved", "PaymentCompleted", "ShippingArranged", "OrderCompleted", "StockSold")
UNDOINGS = ("StockReleased", "PaymentRefunded", "OrderCancelled")
_COMPENSATION_COMMANDS = {step.command_name for step in saga_states.COMPENSATIONS}
_COMPENSATION_STEPS = {step.name for step in saga_states.COMPENSATIONS}
# how each kind of event is told apart: a symbol for every reader, a colour for those who see it
FORWARD, COMPENSATION, FAILURE, TIMEOUT, OPERATOR, OTHER = (
    ("→", "green"),
    ("↩", "yellow"),
    ("✗", "red"),
    ("⏱", "magenta"),
    ("⚑", "cyan"),
    ("·", "dim"),
)


@dataclass(frozen=True)
class Result:
    scenario: str
    mode: str
    expected: Outcome
    actual: Actual

    @property
    def differences(self) -> list[str]:
        return self.actual.differences(self.expected, self.mode)


@contextlib.asynccontextmanager
async def embedded() -> AsyncIterator[httpx.AsyncClient]:
    """The whole system in this process, on SQLite in a temporary directory, with the seed data."""
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="cloudmart-demo-") as directory:
        settings = Settings(
            database_url=f"sqlite:///{directory}/cloudmart.db",
            redis_url=None,
            rabbitmq_url=None,
            admin_token=token,
            seed_data=True,
            step_timeout_seconds=EMBEDDED_STEP_TIMEOUT_SECONDS,
        )
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            _client(httpx.ASGITransport(app=app), "http://cloudmart", token) as c,
        ):
            yield c


def remote(url: str, token: str) -> httpx.AsyncClient:
    if not url.startswith(("http://", "https://")):
        raise CannotProceedError(f"--url {url}: expected http://host:port or https://…", USAGE)
    return _client(httpx.AsyncHTTPTransport(), url, token)


def _client(transport: httpx.AsyncBaseTransport, url: str, token: str) -> httpx.AsyncClient:
    timeout = httpx.Timeout(LONG_POLL_SECONDS + 10.0, connect=5.0)
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(transport=transport, base_url=url, headers=headers, timeout=timeout)


async def run_demo(client: httpx.AsyncClient, names: list[str], modes: list[str], console: Console) -> list[Result]:
    """Runs the scenarios named (all by default) in ``modes``, one after the other, printing each saga."""
    catalogue = await _catalogue(client)
    unknown = [name for name in names if name not in catalogue]
    if unknown:
        raise CannotProceedError(f"--scenario {unknown[0]}: no such scenario; there are {', '.join(catalogue)}", USAGE)
    results = []
    for name in names or list(catalogue):
        for run in await _launch(client, name, modes):
            mode, order_id = run["sagaMode"], run["orderId"]
            actual, events = await _follow(client, name, order_id)
            expected = _outcome(catalogue[name]["expected"][mode])
            results.append(Result(name, mode, expected, actual))
            console.print(timeline(f"{name} · {mode} · order {order_id}", events))
    console.print(summary(results))
    return results


async def _catalogue(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    where = str(client.base_url).rstrip("/")
    try:
        response = await client.get("/scenarios")
    except httpx.TransportError as error:
        raise CannotProceedError(
            f"--url {where}: nothing answers there ({type(error).__name__}); start it with `cloudmart serve`, "
            "or leave --url out to run the demo on its own"
        ) from None
    if response.status_code in (401, 403):
        raise CannotProceedError(f"--token: {where} refused it; pass its CLOUDMART_ADMIN_TOKEN", USAGE)
    if response.status_code != 200:
        raise CannotProceedError(f"--url {where}: GET /scenarios answered {response.status_code}; is it CloudMart?")
    return {scenario["name"]: scenario for scenario in response.json()}


async def _launch(client: httpx.AsyncClient, name: str, modes: list[str]) -> list[dict[str, str]]:
    """Starts the scenario, once the one before it has finished in the background (409 until then)."""

    async def started() -> list[dict[str, str]] | None:
        response = await client.post(f"/scenarios/{name}/run", json={"sagaModes": modes})
        if response.status_code == 409:
            return None
        _ok(response)
        runs: list[dict[str, str]] = response.json()["runs"]
        return runs

    return await _eventually(started, f"scenario {name} could not start: another run never finished")


async def _follow(client: httpx.AsyncClient, name: str, order_id: str) -> tuple[Actual, list[dict[str, Any]]]:
    """Waits for the saga to be over and the customer told (and a duplicate delivered), then reads how it ended."""

    async def over() -> dict[str, Any] | None:
        response = await client.get(f"/sagas/{order_id}", headers={"Prefer": f"wait={LONG_POLL_SECONDS}"})
        saga: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        in_flight = saga and saga["sagaType"] == "orchestration" and saga["currentStep"]
        return saga if saga and saga["status"] in ("COMPLETED", "FAILED") and not in_flight else None

    deliver_again = any(s.name == name and s.follow_up == DELIVER_AGAIN for s in SCENARIOS)

    async def told() -> list[dict[str, Any]] | None:
        events: list[dict[str, Any]] = _ok(await client.get(f"/orders/{order_id}/events")).json()
        types = {event["eventType"] for event in events}
        done = CUSTOMER_NOTIFIED in types and (not deliver_again or SAGA_INTERVENED in types)
        return events if done else None

    saga = await _eventually(over, f"the saga of order {order_id} did not end")
    events = await _eventually(told, f"order {order_id}: the customer was never told")
    order = _ok(await client.get(f"/orders/{order_id}")).json()
    saga = _ok(await client.get(f"/sagas/{order_id}")).json()
    return actual_outcome(order, saga, events, deliver_again), events


def actual_outcome(
    order: dict[str, Any], saga: dict[str, Any], events: list[dict[str, Any]], delivered_again: bool = False
) -> Actual:
    """How the saga ended, as the API shows it; and anything recorded twice that must happen once."""
    counts = Counter(event["eventType"] for event in events)
    problems = [f"{kind} recorded {counts[kind]} times" for kind in (*EFFECTS, *UNDOINGS) if counts[kind] > 1]
    if delivered_again:
        notes = [e["payload"].get("reason", "") for e in events if e["eventType"] == SAGA_INTERVENED]
        if not any(UNCHANGED in note for note in notes):
            problems.append(f"the duplicate delivery did not leave {UNCHANGED}: {notes}")
    return Actual(
        status=order["status"],
        saga_status=saga["status"],
        compensations=tuple(compensations_of({"saga_type": saga["sagaType"], "steps": saga["steps"]})),
        cancel_reason=order["cancelReason"],
        problems=tuple(problems),
    )


def timeline(title: str, events: list[dict[str, Any]]) -> Table:
    """One row per event in causal order: when, which service, what, and what it reacted to."""
    table = Table(title=title, title_justify="left", expand=False)
    for column, justify in (("+ms", "right"), ("service", "left"), ("", "center"), ("event", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("caused by", style="dim")
    start = min((_moment(event) for event in events), default=None)
    names = _message_names(events)
    for event in events:
        symbol, colour = kind_of(event)
        offset = (_moment(event) - start).total_seconds() * 1000 if start else 0.0
        table.add_row(
            f"{offset:,.0f}",
            event["service"],
            Text(symbol, style=colour),
            Text(_label(event), style=colour),
            names.get(event["causationId"] or "", _cause(event["causationId"])),
        )
    return table


def kind_of(event: dict[str, Any]) -> tuple[str, str]:
    """Forward, compensation, failure, timeout, an operator's mark, or neither: a symbol and a colour."""
    kind, payload = event["eventType"], event["payload"]
    if kind in (SAGA_STUCK, SAGA_INTERVENED):
        return OPERATOR
    if kind == "StepTimedOut":
        return TIMEOUT
    if kind in saga_states.FORWARD_FAILURES or kind == "StepFailed" or payload.get("state") == saga_states.FAILED:
        return FAILURE
    compensating = (
        kind in COMPENSATING_EVENTS
        or payload.get("command") in _COMPENSATION_COMMANDS
        or payload.get("step") in _COMPENSATION_STEPS
        or payload.get("state") == saga_states.COMPENSATION_STARTED
    )
    if compensating:
        return COMPENSATION
    return OTHER if kind in (CUSTOMER_NOTIFIED, "ReplyReceived") else FORWARD


def _label(event: dict[str, Any]) -> str:
    payload = event["payload"]
    if event["eventType"] == COMMAND_DISPATCHED:
        attempt = payload.get("attempt", 1)
        return f"{COMMAND_DISPATCHED} {payload.get('command')}" + (f" (try {attempt})" if attempt > 1 else "")
    if event["eventType"] == "SagaStateChanged":
        return f"SagaStateChanged → {payload.get('state')}"
    return str(event["eventType"])


def _message_names(events: list[dict[str, Any]]) -> dict[str, str]:
    """What each message id in the trail is: an event's type and place, or the command a dispatch sent."""
    names = {event["messageId"]: f"{event['eventType']} ({event['messageId']})" for event in events}
    for event in events:
        if event["eventType"] == COMMAND_DISPATCHED:
            names[str(event["payload"].get("messageId"))] = f"{event['payload'].get('command')} command"
    return names


def _cause(causation_id: str | None) -> str:
    if not causation_id:
        return "—"
    return "an HTTP request" if causation_id.startswith("request:") else causation_id


def _moment(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"])


def summary(results: list[Result]) -> Table:
    table = Table(title="Scenarios: expected and actual outcomes", title_justify="left")
    for column in ("scenario", "style"):
        table.add_column(column, no_wrap=True)
    table.add_column("expected")
    table.add_column("actual")
    table.add_column("", no_wrap=True)
    for result in results:
        differences = result.differences
        mark = Text("✓", style="green") if not differences else Text("✗", style="bold red")
        actual = _describe(result.actual.status, result.actual.saga_status, result.actual.compensations)
        actual += "".join(f"\n✗ {difference}" for difference in differences)
        table.add_row(result.scenario, result.mode, _describe_outcome(result.expected), actual, mark)
    return table


def _describe_outcome(outcome: Outcome) -> str:
    described = _describe(outcome.status, outcome.saga_status, outcome.compensations)
    return described + (f"\nreason: {outcome.reason}…" if outcome.reason else "")


def _describe(status: str, saga_status: str, compensations: tuple[str, ...]) -> str:
    return f"{status} · saga {saga_status}" + (f"\nundone: {', '.join(compensations)}" if compensations else "")


def _outcome(view: dict[str, Any]) -> Outcome:
    return Outcome(view["status"], view["sagaStatus"], tuple(view["compensations"]), view["reason"])


def _ok(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise CannotProceedError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:200]}"
        )
    return response


async def _eventually(check: Callable[[], Awaitable[T | None]], failure: str) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise CannotProceedError(f"{failure} within {WAIT_SECONDS:.0f} s")
