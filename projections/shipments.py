from __future__ import annotations

from sqlalchemy import Connection

from domain.shipping import ABORTED, ARRANGED, CANCELLED, FAILED, WAITING
from handlers.messages import Envelope, iso
from projections.projection import Projection, Projector, upsert
from projections.tables import shipments


def _set(status: str, *fields: str) -> Projector:
    def project(connection: Connection, record: Envelope) -> None:
        values = {name: record.payload[name] for name in fields if record.payload.get(name) is not None}
        upsert(
            connection,
            shipments,
            {"order_id": record.order_id},
            {
                "id": record.aggregate_id,
                "status": status,
                **values,
                "updated_at": iso(record.occurred_at),
            },
        )

    return project


projection = Projection(
    "shipments",
    (shipments,),
    {
        "ShipmentOpened": _set(WAITING),
        "ShipmentPrerequisiteMet": _set(WAITING, "shipping_address"),
        "ShippingArranged": _set(ARRANGED, "shipping_address", "carrier", "tracking_number"),
        "ShippingFailed": _set(FAILED, "reason"),
        "ShipmentAborted": _set(ABORTED, "reason"),
        "ShipmentCancelled": _set(CANCELLED, "reason"),
    },
)
