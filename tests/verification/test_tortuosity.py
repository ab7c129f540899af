"""Verification of cellsim.physics.tortuosity (steady conduction, TauFactor convention).

Exact checks (closed form, P1 reproduces them to solver tolerance because the exact
potential is piecewise linear on meshes aligned with the material boundaries):
  * a straight channel of the phase across the sample: tau = 1, f = eps;
  * layers in series (normal to the transport axis): sigma_eff = Lx / sum(l_i / sigma_i);
  * the same layers in parallel (transport along the layers): sigma_eff = sum(frac_i sigma_i).
Approximate check (sanity range only, documented as such):
  * a simple-cubic array of insulating spheres (one sphere in a unit cell; the insulated
    side faces are mirror planes of the array). Maxwell's estimate f = 2(1-phi)/(2+phi),
    tau = 1 + phi/2. For a cubic (hence isotropic) array this is also the Hashin-Shtrikman
    upper bound, which the exact f does not exceed; Rayleigh's correction for a cubic array
    is O(phi^(10/3)), below 1% at phi = 0.18. The conforming FE solution over-estimates
    f (Dirichlet principle) and the faceted sphere is slightly smaller, so the FE value
    sits a little above the exact one: asserted within 1.5% of Maxwell, and converging.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.regions import tag_cells  # noqa: E402
from cellsim.physics.tortuosity import tortuosity  # noqa: E402


def _square(comm, n, lx=1.0, ly=1.0):
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    return mesh.create_rectangle(comm, [np.array([0.0, 0.0]), np.array([lx, ly])], [n, n], partitioner=part)


def test_straight_channel_tau_is_one():
    comm = MPI.COMM_WORLD
    msh = _square(comm, 20)
    tol = 1e-9
    ct = tag_cells(msh, {1: lambda x: x[1] <= 0.4 + tol, 2: lambda x: x[1] >= 0.4 - tol})
    r = tortuosity(msh, ct, phase=1, axis=0)
    assert r.volume_fraction == pytest.approx(0.4, rel=1e-12)
    assert r.conductivity_fraction == pytest.approx(0.4, rel=1e-9)
    assert r.tortuosity_factor == pytest.approx(1.0, rel=1e-9)
    assert r.flux_mismatch < 1e-8
    # the other phase too (0.6), and the whole sample (1)
    assert tortuosity(msh, ct, phase=2).tortuosity_factor == pytest.approx(1.0, rel=1e-9)
    whole = tortuosity(msh)
    assert whole.volume_fraction == pytest.approx(1.0) and whole.tortuosity_factor == pytest.approx(1.0, rel=1e-9)
    # a channel along x does not connect y = 0 to y = 1
    with pytest.raises(ValueError, match="no facet on the outlet plane"):
        tortuosity(msh, ct, phase=1, axis=1)


def test_straight_channel_3d():
    comm = MPI.COMM_WORLD
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    msh = mesh.create_box(comm, [np.zeros(3), np.array([2.0, 1.0, 1.0])], [8, 5, 5], partitioner=part)
    tol = 1e-9
    ct = tag_cells(msh, {1: lambda x: (x[1] <= 0.6 + tol) & (x[2] <= 0.4 + tol)})
    r = tortuosity(msh, ct, phase=1, axis=0, sigma=3.0)
    assert r.volume_fraction == pytest.approx(0.24, rel=1e-12)
    assert r.conductivity_fraction == pytest.approx(0.24, rel=1e-9)
    assert r.tortuosity_factor == pytest.approx(1.0, rel=1e-9)
    assert r.current == pytest.approx(3.0 * 0.24 * 1.0 / 2.0, rel=1e-9)  # sigma A_phase / Lx


@pytest.mark.parametrize("dim", [2, 3])
def test_layers_series_and_parallel(dim):
    comm = MPI.COMM_WORLD
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    if dim == 2:
        msh = mesh.create_unit_square(comm, 10, 7, partitioner=part)
    else:
        msh = mesh.create_unit_cube(comm, 10, 3, 3, partitioner=part)
    tol = 1e-9
    ct = tag_cells(msh, {
        1: lambda x: x[0] <= 0.3 + tol,
        2: lambda x: (x[0] >= 0.3 - tol) & (x[0] <= 0.7 + tol),
        3: lambda x: x[0] >= 0.7 - tol,
    })
    sig = {1: 1.0, 2: 0.1, 3: 2.0}
    series = tortuosity(msh, ct, phase=(1, 2, 3), axis=0, sigma=sig, sigma_ref=1.0)
    expect_series = 1.0 / (0.3 / 1.0 + 0.4 / 0.1 + 0.3 / 2.0)
    assert series.conductivity_fraction == pytest.approx(expect_series, rel=1e-9)
    parallel = tortuosity(msh, ct, phase=(1, 2, 3), axis=1, sigma=sig, sigma_ref=1.0)
    assert parallel.conductivity_fraction == pytest.approx(0.3 * 1.0 + 0.4 * 0.1 + 0.3 * 2.0, rel=1e-9)
    # a uniform phase of the same cells: tau = 1 both ways
    assert tortuosity(msh, ct, phase=(1, 2, 3), axis=0).tortuosity_factor == pytest.approx(1.0, rel=1e-9)


def test_isolated_island_carries_no_current():
    """A phase island touching neither plane is pinned; the channel result is unchanged."""
    comm = MPI.COMM_WORLD
    msh = _square(comm, 20)
    tol = 1e-9
    island = lambda x: (x[0] >= 0.4 - tol) & (x[0] <= 0.6 + tol) & (x[1] >= 0.6 - tol) & (x[1] <= 0.8 + tol)  # noqa: E731
    ct = tag_cells(msh, {1: lambda x: x[1] <= 0.4 + tol, 3: island, 2: lambda x: x[1] >= 0.4 - tol})
    with_island = tortuosity(msh, ct, phase=(1, 3), axis=0)
    assert with_island.isolated_volume_fraction == pytest.approx(0.04, rel=1e-12)
    assert with_island.volume_fraction == pytest.approx(0.44, rel=1e-12)
    assert with_island.conductivity_fraction == pytest.approx(0.4, rel=1e-9)
    assert with_island.tortuosity_factor == pytest.approx(0.44 / 0.4, rel=1e-9)


def test_bad_input_is_rejected_before_solving():
    comm = MPI.COMM_WORLD
    msh = _square(comm, 4)
    ct = tag_cells(msh, {1: lambda x: x[0] < 2.0})
    with pytest.raises(ValueError, match="axis"):
        tortuosity(msh, ct, phase=1, axis=2)
    with pytest.raises(ValueError, match=r"phase tag\(s\) \[5\] not in the cell tags"):
        tortuosity(msh, ct, phase=5)
    with pytest.raises(ValueError, match="sigma_ref"):
        tortuosity(msh, ct, phase=1, sigma={1: 1.0})
    with pytest.raises(ValueError, match="must be > 0"):
        tortuosity(msh, ct, phase=1, sigma=-1.0)


def sphere_cell_mesh(comm, radius, h):
    """Unit cube with a centred sphere: tag 1 = matrix (conducting), 2 = sphere. Built on rank 0."""
    import gmsh

    if not gmsh.isInitialized():
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add("sphere_cell")
    if comm.rank == 0:
        occ = gmsh.model.occ
        box = occ.addBox(0, 0, 0, 1, 1, 1)
        sph = occ.addSphere(0.5, 0.5, 0.5, radius)
        out, omap = occ.fragment([(3, box)], [(3, sph)])
        occ.synchronize()
        sphere_vols = [t for d, t in omap[1] if d == 3]
        matrix_vols = [t for d, t in omap[0] if d == 3 and t not in sphere_vols]
        gmsh.model.addPhysicalGroup(3, matrix_vols, 1, name="matrix")
        gmsh.model.addPhysicalGroup(3, sphere_vols, 2, name="sphere")
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.model.mesh.generate(3)
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=3, partitioner=part)
    gmsh.model.remove()
    return data.mesh, data.cell_tags


def test_sphere_array_near_maxwell():
    comm = MPI.COMM_WORLD
    radius = 0.35
    phi = 4.0 / 3.0 * math.pi * radius**3
    f_maxwell = 2.0 * (1.0 - phi) / (2.0 + phi)
    results = []
    for h in (0.1, 0.05):
        msh, ct = sphere_cell_mesh(comm, radius, h)
        r = tortuosity(msh, ct, phase=1, axis=0)
        results.append(r)
        if comm.rank == 0:
            print(f"h={h}: eps={r.volume_fraction:.5f} (exact {1 - phi:.5f}) f={r.conductivity_fraction:.5f} "
                  f"(Maxwell {f_maxwell:.5f}) tau={r.tortuosity_factor:.5f} (Maxwell {1 + phi / 2:.5f}) "
                  f"its={r.krylov_iterations} dofs={r.num_dofs} mismatch={r.flux_mismatch:.1e}")
    fine = results[-1]
    assert fine.volume_fraction == pytest.approx(1.0 - phi, rel=5e-3)
    assert fine.conductivity_fraction == pytest.approx(f_maxwell, rel=1.5e-2)
    assert fine.tortuosity_factor == pytest.approx(1.0 + phi / 2.0, rel=1.5e-2)
    # refinement moves f down towards (and not away from) the bound
    assert results[1].conductivity_fraction < results[0].conductivity_fraction
    assert fine.flux_mismatch < 1e-6
    # symmetry of the cubic array: the same along another axis (different mesh cut)
    r_y = tortuosity(msh, ct, phase=1, axis=1)
    assert r_y.tortuosity_factor == pytest.approx(fine.tortuosity_factor, rel=5e-3)


@pytest.mark.mpi
def test_tortuosity_parallel_equals_serial():
    """Same numbers on COMM_WORLD (2 ranks under mpiexec) and on COMM_SELF."""
    out = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        msh = mesh.create_unit_square(comm, 16, 16, partitioner=mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2))
        tol = 1e-9
        ct = tag_cells(msh, {
            1: lambda x: (x[1] <= 0.5 + tol) | (x[0] <= 0.25 + tol) | (x[0] >= 0.75 - tol),
            2: lambda x: x[1] >= 0.5 - tol,
        })
        r = tortuosity(msh, ct, phase=1, axis=1, rtol=1e-12, petsc_options_prefix=f"tau_par{comm.size}_")
        out.append(r)
    par, ser = out
    assert par.volume_fraction == pytest.approx(ser.volume_fraction, rel=1e-12)
    assert par.tortuosity_factor == pytest.approx(ser.tortuosity_factor, rel=1e-9)
    assert par.tortuosity_factor > 1.0
