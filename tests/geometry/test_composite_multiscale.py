"""Porous and secondary (polycrystalline) particles as the particle type of a half-cell
(``[geometry] particle_type``): validation before any mesh, pore and grain bookkeeping.

Closed forms: closed spherical pores of radius r_p have volume n 4/3 pi r_p^3 and wall area
n 4 pi r_p^2 (CAD, to OCC precision); solid + pores of every particle = its sphere; the
Voronoi grains of a particle fill it (CAD volumes sum to 4/3 pi r^3, mesh volumes to the
particle region's).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from cellsim.geometry.packing import euler_to_matrix
from cellsim.geometry.spec import parse_geometry

dolfinx_env = pytest.importorskip("cellsim.dolfinx_env")
dolfinx_env.require_dolfinx()
from mpi4py import MPI  # noqa: E402

from cellsim.geometry import measure  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402

RADII = (2e-6, 1.9e-6)
#: two particles with binder necks (one to the collector): small, connected, quick to mesh
HALF = dict(kind="half_cell", thickness=6e-6, width=9e-6, depth=5e-6, collector_thickness=1e-6,
            separator_thickness=3e-6, binder_fraction=0.05, seed=1,
            particles=[{"centre": [2.3e-6, 2.5e-6, 3e-6], "radius": RADII[0]},
                       {"centre": [6.6e-6, 2.5e-6, 3e-6], "radius": RADII[1]}],
            mesh_size=1.2e-6, interface_mesh_size=0.45e-6)  # fmt: skip
CHANNELS = dict(HALF, particle_type="porous", pore_shape="channel", pore_radius=0.35e-6, porosity=0.1)
CLOSED = dict(HALF, particle_type="porous", pore_shape="spherical", pore_radius=0.45e-6, porosity=0.06)
GRAINS = dict(HALF, particle_type="secondary", n_grains=4, interface_mesh_size=0.5e-6)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"pore_radius": 3e-7}, ["pore_radius", "particle_type = 'porous'", "'dense'"]),
        ({"n_grains": 4, "particle_type": "porous", "pore_radius": 3e-7, "porosity": 0.1},
         ["n_grains", "particle_type = 'secondary'"]),
        ({"particle_type": "porous", "pore_radius": 3e-7}, ["porosity", "required"]),
        ({"particle_type": "porous", "pore_radius": 0.9e-6, "porosity": 0.1}, ["pore_radius", "radius/3"]),
        ({"particle_type": "porous", "pore_radius": 3e-7, "porosity": 0.45}, ["porosity", "not packable"]),
        ({"particle_type": "secondary"}, ["n_grains", "required"]),
        ({"particle_type": "secondary", "n_grains": 40, "interface_mesh_size": 0.7e-6}, ["n_grains = 40", "interface_mesh_size"]),
        ({"particle_type": "layered"}, ["particle_type"]),
    ],
)
def test_bad_particle_type_requests_fail_in_validation(change, words):
    with pytest.raises(ValidationError) as e:
        parse_geometry(dict(HALF, **change))
    msg = str(e.value)
    for w in words:
        assert w in msg, (w, msg)


def _sides(tm, name):
    return set(measure.interface_sides(tm, name))


def _sphere(r):
    return 4 / 3 * math.pi * r**3


@pytest.mark.mpi
@pytest.mark.parametrize("spec", [CHANNELS, CLOSED], ids=["channel", "closed"])
def test_porous_half_cell_pores_and_walls(spec):
    tm = build_mesh(spec, MPI.COMM_WORLD)
    info, por = tm.info, tm.info["porous"]
    pore = tm.regions["pore"][0]
    assert pore in tm.regions["electrolyte_domain"]  # the pore electrolyte is liquid
    # solid + pores = the spheres (CAD), and the pores are really there
    assert math.isclose(por["solid_volume"] + por["pore_volume"], sum(map(_sphere, RADII)), rel_tol=1e-6)
    assert por["pore_volume"] > 0.5 * spec["porosity"] * por["sphere_volume"]
    # mesh volumes follow the CAD (P1 tetrahedra of the curved surfaces: a few per cent)
    assert abs(measure.region_volume(tm, "pore") / por["pore_volume"] - 1) < 0.05
    assert abs(measure.region_volume(tm, "particle") / por["solid_volume"] - 1) < 0.02
    # pore walls: between a particle and the pore, part of the reactive surface
    walls = [f"particle_{i}_pore_wall" for i in range(2)]
    for i, w in enumerate(walls):
        assert _sides(tm, w) == {tuple(sorted((tm.regions[f"particle_{i}"][0], pore)))}
    a_pe = measure.interface_area(tm, "particle_electrolyte")
    a_out = sum(measure.interface_area(tm, f"particle_{i}_electrolyte") for i in range(2))
    assert math.isclose(a_pe, a_out + measure.interface_area(tm, "pore_wall"), rel_tol=1e-12)
    assert abs(measure.interface_area(tm, "pore_wall") / por["pore_wall_area"] - 1) < 0.05
    if spec["pore_shape"] == "spherical":  # closed: exact sphere volumes and areas, no opening
        n, rp = sum(por["num_pores"]), spec["pore_radius"]
        assert por["closed_pores"] == n > 0
        assert math.isclose(por["pore_volume"], n * _sphere(rp), rel_tol=1e-6)
        assert math.isclose(por["pore_wall_area"], n * 4 * math.pi * rp**2, rel_tol=1e-6)
        assert "pore_opening" not in tm.interfaces
    else:  # open channels: every pore piece meets the electrode's electrolyte
        assert por["closed_pores"] == 0
        assert _sides(tm, "pore_opening") == {tuple(sorted((pore, tm.regions["electrolyte"][0])))}
        # channel volume ~ pi r_p^2 x chord (ends of the chord: within a few per cent)
        assert abs(por["pore_volume"] / (np.dot(por["porosity_planned"], list(map(_sphere, RADII)))) - 1) < 0.05
    assert info["particles_not_connected"] == []
    # the mesh report states pore volume and wall area (mesh and CAD)
    from cellsim.geometry.report import _text, summarise

    rep = summarise(tm)["porous_particles"]
    assert rep["pore_volume_mesh"] == measure.region_volume(tm, "pore")
    assert rep["pore_wall_area_mesh"] == measure.interface_area(tm, "pore_wall")
    assert rep["pore_volume_cad"] == por["pore_volume"] and rep["num_pores"] == por["num_pores"]
    assert "pore wall area" in _text(summarise(tm))


@pytest.mark.mpi
def test_secondary_half_cell_grains():
    tm = build_mesh(GRAINS, MPI.COMM_WORLD)
    n = GRAINS["n_grains"]
    sec, orient = tm.info["secondary"], tm.info["grain_orientations"]
    assert sec["grains_per_particle"] == [n, n]
    assert len(orient) == 2 * n
    ev = tm.info["exact_volume"]
    for i, r in enumerate(RADII):
        grains = [f"particle_{i}_grain_{k}" for k in range(n)]
        # the particle is the aggregate of its grains, each grain its own tag
        assert sorted(tm.regions[f"particle_{i}"]) == sorted(tm.regions[g][0] for g in grains)
        assert len({tm.regions[g][0] for g in grains}) == n
        assert math.isclose(sum(ev[g] for g in grains), _sphere(r), rel_tol=1e-6)
        vg = sum(measure.region_volume(tm, g) for g in grains)
        assert math.isclose(vg, measure.region_volume(tm, f"particle_{i}"), rel_tol=1e-12)
        # P1 tetrahedra inscribed in the sphere: a volume deficit of about (h/r)^2/4 (sagitta h^2/8r)
        assert 0 < 1 - vg / _sphere(r) < 0.5 * (GRAINS["interface_mesh_size"] / r) ** 2
    for o in orient:
        Rm = np.array(o["rotation"])
        assert np.allclose(Rm @ Rm.T, np.eye(3), atol=1e-12)
        assert np.allclose(euler_to_matrix(*o["euler_bunge_rad"]), Rm, atol=1e-10)
        assert o["region"] == f"particle_{o['particle']}_grain_{o['grain']}"
    # grain boundaries join two different grains of one particle; the outer surface one grain
    grain_particle = {tm.regions[o["region"]][0]: o["particle"] for o in orient}
    for i in range(2):
        sides = _sides(tm, f"particle_{i}_grain_boundary")
        assert sides and all(len(k) == 2 and k[0] != k[1] and {grain_particle[t] for t in k} == {i} for k in sides)
        assert all(grain_particle[s] == i for k in _sides(tm, f"particle_{i}_electrolyte") for s in k
                   if s in grain_particle)
    assert set(tm.interfaces["grain_boundary"]) == {tm.interfaces[f"particle_{i}_grain_boundary"][0] for i in range(2)}
    # the Voronoi property: mesh cells of a grain lie nearest to its seed
    comm = MPI.COMM_WORLD
    hit = tot = 0
    for o in orient:
        i, k = o["particle"], o["grain"]
        seeds = np.array(sec["grain_seeds"][i]) + np.array(GRAINS["particles"][i]["centre"])
        cells = tm.cells(o["region"], owned=True)
        x = tm.mesh.geometry.x[tm.mesh.geometry.dofmaps[0][cells]].mean(axis=1)
        if x.size:
            hit += int(np.sum(np.argmin(np.linalg.norm(x[:, None, :] - seeds[None], axis=2), axis=1) == k))
            tot += len(x)
    assert comm.allreduce(hit) / comm.allreduce(tot) > 0.97
    from cellsim.geometry.report import summarise

    full = summarise(tm)
    assert full["connectivity"]["mesh_check"]["agrees"]  # the mesh graph groups the grains
    assert full["connectivity"]["mesh_check"]["particles_connected"] == [True, True]
    rep = full["secondary_particles"]
    assert rep["grains_per_particle"] == [n, n]
    assert abs(rep["grain_boundary_area_mesh"] / rep["grain_boundary_area_cad"] - 1) < 0.02
