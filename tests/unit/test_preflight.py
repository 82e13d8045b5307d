"""What the cloudmart command says when PostgreSQL will not let it in: the server, the setting, what to do."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import exc as sql

from api.preflight import explain, postgres_problem
from infra.settings import Settings

SETTINGS = Settings(database_url="postgresql://cloudmart:hunter2@db.internal:6432/shop")


@pytest.mark.parametrize(
    ("libpq_says", "said"),
    [
        ("FATAL:  sorry, too many clients already", "has no connection to spare"),
        ('FATAL:  too many connections for role "cloudmart"', "has no connection to spare"),
        ("FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute", "no connection"),
        ('FATAL:  password authentication failed for user "cloudmart"', "refused the login"),
        ('FATAL:  database "shop" does not exist', "has no such database"),
        ("connection timeout expired", "did not answer in time"),
        ("Connection refused\n\tIs the server running on that host?", "refused the connection"),
        ("SSL SYSCALL error: EOF detected", "SSL SYSCALL error: EOF detected; check the URL"),
    ],
)
def test_a_refusal_is_one_line_naming_the_server_and_the_setting(libpq_says: str, said: str) -> None:
    line = postgres_problem(Exception(f'connection to server at "10.0.0.5", port 6432 failed: {libpq_says}'), SETTINGS)

    assert line.startswith("PostgreSQL at db.internal:6432/shop ")
    assert said in line
    assert "CLOUDMART_DATABASE_URL" in line
    assert "\n" not in line
    assert "hunter2" not in line


def test_a_refusal_met_later_is_found_inside_what_wraps_it() -> None:
    refused = psycopg.OperationalError("FATAL:  sorry, too many clients already")
    wrapped = sql.OperationalError("SELECT 1", {}, refused)

    try:
        raise RuntimeError("the replay failed") from wrapped
    except RuntimeError as error:
        line = explain(error, SETTINGS)

    assert line is not None
    assert line.startswith("PostgreSQL at db.internal:6432/shop has no connection to spare")


def test_an_error_that_is_no_refusal_is_not_explained_away() -> None:
    assert (
        explain(sql.ProgrammingError("SELECT nope", {}, psycopg.ProgrammingError("no such column")), SETTINGS) is None
    )
    assert explain(ValueError("a bug"), SETTINGS) is None
