"""What the CLI does to the stores without running the system: create what is missing, check the
invariants, rebuild read models, open the services to read them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from handlers.services import Services
from infra.bootstrap import SERVICE_NAMES, build_services, create_tables
from infra.consistency import Violation, check
from infra.faults import InMemoryFaults
from infra.postgres_events import one_at_a_time
from infra.read_database import create_read_engine
from infra.read_model_rebuild import Progress, Rebuilt, projections_named, rebuild
from infra.settings import Settings

AUTOVACUUM_OFF = (
    "warning: PostgreSQL's autovacuum is off: the read models, rewritten in place, will fill with dead rows and"
    " their tables will have no statistics; turn it on (docs/configuration.md, 'The PostgreSQL server')"
)


def upgrade_database(settings: Settings) -> list[str]:
    """Creates whatever is missing (schemas, event tables, read-model tables); safe to run at every start."""
    engine = create_read_engine(settings)
    with one_at_a_time(settings):
        create_tables(settings, engine)
        with open_services(settings):
            pass  # opening the services creates their event tables
    autovacuum_off = settings.is_postgres and _setting(engine, "autovacuum") == "off"
    engine.dispose()
    ready = [f"{name}: event store ready" for name in SERVICE_NAMES] + ["read models: tables ready"]
    return ready + ([AUTOVACUUM_OFF] if autovacuum_off else [])


def _setting(engine: Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"SHOW {name}").scalar()


def check_consistency(settings: Settings) -> list[Violation]:
    """The invariants in docs/architecture.md against the configured stores; run it while the sagas are quiet."""
    engine = create_read_engine(settings)
    try:
        with open_services(settings) as services:
            return check(services, engine)
    finally:
        engine.dispose()


def replay_read_models(settings: Settings, names: Iterable[str] = (), progress: Progress = lambda *_: None) -> Rebuilt:
    """Rebuilds read models (all, or those named) from the configured event stores; safe while the system runs."""
    projections = projections_named(names)
    upgrade_database(settings)  # a read-model database made afresh can be filled from the stores
    engine = create_read_engine(settings)
    try:
        with open_services(settings) as services:
            return rebuild(engine, list(services.by_name().values()), projections, progress)
    finally:
        engine.dispose()


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """The services over the configured stores, for a command that reads them (no workers, no seeding)."""
    services = build_services(settings, InMemoryFaults())
    try:
        yield services
    finally:
        for app in services.by_name().values():
            app.close()
