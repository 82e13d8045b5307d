from __future__ import annotations

from handlers.messages import Record
from projections.projection import Change, Fold, Projection, Rows, added, merged
from projections.queries import Row
from projections.tables import inventory

INVENTORY = Rows(inventory, "book_id")


def book_catalogued(row: Row | None, record: Record) -> Row:
    p = record.payload
    values = {
        "title": p["title"],
        "price": p["price"],
        "available_stock": p["stock"],
        "initial_stock": p["stock"],
        "reserved_stock": 0,
        "sold_stock": 0,
        "restocked": 0,
    }
    return merged(row, {"book_id": p["book_id"]}, values)


def book_restocked(row: Row | None, record: Record) -> Row | None:
    quantity = record.payload["quantity"]
    return added(row, {"available_stock": quantity, "restocked": quantity})


def stock_level_changed(row: Row | None, record: Record) -> Row | None:
    p = record.payload
    return added(
        row,
        {"available_stock": p["available_delta"], "reserved_stock": p["reserved_delta"], "sold_stock": p["sold_delta"]},
    )


def _by_book(fold: Fold) -> Change:
    return Change(INVENTORY, lambda record: record.payload["book_id"], fold)


projection = Projection(
    "inventory",
    (inventory,),
    {
        "BookCatalogued": _by_book(book_catalogued),
        "BookRestocked": _by_book(book_restocked),
        "StockLevelChanged": _by_book(stock_level_changed),
    },
)
