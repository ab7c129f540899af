"""cellsim.jit: many forms in one compiled module, the same numbers as one module per form.

Each test compiles into an empty JIT cache of its own (the default ``cache_dir`` of
DOLFINx's options pointed at a temporary folder, the same on every rank) and counts the
modules (``*.so``) that appear there.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from cellsim.dolfinx_env import require_dolfinx

require_dolfinx()
import dolfinx.jit  # noqa: E402
import dolfinx.la  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from dolfinx.fem.petsc import NonlinearProblem, assemble_matrix, assemble_vector  # noqa: E402

from cellsim import ffcx_patches, jit  # noqa: E402

COMM = MPI.COMM_WORLD


@pytest.fixture
def cache(monkeypatch):
    """An empty JIT cache folder (shared by all ranks) as DOLFINx's default."""
    path = tempfile.mkdtemp(prefix="cellsim-jit-test-") if COMM.rank == 0 else None
    path = Path(COMM.bcast(path, root=0))
    doc = dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS["cache_dir"][1]
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "cache_dir", (path, doc))
    monkeypatch.setattr(jit, "_compiled", {})
    assert Path(dolfinx.jit.get_options()["cache_dir"]) == path
    yield path
    gc.collect()
    COMM.barrier()


def modules(path: Path) -> int:
    return len(list(path.rglob("*.so")))


def problem():
    """A two-field nonlinear residual with cell, boundary and interior-facet integrals."""
    msh = mesh.create_unit_square(COMM, 6, 5, ghost_mode=mesh.GhostMode.shared_facet)
    V, W = fem.functionspace(msh, ("Lagrange", 1)), fem.functionspace(msh, ("Lagrange", 2))
    u, w = fem.Function(V), fem.Function(W)
    x = ufl.SpatialCoordinate(msh)
    u.interpolate(lambda X: 0.3 + X[0] * X[1])
    w.interpolate(lambda X: np.sin(2 * X[0]) + X[1] ** 2)
    v, q = ufl.TestFunction(V), ufl.TestFunction(W)
    k = fem.Constant(msh, 1.7)
    n = ufl.FacetNormal(msh)
    F0 = (ufl.exp(u) * ufl.inner(ufl.grad(u), ufl.grad(v)) + u * w * v - x[0] * v) * ufl.dx + k * u**2 * v * ufl.ds
    F1 = (ufl.inner((1 + w**2) * ufl.grad(w), ufl.grad(q)) + ufl.sin(u) * q) * ufl.dx \
        + ufl.inner(ufl.jump(ufl.grad(w), n), ufl.avg(q)) * ufl.dS
    return [F0, F1], [u, w]


def assembled(F, u):
    pb = NonlinearProblem(F, u, kind="mpi", petsc_options_prefix="jitbatch_test_")
    b = assemble_vector(pb.F, kind="mpi")
    A = assemble_matrix(pb.J, kind="mpi")
    A.assemble()
    out = b.norm(), A.norm(), b.getArray().copy(), A.convert("dense").getDenseArray().copy() if COMM.size == 1 else None
    A.destroy()
    b.destroy()
    return out


@pytest.mark.mpi
def test_batch_is_one_module_with_the_same_residual_and_jacobian(cache):
    F, u = problem()
    ref = assembled(F, u)  # DOLFINx alone: one module per form
    per_form = modules(cache)
    assert per_form == 6  # 2 residual blocks + 4 Jacobian blocks
    jit._compiled.clear()
    other = cache / "batched"
    dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS["cache_dir"] = (other, "")
    F, u = problem()
    before = dict(jit.stats)
    with jit.batch(COMM, F, u):
        got = assembled(F, u)
    assert modules(other) == 1
    assert jit.stats["served"] - before["served"] == 6
    assert got[0] == pytest.approx(ref[0], rel=1e-14) and got[1] == pytest.approx(ref[1], rel=1e-14)
    assert np.allclose(got[2], ref[2], rtol=1e-14, atol=1e-14 * np.abs(ref[2]).max())
    if COMM.size == 1:
        assert np.allclose(got[3], ref[3], rtol=1e-14, atol=1e-14 * np.abs(ref[3]).max())


