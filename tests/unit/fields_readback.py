"""Closed-form fields for the field-file tests, and readers that return what a file holds.

Every field is a closed form that its space represents exactly, so the value expected at
any written node is known without DOLFINx: continuous fields are polynomials of their
degree in x; discontinuous ones add a per-cell offset ``h(centroid)`` (a jump at every
face), so a writer that averaged, projected or dropped the cell of a node would fail.
The readers give ``{"points", "conn", "point_data", "cell_data", "field_data"}`` per
output time; only numpy, PyVista and meshio are used (no DOLFINx, no MPI).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

L = 10e-6  # cube edge [m]
N = 3  # cells per edge
NV = 4  # vertices of a tetrahedron (VTK lists them first in every cell)
TIMES = [0.0, 0.5, 1.25]


def _s(x):
    return np.asarray(x, float) / L


def lin(x, k, t):
    """A linear polynomial per component k; x: (n, 3)."""
    s = _s(x)
    return (1.0 + t) * (1.0e3 * (k + 1) + 300.0 * s[:, 0] - 170.0 * (k + 2) * s[:, 1] + 50.0 * k * s[:, 2])


def quad(x, k, t):
    """A quadratic polynomial per component k (every second-order monomial)."""
    s = _s(x)
    return lin(x, k, t) + (1.0 + t) * (
        400.0 * s[:, 0] * s[:, 1] - 90.0 * (k + 1) * s[:, 2] ** 2 + 35.0 * s[:, 0] ** 2 + 60.0 * s[:, 1] * s[:, 2]
    )


def jump(cen, k, t):
    """A per-cell offset from the cell's centroid (not a polynomial: jumps at every face)."""
    s = _s(cen)
    return (1.0 + t) * 200.0 * (k + 1) * np.sin(7.0 * s[:, 0] + 3.0 * s[:, 1] + 5.0 * s[:, 2] + k)


#: region -> field -> (space family, degree, value shape, form); form: lin/quad (continuous),
#: "dg" = lin + jump (DG1), "dg0" = jump (cell-wise constant)
SPEC = {
    "cont": {  # continuous P2 grid (P2 field on a P1 mesh)
        "lithium_concentration": ("Lagrange", 1, (), "lin"),
        "hydrostatic_stress": ("Lagrange", 2, (), "quad"),
        "displacement": ("Lagrange", 1, (3,), "lin"),
        "stress": ("DG", 0, (3, 3), "dg0"),
        "von_mises_stress": ("DG", 0, (), "dg0"),
    },
    "broken": {  # broken DG2 grid
        "lithium_concentration": ("Lagrange", 1, (), "lin"),
        "displacement": ("Lagrange", 2, (3,), "quad"),
        "stress": ("DG", 1, (3, 3), "dg"),
        "hydrostatic_stress": ("DG", 1, (), "dg"),
        "von_mises_stress": ("DG", 0, (), "dg0"),
    },
    "half": {  # a submesh (x < L/2), broken DG1 grid, with cell arrays
        "electrolyte_concentration": ("Lagrange", 1, (), "lin"),
        "hydrostatic_stress": ("DG", 1, (), "dg"),
    },
}
UNITS = {"lithium_concentration": "mol m-3", "electrolyte_concentration": "mol m-3", "hydrostatic_stress": "Pa",
         "displacement": "m", "stress": "Pa", "von_mises_stress": "Pa"}
GRID = {"cont": (2, False), "broken": (2, True), "half": (1, True)}
NCELLS = {"cont": 6 * N**3, "broken": 6 * N**3}  # "half": counted from the mesh


def ncomp(shape):
    return {0: 1, 1: 3, 2: 9}[len(shape)]


def expected(form, shape, x, cen, t):
    """(n, ncomp) values of a field at points x (n, 3) of cells with centroids cen (n, 3)."""
    nc = ncomp(shape)
    cols = []
    for k in range(nc):
        if form == "lin":
            v = lin(x, k, t)
        elif form == "quad":
            v = quad(x, k, t)
        elif form == "dg":
            v = lin(x, k, t) + jump(cen, k, t)
        else:
            v = jump(cen, k, t)
        cols.append(v)
    return np.stack(cols, axis=1)


def particle_id(cen):
    """The cell array of region "half": an integer from the centroid's y."""
    return np.floor(_s(cen)[:, 1] * 4.0).astype(np.int32)


