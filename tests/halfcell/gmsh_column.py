"""A column of equal spheres as a half-cell (gmsh, curved surfaces resolved), for tests.

Unit cell of a simple-cubic lattice of spheres of radius R and pitch a: the box
[0, a] x [0, a] holds n spheres centred at (a/2, a/2, (k + 1/2) a), k = 0..n-1, so the
electrode is L = n a thick; a carbon-binder rod of radius r_b on the axis joins the spheres to
each other and the lowest one to the current collector (-t_cc <= z <= 0); a separator layer
L <= z <= L + L_sep carries the lithium metal on its top face. The side faces are no-flux
walls, which are symmetry planes of the infinite lattice, so the column represents a
homogeneous electrode of active fraction (4/3 pi R^3)/a^3: the setting in which a
homogenised (DFN) model should agree with the resolved one.

Names as the geometry package's half-cell kind: regions ``particle_i`` (aggregate
``particle``), ``binder``, ``electrolyte``, ``separator``, ``current_collector``; interfaces
``particle_i_electrolyte``, ``particle_i_binder``, ``binder_electrolyte``,
``collector_binder``, ``collector_electrolyte``, ``separator_electrolyte``,
``separator_binder``, ``lithium_separator``, ``side``.
"""

from __future__ import annotations

import numpy as np

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import mesh as dmesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.mesh import TaggedMesh  # noqa: E402


