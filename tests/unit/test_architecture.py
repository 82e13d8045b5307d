"""The layers of docs/architecture.md: imports point inward, and nothing runs at import time."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "handlers", "projections", "infra", "api")
MAY_IMPORT = {
    "domain": {"domain"},
    "handlers": {"domain", "handlers"},
    "projections": {"domain", "handlers", "projections"},
    "infra": {"domain", "handlers", "projections", "infra"},
    "api": {"domain", "handlers", "projections", "infra", "api"},
}
DOMAIN_THIRD_PARTY = {"eventsourcing.domain"}


def imports_of(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_inside_it(layer: str) -> None:
    leaks = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(layer)
        for name in imports_of(path)
        if name.split(".")[0] in LAYERS and name.split(".")[0] not in MAY_IMPORT[layer]
    ]
    assert leaks == []


def test_the_domain_depends_on_nothing_but_the_standard_library_and_eventsourcing_domain() -> None:
    outside = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("domain")
        for name in imports_of(path)
        if name.split(".")[0] not in sys.stdlib_module_names | {"domain", "__future__"}
        and name not in DOMAIN_THIRD_PARTY
    ]
    assert outside == []


@pytest.mark.parametrize("service", ["orders", "inventory", "payments", "shipping", "orchestrator"])
def test_a_service_s_routing_table_is_bound_to_that_service_alone(service: str) -> None:
    """A handler gets the service it needs, not the bundle of all of them."""
    imported = imports_of(ROOT / "handlers" / "routing" / f"{service}.py")
    own = f"handlers.services.{service}"
    others = [name for name in imported if name.startswith("handlers.services") and name != own]
    assert others == []
