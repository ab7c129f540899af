"""Tortuosity factors of a half-cell electrode (the ``cellsim tortuosity`` hook).

* On the 2D lattice: the electrode sub-box is [0, L] along the thickness; the phase volume
  fractions (pores, particles, binder) add up to 1 and equal the cell-tag volumes; the
  electrolyte tortuosity factor lies above 1 (obstacles) and matches eps/f; the binder necks do
  not reach the separator plane, so the electronic network reports percolates = false.
* A layout whose binder necks run straight from the collector to the separator (no particles
  in their way): the electronic network percolates.
* ``main`` on the half-cell case file writes tortuosity.json (geometry kind half_cell).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

import meshes
from cellsim.tortuosity_cmd import electrode_tortuosity, main

CASES = Path(__file__).parents[2] / "cases"


@pytest.mark.mpi
def test_electrode_tortuosity_lattice():
    comm = MPI.COMM_WORLD
    lay = meshes.square_lattice_2d()
    tm = meshes.build(lay, h=0.5e-6, comm=comm)
    r = electrode_tortuosity(tm, binder_conductivity=50.0, particle_conductivity=0.18)
    assert r["thickness [m]"] == pytest.approx(lay.thickness, rel=1e-12)
    assert r["cross_section [m2]"] == pytest.approx(lay.width, rel=1e-12)
    assert r["porosity"] + r["active_fraction"] + r["binder_fraction"] == pytest.approx(1.0, abs=1e-12)
    e = r["electrolyte"]
    assert e["volume_fraction"] == pytest.approx(r["porosity"], rel=1e-12)
    assert 1.0 < e["tortuosity_factor"] < 10.0
    assert e["tortuosity_factor"] == pytest.approx(e["volume_fraction"] / e["conductivity_fraction"], rel=1e-12)
    assert e["bruggeman_exponent"] == pytest.approx(1 - math.log(e["tortuosity_factor"]) / math.log(e["volume_fraction"]))
    assert e["flux_mismatch"] < 1e-6
    assert r["electronic"]["percolates"] is False


@pytest.mark.mpi
def test_electronic_network_percolates():
    comm = MPI.COMM_WORLD
    # particles off the neck lines; necks = vertical bridges through the full thickness
    lay = meshes.Layout(width=10e-6, thickness=10e-6, separator=3e-6, collector=1e-6,
                        centres=[(2.5e-6, 5e-6), (7.5e-6, 5e-6)], radius=1.5e-6, neck=0.5e-6, pairs=[], bridges=[])
    tm0 = meshes.build(lay, h=0.25e-6, comm=comm)
    # add straight binder columns at x = 5 um by retagging electrolyte cells (a 1 um wide strip)
    from dolfinx import mesh as dmesh

    msh = tm0.mesh
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    mid = dmesh.compute_midpoints(msh, tdim, np.arange(n, dtype=np.int32))
    vals = tm0.cell_tags.values.copy()
    E = tm0.regions["electrolyte"][0]
    B = tm0.regions["binder"][0]
    strip = (np.abs(mid[:, 0] - 5e-6) < 0.5e-6) & (mid[:, 1] > 0) & (mid[:, 1] < lay.thickness)
    vals[tm0.cell_tags.indices[strip[tm0.cell_tags.indices]]] = B
    tm0.cell_tags = dmesh.meshtags(msh, tdim, tm0.cell_tags.indices, vals)
    r = electrode_tortuosity(tm0, binder_conductivity=50.0, particle_conductivity=0.18)
    s = r["electronic"]
    assert s["percolates"] is True
    # a straight strip of width 1 um in a 10 um box: f = 0.1 exactly (the particles do not touch it)
    assert s["conductivity_fraction"] == pytest.approx(0.1, rel=1e-8)
    assert s["effective_conductivity [S m-1]"] == pytest.approx(5.0, rel=1e-8)
    assert E in tm0.regions["electrolyte"]


def test_tortuosity_command_on_case(tmp_path):
    comm = MPI.COMM_WORLD
    rc = main(CASES / "halfcell_discharge.toml", tmp_path, comm)
    assert rc == 0
    data = json.loads((tmp_path / "tortuosity.json").read_text())
    assert data["axis"] == 2
    assert data["porosity"] + data["active_fraction"] + data["binder_fraction"] == pytest.approx(1.0, abs=1e-9)
    assert data["electrolyte"]["tortuosity_factor"] > 1.0
    assert 0.3 < data["active_fraction"] < 0.4
