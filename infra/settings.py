from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.common import SagaMode

IN_MEMORY = "memory://"  # event stores in memory, for unit tests
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
REDIS_SCHEMES = ("redis", "rediss")
RABBITMQ_SCHEMES = ("amqp", "amqps")
DEV_ADMIN_TOKEN = "cloudmart-dev-admin"
# Tokens that are public knowledge: the development default and placeholders found in examples and compose files.
PLACEHOLDER_ADMIN_TOKENS = frozenset(
    {DEV_ADMIN_TOKEN, "", "change-me", "changeme", "change_me", "secret", "admin", "token"}
)


class UnsafeAdminTokenError(RuntimeError):
    """The admin token is public knowledge and the deployment is not a local sandbox."""


# How long a starting process waits for PostgreSQL's connections (eventsourcing's own default).
STARTUP_WAIT_SECONDS = 30


@dataclass(frozen=True)
class ConnectionBudget:
    """How one process's PostgreSQL connections are shared out: one for the listener that hears every
    save, the rest split between the pool the five event stores share and the read models' pool."""

    event_stores: int
    read_models: int
    listener: int = 1

    @classmethod
    def of(cls, connections: int) -> ConnectionBudget:
        event_stores = max(1, (connections - 1) // 2)
        return cls(event_stores=event_stores, read_models=max(1, connections - 1 - event_stores))


class Settings(BaseSettings):
    """Everything configurable, from ``CLOUDMART_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CLOUDMART_", frozen=True)

    database_url: str = Field(
        default="sqlite:///var/cloudmart.db",
        description="sqlite:///path/file.db (each service's event store beside it) or postgresql://...",
    )
    redis_url: str | None = Field(default=None, description="redis://host:6379/0: choreography over Redis Streams")
    rabbitmq_url: str | None = Field(
        default=None, description="amqp://user:pass@host/vhost: orchestration over RabbitMQ"
    )
    namespace: str = Field(
        default="cloudmart", pattern=r"^[a-z][a-z0-9_-]{0,40}$", description="prefix of Redis keys and RabbitMQ names"
    )
    postgres_connections: int = Field(
        default=20,
        ge=3,
        le=1000,
        description="the most connections one process opens to PostgreSQL: its event stores' pool, its read"
        " models' pool and the listener for saves (docs/configuration.md#connections)",
    )
    postgres_connect_timeout_seconds: int = Field(
        default=2,
        ge=1,
        description="how long an event-store call waits for a connection; eventsourcing tries 10 times, then 503",
    )
    aggregate_cache_size: int = Field(default=1000, ge=0, description="aggregates kept in memory per service")
    partitions: int = Field(
        default=4, ge=1, le=64, description="per-order ordering: each order's messages go through one partition"
    )
    redis_claim_idle_ms: int = Field(default=5000, ge=100, description="reclaim messages a dead consumer left pending")
    redis_trim_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how often a consumer trims from its streams what every group has acknowledged (0: never)",
    )
    saga_mode: SagaMode = SagaMode.CHOREOGRAPHY
    admin_token: str = DEV_ADMIN_TOKEN
    step_timeout_seconds: float = Field(default=5.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = Field(default=0.2, ge=0)
    delivery_attempts: int = Field(
        default=5, ge=1, le=100, description="tries of a message's handler before the message is parked"
    )
    delivery_backoff_seconds: float = Field(
        default=0.1, ge=0, le=60, description="wait after a message's first failed try, doubled after each next one"
    )
    delivery_max_backoff_seconds: float = Field(default=1.0, ge=0, le=600, description="the longest wait between tries")
    poll_interval_seconds: float = Field(
        default=0.05, gt=0, description="how often a waiting request looks at the read models again"
    )
    idle_poll_seconds: float = Field(
        default=1.0, gt=0, description="how long a log reader with nothing to do waits, unless a save wakes it"
    )
    tick_interval_seconds: float = Field(default=0.2, gt=0)
    relay_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how long a relay's (or the notifier's) lease lasts: a standby takes over at most this late",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the port a `cloudmart worker` serves /metrics on (unset: none); the API serves its own",
    )
    seed_data: bool = True
    trace_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]*\{traceId\}[^\s]*$",
        description="where the Saga Explorer links a trace, e.g. http://localhost:16686/trace/{traceId} (Jaeger)",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=16 * 1024 * 1024, description="larger request bodies are refused with 413"
    )

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, url: str) -> str:
        if url == IN_MEMORY:
            return url
        if url.startswith("sqlite:") and (not url.startswith("sqlite:///") or not url.removeprefix("sqlite:///")):
            raise ValueError("expected sqlite:///path/file.db (three slashes, then the file)")
        return _checked(
            url, DATABASE_SCHEMES, "sqlite:///path/file.db or postgresql://user:password@host:5432/database"
        )

    @field_validator("redis_url")
    @classmethod
    def _a_redis_url(cls, url: str | None) -> str | None:
        return url and _checked(url, REDIS_SCHEMES, "redis://host:6379/0 or rediss://…", needs_host=True)

    @field_validator("rabbitmq_url")
    @classmethod
    def _a_rabbitmq_url(cls, url: str | None) -> str | None:
        return url and _checked(
            url, RABBITMQ_SCHEMES, "amqp://user:password@host:5672/vhost or amqps://…", needs_host=True
        )

    @property
    def connection_budget(self) -> ConnectionBudget:
        return ConnectionBudget.of(self.postgres_connections)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))

    def refuse_unsafe_admin_token(self) -> None:
        if self.unsafe_admin_token:
            raise UnsafeAdminTokenError(self.unsafe_admin_token)

    @property
    def unsafe_admin_token(self) -> str | None:
        """Why the admin token must not be used with this configuration, or None if it may."""
        if self.is_postgres and self.admin_token.strip().lower() in PLACEHOLDER_ADMIN_TOKENS:
            what = "unset" if self.admin_token == DEV_ADMIN_TOKEN else "a placeholder"
            return (
                f"refusing to start: CLOUDMART_ADMIN_TOKEN is {what} and the database is PostgreSQL;"
                " set it to a secret, e.g. `openssl rand -hex 32`"
            )
        return None

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        return Path(self.database_url.removeprefix(prefix)) if self.database_url.startswith(prefix) else None


def _checked(url: str, schemes: tuple[str, ...], expected: str, needs_host: bool = False) -> str:
    """``url`` if its scheme is one of ``schemes`` and its host and port can be read. The messages name the
    scheme at most: the rest of a URL may hold a password."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not url.startswith(f"{parts.scheme}:"):
        found = f"{parts.scheme}://…" if parts.scheme else "something without a scheme"
        raise ValueError(f"expected {expected}, not {found}")
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        raise ValueError(f"expected {expected}: the port is not a number from 0 to 65535") from None
    if needs_host and not parts.hostname:
        raise ValueError(f"expected {expected}: the URL names no host")
    return url
