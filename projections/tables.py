"""The read models (orders, inventory, payments, shipments, saga_instances), owned by the projections that fill them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


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
    Column("created_at", String(32)),
    Column("updated_at", String(32)),
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
    Column("at", String(32)),
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
    Column("updated_at", String(32)),
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
    Column("updated_at", String(32)),
)

saga_instances = Table(
    "saga_instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(64), unique=True),
    Column("saga_type", String(16)),
    Column("status", String(32), index=True),
    Column("current_step", String(32)),
    Column("payload", JSON),
    Column("history", JSON),
    Column("steps", JSON),
    Column("facts", JSON),
    Column("reason", Text),
    Column("due_at", String(32), index=True),
    Column("created_at", String(32)),
    Column("updated_at", String(32)),
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
    Column("payload", JSON),
    Column("timestamp", String(32)),
    UniqueConstraint("service", "position"),
)

positions = Table(
    "positions",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
)
