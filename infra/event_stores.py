"""Where each service's events live, chosen from the database URL alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresDatastore
from sqlalchemy.engine import make_url

from infra.settings import IN_MEMORY as IN_MEMORY  # where it has always been imported from
from infra.settings import STARTUP_WAIT_SECONDS, Settings


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
        "PERSISTENCE_MODULE": "infra.postgres_events:ServiceStoreFactory",
        "POSTGRES_DBNAME": url.database or "",
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": service,
        # Lazy (none kept open but those in use) and at most the budget: ``share_one_pool`` then gives the
        # first store's pool to all five.
        "POSTGRES_POOL_SIZE": "0",
        "POSTGRES_MAX_OVERFLOW": str(settings.connection_budget.event_stores),
        # Building a store opens its first connections; that may wait longer than a call later does, since a
        # busy server (a burst of starts, a checkpoint) must not stop a process from starting. ``share_one_pool``
        # then sets the configured wait.
        "POSTGRES_CONNECT_TIMEOUT": str(max(STARTUP_WAIT_SECONDS, settings.postgres_connect_timeout_seconds)),
    }


def share_one_pool(apps: Iterable[Application[Any]], settings: Settings) -> None:
    """Lets the services' PostgreSQL event stores take turns on the first one's pool, so that a process
    opens at most its budget's ``event_stores`` connections, not that many per service. The other pools
    are closed (each held only the connection that created its table). From now on a call waits for a
    connection as long as the settings say, not the start-up's wait."""
    datastores = [datastore for app in apps if isinstance(datastore := _datastore_of(app), PostgresDatastore)]
    if not datastores:
        return
    shared = datastores[0].pool
    shared.timeout = settings.postgres_connect_timeout_seconds
    for datastore in datastores[1:]:
        datastore.pool.close()
        datastore.pool = shared


def _datastore_of(app: Application[Any]) -> object:
    return getattr(app.factory, "datastore", None)
