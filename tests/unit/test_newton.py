"""Newton outcome classification (cellsim/newton.py): failures a user can act on."""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim import newton  # noqa: E402


class _Fake:
    """Stands in for the SNES/KSP/PC chain and a solution function."""

    def __init__(self, snes_reason, ksp_reason=0, pc_reason=0, value=1.0):
        self.snes_reason, self.ksp_reason, self.pc_reason = snes_reason, ksp_reason, pc_reason
        self.x = type("X", (), {"array": np.array([value])})()

    def solve(self):
        pass

    def getConvergedReason(self):
        return self.snes_reason

    def getIterationNumber(self):
        return 2

    def getLinearSolveIterations(self):
        return 7

    def getKSP(self):
        fake = self
        return type("K", (), {"getConvergedReason": lambda s: fake.ksp_reason,
                              "getPC": lambda s: type("P", (), {"getFailedReason": lambda p: fake.pc_reason})()})()


def test_converged_and_diverged():
    f = _Fake(3)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert r.converged and (r.newton_iterations, r.krylov_iterations) == (2, 7)
    f = _Fake(-5)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert not r.converged and r.retry and "maximum iterations" in r.reason
    f = _Fake(3, value=np.nan)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert not r.converged and "non-finite" in r.reason


def test_out_of_memory_is_named_and_not_retried():
    f = _Fake(-3, ksp_reason=-11, pc_reason=3)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert not r.converged and not r.retry
    assert "DIVERGED_PCSETUP_FAILED" in r.reason and "FACTOR_OUTMEMORY" in r.reason and "iterative" in r.reason
    f = _Fake(-3, ksp_reason=-3)
    r = newton.solve(f, f, [f], MPI.COMM_SELF)
    assert r.retry and "DIVERGED_MAX_IT" in r.reason


