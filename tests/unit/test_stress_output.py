"""The stress output in one interpolation (cellsim.models.stress_output) equals three
separate interpolations of the hydrostatic, von Mises and full stress."""

from __future__ import annotations

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

require_dolfinx()
import dolfinx.fem.function  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.models.stress_output import StressInterpolation  # noqa: E402
from cellsim.physics import mechanics  # noqa: E402


@pytest.mark.mpi
@pytest.mark.parametrize("gdim, deg", [(3, 0), (3, 1), (2, 1)])
def test_one_interpolation_equals_three(gdim, deg):
    comm = MPI.COMM_WORLD
    m = (mesh.create_unit_cube(comm, 3, 3, 2) if gdim == 3 else mesh.create_unit_square(comm, 5, 4))
    U = fem.functionspace(m, ("Lagrange", 2, (gdim,)))
    u = fem.Function(U)
    u.interpolate(lambda x: np.array([0.01 * x[0] ** 2 - 0.02 * x[1] * x[-1], 0.03 * x[0] * x[1] + 0.005 * x[1] ** 2,
                                      0.01 * x[-1] * x[0]][:gdim]))
    C = fem.functionspace(m, ("Lagrange", 1))
    c = fem.Function(C)
    c.interpolate(lambda x: 2e4 + 1e4 * x[0] - 3e3 * x[1])
    sigma = mechanics.stress(u, c, 1.5e11, 0.3, 3e-6, 2.2e4)
    Q, T = fem.functionspace(m, ("DG", deg)), fem.functionspace(m, ("DG", deg, (gdim, gdim)))
    sh, vm, sg = fem.Function(Q), fem.Function(Q), fem.Function(T)
    StressInterpolation(sigma, sh, vm, sg).update()
    Expr = dolfinx.fem.function.Expression  # DOLFINx's own, one expression each
    for f, e, V in ((sh, mechanics.hydrostatic(sigma), Q), (vm, mechanics.von_mises(sigma), Q), (sg, sigma, T)):
        ref = fem.Function(V)
        ref.interpolate(Expr(e, V.element.interpolation_points))
        scale = comm.allreduce(np.abs(ref.x.array).max(), op=MPI.MAX)
        assert scale > 1e6  # a stress of a few MPa at least: the check can fail
        assert np.abs(f.x.array - ref.x.array).max() <= 1e-14 * scale