@pytest.mark.mpi
def test_zero_blocks_skipped_and_the_same_jacobian(cache):
    """A third field z whose row reads w only on the boundary: J_20, J_02, J_12 are zero and
    left out (None), J_01 differentiates only the integral of F0 that holds w; the assembled
    residual and Jacobian equal DOLFINx's own (every block compiled, one module per form)."""
    F, u = problem()
    msh = u[0].function_space.mesh
    Z = fem.functionspace(msh, ("Lagrange", 1))
    z, r = fem.Function(Z), ufl.TestFunction(Z)
    z.interpolate(lambda X: 1.0 + X[0] ** 2)
    F = F + [(z**2 * r + ufl.inner(ufl.grad(z), ufl.grad(r))) * ufl.dx + u[1] * r * ufl.ds]
    u = u + [z]
    ref = assembled(F, u)
    assert modules(cache) == 3 + 9  # 3 residual blocks + all 9 Jacobian blocks
    J = jit.block_jacobian(F, u)
    assert [(i, j) for i in range(3) for j in range(3) if J[i][j] is None] == [(0, 2), (1, 2), (2, 0)]
    assert len(J[0][1].integrals()) < len(F[0].integrals())  # only the integrals with w
    jit._compiled.clear()
    dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS["cache_dir"] = (cache / "batched", "")
    with jit.batch(COMM, F, u):
        pb_forms = jit.residual_and_jacobian(F, u)
        got = assembled(F, u)
    assert modules(cache / "batched") == 1
    assert sum(f is not None for row in pb_forms[1] for f in row) == 6
    assert got[0] == pytest.approx(ref[0], rel=1e-14) and got[1] == pytest.approx(ref[1], rel=1e-14)
    assert np.allclose(got[2], ref[2], rtol=1e-14, atol=1e-14 * np.abs(ref[2]).max())
    if COMM.size == 1:
        assert np.array_equal(got[3], ref[3])


@pytest.mark.mpi
def test_fast_facet_points_are_ffcx_numbers():
    """cellsim.jit's vectorised map of facet quadrature points equals FFCx's own loop, bit
    for bit, on every facet of the usual cells, at the quadrature rules of degrees 1-8."""
    import basix
    import ffcx.element_interface as fe
    import ffcx.ir.representationutils as fr

    assert fr.map_facet_points is not fe.map_facet_points
    facet_cell = {"triangle": basix.CellType.interval, "tetrahedron": basix.CellType.triangle,
                  "quadrilateral": basix.CellType.interval, "hexahedron": basix.CellType.quadrilateral}
    for cell, fc in facet_cell.items():
        nf = len(basix.topology(fe._CellType[cell])[-2])
        for deg in range(1, 9):
            pts, _ = basix.make_quadrature(fc, deg)
            for f in range(nf):
                a, b = fe.map_facet_points(pts, f, cell), fr.map_facet_points(pts, f, cell)
                assert a.shape == b.shape and np.array_equal(a, b), (cell, deg, f)


def test_faster_ffcx_tables_generate_the_same_code():
    """FFCx with cellsim.jit's faster facet mapping and remembered tables writes the same C
    code as FFCx alone, for cell, boundary and interior-facet forms on tetrahedra (P1, P2
    vector, DG0; facet permutations) and a second time from the remembered tables."""
    import ffcx.compiler

    msh = mesh.create_unit_cube(MPI.COMM_SELF, 2, 2, 2, ghost_mode=mesh.GhostMode.shared_facet)
    V, W, Q = (fem.functionspace(msh, e) for e in (("Lagrange", 1), ("Lagrange", 2, (3,)), ("DG", 0)))
    u, w, d = fem.Function(V), fem.Function(W), fem.Function(Q)
    v, z = ufl.TestFunction(V), ufl.TestFunction(W)
    n = ufl.FacetNormal(msh)
    F = [(ufl.exp(u) * ufl.inner(ufl.grad(u), ufl.grad(v)) + ufl.div(w) * v) * ufl.dx + u**2 * v * ufl.ds
         + (1 - d("+")) * ufl.sinh(u("+") - u("-")) * ufl.avg(v) * ufl.dS(metadata={"quadrature_degree": 6}),
         ufl.inner(ufl.sym(ufl.grad(w)), ufl.grad(z)) * ufl.dx
         + ufl.inner(ufl.jump(w), z("+")) * ufl.dot(n("+"), w("-")) * ufl.dS]
    forms = F + [ufl.derivative(f, c) for f in F for c in (u, w)]
    opts = jit.ffcx.get_options({"scalar_type": np.float64})
    ours = [ffcx.compiler.compile_ufl_objects(forms, options=opts) for _ in range(2)]
    with jit.ffcx_originals():
        ref = ffcx.compiler.compile_ufl_objects(forms, options=opts)
    assert sum(len(str(c)) for c in ref) > 100_000  # a real amount of code
    # the C code as FFCx alone writes it, less the kernels whose text repeats (jit.dedup_kernels)
    (h, c), rest = ref
    want = ((h, jit.dedup_kernels(c)[0]), rest)
    assert ours[0] == want and ours[1] == want


