"""Imports point one way: down the floors of the house (docs/architecture.md). The edge
(starter/) and the operator's tools (ops/) stand on the repositories (registry/), the
repositories on contracts, pure rules and process plumbing (runtime/), and nothing points
back up: a read both the API and ops need lives in registry/, and runtime/ stays plumbing
any process can load without a database. Every import counts, a lazy one inside a function
and one under TYPE_CHECKING too: each is an arrow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runtime.settings import PROJECT_ROOT

OURS = ("models", "rules", "runtime", "registry", "workflows", "activities", "ops", "starter")
# What each floor must not import (the floors above it).
FORBIDDEN: dict[str, frozenset[str]] = {
    "models": frozenset(OURS) - {"models"},
    "rules": frozenset(OURS) - {"models", "rules"},
    "runtime": frozenset({"registry", "activities", "workflows", "ops", "starter", "rules"}),
    "registry": frozenset({"activities", "workflows", "ops", "starter"}),
    "workflows": frozenset({"runtime", "registry", "activities", "ops", "starter"}),
    "activities": frozenset({"workflows", "ops", "starter"}),
    "ops": frozenset({"starter"}),
}
MODULES = sorted(
    path.relative_to(PROJECT_ROOT).as_posix()
    for floor in FORBIDDEN
    for path in (PROJECT_ROOT / floor).rglob("*.py")
)


def imported(path: Path) -> set[str]:
    """The top-level packages of ours a module imports, wherever in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(OURS)


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_nothing_from_the_floors_above_it(module: str) -> None:
    floor = module.split("/")[0]
    upward = sorted(imported(PROJECT_ROOT / module) & FORBIDDEN[floor])
    assert upward == [], (
        f"{module} imports {', '.join(upward)}: {floor}/ must not point up; move what both "
        "sides need down to the floor they share (a read to registry/, a contract to models/)"
    )


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "import registry.db\n"
        "if TYPE_CHECKING:\n"
        "    from starter import client\n"
        "def later() -> None:\n"
        "    import ops.reconcile\n"
        "from . import sibling\n"
        "import asyncpg\n"
    )
    assert imported(probe) == {"registry", "starter", "ops"}
