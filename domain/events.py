"""The names of the events other layers match on: routing tables, the saga's steps, the relays.

Each name is the class name its aggregate records (``@event("OrderCreated")``), and the stored
topic is built from it: a name here never changes, or stored events stop loading.
"""

from __future__ import annotations

# orders
ORDER_CREATED = "OrderCreated"
ORDER_COMPLETED = "OrderCompleted"
ORDER_CANCELLED = "OrderCancelled"

# inventory
STOCK_RESERVED = "StockReserved"
STOCK_UNAVAILABLE = "StockUnavailable"
STOCK_RELEASED = "StockReleased"
STOCK_SOLD = "StockSold"
RESERVATION_VOIDED = "ReservationVoided"

# payments
PAYMENT_COMPLETED = "PaymentCompleted"
PAYMENT_FAILED = "PaymentFailed"
PAYMENT_REFUNDED = "PaymentRefunded"
PAYMENT_VOIDED = "PaymentVoided"

# shipping
SHIPPING_ARRANGED = "ShippingArranged"
SHIPPING_FAILED = "ShippingFailed"
SHIPMENT_ABORTED = "ShipmentAborted"
SHIPMENT_CANCELLED = "ShipmentCancelled"

# what carries orchestration: a command in the orchestrator's log, a reply said once more by a participant
COMMAND_DISPATCHED = "CommandDispatched"
REPLY_REPEATED = "ReplyRepeated"

FINAL_ORDER_EVENTS = frozenset({ORDER_COMPLETED, ORDER_CANCELLED})
