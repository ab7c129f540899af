"""Changes to FFCx and basix that cellsim.jit applies on import, each with FFCx's own
output (tests/unit/test_jit_batch.py compares them): one ``ufl.Cell`` per cell name, facet
quadrature points mapped in one numpy expression, element tables remembered by their
inputs, repeated kernels left out of a module's C code, and a cache entry left by a compile
that was killed compiled again. :func:`ffcx_originals` puts FFCx's own functions back for
a comparison.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

from .dolfinx_env import require_dolfinx

require_dolfinx()
import ffcx.codegeneration.jit as _fj  # noqa: E402
import ufl  # noqa: E402

#: counters for tests and benchmarks (shared with cellsim.jit's)
stats: dict = {}


def _share_cells() -> None:
    """Make basix elements hand out one ``ufl.Cell`` per cell name.

    ``basix.ufl`` elements build a new ``ufl.Cell`` every time their ``cell`` is read, and a
    ``ufl.Cell`` builds all its sub-entity cells (a tetrahedron: about 70 objects, 0.6 ms);
    UFL and FFCx read it thousands of times per model (16,600 times in the polycrystal's
    cold set-up: 31.2 -> 28.9 CPU s with this). A cell is immutable and compares by its
    name, so one instance per name is the same cell."""
    import basix.ufl

    base = basix.ufl._ElementBase
    if getattr(base, "_cellsim_shared_cells", False):
        return
    cells: dict[str, ufl.Cell] = {}

    def cell(self) -> ufl.Cell:
        c = cells.get(self._cellname)
        if c is None:
            c = cells[self._cellname] = ufl.cell.Cell(self._cellname)
        return c

    base.cell = property(cell, doc="Cell of the finite element (one shared instance per cell name).")
    base._cellsim_shared_cells = True


_share_cells()


#: (module, name) -> FFCx's own function, where cellsim.jit put a faster one with the same results
_ffcx_originals: dict = {}


@contextlib.contextmanager
def ffcx_originals():
    """FFCx's own functions in place of cellsim.jit's faster ones (tests: the same C code)."""
    ours = {k: getattr(*k) for k in _ffcx_originals}
    for (mod, name), f in _ffcx_originals.items():
        setattr(mod, name, f)
    try:
        yield
    finally:
        for (mod, name), f in ours.items():
            setattr(mod, name, f)


def _fast_facet_points() -> None:
    """FFCx maps the facet quadrature points of every element table onto every facet of the
    reference cell with a Python loop over the points (``ffcx.element_interface.
    map_facet_points``: 37,500 calls, 8.5 of 50 profiled seconds in the polycrystal's
    Newton batch). The same sums, point-wise in the same order, over all points at once
    (numpy's element-wise arithmetic is IEEE like the scalar one: the same numbers, bit for
    bit), with the facet vertices looked up once per cell and facet."""
    import basix
    import ffcx.element_interface as fe
    import ffcx.ir.representationutils as fr
    import numpy as np

    if getattr(fr.map_facet_points, "_cellsim", False):
        return
    verts: dict = {}

    def map_facet_points(points, facet: int, cellname: str):
        key = (cellname, facet)
        v = verts.get(key)
        if v is None:
            ct = fe._CellType[cellname]
            geom = np.asarray(basix.geometry(ct))
            v = verts[key] = [geom[i] for i in basix.topology(ct)[-2][facet]]
        p = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
        acc = 0  # zip(vertices[1:], point) of FFCx: as many vertices as point coordinates
        for k, vk in enumerate(v[1 : 1 + p.shape[1]]):
            acc = acc + (vk - v[0])[None, :] * p[:, k : k + 1]
        return np.asarray(np.tile(v[0], (len(p), 1)) + acc, dtype=np.float64)

    map_facet_points._cellsim = True
    _ffcx_originals[(fr, "map_facet_points")] = fr.map_facet_points
    fr.map_facet_points = map_facet_points


_fast_facet_points()


def _memo_tables() -> None:
    """FFCx builds the element tables of every integral anew (``ffcx.ir.elementtables``):
    tabulation on every entity, clamping to -1/0/1 and the classification of the table
    (zeros, ones, piecewise, ...), each a pure function of its inputs, the same tables over
    and over for the blocks of a model (about 10 % of the cold set-up of the polycrystal).
    Remembered here by their inputs (the arrays by their bytes); a copy is handed out, so
    nothing FFCx does to a result changes the remembered one."""
    import copy

    import ffcx.ir.elementtables as et
    import numpy as np

    if getattr(et.get_ffcx_table_values, "_cellsim", False):
        return
    values, clamped, types, permuted = {}, {}, {}, {}
    orig_values, orig_clamp = et.get_ffcx_table_values, et.clamp_table_small_numbers
    orig_type, orig_perm = et.analyse_table_type, et.is_permuted_table

    def akey(a):
        a = np.asarray(a)
        return (a.dtype.str, a.shape, a.tobytes())

    def get_ffcx_table_values(points, cell, integral_type, element, avg, entity_type, derivative_counts,
                              flat_component, codim):
        key = (None if points is None else akey(points), cell.cellname, integral_type, element, avg,
               entity_type, tuple(derivative_counts), flat_component, codim)
        hit = values.get(key)
        if hit is None:
            hit = values[key] = orig_values(points, cell, integral_type, element, avg, entity_type,
                                            derivative_counts, flat_component, codim)
        return copy.deepcopy(hit)

    def clamp_table_small_numbers(table, rtol=et.default_rtol, atol=et.default_atol, numbers=(-1.0, 0.0, 1.0)):
        key = (akey(table), rtol, atol, tuple(numbers))
        hit = clamped.get(key)
        if hit is None:
            hit = clamped[key] = orig_clamp(np.array(table), rtol=rtol, atol=atol, numbers=numbers)
        return hit.copy()

    def cached(orig, memo):
        def fn(table, rtol=et.default_rtol, atol=et.default_atol):
            key = (akey(table), rtol, atol)
            if key not in memo:
                memo[key] = orig(table, rtol=rtol, atol=atol)
            return memo[key]
        return fn

    get_ffcx_table_values._cellsim = True
    _ffcx_originals.update({(et, "get_ffcx_table_values"): orig_values, (et, "clamp_table_small_numbers"): orig_clamp,
                            (et, "analyse_table_type"): orig_type, (et, "is_permuted_table"): orig_perm})
    et.get_ffcx_table_values = get_ffcx_table_values
    et.clamp_table_small_numbers = clamp_table_small_numbers
    et.analyse_table_type = cached(orig_type, types)
    et.is_permuted_table = cached(orig_perm, permuted)


_memo_tables()

_KERNEL = re.compile(r"^void (tabulate_tensor_integral_\w+)\(", re.M)


def dedup_kernels(code: str) -> tuple[str, int]:
    """C code of FFCx with each kernel function whose text (arguments and body) repeats an
    earlier one's left out and its uses pointed at the earlier one; returns (code, number
    left out). The blocks of a model differ in subdomains and coefficients, not in their
    integrands: the polycrystal's Newton module held 182 kernels, 64 of them the text of an
    earlier one (4.2 MB of C, 2.9 MB without them), all of which gcc compiled. A kernel's text is the whole of what it
    computes (its tables are static inside it), so the same text is the same kernel."""
    spans, start = [], 0
    for m in _KERNEL.finditer(code):
        if m.start() < start:
            continue
        i = code.index("{", m.end())
        depth, j = 0, i
        while True:  # the matching brace (FFCx writes no brace in comments or strings)
            c = code[j]
            depth += (c == "{") - (c == "}")
            j += 1
            if depth == 0:
                break
        end = j + 1 if code[j : j + 1] == "\n" else j
        spans.append((m.group(1), m.start(), end, code[m.end() : end]))
        start = end
    first, alias = {}, {}
    for name, _, _, text in spans:
        keep = first.setdefault(text, name)
        if keep != name:
            alias[name] = keep
    if not alias:
        return code, 0
    out, pos = [], 0
    for name, a, b, _ in spans:
        if name in alias:
            out.append(code[pos:a])
            pos = b
    out.append(code[pos:])
    code = "".join(out)
    code = re.sub(r"\btabulate_tensor_integral_\w+\b", lambda m: alias.get(m.group(0), m.group(0)), code)
    return code, len(alias)


def _dedup_generated_code() -> None:
    """FFCx's ``compile_ufl_objects`` as the JIT calls it, with :func:`dedup_kernels` applied
    to the C code it hands to the compiler (``CELLSIM_JIT_DEDUP=0`` switches it off)."""
    import ffcx.compiler as fc

    if getattr(fc.compile_ufl_objects, "_cellsim", False) or os.environ.get(
            "CELLSIM_JIT_DEDUP", "1").strip() in ("0", "false", "no", "off"):
        return
    orig = fc.compile_ufl_objects

    def compile_ufl_objects(*args, **kwargs):
        code, rest = orig(*args, **kwargs)
        body, n = dedup_kernels(code[1])
        stats["deduplicated_kernels"] = stats.get("deduplicated_kernels", 0) + n
        return (code[0], body), rest

    compile_ufl_objects._cellsim = True
    _ffcx_originals[(fc, "compile_ufl_objects")] = orig
    fc.compile_ufl_objects = compile_ufl_objects


_dedup_generated_code()

#: a cache entry (``<module>.c`` without its ``.c.cached`` marker) left unwritten this long
#: is a compile that died (killed, interrupted) [s]
STALE_AFTER = 300.0


def _recover_stale_entries() -> None:
    """FFCx's ``get_cached_module`` that outlives a dead compile. FFCx marks a module being
    compiled by creating ``<module>.c`` and a finished one by ``<module>.c.cached``; a process
    killed in between (Ctrl-C, a job's time limit, SIGKILL during the first set-up) leaves the
    ``.c`` alone, and every later run waits for the marker and fails ("JIT compilation timed
    out") until the user deletes the file. Here, after FFCx's own wait, the entry is waited
    for until it is finished, removed by its compiler, or untouched for :data:`STALE_AFTER`
    seconds: then it is removed (with a message) and compiled again in this process. A live
    compile that takes longer than that is compiled twice to the same result."""
    if getattr(_fj.get_cached_module, "_cellsim", False):
        return
    orig = _fj.get_cached_module

    def get_cached_module(module_name, object_names, cache_dir, timeout):
        try:
            return orig(module_name, object_names, cache_dir, timeout)
        except TimeoutError:
            c = Path(cache_dir) / f"{module_name}.c"
            while not c.with_suffix(".c.cached").exists():
                try:
                    age = time.time() - c.stat().st_mtime
                except FileNotFoundError:
                    break
                if age > STALE_AFTER:
                    print(f"cellsim: JIT cache entry {c} has no compiled module and was last written {age:.0f} s "
                          "ago (a compile that did not finish): removed, compiling it again", file=sys.stderr)
                    c.unlink(missing_ok=True)
                    break
                time.sleep(1.0)
            return orig(module_name, object_names, cache_dir, timeout)

    get_cached_module._cellsim = True
    _ffcx_originals[(_fj, "get_cached_module")] = orig
    _fj.get_cached_module = get_cached_module


_recover_stale_entries()
