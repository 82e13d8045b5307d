"""The read models' names, for whoever must name one without loading them: the command line's
``cloudmart replay --projection``, the API's ``POST /admin/replay?projection=``."""

from __future__ import annotations

from enum import StrEnum


class ProjectionName(StrEnum):
    """In the order a fresh replay builds them (``projections.catalog``)."""

    ORDERS = "orders"
    INVENTORY = "inventory"
    CUSTOMERS = "customers"
    PAYMENTS = "payments"
    SHIPMENTS = "shipments"
    SAGAS = "sagas"
    EVENTS = "events"