def test_repeated_kernels_left_out_of_the_code():
    """dedup_kernels keeps the first of kernels with the same text, points the uses of the
    others at it and leaves every other line alone (hand-made code in FFCx's layout)."""
    k = "void tabulate_tensor_integral_{}(double* restrict A)\n{{\n{{\n  A[0] = {};\n}}\n}}\n"
    code = ("// head\n" + k.format("aa", "1.0") + k.format("bb", "2.0") + k.format("cc", "1.0")
            + "ufcx_integral integral_aa = {.tabulate_tensor_float64 = tabulate_tensor_integral_aa};\n"
            + "ufcx_integral integral_cc = {.tabulate_tensor_float64 = tabulate_tensor_integral_cc};\n")
    out, n = jit.dedup_kernels(code)
    assert n == 1 and "tabulate_tensor_integral_cc" not in out
    assert out == ("// head\n" + k.format("aa", "1.0") + k.format("bb", "2.0")
                   + "ufcx_integral integral_aa = {.tabulate_tensor_float64 = tabulate_tensor_integral_aa};\n"
                   + "ufcx_integral integral_cc = {.tabulate_tensor_float64 = tabulate_tensor_integral_aa};\n")
    assert jit.dedup_kernels(out) == (out, 0)


@pytest.mark.mpi
def test_warm_cache_compiles_nothing_and_new_forms_alone(cache):
    F, u = problem()
    assert jit.compile_batch(COMM, jit.residual_and_jacobian(F, u)) == 6
    assert modules(cache) == 1
    jit._compiled.clear()  # a new process: the cache only
    F, u = problem()
    assert jit.compile_batch(COMM, jit.residual_and_jacobian(F, u)) == 0  # found through the index
    assert modules(cache) == 1
    # a batch with two forms more: the six from the index, only the new two compiled
    msh = u[0].function_space.mesh
    extra = [u[0] ** 3 * ufl.dx, ufl.cos(u[1]) * ufl.ds(domain=msh)]
    jit._compiled.clear()
    assert jit.compile_batch(COMM, [F, extra]) == 2
    assert modules(cache) == 2
    with jit._patched():
        vals = [COMM.allreduce(fem.assemble_scalar(fem.form(e)), op=MPI.SUM) for e in extra]
    assert modules(cache) == 2  # served from the batch
    ref = [COMM.allreduce(fem.assemble_scalar(fem.form(e)), op=MPI.SUM) for e in extra]  # compiled alone
    assert modules(cache) == 4 and vals == pytest.approx(ref, rel=1e-14)


