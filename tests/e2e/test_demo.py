"""``cloudmart demo`` as a user runs it: on its own embedded runtime it runs every scenario in both saga
styles, prints each saga's timeline and a table in which every scenario × style matches, and exits 0; pointed
at nothing, or with a wrong token, it says so in one line."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from handlers.scenarios import MODES, SCENARIOS
from tests.support import eventually

SECONDS = 90  # about 15 s on an idle machine


def cloudmart_demo(cwd: Path, *arguments: str, seconds: float = SECONDS) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "demo", *arguments],
        cwd=cwd,
        env={**environment, "COLUMNS": "200", "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=seconds,
        stdin=subprocess.DEVNULL,
    )


def test_the_demo_runs_every_scenario_in_both_styles_and_every_outcome_matches(tmp_path: Path) -> None:
    result = cloudmart_demo(tmp_path)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = re.findall(r"^│ (\S+)\s+│ (\S+)\s+│.*│ (✓|✗) │$", result.stdout, re.MULTILINE)
    assert sorted(rows) == sorted((s.name, mode, "✓") for s in SCENARIOS for mode in MODES)
    for scenario in SCENARIOS:
        assert f"{scenario.name} · orchestration · order " in result.stdout
    assert "↩" in result.stdout, "compensations are marked with a symbol"
    assert list(tmp_path.iterdir()) == [], "the embedded runtime lives in a temporary directory"


def test_one_scenario_in_one_style(tmp_path: Path) -> None:
    result = cloudmart_demo(tmp_path, "--scenario", "carrier-outage", "--mode", "orchestration")

    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^│ (\S+)\s+│ (\S+)\s+│.*│ (✓|✗) │$", result.stdout, re.MULTILINE)
    assert rows == [("carrier-outage", "orchestration", "✓")]


def test_an_unknown_scenario_is_one_line(tmp_path: Path) -> None:
    result = cloudmart_demo(tmp_path, "--scenario", "nope", "--mode", "choreography")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cloudmart: --scenario nope: no such scenario; there are " + ", ".join(s.name for s in SCENARIOS)
    ]


def test_a_url_where_nothing_answers_is_one_line(tmp_path: Path) -> None:
    result = cloudmart_demo(tmp_path, "--url", "http://127.0.0.1:1", seconds=30)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("cloudmart: --url http://127.0.0.1:1: nothing answers there"), line


def test_a_token_the_service_refuses_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--no-access-log"],
        cwd=tmp_path,
        env={**environment, "CLOUDMART_ADMIN_TOKEN": "the-right-token", "CLOUDMART_DATABASE_URL": "sqlite:///c.db"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(eventually(lambda: _answers(f"{url}/health"), timeout=30))

        result = cloudmart_demo(tmp_path, "--url", url, "--token", "a-wrong-token", seconds=30)

        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"cloudmart: --token: {url} refused it; pass its CLOUDMART_ADMIN_TOKEN"
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
