"""When the ``cloudmart`` command cannot do its work (a wrong argument or setting, a port in use, a server that
does not answer or has no connection to spare) it says so in one line on stderr, exits non-zero (2: the
invocation or configuration is wrong; 1: the world is) and creates nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.infrastructure import POSTGRES_ADMIN, RABBITMQ_URL, REDIS_URL, unavailable

TOKEN = {"CLOUDMART_ADMIN_TOKEN": "a-secret-of-the-tests-0123456789"}
POSTGRES_BASE = POSTGRES_ADMIN.rsplit("/", 1)[0]
NOBODY_LISTENS = "postgresql://cloudmart:hunter2@127.0.0.1:1/cloudmart"
SECONDS = 30  # each case answers in a second or two; a hang fails the test instead of stalling the run


def cloudmart(cwd: Path, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *arguments],
        cwd=cwd,
        env={**environment, **variables},
        capture_output=True,
        text=True,
        timeout=SECONDS,
        stdin=subprocess.DEVNULL,
    )


def refusal(result: subprocess.CompletedProcess[str], code: int, cwd: Path) -> str:
    """The one line the command said, after checking that it exited with ``code`` and left ``cwd`` empty."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert list(cwd.iterdir()) == [], "the command created something"
    assert "hunter2" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "arguments",
    [["serve", "--bogus"], ["frobnicate"], ["worker", "nobody"], ["api", "--port", "70000"]],
    ids=" ".join,
)
def test_a_wrong_invocation_is_one_line_pointing_at_the_help(tmp_path: Path, arguments: list[str]) -> None:
    line = refusal(cloudmart(tmp_path, *arguments), 2, tmp_path)

    assert line.startswith("cloudmart: ")
    assert "--help`" in line


def test_an_unknown_service_is_refused_before_any_database_is_made(tmp_path: Path) -> None:
    line = refusal(cloudmart(tmp_path, "events", "dump", "--service", "nope"), 2, tmp_path)

    assert "'nope' is not one of" in line
    assert "'payments'" in line


@pytest.mark.parametrize(
    "arguments",
    [["serve"], ["worker", "orders"], ["check"], ["events", "dump"]],
    ids=" ".join,
)
def test_a_database_url_of_another_kind_is_refused_by_every_command(tmp_path: Path, arguments: list[str]) -> None:
    result = cloudmart(tmp_path, *arguments, CLOUDMART_DATABASE_URL="mysql://cloudmart:hunter2@127.0.0.1/cloudmart")

    line = refusal(result, 2, tmp_path)
    assert "CLOUDMART_DATABASE_URL" in line
    assert "not mysql://" in line


@pytest.mark.parametrize(
    ("variable", "url"),
    [("CLOUDMART_REDIS_URL", "http://127.0.0.1:6379"), ("CLOUDMART_RABBITMQ_URL", "amqp://guest:hunter2@")],
)
def test_a_broker_url_that_cannot_be_used_is_refused(tmp_path: Path, variable: str, url: str) -> None:
    line = refusal(cloudmart(tmp_path, "serve", **{variable: url}), 2, tmp_path)

    assert variable in line


@pytest.mark.parametrize("arguments", [["check"], ["events", "dump"]], ids=" ".join)
def test_a_command_that_reads_the_database_does_not_make_an_empty_one(tmp_path: Path, arguments: list[str]) -> None:
    line = refusal(cloudmart(tmp_path, *arguments), 1, tmp_path)

    assert "no database at var/cloudmart.db" in line
    assert "CLOUDMART_DATABASE_URL" in line


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "api"])
def test_a_port_in_use_is_said_before_anything_starts(tmp_path: Path, held_port: int, command: str) -> None:
    line = refusal(cloudmart(tmp_path, command, "--port", str(held_port)), 1, tmp_path)

    assert f"port {held_port} on 127.0.0.1 is in use" in line
    assert "--port" in line


