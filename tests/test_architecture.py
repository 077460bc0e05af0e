"""The house has floors: no import circles, nothing imports upward, libraries stay in their room.

Parsed with ``ast`` from the source: imports inside functions count (moving an import into a
function to dodge a circle still leaves the circle); imports under ``if TYPE_CHECKING:`` do not,
since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "mlog"

FLOORS = {"storage": 1, "api": 3, "cli": 4, "ui": 4}
"""Floor of each top-level part of ``mlog``; every other package is a domain package (2).
``mlog/__init__.py`` (the Python API for training scripts) and ``errors`` stand apart."""
CONFINED = {
    "typer": ("mlog.cli",),
    "click": ("mlog.cli",),
    "rich": ("mlog.cli", "mlog.ui"),
    "git": ("mlog.storage.gitio",),
    "yaml": ("mlog.storage.yamlio",),
    "jsonschema": ("mlog.storage.schema",),
}
CLI_MAY_IMPORT = ("mlog.api", "mlog.cli", "mlog.errors", "mlog.ui")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            yield node


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        if MODULES[module].name != "__init__.py":
            parts = parts[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, *([base] if base else [])])
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> mlog modules it imports, and third-party top-level name -> importing modules."""
    inner: dict[str, set[str]] = {name: set() for name in MODULES}
    outer: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(name, node):
                if target.split(".")[0] != "mlog":
                    outer.setdefault(target.split(".")[0], set()).add(name)
                    continue
                while target not in MODULES:
                    target = target.rpartition(".")[0]
                if target != name:
                    inner[name].add(target)
    return inner, outer


GRAPH, THIRD_PARTY = _graph()


def _floor(module: str) -> int:
    if module in ("mlog", "mlog.errors"):
        return 0 if module == "mlog.errors" else 3
    return FLOORS.get(module.split(".")[1], 2)


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(sorted(members))
    return found


def test_the_checker_sees_the_package() -> None:
    assert {"mlog.cli.app", "mlog.api.runs", "mlog.storage.store"} <= set(GRAPH)
    assert "mlog.storage.store" in GRAPH["mlog.api"]
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_circles_between_modules() -> None:
    assert _circles(GRAPH) == []


def test_no_import_circles_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        edges = packages.setdefault(_package(module), set())
        edges.update(_package(t) for t in targets if _package(t) != _package(module))
    assert _circles(packages) == []


def test_nothing_imports_upward() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if module != "mlog" and _floor(target) > _floor(module)
    ]
    assert upward == []


def test_the_cli_calls_only_the_facade() -> None:
    past = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("mlog.cli")
        for target in targets
        if not target.startswith(CLI_MAY_IMPORT) and target != "mlog"
    ]
    assert past == []


def test_domain_code_never_reaches_the_facade_or_the_cli() -> None:
    reaching = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _floor(module) <= 2 and module not in ("mlog",)
        for target in targets
        if _floor(target) >= 3
    ]
    assert reaching == []


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_libraries_stay_in_their_room(library: str) -> None:
    allowed = CONFINED[library]
    strays = sorted(
        module
        for module in THIRD_PARTY.get(library, ())
        if not any(module == a or module.startswith(a + ".") for a in allowed)
    )
    assert strays == [], f"{library} imported outside {allowed}"
