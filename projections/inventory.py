from __future__ import annotations

from sqlalchemy import Connection

from handlers.messages import Envelope
from projections.projection import Projection, adjust, upsert
from projections.tables import inventory


def book_catalogued(connection: Connection, record: Envelope) -> None:
    p = record.payload
    upsert(
        connection,
        inventory,
        {"book_id": p["book_id"]},
        {
            "title": p["title"],
            "price": p["price"],
            "available_stock": p["stock"],
            "initial_stock": p["stock"],
            "reserved_stock": 0,
            "sold_stock": 0,
            "restocked": 0,
        },
    )


def book_restocked(connection: Connection, record: Envelope) -> None:
    quantity = record.payload["quantity"]
    adjust(connection, inventory, _book_of(record), {"available_stock": quantity, "restocked": quantity})


def stock_level_changed(connection: Connection, record: Envelope) -> None:
    p = record.payload
    adjust(
        connection,
        inventory,
        _book_of(record),
        {
            "available_stock": p["available_delta"],
            "reserved_stock": p["reserved_delta"],
            "sold_stock": p["sold_delta"],
        },
    )


def _book_of(record: Envelope) -> dict[str, str]:
    return {"book_id": record.payload["book_id"]}


projection = Projection(
    "inventory",
    (inventory,),
    {
        "BookCatalogued": book_catalogued,
        "BookRestocked": book_restocked,
        "StockLevelChanged": stock_level_changed,
    },
)
