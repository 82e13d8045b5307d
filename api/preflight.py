"""What must hold before a ``cloudmart`` command touches anything: valid settings, a free port, servers that
answer. Each failure is one line that names the setting or option and says what to do; nothing is created first.

The database and broker clients are imported where they are used, so that a command refused for its arguments or
settings is refused in a fraction of a second, before they load.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import sqlite3
from collections.abc import Iterator
from urllib.parse import urlsplit

from pydantic import ValidationError

from infra.settings import Settings

TIMEOUT_SECONDS = 5.0
USAGE, FAILURE = 2, 1  # exit codes: the command or its configuration is wrong; the world is
Broker = tuple[str, str, int]  # its name, the variable that says where it is, its usual port
REDIS: Broker = ("Redis", "CLOUDMART_REDIS_URL", 6379)
RABBITMQ: Broker = ("RabbitMQ", "CLOUDMART_RABBITMQ_URL", 5672)


class CannotProceedError(Exception):
    """One line saying what is wrong and what to do, and the exit code that goes with it."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def settings_from_environment() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = [
            f"CLOUDMART_{'_'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        ]
        raise CannotProceedError("; ".join(problems) + "; fix the environment variable", USAGE) from None


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket the API will serve on, bound now, so that a port in use is said before anything starts."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise CannotProceedError(f"--host {host}: no such address; pass an address of this machine", USAGE) from None
    listener = socket.socket(family, kind, protocol)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        code = USAGE if error.errno == errno.EADDRNOTAVAIL else FAILURE
        raise CannotProceedError(_bind_problem(error, host, port), code) from None
    listener.set_inheritable(True)
    return listener


def _bind_problem(error: OSError, host: str, port: int) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use: stop what listens there, or pass --port with a free port"
    if error.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges this process lacks: pass --port above 1023"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine: pass one that is, e.g. 127.0.0.1 or 0.0.0.0"
    return f"cannot listen on {host}:{port}: {error.strerror}"


def reach(settings: Settings, *, brokers: bool = False, existing: bool = False) -> None:
    """Connects once to the database (and, with ``brokers``, to Redis and RabbitMQ); with ``existing`` an
    SQLite database must be there already (a command that only reads it must not make an empty one)."""
    if settings.sqlite_path is not None and existing and not settings.sqlite_path.exists():
        raise CannotProceedError(
            f"no database at {settings.sqlite_path} (CLOUDMART_DATABASE_URL): start `cloudmart serve` once to "
            "create it, or point the variable at an existing one"
        )
    if settings.is_postgres:
        _reach_postgres(settings)
    if brokers and settings.redis_url:
        _reach_redis(settings.redis_url)
    if brokers and settings.rabbitmq_url:
        _reach_rabbitmq(settings.rabbitmq_url)


def _reach_postgres(settings: Settings) -> None:
    import psycopg

    from infra.postgres_events import conninfo

    try:
        psycopg.connect(
            conninfo(settings.database_url), connect_timeout=settings.postgres_connect_timeout_seconds
        ).close()
    except psycopg.Error as error:
        raise CannotProceedError(postgres_problem(error, settings)) from None


# What libpq says (it gives no SQLSTATE for a refused connection), and what to do about it.
_POSTGRES_ADVICE = (
    (
        ("too many clients", "too many connections", "connection slots are reserved"),
        "has no connection to spare",
        "stop idle clients, or raise max_connections or the role's CONNECTION LIMIT",
    ),
    (
        ("password authentication failed", 'role "', "no pg_hba.conf entry", "authentication"),
        "refused the login",
        "fix the user and password in the URL",
    ),
    (('database "',), "has no such database", "create it (`createdb <name>`) or fix the name in the URL"),
    (
        ("timeout expired",),
        "did not answer in time",
        "check the host and port, or raise CLOUDMART_POSTGRES_CONNECT_TIMEOUT_SECONDS",
    ),
    (("could not translate host name", "name or service not known"), "is an unknown host", "fix the host in the URL"),
    (("connection refused",), "refused the connection", "start PostgreSQL, or fix the host and port in the URL"),
)


def postgres_problem(error: BaseException, settings: Settings) -> str:
    said = str(error).lower()
    parts = urlsplit(settings.database_url)
    where = f"PostgreSQL at {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
    for clues, what, advice in _POSTGRES_ADVICE:
        if any(clue in said for clue in clues):
            return f"{where} {what} (CLOUDMART_DATABASE_URL): {advice}"
    return f"{where} cannot be used (CLOUDMART_DATABASE_URL): {_first_line(error)}; check the URL and the server's log"


def _reach_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    try:
        client.ping()
    except redis.RedisError as error:
        raise CannotProceedError(broker_problem(REDIS, url, error)) from None
    finally:
        client.close()


def _reach_rabbitmq(url: str) -> None:
    import aio_pika
    from aiormq.exceptions import AMQPError

    async def connect() -> None:
        connection = await aio_pika.connect(url, timeout=TIMEOUT_SECONDS)
        await connection.close()

    try:
        with _unlogged():
            asyncio.run(connect())
    except (AMQPError, OSError, TimeoutError) as error:
        raise CannotProceedError(broker_problem(RABBITMQ, url, error)) from None


def broker_problem(broker: Broker, url: str, error: BaseException) -> str:
    import redis
    from aiormq.exceptions import AMQPError, ProbableAuthenticationError

    name, variable, default_port = broker
    parts = urlsplit(url)
    where = f"{name} at {parts.hostname}:{parts.port or default_port}"
    said = str(error).lower()
    if isinstance(error, ProbableAuthenticationError | redis.AuthenticationError) or "auth" in said:
        return f"{where} refused the login ({variable}): fix the user and password in the URL"
    if "max number of clients" in said:
        return f"{where} has no connection to spare ({variable}): stop idle clients, or raise its maxclients"
    if isinstance(error, TimeoutError | redis.TimeoutError) or "timed out" in said:
        return f"{where} did not answer in time ({variable}): check the host and port"
    if isinstance(error, AMQPError) and not isinstance(error, OSError):
        return f"{where} closed the connection ({variable}): check the virtual host and the user's permissions"
    return f"{where} cannot be reached ({variable}): start {name}, or fix the host and port in the URL"


@contextlib.contextmanager
def _unlogged() -> Iterator[None]:
    """Without the libraries' own log lines about the failure this module reports in one (it runs before any
    other thread does, so nothing else goes unlogged meanwhile)."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def explain(error: BaseException, settings: Settings) -> str | None:
    """A database or broker failure met after the checks (a server went away meanwhile) as one line, or None
    if ``error`` is not one."""
    import psycopg
    import redis
    from aiormq.exceptions import AMQPError

    for cause in _causes(error):
        if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
            return postgres_problem(cause, settings)
        if isinstance(cause, sqlite3.OperationalError):
            return f"the SQLite database {settings.sqlite_path} cannot be used (CLOUDMART_DATABASE_URL): {cause}"
        if isinstance(cause, redis.ConnectionError) and settings.redis_url:
            return broker_problem(REDIS, settings.redis_url, cause)
        if isinstance(cause, AMQPError) and settings.rabbitmq_url:
            return broker_problem(RABBITMQ, settings.rabbitmq_url, cause)
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps (SQLAlchemy's ``orig``) or was raised from, and so on."""
    met: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in met:
        met.add(id(cause))
        yield cause
        cause = getattr(cause, "orig", None) or cause.__cause__ or cause.__context__
