"""The walk-through cannot drift: the ``sh`` blocks of docs/walkthrough.md (and of the README's first look) run in
order, in one bash session, against a real ``cloudmart serve`` started in an empty directory, and each block's output
must equal the ``json``/``text`` block under it, up to what differs from run to run (ids, timestamps, tracking
numbers).

The blocks a test does not run are marked ``NOT_RUN``: the install and test commands, and those that start the
service. The test starts ``cloudmart serve`` itself, with the ``CLOUDMART_*`` settings of the first such block, and
replaces the documented base URL with the test's port.

``CLOUDMART_REGENERATE_WALKTHROUGH=1 .venv/bin/pytest tests/e2e/test_walkthrough.py`` writes this run's outputs into
the documents instead of comparing them."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.infrastructure import free_port
from tests.markdown import Fence, fences

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["docs/walkthrough.md", "README.md"]
DOCUMENTED_URL = "http://127.0.0.1:8000"
NOT_RUN = "<!-- not run by tests/e2e/test_walkthrough.py -->"
OUTPUT_LANGUAGES = ("json", "text")
SETTING = re.compile(r"\b(CLOUDMART_[A-Z_]+)=(\S+)")
REGENERATE = os.environ.get("CLOUDMART_REGENERATE_WALKTHROUGH") == "1"
RUN_TIMEOUT = 120.0
END_OF_BLOCK = "@@end of block@@"

# What differs from one run to the next, and nothing else. A value a reader cares about (a status, an amount, a
# stock level, an event's type or place) is compared as written. Ids are numbered in the order they first appear
# in a block, so that "the same order twice" and "two different orders" stay checked.
NUMBERED = {
    "id": re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),
    "TRK": re.compile(r"\bTRK-[0-9A-F]{12}\b"),
    "TX": re.compile(r"\bTX-[0-9A-F]{12}\b"),
    "RF": re.compile(r"\bRF-[0-9A-F]{12}\b"),
}
TIMES = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?|\b\d\d:\d\d:\d\d\.\d{3}\b")


def normalise(output: str) -> str:
    output = TIMES.sub("<time>", output)
    for kind, pattern in NUMBERED.items():
        output = pattern.sub(numbering(kind), output)
    return output


def numbering(kind: str) -> Callable[[re.Match[str]], str]:
    """Replaces each distinct value with ``<kind n>``, n counting the distinct values in order of appearance."""
    numbers: dict[str, int] = {}
    return lambda match: f"<{kind} {numbers.setdefault(match[0], len(numbers) + 1)}>"


@dataclass(frozen=True)
class Step:
    """An ``sh`` block, the output block right under it (if any), and the heading it sits under."""

    command: Fence
    output: Fence | None
    section: str


def steps(lines: list[str]) -> list[Step]:
    blocks = fences(lines)
    found = []
    for block, following in zip(blocks, [*blocks[1:], None], strict=True):
        if block.language != "sh" or not_run(lines, block):
            continue
        adjacent = following and not "".join(lines[block.closing + 1 : following.opening]).strip()
        output = following if adjacent and following and following.language in OUTPUT_LANGUAGES else None
        found.append(Step(block, output, section(lines, block.opening)))
    return found


def not_run(lines: list[str], block: Fence) -> bool:
    return block.opening > 0 and lines[block.opening - 1].strip() == NOT_RUN


def section(lines: list[str], before: int) -> str:
    return next((line for line in reversed(lines[:before]) if line.startswith("#")), "(top)")


def service_settings(lines: list[str]) -> dict[str, str]:
    """The ``CLOUDMART_*`` settings of the first block that starts the service, which the test does not run (a later
    one, not run either, shows another way to start it)."""
    serve = [block for block in fences(lines) if not_run(lines, block) and "cloudmart serve" in block.body]
    assert serve, "the document must start the service in a block the test does not run"
    return dict(SETTING.findall(serve[0].body))


def environment() -> dict[str, str]:
    """This process's environment without any CLOUDMART_* setting: the service runs on the documented ones."""
    return {name: value for name, value in os.environ.items() if not name.startswith("CLOUDMART_")}


