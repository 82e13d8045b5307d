"""Where each service's events live, chosen from the database URL alone."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from infra.settings import IN_MEMORY as IN_MEMORY  # where it has always been imported from
from infra.settings import Settings


class UnsupportedDatabaseError(ValueError):
    pass


def service_env(settings: Settings, service: str) -> dict[str, str]:
    """The eventsourcing configuration of one service's event store."""
    # Cached aggregates are brought up to date from the store on every read ("fast-forward"),
    # so the cache stays correct when other processes write the same aggregates.
    cache = {"AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size)} if settings.aggregate_cache_size else {}
    return cache | _store_env(settings, service)


def _store_env(settings: Settings, service: str) -> dict[str, str]:
    if settings.database_url == IN_MEMORY:
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    path = settings.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite tables are not prefixed per application: each service gets a file of its own.
        store = path.with_name(f"{path.stem}-{service}{path.suffix or '.db'}")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store), "SQLITE_LOCK_TIMEOUT": "30"}
    if settings.is_postgres:
        return _postgres_env(settings, service)
    raise UnsupportedDatabaseError(
        f"CLOUDMART_DATABASE_URL={settings.database_url!r}: "
        f"expected sqlite:///path/file.db, postgresql://… or {IN_MEMORY}"
    )


def _postgres_env(settings: Settings, service: str) -> dict[str, str]:
    url = make_url(settings.database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": "infra.postgres_events:EventsTableRecorder",
        "POSTGRES_DBNAME": url.database or "",
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": service,
        "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.postgres_max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": str(settings.postgres_connect_timeout_seconds),
    }
