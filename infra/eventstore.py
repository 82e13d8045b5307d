"""Where each service's events live, chosen from the database URL alone."""

from __future__ import annotations

from infra.settings import Settings

IN_MEMORY = "memory://"


class UnsupportedDatabaseError(ValueError):
    pass


def service_env(settings: Settings, service: str) -> dict[str, str]:
    """The eventsourcing configuration of one service's event store."""
    if settings.database_url == IN_MEMORY:
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    path = settings.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite tables are not prefixed per application: each service gets a file of its own.
        store = path.with_name(f"{path.stem}-{service}{path.suffix or '.db'}")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store), "SQLITE_LOCK_TIMEOUT": "30"}
    raise UnsupportedDatabaseError(
        f"CLOUDMART_DATABASE_URL={settings.database_url!r}: expected sqlite:///path/file.db or {IN_MEMORY}"
    )
