"""The package's shape: no import cycle, no module reaching into another's private names.

DESIGN.md §3: data flows one way (spec -> study -> runner -> executor; storage below all
of them), and ``_private`` names are never used outside their module. These tests read the
source with :mod:`ast` (nothing is imported), so they hold for optional modules too.

Every import is an edge, including those inside functions and under ``if TYPE_CHECKING:``:
deferring an import or typing against a concrete class hides a cycle, it does not remove
it (the runner is typed against a protocol of public Study verbs, not against ``Study``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "hypersweep"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _edges() -> dict[str, dict[str, list[str]]]:
    """module -> {imported module -> names taken from it}, within the package only."""
    mods = _modules()
    graph: dict[str, dict[str, list[str]]] = {}
    for name, path in mods.items():
        out: dict[str, list[str]] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods:
                        out.setdefault(alias.name, [])
                continue
            target = _absolute(name, node, path.name == "__init__.py")
            if target not in mods:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in mods:  # "from pkg import submodule"
                    out.setdefault(sub, [])
                else:
                    out.setdefault(target, []).append(alias.name)
        out.pop(name, None)
        graph[name] = out
    return graph


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(module: str, graph: dict[str, dict[str, list[str]]]) -> str:
    return module if any(m.startswith(module + ".") for m in graph) else module.rpartition(".")[0]


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, {}))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def _package_edges(graph: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    """Edges that do not go through a package's ``__init__`` re-exports.

    ``hypersweep/__init__.py`` imports the whole public API, and a sub-package's
    ``__init__`` imports its members, so an edge *into* an ``__init__`` from inside the
    same package says nothing about layering; edges out of an ``__init__`` are re-exports.
    """
    inits = {m for m, p in _modules().items() if p.name == "__init__.py"}
    return {
        m: {t: names for t, names in out.items() if t not in inits}
        for m, out in graph.items()
        if m not in inits
    }


def _component(module: str) -> str:
    """``hypersweep.samplers.tpe._cache`` -> ``hypersweep.samplers``: the unit of layering.

    The modules of one package are the parts of one concept (a split file) and may refer
    to each other; between components, data flows one way.
    """
    return ".".join(module.split(".")[:2])


def _component_edges(graph: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for module, targets in _package_edges(graph).items():
        src = _component(module)
        node = out.setdefault(src, {})
        for t in targets:
            if _component(t) != src:
                node.setdefault(_component(t), [])
    return out


def test_the_import_graph_has_no_cycle() -> None:
    cycles = _cycles(_component_edges(_edges()))
    assert not cycles, "import cycles (each line one cycle): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_module_imports_another_modules_private_names() -> None:
    graph = _edges()
    leaks = []
    for module, out in graph.items():
        for target, names in out.items():
            # A package's private helpers serve that package: hypersweep.space._parse may
            # be used by hypersweep.space.space, not by hypersweep.study.
            owner = _package_of(target, graph)
            inside = module == owner or module.startswith(owner + ".")
            private_module = _private(target.rpartition(".")[2])
            if private_module and not inside and target.rpartition(".")[0] != "hypersweep":
                leaks.append(f"{module} imports private module {target}")
            leaks += [f"{module} imports {target}.{n}" for n in names if _private(n)]
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_source_file_exceeds_the_size_limit(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines; split it by concept"


def test_the_test_tree_mirrors_the_package() -> None:
    """tests/<component>/ holds the tests of src/hypersweep/<component>/ (data folders
    aside); top-level test files test top-level modules."""
    tests = Path(__file__).resolve().parent
    data = {"data", "scripts", "sweeps", "__pycache__"}
    for d in sorted(p for p in tests.iterdir() if p.is_dir() and p.name not in data):
        assert (PKG / d.name).is_dir(), f"tests/{d.name}/ has no src/hypersweep/{d.name}/"
