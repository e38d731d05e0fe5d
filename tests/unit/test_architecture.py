"""The package's shape: imports point one way (no cycles) and no module outgrows a reading."""

from __future__ import annotations

import ast
from pathlib import Path

import aiodynamo_patterns

ROOT = Path(aiodynamo_patterns.__file__).parent
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Every import of every module (module level, TYPE_CHECKING and function bodies alike)."""
    files = _modules()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle() -> None:
    """No set of modules imports each other, counting every import statement."""
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The checker itself reports a two-module loop (so the test above can fail)."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_metrics_wing_imports_nothing_above_the_pipeline() -> None:
    """The metrics collector learns of sessions by registration, never by importing them."""
    graph = import_graph()
    above = {"aiodynamo_patterns.session", "aiodynamo_patterns.repository"}
    for name, targets in graph.items():
        if name.startswith("aiodynamo_patterns.metrics"):
            assert not targets & above, name
            assert not any(t.startswith("aiodynamo_patterns.layers") for t in targets), name


def test_the_core_never_imports_an_application_wing() -> None:
    """Nothing outside demo/, loadgen/ and the CLI imports the demo or the load generator."""
    apps = ("aiodynamo_patterns.demo", "aiodynamo_patterns.loadgen")
    for name, targets in import_graph().items():
        if name.startswith(apps) or name == "aiodynamo_patterns.cli":
            continue
        assert not [t for t in targets if t.startswith(apps)], name


def test_the_layers_never_import_the_example_domain() -> None:
    """Retry, breaker and cache (CachedRepository included) work on any repository: none of
    them imports the products wing."""
    for name, targets in import_graph().items():
        if name.startswith("aiodynamo_patterns.layers"):
            assert not [t for t in targets if t.startswith("aiodynamo_patterns.products")], name


def test_no_module_is_over_500_lines() -> None:
    """Every module reads in one sitting: none is longer than 500 lines."""
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_two_test_modules_share_a_name() -> None:
    """tests/unit and tests/integration are not packages: one name twice stops collection."""
    tests = Path(__file__).parents[1]
    names = [p.name for p in tests.rglob("test_*.py") if p.parent != tests]
    assert sorted({n for n in names if names.count(n) > 1}) == []
