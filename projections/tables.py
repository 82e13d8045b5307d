"""The read models (orders, inventory, payments, shipments, saga_instances), owned by the projections that fill them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    inspect,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, read back in UTC: ``timestamp with time zone`` on PostgreSQL; on SQLite, which has no such type,
    text in UTC (it hands back datetimes without a zone, which are UTC then)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


orders = Table(
    "orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), index=True),
    Column("book_id", String(64)),
    Column("quantity", Integer),
    Column("unit_price", Integer),
    Column("total_amount", Integer),
    Column("payment_method", String(32)),
    Column("shipping_address", Text),
    Column("status", String(16), index=True),
    Column("cancel_reason", Text),
    Column("saga_mode", String(16)),
    Column("tracking_number", String(64)),
    Column("created_at", UtcDateTime),
    Column("updated_at", UtcDateTime),
)

inventory = Table(
    "inventory",
    metadata,
    Column("book_id", String(64), primary_key=True),
    Column("title", Text),
    Column("available_stock", Integer),
    Column("reserved_stock", Integer),
    Column("sold_stock", Integer),
    Column("restocked", Integer),
    Column("initial_stock", Integer),
    Column("price", Integer),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("name", Text),
    Column("email", Text),
    Column("credit_limit", Integer),
    Column("initial_e_money", Integer),
    Column("credit_available", Integer),
    Column("e_money_balance", Integer),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), index=True),
    Column("order_id", String(64), unique=True),
    Column("outcome", String(16)),
    Column("reason", Text),
    Column("at", UtcDateTime),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(64), unique=True),
    Column("customer_id", String(64)),
    Column("amount", Integer),
    Column("payment_method", String(32)),
    Column("status", String(16)),
    Column("transaction_id", String(64)),
    Column("refund_id", String(64)),
    Column("reason", Text),
    Column("updated_at", UtcDateTime),
)

shipments = Table(
    "shipments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(64), unique=True),
    Column("shipping_address", Text),
    Column("carrier", String(64)),
    Column("tracking_number", String(64)),
    Column("status", String(16)),
    Column("reason", Text),
    Column("updated_at", UtcDateTime),
)

saga_instances = Table(
    "saga_instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(64), unique=True),
    Column("saga_type", String(16), index=True),
    Column("status", String(32), index=True),
    Column("current_step", String(32)),
    Column("payload", JSON),
    Column("history", JSON),
    Column("steps", JSON),
    Column("facts", JSON),
    Column("reason", Text),
    Column("due_at", UtcDateTime, index=True),
    Column("created_at", UtcDateTime, index=True),  # GET /sagas lists the newest first
    Column("updated_at", UtcDateTime),
)

event_log = Table(
    "event_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("service", String(32)),
    Column("position", BigInteger),
    Column("event_type", String(64), index=True),
    Column("aggregate_id", String(64), index=True),
    Column("version", Integer),
    Column("order_id", String(64), index=True),
    Column("message_id", String(160)),
    Column("causation_id", String(160)),
    Column("traceparent", String(64)),
    Column("payload", JSON),
    Column("timestamp", UtcDateTime),
    UniqueConstraint("service", "position"),
)

positions = Table(
    "positions",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def drop_outdated(connection: Connection) -> bool:
    """Drops every read model if one of them has an earlier layout (timestamps as text, a column missing):
    True if it did, and then they are all to be rebuilt from the event stores, as for a new database."""
    inspector = inspect(connection)
    stored = {
        table.name: inspector.get_columns(table.name) for table in read_models() if inspector.has_table(table.name)
    }
    text_timestamps = any(
        isinstance(table.c[column["name"]].type, UtcDateTime) and not isinstance(column["type"], DateTime)
        for table in read_models()
        for column in stored.get(table.name, [])
        if column["name"] in table.c
    )
    missing_columns = any(
        set(table.c.keys()) - {column["name"] for column in stored[table.name]}
        for table in read_models()
        if table.name in stored
    )
    outdated = text_timestamps or missing_columns
    if outdated:
        metadata.drop_all(connection, tables=[table for table in read_models() if table.name in stored])
    return outdated


def read_models() -> list[Table]:
    """The tables the projections fill (not the positions they keep)."""
    return [table for table in metadata.sorted_tables if table is not positions]
