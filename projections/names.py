"""The read models' names, for whoever must name one without loading them: the command line's
``cloudmart replay --projection``, the API's ``POST /admin/replay?projection=``."""

from __future__ import annotations

from enum import StrEnum


class ProjectionName(StrEnum):
    """A read model, by name; in the order a replay rebuilds them."""

    ORDERS = "orders"
    INVENTORY = "inventory"
    CUSTOMERS = "customers"
    PAYMENTS = "payments"
    SHIPMENTS = "shipments"
    SAGAS = "sagas"
    EVENTS = "events"
