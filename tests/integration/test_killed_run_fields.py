"""`cellsim run` killed with SIGKILL (what a scheduler does at its time limit): every
output time listed in the field files opens in PyVista and meshio afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

CASE = """
title = "killed particle"
[geometry]
kind = "sphere"
radius = 5.86e-6
mesh_size = 2.0e-6
[physics]
initial_stoichiometry = 0.1
[control]
mode = "galvanostatic"
c_rate = 2.0
[time]
t_end = 100000.0
dt_initial = 5.0
dt_max = 5.0
[stop]
max_soc = 1.0
[output]
fields_every = 1
"""


@pytest.mark.skipif(not (Path(sys.executable).parent / "cellsim").exists(), reason="cellsim script not installed")
def test_sigkill_during_cellsim_run_leaves_readable_fields(tmp_path):
    import meshio
    import pyvista as pv

    case = tmp_path / "case.toml"
    case.write_text(CASE)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPICH_", "HYDRA_", "OMPI_"))}
    p = subprocess.Popen([str(Path(sys.executable).parent / "cellsim"), "run", str(case), "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    pvd = out / "fields" / "particle.pvd"
    t0 = time.time()
    try:
        while time.time() - t0 < 600:
            assert p.poll() is None, "the run ended before it was killed"
            if pvd.exists() and pvd.read_text().count("<DataSet") >= 4:
                break
            time.sleep(0.1)
        else:
            pytest.fail("fewer than 4 output times in 600 s")
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
    r = pv.get_reader(str(pvd))
    times = list(r.time_values)
    assert len(times) >= 4 and times == sorted(times)
    ncells = None
    for t in times:
        r.set_active_time_value(t)
        g = r.read()[0]
        assert "lithium_concentration [mol m-3]" in g.point_data and "von_mises_stress [Pa]" in g.point_data
        c = np.asarray(g.point_data["lithium_concentration [mol m-3]"])
        assert np.all(np.isfinite(c)) and c.min() > 0
        ncells = ncells or g.n_cells
        assert g.n_cells == ncells
    last = ET.parse(pvd).getroot().findall(".//DataSet")[-1]
    pvtu = pvd.parent / last.get("file")
    for piece in ET.parse(pvtu).getroot().iter("Piece"):
        m = meshio.read(pvtu.parent / piece.get("Source"))
        assert "stress [Pa]" in m.point_data and m.point_data["stress [Pa]"].shape[1] == 9