def build_column(n=3, radius=3.0e-6, pitch=7.0e-6, binder_radius=0.9e-6, separator=8.0e-6, collector=1.0e-6,
                 h=1.2e-6, h_particle=None, comm=MPI.COMM_WORLD) -> TaggedMesh:
    """Mesh the column (lengths in metres; gmsh works in micrometres) and distribute it."""
    import gmsh
    import dolfinx.io.gmsh as dgmsh

    um = 1e6
    R, a, rb, Ls, tc = radius * um, pitch * um, binder_radius * um, separator * um, collector * um
    L = n * a
    hp = (h_particle or h) * um
    names_by_tag: dict = {}
    info = {}
    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("column")
        occ = gmsh.model.occ
        boxes = {
            "current_collector": occ.addBox(0, 0, -tc, a, a, tc),
            "electrode": occ.addBox(0, 0, 0, a, a, L),
            "separator": occ.addBox(0, 0, L, a, a, Ls),
        }
        spheres = [occ.addSphere(a / 2, a / 2, (k + 0.5) * a, R) for k in range(n)]
        rod = occ.addCylinder(a / 2, a / 2, 0.0, 0, 0, (n - 0.5) * a, rb)
        tools = [(3, s) for s in spheres] + [(3, rod)]
        objs = [(3, t) for t in boxes.values()]
        occ.fragment(objs, tools)
        occ.synchronize()
        # classify volumes by position
        leaf: dict[str, list[int]] = {}
        for _, v in gmsh.model.getEntities(3):
            x, y, z = occ.getCenterOfMass(3, v)
            if z < 0:
                name = "current_collector"
            elif z > L:
                name = "separator"
            else:
                d = [abs(z - (k + 0.5) * a) for k in range(n)]
                k = int(np.argmin(d))
                xmin, ymin, zmin, xmax, ymax, zmax = occ.getBoundingBox(3, v)
                r_xy = max(xmax - xmin, ymax - ymin) / 2
                if r_xy <= R * 1.001 and zmax - zmin <= 2 * R * 1.001 and d[k] < 0.5 * R:
                    name = f"particle_{k}"
                elif r_xy <= rb * 1.001:
                    name = "binder"
                else:
                    name = "electrolyte"
            leaf.setdefault(name, []).append(v)
        region_of = {v: nm for nm, vs in leaf.items() for v in vs}
        faces: dict[str, list[int]] = {}
        for _, s in gmsh.model.getEntities(2):
            up, _ = gmsh.model.getAdjacencies(2, s)
            if len(up) == 1:
                _, _, zc = occ.getCenterOfMass(2, s)
                if abs(zc - (L + Ls)) < 1e-6:
                    nm = "lithium_separator"
                elif abs(zc + tc) < 1e-6:
                    nm = "collector_bottom"
                else:
                    nm = "side"
            else:
                a_, b_ = region_of[int(up[0])], region_of[int(up[1])]
                pair = {a_, b_}
                p = [x for x in pair if x.startswith("particle_")]
                if len(pair) == 1:
                    continue
                if p and "electrolyte" in pair:
                    nm = f"{p[0]}_electrolyte"
                elif p and "binder" in pair:
                    nm = f"{p[0]}_binder"
                elif p and "separator" in pair:
                    nm = f"{p[0]}_electrolyte"
                elif pair == {"binder", "electrolyte"}:
                    nm = "binder_electrolyte"
                elif pair == {"current_collector", "binder"}:
                    nm = "collector_binder"
                elif pair == {"current_collector", "electrolyte"}:
                    nm = "collector_electrolyte"
                elif pair == {"separator", "electrolyte"}:
                    nm = "separator_electrolyte"
                elif pair == {"separator", "binder"}:
                    nm = "separator_binder"
                elif p and "current_collector" in pair:
                    nm = "collector_particle"
                else:
                    nm = "_".join(sorted(pair))
            faces.setdefault(nm, []).append(s)
        rtags, ftags = {}, {}
        for i, (nm, vs) in enumerate(sorted(leaf.items()), start=1):
            gmsh.model.addPhysicalGroup(3, vs, tag=i, name=nm)
            rtags[nm] = i
        for i, (nm, ss) in enumerate(sorted(faces.items()), start=1):
            gmsh.model.addPhysicalGroup(2, ss, tag=i, name=nm)
            ftags[nm] = i
        # sizes: h in the bulk, h_particle on and in the particles
        f = gmsh.model.mesh.field
        cst = f.add("Constant")
        f.setNumbers(cst, "VolumesList", [v for k in range(n) for v in leaf.get(f"particle_{k}", [])])
        f.setNumber(cst, "VIn", hp)
        f.setNumber(cst, "VOut", a * 10)
        f.setNumber(cst, "IncludeBoundary", 1)
        f.setAsBackgroundMesh(cst)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h * um)
        gmsh.option.setNumber("Mesh.MeshSizeMin", 0.2 * min(hp, h * um))
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.Optimize", 1)
        gmsh.model.mesh.generate(3)
        names_by_tag = (rtags, ftags)
    part = dmesh.create_cell_partitioner(dmesh.GhostMode.shared_facet, 2)
    md = dgmsh.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=3, partitioner=part)
    if comm.rank == 0:
        gmsh.finalize()
    rtags, ftags = comm.bcast(names_by_tag, root=0)
    msh = md.mesh
    msh.geometry.x[:] *= 1e-6
    regions = {nm: (t,) for nm, t in rtags.items()}
    regions["particle"] = tuple(rtags[f"particle_{k}"] for k in range(n) if f"particle_{k}" in rtags)
    regions["electrolyte_domain"] = tuple(rtags[k] for k in ("electrolyte", "separator") if k in rtags)
    interfaces = {nm: (t,) for nm, t in ftags.items()}
    interfaces["particle_electrolyte"] = tuple(t for nm, t in ftags.items() if nm.endswith("_electrolyte")
                                               and nm.startswith("particle_"))
    interfaces["particle_binder"] = tuple(t for nm, t in ftags.items() if nm.endswith("_binder")
                                          and nm.startswith("particle_"))
    info = {"kind": "test_column", "leaf_regions": sorted(rtags), "leaf_interfaces": sorted(ftags),
            "particles": [{"centre": [pitch / 2, pitch / 2, (k + 0.5) * pitch], "radius": radius} for k in range(n)],
            "thickness": n * pitch, "separator_thickness": separator, "width": pitch, "depth": pitch,
            "binder_radius": binder_radius}
    return TaggedMesh(msh, md.cell_tags, md.facet_tags, regions, interfaces, info)
