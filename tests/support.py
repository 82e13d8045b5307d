"""What the tests share: waiting on conditions with a deadline, the API's credentials, and what an answer or the
event stores must show."""

from __future__ import annotations

import asyncio
import base64
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from eventsourcing.persistence import DatetimeAsISO
from fastapi import FastAPI
from freezegun.api import FakeDatetime
from prometheus_client.parser import text_string_to_metric_families
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from api.auth import CHALLENGE
from handlers.services import Services
from infra.settings import Settings

T = TypeVar("T")
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEMO_PASSWORD = "cloudmart"  # the seed customers' password


def as_customer(customer_id: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """The ``Authorization`` header of a customer (HTTP Basic: username = customer id)."""
    token = base64.b64encode(f"{customer_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class _Given(Settings):
    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **others: object
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_of(**values: object) -> Settings:
    """``Settings`` from ``values`` and the defaults alone: no ``CLOUDMART_*`` variable of the machine gets in."""
    return _Given(**values)  # type: ignore[arg-type]


async def eventually(check: Callable[[], Awaitable[T] | T], timeout: float = 15.0, interval: float = 0.02) -> T:
    """Polls ``check`` (a coroutine function or a plain one) until it returns something truthy, or fails with its
    last answer at the deadline."""
    loop = asyncio.get_running_loop()  # its clock stays real under freezegun's real_asyncio
    deadline = loop.time() + timeout
    while True:
        answer = check()
        result = await answer if inspect.isawaitable(answer) else answer
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last answer: {result!r}")
        await asyncio.sleep(interval)


async def seeded(client: httpx.AsyncClient) -> None:
    """Waits until the seed data is in the read models (the projector runs in the background): the books and the
    customers, both."""

    async def ready() -> bool:
        book = await client.get("/inventory/book-123")
        customer = await client.get("/customers/customer-003")
        return book.status_code == 200 and customer.status_code == 200

    await eventually(ready)


def assert_json_error(response: httpx.Response, *expected: int) -> Any:
    """The answer is one of the ``expected`` statuses, with a JSON body whose ``detail`` says what is wrong."""
    assert response.status_code in expected, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict)
    assert "detail" in body
    assert body["detail"], "the error must say what is wrong"
    assert "Traceback" not in response.text
    return body["detail"]


async def event_positions(app: FastAPI, *names: str) -> dict[str, int]:
    """The last notification id of each service's event store (all by default): a recorded event moves one."""
    services = app.state.runtime.services.by_name()

    def read() -> dict[str, int]:
        return {
            name: service.recorder.max_notification_id() or 0
            for name, service in services.items()
            if not names or name in names
        }

    return await asyncio.to_thread(read)


def assert_refused(response: httpx.Response) -> None:
    """401 with a detail of this API's, and the challenge that names both ways in (HTTP Basic and the bearer token)."""
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.json()["detail"] not in ("", "Not authenticated")  # FastAPI's own, which says nothing
    assert response.headers["www-authenticate"] == CHALLENGE


class _FrozenDatetimeAsISO(DatetimeAsISO):
    type = FakeDatetime


def stores_frozen_datetimes(services: Services) -> None:
    """Teaches the event stores to store the datetimes freezegun makes while it stops time."""
    for service in services.by_name().values():
        service.mapper.transcoder.register(_FrozenDatetimeAsISO())


def metric(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``, in a Prometheus text exposition."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
