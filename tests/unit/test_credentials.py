"""Customers' passwords: salted scrypt hashes, checked in constant time, never kept in the clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from infra.credentials import CredentialStore, credentials, hash_password, matches


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    credential_store = CredentialStore(create_engine(f"sqlite:///{tmp_path}/credentials.db"))
    credential_store.create_table()
    return credential_store


def test_a_hash_is_salted_and_matches_only_its_password() -> None:
    first, second = hash_password("cloudmart"), hash_password("cloudmart")

    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert matches("cloudmart", first)
    assert matches("cloudmart", second)
    assert not matches("cloudmarT", first)


def test_the_store_keeps_only_the_hash(store: CredentialStore) -> None:
    store.set_password("customer-001", "cloudmart")

    with store.engine.connect() as connection:
        stored = connection.scalar(select(credentials.c.password_hash))
    assert stored is not None
    assert "cloudmart" not in stored


def test_a_customer_is_verified_by_their_password_only(store: CredentialStore) -> None:
    store.set_password("customer-001", "cloudmart")

    assert store.verify("customer-001", "cloudmart")
    assert store.verify("customer-001", "cloudmart")  # remembered
    assert not store.verify("customer-001", "wrong")
    assert not store.verify("customer-002", "cloudmart")


def test_a_changed_password_replaces_the_old_one_at_once(store: CredentialStore) -> None:
    store.set_password("customer-001", "cloudmart")
    assert store.verify("customer-001", "cloudmart")

    store.set_password("customer-001", "a-new-secret")

    assert not store.verify("customer-001", "cloudmart"), "a remembered check outlived the password"
    assert store.verify("customer-001", "a-new-secret")
    assert store.has_password("customer-001")
    assert not store.has_password("customer-002")
