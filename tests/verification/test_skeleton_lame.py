"""The skeleton's terms against a closed form: a disk with an eigenstrain bonded (penalty
tie K) inside a concentric ring clamped (penalty) on its outer circle, 2D (the 2D
elasticity of cellsim.physics.mechanics: plane strain with an in-plane eigenstrain).

Exact solution (u = u_r(r) e_r): disk u = A1 r, ring u = A2 (r - b^2 / r), with
    sigma_rr = 2 (lambda + mu)(A - eps*) - 2 mu B / r^2   (u = A r + B / r),
    sigma_rr,disk(a) = sigma_rr,ring(a) = K (u_ring(a) - u_disk(a))   (the tie).
Built with the same terms the half-cell skeleton uses (Elasticity with an eigenstrain and
no sigma_h block, BondedTie, ElasticSupport), on gmsh meshes h = a/4, a/8, a/16: the L2
error of the displacement falls at order ~2 (P1), the interface pressure is within 0.5 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import gmsh  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from dolfinx.fem.petsc import NonlinearProblem  # noqa: E402

from cellsim import regions as itf  # noqa: E402
from cellsim.physics.cohesive_term import BondedTie  # noqa: E402
from cellsim.physics.mechanics import ElasticSupport, Elasticity, lame  # noqa: E402
from cellsim.physics.term import add_rows  # noqa: E402

A, B = 2e-6, 5e-6  # m
E1, NU1, E2, NU2 = 20e9, 0.3, 1e9, 0.3
EPS = -0.01  # the disk shrinks
K = 2e15  # Pa/m: the tie is compliant enough to matter (K a / E2 = 4)


def exact():
    l1, m1 = lame(E1, NU1)
    l2, m2 = lame(E2, NU2)
    M = np.array([[2 * (l1 + m1), -(2 * (l2 + m2) + 2 * m2 * B**2 / A**2)],
                  [2 * (l1 + m1) + K * A, -K * (A - B**2 / A)]])
    rhs = np.array([2 * (l1 + m1) * EPS, 2 * (l1 + m1) * EPS])
    a1, a2 = np.linalg.solve(M, rhs)
    return float(a1), float(a2), float(2 * (l1 + m1) * (a1 - EPS))


def mesh(h, comm):
    gmsh.initialize()
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add("lame")
    if comm.rank == 0:
        occ = gmsh.model.occ
        outer = occ.addDisk(0, 0, 0, B * 1e6, B * 1e6)
        inner = occ.addDisk(0, 0, 0, A * 1e6, A * 1e6)
        _, mp = occ.fragment([(2, outer)], [(2, inner)])
        occ.synchronize()
        disk = [t for _, t in mp[1]]
        ring = [t for _, t in mp[0] if t not in disk]
        gmsh.model.addPhysicalGroup(2, disk, 1)
        gmsh.model.addPhysicalGroup(2, ring, 2)
        c_in = [abs(t) for _, t in gmsh.model.getBoundary([(2, s) for s in disk], oriented=False)]
        c_out = [abs(t) for _, t in gmsh.model.getBoundary([(2, s) for s in ring], oriented=False) if abs(t) not in c_in]
        gmsh.model.addPhysicalGroup(1, c_in, 3)
        gmsh.model.addPhysicalGroup(1, c_out, 4)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h * 1e6)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h * 1e6)
        gmsh.model.mesh.generate(2)
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    md = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2, partitioner=part)
    gmsh.finalize()
    md.mesh.geometry.x[:] *= 1e-6
    return md


class Stub:
    """What a term needs from a model (m.q, m.u, m.v, m.parent)."""

    def __init__(self, parent, u):
        self.parent, self.u = parent, u
        self.v = dict(zip(u, ufl.TestFunctions(ufl.MixedFunctionSpace(*[f.function_space for f in u.values()]))))

    def q(self, n):
        return self.u[n]


def solve(h, comm):
    md = mesh(h, comm)
    msh, ct, ft = md.mesh, md.cell_tags, md.facet_tags
    sub = itf.make_submeshes(msh, ct, {"disk": 1, "ring": 2})
    em = [r.entity_map for r in sub.values()]
    u = {"u1": fem.Function(fem.functionspace(sub["disk"].mesh, ("Lagrange", 1, (2,)))),
         "u2": fem.Function(fem.functionspace(sub["ring"].mesh, ("Lagrange", 1, (2,))))}
    m = Stub(msh, u)
    f_if = ft.find(3)
    data = itf.interface_integration_data(msh, f_if, sub["disk"].parent_cells).reshape(-1)
    dS = ufl.Measure("dS", domain=msh, subdomain_data=[(3, data)], metadata={"quadrature_degree": 2})
    kind, dso = itf.facet_integration_data(msh, ft.find(4), sub["ring"].parent_cells)
    assert kind == "ds"
    ds = ufl.Measure("ds", domain=msh, subdomain_data=[(4, dso)], metadata={"quadrature_degree": 2})
    dx = ufl.Measure("dx", domain=msh, subdomain_data=ct)
    terms = [Elasticity([(dx(1), E1, NU1, 0, 0)], c=None, u="u1", sigma_h=None, eigenstrain=EPS),
             Elasticity([(dx(2), E2, NU2, 0, 0)], c=None, u="u2", sigma_h=None),
             BondedTie("u1", "u2", K, dS(3)),
             ElasticSupport("u2", 1e4 * E2 / h, clamps=[(ds(4), False)])]
    rows = {}
    for t in terms:
        add_rows(rows, t.residual(m))
    opts = {"snes_type": "ksponly", "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    prob = NonlinearProblem([rows["u1"], rows["u2"]], [u["u1"], u["u2"]], kind="mpi", entity_maps=em,
                            petsc_options_prefix=f"lame{int(1e9 * h)}_", petsc_options=opts)
    prob.solve()
    a1, a2, p = exact()
    x = ufl.SpatialCoordinate(msh)
    err = (ufl.inner(u["u1"] - a1 * x, u["u1"] - a1 * x) * dx(1)
           + ufl.inner(u["u2"] - a2 * (1 - B**2 / ufl.inner(x, x)) * x, u["u2"] - a2 * (1 - B**2 / ufl.inner(x, x)) * x)
           * dx(2))
    ref = ufl.inner(a1 * x, a1 * x) * dx(1)

    def integ(f):
        return comm.allreduce(fem.assemble_scalar(fem.form(f, entity_maps=em)), op=MPI.SUM)

    n = ufl.FacetNormal(msh)("+")
    pressure = integ(K * ufl.dot(u["u2"]("-") - u["u1"]("+"), n) * dS(3)) / integ(fem.Constant(msh, 1.0) * dS(3))
    return np.sqrt(integ(err) / integ(ref)), pressure, p


@pytest.mark.mpi
def test_bonded_skeleton_lame_convergence():
    comm = MPI.COMM_WORLD
    hs = [A / 4, A / 8, A / 16]
    res = [solve(h, comm) for h in hs]
    errs = np.array([r[0] for r in res])
    rate = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    if comm.rank == 0:
        print("L2 errors", errs, "rate", rate, "pressure", [r[1] for r in res], "exact", res[0][2])
    assert rate > 1.8, (rate, errs)
    assert errs[-1] < 2e-3
    p_num, p_ex = res[-1][1], res[-1][2]
    assert p_ex > 0  # the shrinking disk pulls on the tie
    assert p_num == pytest.approx(p_ex, rel=5e-3)
