"""Settings refuse a URL the services cannot use, and say what they expected without echoing a password."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.settings import Settings


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/cloudmart.db",
        "sqlite:////tmp/cloudmart.db",
        "postgresql://cloudmart:secret@db:5432/cloudmart",
        "postgresql+psycopg://cloudmart@db/cloudmart",
        "postgres://cloudmart@db/cloudmart",
        "postgresql:///cloudmart",
        "memory://",
    ],
)
def test_a_database_the_services_can_use_is_accepted(url: str) -> None:
    assert Settings(database_url=url).database_url == url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://cloudmart:hunter2@db/cloudmart", "not mysql://…"),
        ("postgresql+asyncpg://cloudmart:hunter2@db/cloudmart", "not postgresql+asyncpg://…"),
        ("cloudmart.db", "not something without a scheme"),
        ("sqlite:///", "three slashes, then the file"),
        ("sqlite://cloudmart.db", "three slashes, then the file"),
        ("postgresql://cloudmart:hunter2@db:99999/cloudmart", "the port is not a number"),
        ("postgresql://cloudmart:hunter2@db:port/cloudmart", "the port is not a number"),
    ],
)
def test_a_database_url_the_services_cannot_use_is_refused_naming_what_is_expected(url: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=url)

    (problem,) = refused.value.errors()
    assert problem["loc"] == ("database_url",)
    assert said in problem["msg"]
    assert "sqlite:///" in problem["msg"]
    assert "hunter2" not in problem["msg"]


@pytest.mark.parametrize(
    ("field", "url", "said"),
    [
        ("redis_url", "http://cache:6379", "not http://…"),
        ("redis_url", "redis://", "names no host"),
        ("redis_url", "redis://cache:redis/0", "the port is not a number"),
        ("rabbitmq_url", "amqp://guest:hunter2@", "names no host"),
        ("rabbitmq_url", "rabbitmq://guest:hunter2@broker/", "not rabbitmq://…"),
    ],
)
def test_a_broker_url_of_another_kind_or_without_a_host_is_refused(field: str, url: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: url})

    (problem,) = refused.value.errors()
    assert problem["loc"] == (field,)
    assert said in problem["msg"]
    assert "hunter2" not in problem["msg"]


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("redis_url", "redis://127.0.0.1:6379/0"),
        ("redis_url", "rediss://:secret@cache.example:6380/1"),
        ("rabbitmq_url", "amqp://guest:guest@127.0.0.1:5672/"),
        ("rabbitmq_url", "amqps://user:secret@broker.example/vhost"),
    ],
)
def test_a_broker_url_of_its_kind_is_accepted(field: str, url: str) -> None:
    assert getattr(Settings(**{field: url}), field) == url