@pytest.mark.mpi
def test_deferred_forms_compile_together_with_the_right_values(cache):
    msh = mesh.create_unit_square(COMM, 4, 4)
    x = ufl.SpatialCoordinate(msh)
    with jit.deferred():
        forms = [fem.form(x[0] * ufl.dx), fem.form(x[0] * x[1] * ufl.dx), fem.form(x[1] ** 2 * ufl.ds)]
        assert modules(cache) == 0 and isinstance(forms[0], fem.Form)
    assert modules(cache) == 1
    vals = [COMM.allreduce(fem.assemble_scalar(f), op=MPI.SUM) for f in forms]
    # int x = 1/2, int xy = 1/4; int y^2 ds over the boundary: 1 (top) + 2 * 1/3 (sides)
    assert vals == pytest.approx([0.5, 0.25, 1 + 2 / 3], rel=1e-12)
    with jit.deferred():  # first use inside the context compiles what is pending
        f = fem.form(x[0] ** 3 * ufl.dx)
        g = fem.form(x[1] ** 3 * ufl.dx)
        assert COMM.allreduce(fem.assemble_scalar(f), op=MPI.SUM) == pytest.approx(0.25, rel=1e-12)
        assert modules(cache) == 2
    assert COMM.allreduce(fem.assemble_scalar(g), op=MPI.SUM) == pytest.approx(0.25, rel=1e-12)
    assert fem.form is jit._ORIG_FORM


@pytest.mark.mpi
def test_halfcell_set_up_compiles_few_modules(cache):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "halfcell"))
    import meshes
    from cellsim.case.halfcell import HalfCellCase
    from cellsim.models.halfcell import HalfCellModel

    case = HalfCellCase.model_validate({"model": "halfcell", "output": {"fields": False}},
                                       context={"mesh_given": True})
    tm = meshes.build(meshes.square_lattice_2d(), h=1.0e-6, comm=COMM)
    model = HalfCellModel(case, tm, COMM)
    n = modules(cache)
    # one module for the Newton (residual + Jacobian), one for the diagnostics made in the
    # set-up, and the few forms the set-up assembles at once (sizes, areas, indicators)
    print("half-cell set-up modules:", n)
    assert n <= 12, n
    model.close()


#: the cold set-up of the 4-grain cohesive particle below (4 colours, 6 colour-pair cohesive terms,
#: crack reaction, 14 blocks), measured 2026-12-02: 7 modules, 94 forms compiled in batches (before
#: the zero Jacobian blocks were skipped and the interfaces' own forms shared: 17 modules, 239 forms)
POLY_MODULES, POLY_FORMS = 8, 100


@pytest.mark.mpi
def test_polycrystal_set_up_compiles_few_forms_and_modules(cache):
    """Set-up of a 4-grain cohesive secondary particle (the shipped polycrystal case, coarser)
    compiles at most POLY_MODULES modules holding at most POLY_FORMS batched forms; the
    Jacobian it gets has no structurally zero block, and its blocks are those of DOLFINx's
    own derivation wherever they are not zero."""
    from cellsim.case import load_case
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models.particle import ParticleModel

    case = load_case(Path(__file__).resolve().parents[2] / "cases" / "particle_polycrystal.toml")
    case = case.model_copy(update={"geometry": case.geometry.model_copy(
        update={"n_grains": 4, "seed": 1, "mesh_size": 1.2e-6})})
    tm = build_mesh(case.geometry, COMM)
    before = dict(jit.stats)
    model = ParticleModel(case, tm, COMM)
    n, forms = modules(cache), jit.stats["compiled_forms"] - before["compiled_forms"]
    print("polycrystal set-up: modules", n, "batched forms", forms, "blocks", len(model.block_names))
    assert len(model.cohesives) == 6 and len(model.block_names) == 14
    assert n <= POLY_MODULES and forms <= POLY_FORMS, (n, forms)
    J = model.problem.J
    zero = [(i, j) for i, row in enumerate(J) for j, f in enumerate(row) if f is None]
    assert 0 < len(zero) < len(J) ** 2
    for i, j in zero:  # skipped blocks: the residual row does not contain that unknown at all
        assert model.unknowns[j] not in model.forms[i].coefficients()
    model.close()