def check_step(region: str, step: dict, t: float, ncells: int | None = None) -> None:
    """Assert that one output time of one region holds the closed-form values."""
    pts = np.asarray(step["points"], float)
    conn = np.asarray(step["conn"], np.int64)
    deg, broken = GRID[region]
    nn = {1: 4, 2: 10}[deg]
    assert conn.shape[1] == nn, (region, conn.shape)
    if ncells is not None:
        assert conn.shape[0] == ncells, (region, conn.shape[0], ncells)
    cen_cell = pts[conn[:, :NV]].mean(axis=1)
    # every cell once (pieces of several ranks do not overlap)
    key = np.round(cen_cell / L * 6 * N).astype(np.int64)
    assert len(np.unique(key, axis=0)) == conn.shape[0], "a cell is written twice"
    if broken:  # every point belongs to exactly one cell
        assert np.bincount(conn.ravel(), minlength=len(pts)).max() == 1
    x = pts[conn].reshape(-1, 3)
    cen = np.repeat(cen_cell, nn, axis=0)
    for name, (_, _, shape, form) in SPEC[region].items():
        arr = f"{name} [{UNITS[name]}]"
        if form == "dg0":
            vals = np.asarray(step["cell_data"][arr], float).reshape(conn.shape[0], -1)
            exact = expected(form, shape, cen_cell, cen_cell, t)
        else:
            vals = np.asarray(step["point_data"][arr], float).reshape(len(pts), -1)[conn.ravel()]
            exact = expected(form, shape, x, cen, t)
        assert np.asarray(step["point_data" if form != "dg0" else "cell_data"][arr]).dtype == np.float64, name
        assert vals.shape == exact.shape, (region, name, vals.shape, exact.shape)
        err = np.abs(vals - exact).max() / np.abs(exact).max()
        assert err <= 1e-12, (region, name, t, err)
    rid = np.asarray(step["cell_data"]["region_id"]).ravel()
    assert np.all(rid == rid[0])
    if region == "half":
        pid = np.asarray(step["cell_data"]["particle_id"]).ravel()
        assert np.array_equal(pid, particle_id(cen_cell)), "particle_id"
        tagged = np.asarray(step["cell_data"]["cell_tag"]).ravel()
        assert set(np.unique(tagged)) == {-1, 7}
        assert np.array_equal(tagged == 7, cen_cell[:, 1] < 0.5 * L), "cell_tag"


# --------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------
def _pvd_entries(pvd: Path):
    root = ET.parse(pvd).getroot()
    return [(float(d.get("timestep")), pvd.parent / d.get("file"), d.get("name")) for d in root.iter("DataSet")]


def read_pyvista(pvd: Path) -> tuple[list[float], list[dict]]:
    """Every output time of a region's .pvd, through PyVista's PVD reader."""
    import pyvista as pv

    r = pv.get_reader(str(pvd))
    times = [float(v) for v in r.time_values]
    steps = []
    for t in times:
        r.set_active_time_value(t)
        data = r.read()
        blocks = [data[i] for i in range(data.n_blocks)] if isinstance(data, pv.MultiBlock) else [data]
        assert len(blocks) == 1, f"{pvd}: {len(blocks)} blocks at t = {t}"
        g = blocks[0]
        off = np.asarray(g.cell_offsets if hasattr(g, "cell_offsets") else g.offset)
        nn = int(off[1] - off[0]) if g.n_cells else 0
        steps.append({
            "points": np.asarray(g.points),
            "conn": np.asarray(g.cell_connectivity).reshape(g.n_cells, nn),
            "point_data": {k: np.asarray(g.point_data[k]) for k in g.point_data.keys()},
            "cell_data": {k: np.asarray(g.cell_data[k]) for k in g.cell_data.keys()},
            "field_data": {k: np.asarray(g.field_data[k]) for k in g.field_data.keys()},
        })
    return times, steps


def read_meshio(pvd: Path) -> tuple[list[float], list[dict]]:
    """Every output time of a region: the .vtu pieces of each .pvtu, read by meshio."""
    import meshio

    times, steps = [], []
    for t, pvtu, _ in _pvd_entries(pvd):
        pieces = [pvtu.parent / p.get("Source") for p in ET.parse(pvtu).getroot().iter("Piece")]
        pts, conn, pdata, cdata, fdata, off = [], [], {}, {}, {}, 0
        for p in pieces:
            m = meshio.read(p)
            assert len(m.cells) <= 1
            pts.append(m.points)
            c = m.cells[0].data if m.cells else np.zeros((0, 1), np.int64)
            conn.append(c + off)
            off += len(m.points)
            for k, v in m.point_data.items():
                pdata.setdefault(k, []).append(v)
            for k, v in m.cell_data.items():
                cdata.setdefault(k, []).append(v[0] if v else np.zeros(0))
            fdata = dict(m.field_data)
        nn = max(c.shape[1] for c in conn)
        steps.append({
            "points": np.concatenate(pts),
            "conn": np.concatenate([c.reshape(-1, nn) for c in conn]),
            "point_data": {k: np.concatenate(v) for k, v in pdata.items()},
            "cell_data": {k: np.concatenate(v) for k, v in cdata.items()},
            "field_data": fdata,
        })
        times.append(t)
    return times, steps


def read_dump(npz: Path, region: str) -> tuple[list[float], list[dict]]:
    """What the pvpython check (cellsim.paraview, ``check``) saved of one region."""
    z = np.load(npz, allow_pickle=False)
    times = [float(v) for v in z[f"{region}/times"]]
    steps = []
    for k in range(len(times)):
        pre = f"{region}/{k}/"
        st = {"points": z[pre + "points"], "conn": z[pre + "conn"], "point_data": {}, "cell_data": {}, "field_data": {}}
        for key in z.files:
            if key.startswith(pre + "point/"):
                st["point_data"][key[len(pre) + 6:]] = z[key]
            elif key.startswith(pre + "cell/"):
                st["cell_data"][key[len(pre) + 5:]] = z[key]
        steps.append(st)
    return times, steps
