"""The geometry package has no import circles and no module over about 600 lines.

The import graph is built from the source with ``ast`` (module-level and function-level
imports, relative ones resolved); a circle is a strongly connected component of more than
one module. The layout is spec -> packing/base -> gmsh_model -> builders -> mesh -> report.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parents[2] / "cellsim" / "geometry"
MAX_LINES = 600


def _import_graph(pkg: Path) -> dict[str, set[str]]:
    root = pkg.parent.parent
    mods = {}
    for p in pkg.rglob("*.py"):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        package = m.split(".") if p.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods]
                targets = subs + ([mod] if len(subs) < len(node.names) else [])
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    graph[m].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_planted_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_geometry_has_no_import_circles():
    graph = _import_graph(PKG)
    assert "cellsim.geometry.mesh" in graph and "cellsim.geometry.electrode" in graph["cellsim.geometry.mesh"]
    assert _cycles(graph) == []
    # builders never import the distribution layer
    for m in ("base", "gmsh_model", "particle", "structured", "binder", "electrode", "packing"):
        assert not {"cellsim.geometry.mesh", "cellsim.geometry.report"} & graph[f"cellsim.geometry.{m}"], m


def test_no_module_over_600_lines():
    long = {p.name: n for p in PKG.glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
