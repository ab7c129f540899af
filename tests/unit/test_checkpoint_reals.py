"""cellsim.checkpoint keeps every entry of a vector real unknown (one global dof of block size
n, e.g. one value per particle: the half-cell's lumped crack electrolyte), not just the first;
and a scalar real and a P1 field as before. Serial and on 2 ranks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim import checkpoint as ck  # noqa: E402

pytestmark = pytest.mark.mpi


def _model(comm, msh):
    cell = msh.basix_cell()
    u = {"V": fem.Function(fem.functionspace(msh, basix.ufl.real_element(cell, dtype=np.float64))),
         "crack": fem.Function(fem.functionspace(msh, basix.ufl.real_element(cell, value_shape=(5,),
                                                                          dtype=np.float64))),
         "c": fem.Function(fem.functionspace(msh, ("Lagrange", 1)))}
    st = {"unknowns": {}, "history": {}, "constants": {}, "scalars": {}}
    return SimpleNamespace(comm=comm, u=u, block_names=list(u), old={}, case=SimpleNamespace(model="halfcell"),
                           length_scale=lambda: 1.0, state=lambda: st, set_state=lambda s: None,
                           after_load=lambda: None)


def test_vector_real_round_trip(tmp_path_factory):
    comm = MPI.COMM_WORLD
    msh = mesh.create_unit_cube(comm, 3, 3, 3)
    a = _model(comm, msh)
    vals = np.array([1.5, -2.0, 3.25, 1e-7, 42.0])
    a.u["crack"].x.array[:] = vals  # every rank holds the one dof
    a.u["V"].x.array[:] = 3.7
    a.u["c"].interpolate(lambda x: 1.0 + x[0] + 2 * x[1] * x[2])
    tmp = Path(comm.bcast(str(tmp_path_factory.mktemp("ck_reals")) if comm.rank == 0 else None, root=0))
    ck.save(a, {"steps": 3}, tmp)
    b = _model(comm, msh)
    driver = ck.load(b, tmp)
    assert driver == {"steps": 3}
    np.testing.assert_array_equal(b.u["crack"].x.array, vals)
    np.testing.assert_array_equal(b.u["V"].x.array, 3.7)
    # owned values exactly; a ghost gets its owner's value (interpolation on two ranks differs
    # in the last bit between owner and ghost)
    np.testing.assert_allclose(b.u["c"].x.array, a.u["c"].x.array, rtol=1e-15, atol=0)
    n = b.u["c"].function_space.dofmap.index_map.size_local
    np.testing.assert_array_equal(b.u["c"].x.array[:n], a.u["c"].x.array[:n])
