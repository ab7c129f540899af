"""The package layout holds: no import circles, no oversized modules, data flows downwards.

The import graph is built from the source (``ast``), function-level imports included,
module by module (an import of ``a.b.c`` is an edge to ``a.b.c``). The layers are those of
README.md ("Layout and development"): a module may import only from its own layer or
layers below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "cellsim"
MAX_LINES = 600

#: layer of every top-level module / subpackage, lowest first
LAYERS = [
    {"dolfinx_env", "ffcx_patches", "jit", "jit_cc", "form_literals", "log", "schema", "tomlfile", "materials", "provenance", "fields_io", "vtk_files", "outdir"},
    {"geometry"},
    {"case", "regions", "protocol", "newton", "checkpoint", "assembly", "predictor"},
    {"physics", "solver"},
    {"models"},
    {"output", "tortuosity_cmd", "dfn"},
    {"simulation", "postprocess", "curves", "api", "docs", "paraview"},
    {"cli", "__init__", "__main__", "precompile"},
]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                found.add(t)
    return found


def _graph():
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_import_graph_has_no_circles():
    cycles = _cycles(_graph())
    assert not cycles, f"import circles: {cycles}"


def test_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_600_lines():
    big = {str(p.relative_to(PKG.parent)): n for p in PKG.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def _layer(mod: str) -> int:
    top = mod.split(".")[1] if "." in mod else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"cellsim.{top} is in no layer of tests/unit/test_layout.py (add it)")


def test_data_flows_downwards():
    bad = []
    for mod, targets in _graph().items():
        for t in targets:
            if t.startswith("cellsim") and _layer(t) > _layer(mod):
                bad.append(f"{mod} -> {t}")
    assert not bad, "imports from a higher layer: " + ", ".join(sorted(bad))
