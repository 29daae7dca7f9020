"""The code's layout: imports flow one way (no cycle, no import hidden in a function to dodge
one), and no module grows past a few hundred lines except the data tables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared_model", "flask_app", "fastapi_app", "loadtests", "compose")
MAX_LINES = 450  # "about 400"
DATA_TABLES = {"loadtests/robustness/cases.py"}  # the invalid-input catalogue, one entry a case


def modules() -> dict[str, Path]:
    """Return every module of the project's packages by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imported(name: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """Return the dotted names an import statement can refer to (a module or its member)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        parts = name.split(".")
        if path.name != "__init__.py":
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    return {base, *(f"{base}.{alias.name}" for alias in node.names)}


def graph() -> tuple[dict[str, set[str]], list[str]]:
    """Return each module's imports of project modules, and the function-level ones."""
    found = modules()
    edges: dict[str, set[str]] = {}
    hidden = []
    for name, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[name] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges[name] |= {d for d in imported(name, path, node) if d in found} - {name}
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(func):
                    if isinstance(node, ast.Import | ast.ImportFrom) and any(
                        d in found for d in imported(name, path, node)
                    ):
                        hidden.append(f"{name}.{func.name}")
    return edges, hidden


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the import cycles of a graph (depth-first search)."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_flow_one_way() -> None:
    edges, hidden = graph()
    assert len(edges) > 50, "the packages were not found"
    assert cycles(edges) == []
    assert hidden == [], "a project import inside a function hides a cycle or a slow import"


@pytest.mark.parametrize("path", sorted(modules().values()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_past_a_few_hundred_lines(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert relative in DATA_TABLES or lines <= MAX_LINES, f"{relative}: {lines} lines"