def run(commands: list[str], directory: Path, port: int) -> list[str]:
    """Runs the blocks in one bash session, as a reader pastes them into one terminal; each block's output."""
    script = "exec 2>&1\n" + "".join(f"{command}\nprintf '\\n{END_OF_BLOCK}\\n'\n" for command in commands)
    (directory / "walkthrough.sh").write_text(script.replace(DOCUMENTED_URL, f"http://127.0.0.1:{port}"))
    process = subprocess.Popen(
        ["bash", "walkthrough.sh"], cwd=directory, env=environment(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    *finished, rest = output.decode().split(f"\n{END_OF_BLOCK}\n")
    assert len(finished) == len(commands), (
        f"block {len(finished) + 1} of {len(commands)} did not finish within {RUN_TIMEOUT} s; it wrote:\n{rest}"
    )
    return [part.strip("\n") for part in finished]


def mismatches(document: str, found: list[Step], outputs: list[str]) -> list[str]:
    report = []
    for step, actual in zip(found, outputs, strict=True):
        documented, got = normalise(step.output.body.strip("\n") if step.output else ""), normalise(actual)
        if documented != got:
            diff = difflib.unified_diff(documented.splitlines(), got.splitlines(), "documented", "run", lineterm="")
            where = f"{document}:{step.command.opening + 1} ({step.section})"
            report.append(f"{where}\n{step.command.body}" + "\n".join(diff))
    return report


def regenerate(lines: list[str], found: list[Step], outputs: list[str]) -> list[str]:
    """The document with each block's output block replaced by this run's output (added where missing)."""
    lines = list(lines)
    for step, actual in reversed(list(zip(found, outputs, strict=True))):
        start = step.output.opening if step.output else step.command.closing + 1
        stop = step.output.closing + 1 if step.output else start
        language = "json" if is_json(actual) else "text"
        lines[start:stop] = [f"```{language}", *actual.splitlines(), "```"] if actual else []
    return lines


def is_json(output: str) -> bool:
    """Whether the output is nothing but JSON values (one per line, or pretty-printed)."""
    decoder, position = json.JSONDecoder(), 0
    try:
        while position < len(output):
            _, end = decoder.raw_decode(output, position)
            position = len(output) - len(output[end:].lstrip())
    except ValueError:
        return False
    return True


@contextmanager
def serving(directory: Path, settings: dict[str, str]) -> Iterator[int]:
    """``cloudmart serve`` in an empty directory (its state goes to ./var/), with ``.venv`` linked there, so that
    the documents' ``.venv/bin/cloudmart`` runs as it does from the repository; yields its port."""
    (directory / ".venv").symlink_to(sys.prefix)
    port = free_port()
    log = directory / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--no-access-log"],
            cwd=directory,
            env={**environment(), **settings},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(process, port, log)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until_ready(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"cloudmart serve exited:\n{log.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"cloudmart serve was not ready within {timeout} s:\n{log.read_text()}")


@pytest.fixture
def tools() -> None:
    """The documents' commands need bash, curl and jq: without them the test fails in CI, and skips elsewhere."""
    absent = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if absent:
        message = f"the walk-through needs {', '.join(absent)}: apt-get install -y {' '.join(absent)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_documented_output_is_what_the_service_answers(document: str, tmp_path: Path) -> None:
    lines = (ROOT / document).read_text().splitlines()
    found = steps(lines)
    assert found and DOCUMENTED_URL in found[0].command.body, "the first block run must set the base URL"

    with serving(tmp_path, service_settings(lines)) as port:
        outputs = run([step.command.body for step in found], tmp_path, port)

    if REGENERATE:
        (ROOT / document).write_text("\n".join(regenerate(lines, found, outputs)) + "\n")
        return
    report = mismatches(document, found, outputs)
    assert not report, f"{document} has drifted from what the service answers:\n\n" + "\n\n".join(report)


def test_normalising_keeps_what_a_reader_cares_about() -> None:
    run_1 = '{"orderId":"6bf4e98b-d2bd-4821-8994-3444b4adc482","status":"COMPLETED","at":"2026-11-26T05:13:25.83Z"}'
    run_2 = '{"orderId":"0c6b1e3e-6a0d-4d1c-9a55-1f0f1b0e2a77","status":"COMPLETED","at":"2026-12-01T10:00:00.10Z"}'
    cancelled = run_2.replace("COMPLETED", "CANCELLED")
    same_twice = "TRK-1E84FBF80C39 TRK-1E84FBF80C39"
    two_different = "TRK-1E84FBF80C39 TRK-B215263C6317"

    assert normalise(run_1) == normalise(run_2)
    assert normalise(run_1) != normalise(cancelled)
    assert normalise(same_twice) != normalise(two_different)
