"""What the edge accepts: printable text of sane length and integers the stores can hold.

PostgreSQL's ``text`` cannot hold NUL, and nothing of this API needs a control character (C0, DEL or C1),
a tab or a newline, so no string that reaches a store or a query may contain one. Nor a bidirectional
embedding, override or isolate (U+202A–U+202E, U+2066–U+2069): shown to the operator, one reorders the text
around it (an address ending in "U+202E gnp.exe" reads "exe.png"). Integers stay far inside PostgreSQL's
``bigint`` and SQLite's 64-bit ``INTEGER``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

UNPRINTABLE = r"\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069"
"""The characters no text of this API may hold, as the inside of a regular expression's character class."""
PRINTABLE = rf"^[^{UNPRINTABLE}]*$"
MAX_POSITION = 2**53 - 1  # event ids: far beyond any store, and exact in every JSON client
MAX_OFFSET = 1_000_000_000
MAX_VERSION = 1_000_000  # an order has a handful of events
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def text(max_length: int, min_length: int = 1) -> object:
    """Printable text of ``min_length`` to ``max_length`` characters (a constraint for ``Annotated``)."""
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=PRINTABLE)


Identifier = Annotated[str, text(64)]
IdempotencyKey = Annotated[str, text(200)]


def path_id(alias: str) -> object:
    """An id in the path, named in camelCase like every other parameter (``/orders/{orderId}``)."""
    return Path(alias=alias, min_length=1, max_length=64, pattern=PRINTABLE)


OrderIdPath = Annotated[str, path_id("orderId")]
BookIdPath = Annotated[str, path_id("bookId")]
CustomerIdPath = Annotated[str, path_id("customerId")]
Position = Annotated[int, Field(ge=0, le=MAX_POSITION)]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]


def _not_a_number(value: object) -> object:
    """A number is a version, never a Unix time: ``asOf=0`` is a bad version, not 1970."""
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"[-+]?[\d.eE+-]+", value)):
        raise ValueError("a moment is an ISO 8601 date-time with its offset")
    return value


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return moment


Moment = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_range)]
