"""Every read model, in the order a fresh replay builds them."""

from __future__ import annotations

from projections import customers, events, inventory, orders, payments, sagas, shipments
from projections.projection import Projection

PROJECTIONS: tuple[Projection, ...] = (
    orders.projection,
    inventory.projection,
    customers.projection,
    payments.projection,
    shipments.projection,
    sagas.projection,
    events.projection,
)
