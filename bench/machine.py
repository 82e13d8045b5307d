"""What a run costs the machine, read from /proc and PostgreSQL's statistics: CPU time by kind of process,
peak memory of each CloudMart process, and PostgreSQL transactions. Linux only; figures, not tests."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import psycopg

from infra.postgres_events import conninfo

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
SERVERS = {"postgres": "postgresql", "redis-server": "redis", "beam.smp": "rabbitmq"}


def _processes() -> list[tuple[Path, str]]:
    found = []
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            command = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if command:
            found.append((folder, command))
    return found


def kind_of(command: str) -> str | None:
    """``cloudmart worker orders``, ``postgresql``, ... or None for a process that is not part of the system."""
    for entry_point in ("/cloudmart ", " cloudmart ", " -m api.cli "):  # the script, or the module run directly
        if entry_point in f" {command} ":
            return "cloudmart " + f" {command} ".split(entry_point, 1)[1].split(" --", 1)[0].strip()
    program = Path(command.split(" ", 1)[0]).name.rstrip(":")
    return next((name for prefix, name in SERVERS.items() if program.startswith(prefix)), None)


def cpu_seconds() -> Counter[str]:
    """CPU time (user and system) spent so far by the system's processes, summed by kind."""
    spent: Counter[str] = Counter()
    for folder, command in _processes():
        kind = kind_of(command)
        if kind is None:
            continue
        try:
            fields = (folder / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        spent[kind] += (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # utime, stime
    return spent


def own_cpu_seconds() -> float:
    """CPU time (user and system) this process has spent so far."""
    spent = os.times()
    return spent.user + spent.system


def peak_memory_kb() -> dict[str, int]:
    """Each CloudMart process's peak resident memory (VmHWM), by pid and command."""
    memory = {}
    for folder, command in _processes():
        kind = kind_of(command)
        if kind is None or not kind.startswith("cloudmart"):
            continue
        try:
            peak = next(line for line in (folder / "status").read_text().splitlines() if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            continue
        memory[f"{folder.name} {kind}"] = int(peak.split()[1])
    return memory


def postgres_transactions(database_url: str | None) -> int | None:
    """Transactions committed or rolled back in the database so far (None if it is not PostgreSQL)."""
    if not database_url or not database_url.startswith(("postgresql", "postgres:")):
        return None
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else None
