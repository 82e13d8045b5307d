"""The admin token reads and does everything: on PostgreSQL (anything but a local sandbox) no process starts
with the development token or a placeholder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.bootstrap import bootstrap
from infra.settings import DEV_ADMIN_TOKEN, Settings, UnsafeAdminTokenError

POSTGRES = "postgresql://cloudmart@127.0.0.1:1/never-reached"
COMMANDS = [["serve"], ["api"], ["worker", "orders"]]


def run(command: list[str], **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *command],
        env={**environment, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("token", [None, DEV_ADMIN_TOKEN, "change-me", "CHANGEME", ""], ids=repr)
def test_no_process_starts_on_postgresql_with_a_public_admin_token(command: list[str], token: str | None) -> None:
    variables = {"CLOUDMART_DATABASE_URL": POSTGRES}
    if token is not None:
        variables["CLOUDMART_ADMIN_TOKEN"] = token

    result = run(command, **variables)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CLOUDMART_ADMIN_TOKEN" in lines[0]
    assert "refusing to start" in lines[0]


def test_the_composition_root_refuses_it_too() -> None:
    with pytest.raises(UnsafeAdminTokenError, match="CLOUDMART_ADMIN_TOKEN"):
        bootstrap(Settings(database_url=POSTGRES, admin_token=DEV_ADMIN_TOKEN))


def test_the_embedded_sandbox_may_keep_the_development_token() -> None:
    assert Settings(database_url="sqlite:///var/x.db", admin_token=DEV_ADMIN_TOKEN).unsafe_admin_token is None
    assert Settings(database_url=POSTGRES, admin_token="a-real-secret-0123456789").unsafe_admin_token is None
