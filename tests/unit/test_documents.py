"""The documents stand on their own: every relative link in the README and in docs/ leads to a file or folder of the
repository (and to a heading of it when it names one), and docs/configuration.md names every setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings
from tests.markdown import anchors, links

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXTERNAL = ("http://", "https://", "mailto:")


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    lines = document.read_text().splitlines()
    broken = []
    for number, target in links(lines):
        if target.startswith(EXTERNAL):
            continue
        path, _, anchor = target.partition("#")
        destination = (document.parent / path).resolve() if path else document
        where = f"{document.relative_to(root)}:{number + 1}: {target}"
        if root not in destination.parents and destination != root:
            broken.append(f"{where}: outside the repository")
        elif not destination.exists():
            broken.append(f"{where}: no such file")
        elif anchor and (destination.suffix != ".md" or anchor not in anchors(destination.read_text().splitlines())):
            broken.append(f"{where}: no heading with that anchor")
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    assert broken_links(document) == []


def test_the_readme_links_every_document() -> None:
    linked = {target.partition("#")[0] for _, target in links((ROOT / "README.md").read_text().splitlines())}

    assert {f"docs/{path.name}" for path in DOCUMENTS[1:]} <= linked


def test_the_checker_notices_a_missing_file_a_missing_anchor_and_a_way_out(tmp_path: Path) -> None:
    (tmp_path / "repository").mkdir()
    (tmp_path / "outside.md").write_text("# Outside\n")
    (tmp_path / "repository" / "other.md").write_text("# A heading\n## A heading\n")
    document = tmp_path / "repository" / "doc.md"
    document.write_text(
        "[fine](other.md#a-heading-1) [`code`](#top) [gone](missing.md) [lost](other.md#nowhere)\n"
        "# Top\n[out](../outside.md) `[in code](not-a-link.md)`\n```sh\n[in a block](not-a-link.md)\n```\n"
    )

    assert broken_links(document, root=tmp_path / "repository") == [
        "doc.md:1: missing.md: no such file",
        "doc.md:1: other.md#nowhere: no heading with that anchor",
        "doc.md:3: ../outside.md: outside the repository",
    ]


def test_the_configuration_page_names_every_setting() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()

    missing = [name for name in Settings.model_fields if f"`CLOUDMART_{name.upper()}`" not in page]

    assert missing == []


def test_nothing_in_the_repository_cites_a_document_outside_it() -> None:
    # Spelled in pieces, so that this file does not find itself.
    outside = ("DESIGN" + ".md", "DESIGN" + " §", "the " + "spec", "../" + "shared")
    skipped = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "var"}
    texts = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".html", ".js", ".css", ".sh", ""}
    citing = [
        f"{path.relative_to(ROOT)}: {phrase}"
        for path in ROOT.rglob("*")
        if path.is_file() and path.suffix in texts and not skipped.intersection(path.relative_to(ROOT).parts)
        for phrase in outside
        if phrase in path.read_text(errors="replace")
    ]

    assert citing == []