# ---------------------------------------------------------------------- blocked assembly
def _two_field_problem(n=6):
    """u: nonlinear diffusion; w: linear diffusion + a mass term scaled by a Constant and
    a coefficient; the couplings u->w (linear) and w->u (through u: nonlinear)."""
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import NonlinearProblem

    msh = mesh.create_unit_square(MPI.COMM_WORLD, n, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    W = fem.functionspace(msh, ("Lagrange", 2))
    u, w, g = fem.Function(V), fem.Function(W), fem.Function(W)
    c = fem.Constant(msh, 2.0)
    du, dw = ufl.TestFunctions(ufl.MixedFunctionSpace(V, W))
    F = [((1 + u**2) * ufl.inner(ufl.grad(u), ufl.grad(du)) + u * w * du) * ufl.dx,
         (ufl.inner(ufl.grad(w), ufl.grad(dw)) + c * g * w * dw + 3.0 * u * dw) * ufl.dx]
    p = NonlinearProblem(F, [u, w], kind="mpi", petsc_options_prefix="test_block_assembler_")
    return p, u, w, g, c


def _state(x, rng):
    for f in x:
        f.x.array[:] = rng.random(f.x.array.size)
        f.x.scatter_forward()


def _reference_jacobian(p):
    from dolfinx.fem.petsc import assemble_matrix

    B = p.A.duplicate(copy=False)
    B.zeroEntries()
    assemble_matrix(B, p.J)
    B.assemble()
    return B


def _assert_jacobian_is_dolfinx(p, label):
    B = _reference_jacobian(p)
    D = p.A.copy()
    D.axpy(-1.0, B)
    assert D.norm() <= 1e-13 * B.norm(), label
    B.destroy()
    D.destroy()


@pytest.mark.mpi
def test_block_assembler_equals_dolfinx_and_keeps_constant_blocks():
    """The Jacobian with kept constant blocks equals DOLFINx's whole assembly at every
    state; the constant blocks are re-assembled exactly when a Constant or coefficient
    they read changes; the residual without lifting equals DOLFINx's."""
    from dolfinx.fem.petsc import assemble_residual, assign

    from cellsim.assembly import BlockAssembler

    p, u, w, g, c = _two_field_problem()
    a = BlockAssembler(p, [u, w])
    # J_00, J_01 contain u; J_10 = 3 (no inputs), J_11 reads c and g only
    assert sorted((i, j) for i, j, _ in a.variable) == [(0, 0), (0, 1)]
    assert sorted((i, j) for i, j, _ in a.constant) == [(1, 0), (1, 1)]
    rng = np.random.default_rng(7 + MPI.COMM_WORLD.rank)
    g.x.array[:] = 1.0
    counts = []
    for change in ["first", None, "unknowns", "constant", None, "coefficient", "unknowns"]:
        if change is not None:
            _state([u, w], rng)
        if change == "constant":
            c.value = 5.0
        if change == "coefficient":
            g.x.array[:] = 0.5 + rng.random(g.x.array.size)
            g.x.scatter_forward()
        assign([u, w], p.x)
        a.jacobian(None, p.x, p.A, p.A)
        counts.append(a.constant_assemblies)
        _assert_jacobian_is_dolfinx(p, change)
    assert counts == [1, 1, 1, 2, 2, 3, 3]
    b_ref = p.b.duplicate()
    assemble_residual(None, p.x, b_ref, [u, w], p.F, p.J, [], p.b.getAttr("_blocks"))
    b = p.b.duplicate()
    a.residual(None, p.x, b)
    b.axpy(-1.0, b_ref)
    assert b.norm() <= 1e-14 * max(b_ref.norm(), 1.0)


@pytest.mark.mpi
def test_only_the_constant_blocks_whose_inputs_change_are_assembled_again():
    """A constant block whose inputs change (J_11 reads the coefficient g) is assembled
    again at each change; a constant block with unchanged inputs (J_10) is assembled again
    only once, when J_11 first changes (the static blocks' own kept matrix), and never after,
    until an input of its own changes (the Constant c: DOLFINx lists the constants of the
    row's form before differentiation, so J_10 reads c too); then every constant block is
    moving and one kept matrix holds them. The Jacobian equals DOLFINx's whole assembly at
    every state."""
    from dolfinx.fem.petsc import assign

    from cellsim.assembly import BlockAssembler

    p, u, w, g, c = _two_field_problem()
    a = BlockAssembler(p, [u, w])
    const = {id(f): (i, j) for i, j, f in a.constant}
    seen = []
    add = a._add_blocks

    def counted(A, blocks):
        seen.extend(const[id(f)] for _, _, f in blocks if id(f) in const)
        add(A, blocks)

    a._add_blocks = counted
    rng = np.random.default_rng(3 + MPI.COMM_WORLD.rank)
    g.x.array[:] = 1.0
    per_change = []
    for change in ["first", "unknowns", "coefficient", "unknowns", "coefficient", "constant", None]:
        seen.clear()
        if change != "first":
            _state([u, w], rng)
        if change == "constant":
            c.value = float(c.value) + 1.0
        if change == "coefficient":
            g.x.array[:] = 0.5 + rng.random(g.x.array.size)
            g.x.scatter_forward()
        assign([u, w], p.x)
        a.jacobian(None, p.x, p.A, p.A)
        per_change.append(sorted(seen))
        _assert_jacobian_is_dolfinx(p, change)
    # (the first Jacobian: the whole matrix, then the kept constant blocks)
    assert per_change == [[(1, 0), (1, 0), (1, 1), (1, 1)], [], [(1, 0), (1, 1)], [], [(1, 1)], [(1, 0), (1, 1)], []]
    assert a._moving.tolist() == [True, True]
    a.close()


@pytest.mark.mpi
def test_rigid_body_modes_are_the_kernel_of_elasticity():
    """The near-nullspace given to GAMG: K m = 0 for the stiffness K of free linear
    elasticity and each of the 6 (3D) / 3 (2D) modes, which are independent."""
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import assemble_matrix
    from petsc4py import PETSc

    from cellsim.solver import rigid_body_modes

    comm = MPI.COMM_WORLD
    for msh, nmodes in ((mesh.create_unit_cube(comm, 3, 3, 3), 6), (mesh.create_unit_square(comm, 5, 5), 3)):
        gdim = msh.geometry.dim
        V = fem.functionspace(msh, ("Lagrange", 2, (gdim,)))
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        eps = lambda z: ufl.sym(ufl.grad(z))  # noqa: E731
        K = assemble_matrix(fem.form((2 * ufl.inner(eps(u), eps(v)) + ufl.div(u) * ufl.div(v)) * ufl.dx))
        K.assemble()
        modes = rigid_body_modes([V], comm)
        assert len(modes) == nmodes
        vecs = []
        for m in modes:
            x = K.createVecRight()
            x.setArray(m)
            y = K.createVecLeft()
            K.mult(x, y)
            assert y.norm() <= 1e-10 * K.norm(PETSc.NormType.FROBENIUS) * x.norm()
            vecs.append(x)
        G = np.array([[a.dot(b) for b in vecs] for a in vecs])
        assert np.linalg.matrix_rank(G, tol=1e-8 * np.abs(G).max()) == nmodes
