"""Customers' passwords: salted scrypt hashes in a table of their own beside the read models.

Passwords are not events: the event stream is readable by the operator and kept forever, so the hashes
live in a plain table that no projection and no replay touches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from functools import cache
from threading import Lock

from sqlalchemy import Column, Engine, MetaData, String, Table, select

from infra.read_database import autocommit, create_read_engine, create_read_tables
from infra.settings import Settings
from projections import queries

metadata = MetaData()
credentials = Table(
    "customer_credentials",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
)

PASSWORD = re.compile(r"[\x20-\x7e]{8,128}")  # HTTP Basic as browsers and FastAPI read it: ASCII
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and a few tens of milliseconds per hash
VERIFIED_CACHE_SIZE = 1024


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return "scrypt${}${}${}${}${}".format(SCRYPT["n"], SCRYPT["r"], SCRYPT["p"], *encoded)


def matches(password: str, password_hash: str) -> bool:
    _, n, r, p, salt, digest = password_hash.split("$")
    candidate = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(base64.b64decode(digest)),
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


@cache
def _nobody() -> str:
    """Checked for unknown customers, so that they take as long: made on the first check, not at import."""
    return hash_password(secrets.token_hex(16))


class CredentialStore:
    """Checks and sets customers' passwords. A check that succeeded is remembered (by an HMAC of the password
    under a key of this process, never the password) for as long as the stored hash stays the same, so that a
    customer's every request does not pay for scrypt again."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reads = autocommit(engine)
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._lock = Lock()

    def create_table(self) -> None:
        metadata.create_all(self.engine)

    def verify(self, customer_id: str, password: str) -> bool:
        with self._reads.connect() as connection:
            stored = connection.scalar(
                select(credentials.c.password_hash).where(credentials.c.customer_id == customer_id)
            )
        if stored is None:
            matches(password, _nobody())
            return False
        remembered = (stored, hmac.digest(self._key, password.encode(), "sha256"))
        with self._lock:
            if remembered in self._verified:
                self._verified.move_to_end(remembered)
                return True
        if not matches(password, stored):
            return False
        with self._lock:
            self._verified[remembered] = None
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return True

    def set_password(self, customer_id: str, password: str) -> None:
        self.set_password_hash(customer_id, hash_password(password))

    def set_password_hash(self, customer_id: str, password_hash: str) -> None:
        with self.engine.begin() as connection:
            updated = connection.execute(
                credentials.update().where(credentials.c.customer_id == customer_id).values(password_hash=password_hash)
            )
            if updated.rowcount == 0:
                connection.execute(credentials.insert().values(customer_id=customer_id, password_hash=password_hash))

    def has_password(self, customer_id: str) -> bool:
        with self._reads.connect() as connection:
            statement = select(credentials.c.customer_id).where(credentials.c.customer_id == customer_id)
            return connection.scalar(statement) is not None


def set_customer_password(settings: Settings, customer_id: str, password: str) -> str | None:
    """Sets the password of a known customer; what is wrong instead, if anything."""
    if not PASSWORD.fullmatch(password):
        return "a password is 8 to 128 printable ASCII characters"
    engine = create_read_engine(settings)
    try:
        create_read_tables(engine)
        with autocommit(engine).connect() as connection:
            if queries.customer(connection, customer_id) is None:
                return f"customer {customer_id} not found"
        store = CredentialStore(engine)
        store.create_table()
        store.set_password(customer_id, password)
    finally:
        engine.dispose()
    return None