_PLAIN = """
import sys
try:
    import dolfinx_solver  # noqa: F401
except ImportError:
    pass
from mpi4py import MPI
import numpy as np, ufl, ffcx, ffcx.naming, ffcx.codegeneration.jit as fj
from dolfinx import fem, jit, mesh
msh = mesh.create_unit_cube(MPI.COMM_SELF, 2, 2, 2)
u = fem.Function(fem.functionspace(msh, ("Lagrange", 2, (3,))))
v = ufl.TestFunction(u.function_space)
F = ufl.inner(ufl.grad(u) + ufl.exp(ufl.div(u)) * ufl.Identity(3), ufl.grad(v)) * ufl.dx + ufl.inner(u, v) * ufl.ds
p, pj = ffcx.get_options({"scalar_type": np.float64}), jit.get_options()
sig = fj._compute_option_signature(p) + fj._compilation_signature(pj["cffi_extra_compile_args"], pj["cffi_debug"])
print("libffcx_forms_" + ffcx.naming.compute_signature([ufl.derivative(F, u)], sig))
"""


def test_shared_cells_keep_the_module_names_of_plain_dolfinx():
    """One ufl.Cell per cell name (cellsim.jit) names a form's module as plain DOLFINx does,
    so a cache filled without cellsim.jit is found."""
    import subprocess
    import sys

    import basix.ufl

    e1, e2 = basix.ufl.element("Lagrange", "tetrahedron", 2), basix.ufl.element("N1curl", "tetrahedron", 1)
    assert e1.cell is e2.cell and e1.cell == ufl.Cell("tetrahedron")
    exec_ns: dict = {}
    code = _PLAIN.rsplit("print(", 1)[0]
    exec(code, exec_ns)  # noqa: S102 - the same lines, in this process (cells shared)
    F, u, sig = exec_ns["F"], exec_ns["u"], exec_ns["sig"]
    ours = "libffcx_forms_" + jit.ffcx.naming.compute_signature([ufl.derivative(F, u)], sig)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "HYDRA", "MPI"))}
    plain = subprocess.run([sys.executable, "-c", _PLAIN], check=False, capture_output=True, text=True, timeout=300,
                           env={**env, "PYTHONPATH": ""})  # a process without cellsim
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert plain.stdout.split()[-1] == ours


@pytest.mark.mpi
def test_a_dead_compile_left_in_the_cache_is_compiled_again(cache, monkeypatch, capfd):
    """A ``<module>.c`` without its ``.c.cached`` marker (a process killed while compiling)
    made every later run fail with FFCx's "JIT compilation timed out"; cellsim.jit removes the
    entry once it is older than STALE_AFTER and compiles it, and waits for a young one."""
    F, u = problem()
    form = F[0]
    p_ffcx, p_jit = jit._options({"scalar_type": dolfinx.default_scalar_type})
    name = jit.form_key(form, p_ffcx, p_jit)
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "timeout", (1, ""))
    monkeypatch.setattr(ffcx_patches, "STALE_AFTER", 3.0)
    if COMM.rank == 0:
        (cache / f"{name}.c").write_text("")  # just now: a compile that is (or seems) alive
    COMM.barrier()
    t0 = time.time()
    f = fem.form(form)
    waited = time.time() - t0
    vals = _summed(f)
    out = capfd.readouterr().err
    if COMM.rank == 0:
        assert waited >= 2.0, waited  # it waited for the young entry to go stale
        assert "has no compiled module" in out, out
    assert (cache / f"{name}.c.cached").exists()
    # the same number as a clean compile in another cache
    other = Path(COMM.bcast(tempfile.mkdtemp(prefix="cellsim-jit-test-") if COMM.rank == 0 else None, root=0))
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "cache_dir", (other, ""))
    assert vals == _summed(fem.form(form))


def _summed(f) -> float:
    """Sum of the assembled vector's entries (collective)."""
    b = fem.assemble_vector(f)
    b.scatter_reverse(dolfinx.la.InsertMode.add)
    n = b.index_map.size_local * b.block_size
    return COMM.allreduce(float(np.sum(b.array[:n])), op=MPI.SUM)


def _functionals(n: int):
    """``n`` distinct scalar forms (cell and boundary integrals) of one P2 function."""
    msh = mesh.create_unit_square(COMM, 4, 4)
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 2)))
    u.interpolate(lambda X: 1 + X[0] * X[1] ** 2)
    return [((1 + j) * u**2 + ufl.sin(j * u)) * ufl.dx + (1 + j) * ufl.exp(-u) * ufl.ds for j in range(n)]


