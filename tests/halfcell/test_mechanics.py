"""Half-cell with particle mechanics switched on (stress-assisted diffusion and the stress
term of the overpotential), on the 2D staircase lattice.

* The initial state (uniform concentration, free particles) is stress-free: the chemical
  strain is uniform, so the elastic solution is a pure dilatation (relative stress < 1e-8 of
  E Omega c / 3).
* Conservation holds in every step with the extra blocks.
* Lithiation from the surface (discharge of the cathode): the surface, richer in lithium, is
  in compression and the core in tension (sigma_h < 0 / > 0), and stress-assisted diffusion
  (flux towards tension) flattens the concentration inside the particles compared with
  the same run without mechanics.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import meshes
from cellsim.models.halfcell import HalfCellModel
from cellsim.case.halfcell import HalfCellCase
from cellsim.materials.chen2020 import NMC811


def run(mech: bool, comm):
    lay = meshes.square_lattice_2d(pitch=5e-6, radius=2e-6, separator=3e-6, collector=1e-6, neck=0.5e-6)
    tm = meshes.build(lay, h=0.5e-6, comm=comm)
    ph = {"mechanics": mech, "stress_assisted_diffusion": mech, "stress_in_overpotential": mech}
    case = HalfCellCase.model_validate({"model": "halfcell", "physics": ph, "solver": {"atol": 1e-10, "rtol": 1e-14}},
                                       context={"mesh_given": True})
    m = HalfCellModel(case, tm, comm)
    out = {}
    if mech:
        r0 = m.solve_initial()
        assert r0.converged
        f = {u.name: u for u in m.output_fields()["particle"]}
        scale = NMC811.youngs_modulus * NMC811.partial_molar_volume * m.x_init * m.c_max / 3.0
        out["initial_vm"] = comm.allreduce(np.abs(f["von_mises_stress"].x.array).max(initial=0.0), op=MPI.MAX) / scale
    m.set_current(2.0 * m.i_1C)
    rows = []
    for _ in range(5):
        r = m.step(30.0)
        assert r.converged, r.reason
        rows.append(m.diagnostics())
        m.accept()
    out["rows"] = rows
    d = rows[-1]
    out["spread"] = d["max lithium concentration [mol m-3]"] - d["min lithium concentration [mol m-3]"]
    if mech:
        f = {u.name: u for u in m.output_fields()["particle"]}
        sh = f["hydrostatic_stress"]
        # cell-wise sigma_h against the distance of the cell to its particle's centre
        Q = sh.function_space
        rp = m.sub["particle"]
        tdim = rp.mesh.topology.dim
        n = Q.dofmap.index_map.size_local
        from dolfinx import mesh as dmesh

        mid = dmesh.compute_midpoints(rp.mesh, tdim, np.arange(n, dtype=np.int32))[:, :2]
        cen = np.array(lay.centres)
        dist = np.min(np.linalg.norm(mid[:, None, :] - cen[None, :, :], axis=2), axis=1) / lay.radius
        s = sh.x.array[:n]
        core = comm.allreduce(float(s[dist < 0.4].sum()), op=MPI.SUM) / max(comm.allreduce(int((dist < 0.4).sum())), 1)
        rim = comm.allreduce(float(s[dist > 0.85].sum()), op=MPI.SUM) / max(comm.allreduce(int((dist > 0.85).sum())), 1)
        out["core"], out["rim"] = core, rim
    return out


@pytest.mark.mpi
def test_mechanics_coupled_halfcell():
    comm = MPI.COMM_WORLD
    on = run(True, comm)
    off = run(False, comm)
    assert on["initial_vm"] < 1e-8
    for d in on["rows"]:
        for k in ("interface current error [-]", "lithium metal current error [-]", "particle lithium error [-]",
                  "lithium balance error [-]", "applied current error [-]"):
            assert abs(d[k]) < 1e-9, (k, d[k])
    assert on["rim"] < 0 < on["core"], (on["rim"], on["core"])
    # stress-assisted diffusion flattens the profile (NMC811: E Omega^2 c / (9 (1 - nu) R T) >> 1)
    assert on["spread"] < 0.5 * off["spread"], (on["spread"], off["spread"])
    # both discharged the same charge
    assert on["rows"][-1]["capacity [mA h m-2]"] == pytest.approx(off["rows"][-1]["capacity [mA h m-2]"], rel=1e-9)
