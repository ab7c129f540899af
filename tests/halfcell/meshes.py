"""Small tagged half-cell meshes for tests (structured, "staircase" particles).

The particles, carbon-binder necks, separator and collector are sets of cells of a
structured triangle (2D) or tetrahedron (3D) mesh, chosen by their midpoints; interfaces
are the facets between cells of two different regions. The names follow the geometry
package's half-cell kind (``particle_i``, ``binder``, ``electrolyte``, ``separator``,
``current_collector``; ``particle_i_electrolyte``, ``particle_i_binder``,
``collector_binder``, ``lithium_separator`` ...), so the model sees the same
:class:`cellsim.geometry.mesh.TaggedMesh` as from a gmsh build. The shapes are crude
(staircase surfaces), which is irrelevant to the balance and equilibrium checks that use
them.

Layout (thickness along the last axis, called z below): current collector
-t_cc <= z <= 0, electrode 0 <= z <= L, separator L <= z <= L + L_sep, lithium metal on the
top face z = L + L_sep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.mesh import TaggedMesh  # noqa: E402


@dataclass
class Layout:
    width: float  # along x (and y in 3D)
    thickness: float  # electrode thickness L
    separator: float  # separator thickness
    collector: float  # collector thickness (0: no collector region, contact on the boundary)
    centres: list  # particle centres (gdim tuples)
    radius: float
    neck: float  # half-width of the binder necks (0: no binder)
    pairs: list  # particle index pairs joined by necks
    bridges: list  # particle indices joined to the collector by a vertical neck


def square_lattice_2d(nx: int = 2, nz: int = 2, pitch: float = 10e-6, radius: float = 4e-6,
                      separator: float = 6e-6, collector: float = 2e-6, neck: float = 1.0e-6) -> Layout:
    """nx x nz disks on a square lattice, necks between neighbours and down to the collector."""
    centres = [((i + 0.5) * pitch, (k + 0.5) * pitch) for k in range(nz) for i in range(nx)]
    pairs = []
    for k in range(nz):
        for i in range(nx):
            a = k * nx + i
            if i + 1 < nx:
                pairs.append((a, a + 1))
            if k + 1 < nz:
                pairs.append((a, a + nx))
    bridges = list(range(nx))  # bottom row
    return Layout(nx * pitch, nz * pitch, separator, collector, centres, radius, neck, pairs, bridges)


def cubic_lattice_3d(n: int = 2, nz: int = 1, pitch: float = 10e-6, radius: float = 4e-6,
                     separator: float = 5e-6, collector: float = 2e-6, neck: float = 1.5e-6) -> Layout:
    centres = [((i + 0.5) * pitch, (j + 0.5) * pitch, (k + 0.5) * pitch)
               for k in range(nz) for j in range(n) for i in range(n)]
    pairs = []
    idx = {(i, j, k): k * n * n + j * n + i for k in range(nz) for j in range(n) for i in range(n)}
    for (i, j, k), a in idx.items():
        for d in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
            b = idx.get((i + d[0], j + d[1], k + d[2]))
            if b is not None:
                pairs.append((a, b))
    bridges = [a for (i, j, k), a in idx.items() if k == 0]
    return Layout(n * pitch, nz * pitch, separator, collector, centres, radius, neck, pairs, bridges)


def _seg_dist(p, a, b):
    """Distance of points p (N, d) to the segment a-b."""
    a, b = np.asarray(a), np.asarray(b)
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def build(layout: Layout, h: float, comm=MPI.COMM_WORLD, gdim: int | None = None) -> TaggedMesh:
    """Structured mesh of the layout with element size ~h, tagged like the half-cell kind."""
    gdim = gdim or len(layout.centres[0])
    lo_z = -layout.collector
    hi_z = layout.thickness + layout.separator
    part = mesh.create_cell_partitioner(mesh.GhostMode.shared_facet, 2)
    nw = max(1, int(round(layout.width / h)))
    nz = max(1, int(round((hi_z - lo_z) / h)))
    if gdim == 2:
        msh = mesh.create_rectangle(comm, [np.array([0.0, lo_z]), np.array([layout.width, hi_z])], [nw, nz],
                                    mesh.CellType.triangle, partitioner=part, diagonal=mesh.DiagonalType.crossed)
    else:
        msh = mesh.create_box(comm, [np.array([0.0, 0.0, lo_z]), np.array([layout.width, layout.width, hi_z])],
                              [nw, nw, nz], mesh.CellType.tetrahedron, partitioner=part)
    tdim = msh.topology.dim
    imap = msh.topology.index_map(tdim)
    ncells = imap.size_local + imap.num_ghosts
    mid = mesh.compute_midpoints(msh, tdim, np.arange(ncells, dtype=np.int32))[:, :gdim]
    z = mid[:, gdim - 1]
    npart = len(layout.centres)
    # tags: particles 1..n, binder n+1, electrolyte n+2, separator n+3, collector n+4
    T_B, T_E, T_S, T_C = npart + 1, npart + 2, npart + 3, npart + 4
    tag = np.full(ncells, T_E, dtype=np.int32)
    tag[z > layout.thickness] = T_S
    tag[z < 0.0] = T_C
    in_el = (z >= 0.0) & (z <= layout.thickness)
    if layout.neck > 0:
        neck = np.zeros(ncells, bool)
        for a, b in layout.pairs:
            neck |= _seg_dist(mid, layout.centres[a], layout.centres[b]) < layout.neck
        for a in layout.bridges:
            c = np.array(layout.centres[a])
            bot = c.copy()
            bot[-1] = 0.0
            neck |= _seg_dist(mid, c, bot) < layout.neck
        tag[neck & in_el] = T_B
    for i, c in enumerate(layout.centres):
        tag[(np.linalg.norm(mid - np.asarray(c), axis=1) < layout.radius) & in_el] = i + 1
    cell_tags = mesh.meshtags(msh, tdim, np.arange(ncells, dtype=np.int32), tag)

    # facets: interfaces between different regions, lithium on the top face
    fdim = tdim - 1
    msh.topology.create_connectivity(fdim, tdim)
    f2c = msh.topology.connectivity(fdim, tdim)
    off, links = f2c.offsets, f2c.array
    cnt = np.diff(off)
    names_p = [f"particle_{i}" for i in range(npart)]
    region_name = {i + 1: names_p[i] for i in range(npart)}
    region_name.update({T_B: "binder", T_E: "electrolyte", T_S: "separator", T_C: "current_collector"})

    def pair_name(ta, tb):
        na, nb = region_name[ta], region_name[tb]
        order = ["particle", "binder", "electrolyte", "separator", "current_collector"]
        ka = [k for k in order if na.startswith(k)][0]
        kb = [k for k in order if nb.startswith(k)][0]
        if order.index(ka) > order.index(kb):
            na, nb, ka, kb = nb, na, kb, ka
        if ka == "particle":
            if kb == "particle":
                return None
            if kb in ("electrolyte", "separator"):
                return f"{na}_electrolyte"
            if kb == "binder":
                return f"{na}_binder"
            return "collector_particle"
        if ka == "binder":
            return {"electrolyte": "binder_electrolyte", "separator": "separator_binder",
                    "current_collector": "collector_binder"}[kb]
        if ka == "electrolyte":
            return {"separator": "separator_electrolyte", "current_collector": "collector_electrolyte"}[kb]
        return None

    leaf_if: dict[str, int] = {}
    f_idx, f_val = [], []
    two = np.flatnonzero(cnt == 2)
    ta, tb = tag[links[off[two]]], tag[links[off[two] + 1]]
    diff = ta != tb
    for f, a, b in zip(two[diff], ta[diff], tb[diff]):
        nm = pair_name(int(a), int(b))
        if nm is None:
            continue
        t = leaf_if.setdefault(nm, len(leaf_if) + 1)
        f_idx.append(f)
        f_val.append(t)
    # top face z = hi: lithium metal; collector-less layouts: bottom face z = 0 is the contact
    bf = mesh.exterior_facet_indices(msh.topology)
    bmid = mesh.compute_midpoints(msh, fdim, bf)[:, gdim - 1]
    top = bf[np.isclose(bmid, hi_z, atol=1e-3 * h)]
    t_li = leaf_if.setdefault("lithium_separator", len(leaf_if) + 1)
    f_idx += list(top)
    f_val += [t_li] * len(top)
    if layout.collector == 0:
        bot = bf[np.isclose(bmid, 0.0, atol=1e-3 * h)]
        ctag = tag[links[off[bot]]]
        for kind, nm in ((T_B, "collector_binder"),):
            sel = bot[ctag == kind]
            t = leaf_if.setdefault(nm, len(leaf_if) + 1)
            f_idx += list(sel)
            f_val += [t] * len(sel)
        selp = bot[(ctag >= 1) & (ctag <= npart)]
        if len(selp):
            t = leaf_if.setdefault("collector_particle", len(leaf_if) + 1)
            f_idx += list(selp)
            f_val += [t] * len(selp)
    # leaf names must be the same on every rank: agree on a global table
    all_names = sorted(set().union(*comm.allgather(set(leaf_if))))
    remap = {nm: i + 1 for i, nm in enumerate(all_names)}
    loc_inv = {v: k for k, v in leaf_if.items()}
    f_val = [remap[loc_inv[v]] for v in f_val]
    f_idx = np.asarray(f_idx, dtype=np.int32)
    f_val = np.asarray(f_val, dtype=np.int32)
    order = np.argsort(f_idx)
    facet_tags = mesh.meshtags(msh, fdim, f_idx[order], f_val[order])

    regions = {region_name[t]: (t,) for t in region_name if t not in (T_C,) or layout.collector > 0}
    regions["particle"] = tuple(range(1, npart + 1))
    regions["electrolyte_domain"] = (T_E, T_S)
    interfaces = {nm: (t,) for nm, t in remap.items()}
    interfaces["particle_electrolyte"] = tuple(remap[f"particle_{i}_electrolyte"] for i in range(npart)
                                               if f"particle_{i}_electrolyte" in remap)
    interfaces["particle_binder"] = tuple(remap[f"particle_{i}_binder"] for i in range(npart)
                                          if f"particle_{i}_binder" in remap)
    interfaces["collector_electrode"] = tuple(remap[n] for n in ("collector_binder", "collector_electrolyte",
                                                                  "collector_particle") if n in remap)
    info = {
        "kind": "test_lattice",
        "leaf_regions": [region_name[t] for t in sorted(region_name)],
        "leaf_interfaces": all_names,
        "particles": [{"centre": list(map(float, c)), "radius": layout.radius} for c in layout.centres],
        "thickness": layout.thickness,
        "separator_thickness": layout.separator,
        "width": layout.width,
    }
    return TaggedMesh(msh, cell_tags, facet_tags, regions, interfaces, info)