def _value(f) -> float:
    return COMM.allreduce(fem.assemble_scalar(f), op=MPI.SUM)


@pytest.mark.mpi
def test_a_large_batch_compiles_in_chunks_with_dolfinx_values(cache, monkeypatch):
    """A batch of at least CHUNK_MIN_FORMS forms is compiled as a few modules (jit_cc.chunks),
    each in a child process while the next one's code is generated: every form gives the
    value DOLFINx's own one-form module gives, and the same batch again compiles nothing."""
    from cellsim import jit_cc

    monkeypatch.setattr(jit_cc, "MAX_CHUNKS", 3)
    forms = _functionals(30)
    parts = jit_cc.chunks(len(forms))
    assert len(parts) >= 2 and [s.stop - s.start for s in parts] == sorted([s.stop - s.start for s in parts], reverse=True)
    before = dict(jit.stats)
    assert jit.compile_batch(COMM, forms) == len(forms)
    assert modules(cache) == len(parts)
    assert jit.stats["compiled_modules"] - before["compiled_modules"] == (len(parts) if COMM.rank == 0 else 0)
    assert not list(cache.rglob("*.json")) and not list(cache.rglob("*.c.failed"))
    with jit._patched():
        got = [_value(fem.form(f)) for f in forms]
    assert jit.stats["served"] - before["served"] == len(forms)
    # DOLFINx alone (one module per form, another cache) for the first and last form of each chunk
    other = Path(COMM.bcast(tempfile.mkdtemp(prefix="cellsim-jit-test-") if COMM.rank == 0 else None, root=0))
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "cache_dir", (other, ""))
    for i in sorted({i for s in parts for i in (s.start, s.stop - 1)}):
        assert got[i] == pytest.approx(_value(fem.form(forms[i])), rel=1e-14), i
    # a warm cache: the chunks are found through the index, nothing is compiled
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "cache_dir", (cache, ""))
    jit._compiled.clear()
    before = dict(jit.stats)
    assert jit.compile_batch(COMM, _functionals(30)) == 0
    assert jit.stats["loaded_modules"] - before["loaded_modules"] == len(parts)
    assert modules(cache) == len(parts)


@pytest.mark.mpi
def test_a_failed_chunk_compile_is_an_error_on_every_rank(cache, monkeypatch):
    """A chunk whose C compile fails raises (on every rank, with the compiler's message on
    rank 0), leaves its entry as ``.c.failed`` as FFCx does, and no child or job file behind."""
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "cffi_extra_compile_args",
                        (["-O2", "-fcellsim-no-such-option"], ""))
    with pytest.raises(RuntimeError, match="failed" if COMM.rank == 0 else "rank 0") as err:
        jit.compile_batch(COMM, _functionals(30))
    if COMM.rank == 0:
        assert "cellsim-no-such-option" in str(err.value)
    COMM.barrier()
    assert list(cache.rglob("*.c.failed")) and not list(cache.rglob("*.c")) and not list(cache.rglob("*.json"))
    assert modules(cache) == 0


def test_chunks_compile_in_this_process_without_a_child(cache, monkeypatch):
    """Where no child process can be started (an embedded interpreter), each chunk is
    compiled in this process, with the same values."""
    import subprocess
    import types

    from cellsim import jit_cc

    def no_child(*args, **kwargs):
        raise OSError("no interpreter")

    # (only cellsim.jit_cc's: setuptools starts gcc through the real one)
    monkeypatch.setattr(jit_cc, "subprocess", types.SimpleNamespace(
        Popen=no_child, PIPE=subprocess.PIPE, STDOUT=subprocess.STDOUT))
    forms = _functionals(24)
    assert jit.compile_batch(COMM, forms) == len(forms)
    assert modules(cache) == len(jit_cc.chunks(len(forms))) == 2
    assert not list(cache.rglob("*.json"))
    with jit._patched():
        got = _value(fem.form(forms[-1]))
    other = Path(tempfile.mkdtemp(prefix="cellsim-jit-test-"))
    monkeypatch.setitem(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS, "cache_dir", (other, ""))
    assert got == pytest.approx(_value(fem.form(forms[-1])), rel=1e-14)
