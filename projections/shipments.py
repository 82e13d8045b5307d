from __future__ import annotations

from domain.shipping import ABORTED, ARRANGED, CANCELLED, FAILED, WAITING
from handlers.messages import Record
from projections.projection import Change, Projection, Rows, merged, order_of
from projections.queries import Row
from projections.tables import shipments

SHIPMENTS = Rows(shipments, "order_id")


def _set(status: str, *fields: str) -> Change:
    def fold(row: Row | None, record: Record) -> Row:
        values = {name: record.payload[name] for name in fields if record.payload.get(name) is not None}
        changed = {"id": record.aggregate_id, "status": status, **values, "updated_at": record.occurred_at}
        return merged(row, {"order_id": record.order_id}, changed)

    return Change(SHIPMENTS, order_of, fold)


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