def test_a_host_that_is_not_this_machines_is_a_wrong_invocation(tmp_path: Path) -> None:
    line = refusal(cloudmart(tmp_path, "serve", "--host", "no-such-host.invalid"), 2, tmp_path)

    assert "--host no-such-host.invalid" in line


@pytest.fixture
def postgres() -> str:
    try:
        psycopg.connect(POSTGRES_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        unavailable(str(error))
    return POSTGRES_BASE


@pytest.mark.parametrize("arguments", [["serve"], ["db", "upgrade"]], ids=" ".join)
def test_a_postgresql_that_does_not_answer_is_one_line_at_once(tmp_path: Path, arguments: list[str]) -> None:
    line = refusal(cloudmart(tmp_path, *arguments, CLOUDMART_DATABASE_URL=NOBODY_LISTENS, **TOKEN), 1, tmp_path)

    assert line == (
        "cloudmart: PostgreSQL at 127.0.0.1:1/cloudmart refused the connection (CLOUDMART_DATABASE_URL): "
        "start PostgreSQL, or fix the host and port in the URL"
    )


def test_an_unknown_database_is_named_with_what_to_do(tmp_path: Path, postgres: str) -> None:
    missing = f"cloudmart_test_missing_{uuid.uuid4().hex[:10]}"

    line = refusal(cloudmart(tmp_path, "serve", CLOUDMART_DATABASE_URL=f"{postgres}/{missing}", **TOKEN), 1, tmp_path)

    assert f"/{missing} has no such database (CLOUDMART_DATABASE_URL): create it" in line


def test_an_unknown_user_is_a_refused_login(tmp_path: Path, postgres: str) -> None:
    url = postgres.replace("://postgres@", f"://nobody_{uuid.uuid4().hex[:8]}:hunter2@") + "/postgres"

    line = refusal(cloudmart(tmp_path, "events", "dump", CLOUDMART_DATABASE_URL=url), 1, tmp_path)

    assert "refused the login (CLOUDMART_DATABASE_URL): fix the user and password" in line


@pytest.fixture
def full_database(postgres: str) -> Iterator[str]:
    """The URL of a database of the test's own, as a role of the test's own that may open no connection."""
    name = f"cloudmart_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT 0')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    try:
        yield postgres.replace("://postgres@", f"://{name}@") + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.parametrize("arguments", [["serve"], ["replay"]], ids=" ".join)
def test_a_postgresql_with_no_connection_to_spare_is_one_line_at_once(
    tmp_path: Path, full_database: str, arguments: list[str]
) -> None:
    line = refusal(cloudmart(tmp_path, *arguments, CLOUDMART_DATABASE_URL=full_database, **TOKEN), 1, tmp_path)

    assert "has no connection to spare (CLOUDMART_DATABASE_URL)" in line
    assert "CONNECTION LIMIT" in line


@pytest.mark.parametrize(
    ("variable", "url", "said"),
    [
        ("CLOUDMART_REDIS_URL", "redis://127.0.0.1:1/0", "Redis at 127.0.0.1:1 cannot be reached"),
        ("CLOUDMART_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/", "RabbitMQ at 127.0.0.1:1 cannot be reached"),
        ("CLOUDMART_RABBITMQ_URL", f"{RABBITMQ_URL.rstrip('/')}/cloudmart_test_no_such_vhost", "closed the connection"),
        ("CLOUDMART_RABBITMQ_URL", RABBITMQ_URL.replace(":guest@", ":hunter2@"), "refused the login"),
    ],
    ids=["redis-down", "rabbitmq-down", "rabbitmq-unknown-vhost", "rabbitmq-wrong-password"],
)
def test_a_broker_that_does_not_let_the_worker_in_is_one_line(
    tmp_path: Path, postgres: str, variable: str, url: str, said: str
) -> None:
    settings = {"CLOUDMART_DATABASE_URL": f"{postgres}/postgres", "CLOUDMART_REDIS_URL": REDIS_URL, **TOKEN}

    line = refusal(cloudmart(tmp_path, "worker", "orders", **{**settings, variable: url}), 1, tmp_path)

    assert said in line
    assert f"({variable})" in line
