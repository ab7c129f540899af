"""Build a geometry on MPI rank 0 with Gmsh and distribute it as a tagged DOLFINx mesh.

Pipeline of :func:`build_mesh`:

1. the spec is validated (no gmsh yet), so bad requests fail before meshing;
2. on rank 0 only, gmsh is initialised (non-interruptible, silent), the kind's builder
   makes the OpenCASCADE model in micrometres, names its regions and interfaces
   (:class:`ModelTags` -> gmsh physical groups), sets size fields, and gmsh meshes it;
   element quality (gmsh ``minSICN``, 1 = regular tetrahedron) is measured there;
3. ``dolfinx.io.gmsh.model_to_mesh`` distributes the mesh with a shared-facet ghosted
   partitioner, the coordinates are scaled from micrometres to metres, and the name
   tables and ``info`` are broadcast to every rank.

Any exception on rank 0 is broadcast and re-raised on every rank (no deadlock).

Naming: every cell carries exactly one cell tag (a *leaf* region such as ``particle_3``
or ``electrolyte``); every tagged facet exactly one facet tag (a leaf interface such as
``particle_3_electrolyte``). Aggregates (``particle`` = all ``particle_i``,
``particle_electrolyte`` = all ``particle_i_electrolyte``) exist only in
:attr:`TaggedMesh.regions` / :attr:`TaggedMesh.interfaces` as tuples of tag values.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from cellsim.geometry.spec import GEOMETRY_ADAPTER, MeshControls

#: model unit used inside gmsh, in metres (micrometres)
MODEL_UNIT = 1e-6


class GeometryError(RuntimeError):
    """The geometry could not be built or meshed (raised on every rank)."""


def um(x_m: float) -> float:
    """Metres -> model units (micrometres)."""
    return x_m / MODEL_UNIT


# ---------------------------------------------------------------------------------------
# names -> gmsh physical groups
# ---------------------------------------------------------------------------------------


class ModelTags:
    """Collects named leaf regions/interfaces of a gmsh model and their aggregates.

    Builders call :meth:`region` with OCC volume tags, :meth:`interface` with OCC
    surface tags, and :meth:`aggregate` to define names that cover several leaves.
    :meth:`commit` creates one physical group per leaf (tags 1, 2, ... in insertion
    order) after checking that every volume is in exactly one region and every
    surface in at most one interface.
    """

    def __init__(self) -> None:
        self.leaf_regions: dict[str, list[int]] = {}
        self.leaf_interfaces: dict[str, list[int]] = {}
        self.agg_regions: dict[str, list[str]] = {}
        self.agg_interfaces: dict[str, list[str]] = {}
        self.region_tags: dict[str, int] = {}
        self.interface_tags: dict[str, int] = {}

    def region(self, name: str, volumes) -> None:
        vols = [int(v) for v in volumes]
        if not vols:
            raise GeometryError(f"region '{name}' has no volumes")
        self.leaf_regions.setdefault(name, []).extend(vols)

    def interface(self, name: str, surfaces) -> None:
        surfs = [int(s) for s in surfaces]
        if not surfs:
            raise GeometryError(f"interface '{name}' has no surfaces")
        self.leaf_interfaces.setdefault(name, []).extend(surfs)

    def aggregate(self, name: str, members, dim: int = 3) -> None:
        target = self.agg_regions if dim == 3 else self.agg_interfaces
        target.setdefault(name, []).extend(members)

    def volumes_of(self, name: str) -> list[int]:
        """OCC volumes of a leaf or aggregate region."""
        if name in self.leaf_regions:
            return list(self.leaf_regions[name])
        out: list[int] = []
        for m in self.agg_regions.get(name, []):
            out.extend(self.volumes_of(m))
        return out

    def surfaces_of(self, name: str) -> list[int]:
        if name in self.leaf_interfaces:
            return list(self.leaf_interfaces[name])
        out: list[int] = []
        for m in self.agg_interfaces.get(name, []):
            out.extend(self.surfaces_of(m))
        return out

    def commit(self) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        import gmsh

        all_vols = sorted(t for _, t in gmsh.model.getEntities(3))
        seen: dict[int, str] = {}
        for name, vols in self.leaf_regions.items():
            for v in vols:
                if v in seen:
                    raise GeometryError(f"volume {v} is in regions '{seen[v]}' and '{name}'")
                seen[v] = name
        missing = [v for v in all_vols if v not in seen]
        if missing:
            raise GeometryError(f"volumes {missing} belong to no region")
        seen_s: dict[int, str] = {}
        for name, surfs in self.leaf_interfaces.items():
            for s in surfs:
                if s in seen_s:
                    raise GeometryError(f"surface {s} is in interfaces '{seen_s[s]}' and '{name}'")
                seen_s[s] = name
        for i, (name, vols) in enumerate(self.leaf_regions.items(), start=1):
            gmsh.model.addPhysicalGroup(3, sorted(set(vols)), tag=i, name=name)
            self.region_tags[name] = i
        for i, (name, surfs) in enumerate(self.leaf_interfaces.items(), start=1):
            gmsh.model.addPhysicalGroup(2, sorted(set(surfs)), tag=i, name=name)
            self.interface_tags[name] = i

        def resolve(name, leaves, aggs, seen=()):
            if name in leaves:
                return (leaves[name],)
            if name in seen:
                raise GeometryError(f"aggregate '{name}' refers to itself")
            out = []
            for m in aggs[name]:
                out.extend(resolve(m, leaves, aggs, seen + (name,)))
            return tuple(sorted(set(out)))

        regions = {n: (t,) for n, t in self.region_tags.items()}
        for n in self.agg_regions:
            regions[n] = resolve(n, self.region_tags, self.agg_regions)
        interfaces = {n: (t,) for n, t in self.interface_tags.items()}
        for n in self.agg_interfaces:
            interfaces[n] = resolve(n, self.interface_tags, self.agg_interfaces)
        return regions, interfaces


# ---------------------------------------------------------------------------------------
# mesh size
# ---------------------------------------------------------------------------------------


def apply_mesh_sizes(
    spec: MeshControls,
    tags: ModelTags,
    refine_interfaces: list[str] | None = None,
    extra_fields: list[int] | None = None,
    builder_sizes: dict[str, float] | None = None,
) -> None:
    """Background size field = min(global h, region sizes, interface thresholds).

    * global: ``Mesh.MeshSizeMax = h``;
    * region r with size h_r: a ``Constant`` field (h_r inside r and on its boundary);
    * interfaces (names in ``refine_interfaces``, default all leaves) when h_i < h:
      a ``Distance`` + ``Threshold`` field, size h_i at distance 0 growing linearly to
      h at distance ``refinement_distance``.
    """
    import gmsh

    f = gmsh.model.mesh.field
    h = um(spec.h())
    fields: list[int] = list(extra_fields or [])
    hmin = h
    sizes = {k: min(v, spec.h()) for k, v in spec.default_region_sizes().items()}
    sizes.update(builder_sizes or {})
    sizes.update(spec.region_mesh_size)
    for name, size in sizes.items():
        vols = tags.volumes_of(name)
        if not vols:
            continue
        fid = f.add("Constant")
        f.setNumbers(fid, "VolumesList", vols)
        f.setNumber(fid, "VIn", um(size))
        f.setNumber(fid, "VOut", 1e22)
        f.setNumber(fid, "IncludeBoundary", 1)
        fields.append(fid)
        hmin = min(hmin, um(size))
    hi = um(spec.h_interface())
    if hi < h:
        names = refine_interfaces if refine_interfaces is not None else list(tags.leaf_interfaces)
        surfs = sorted({s for n in names for s in tags.surfaces_of(n)})
        if surfs:
            dist = f.add("Distance")
            f.setNumbers(dist, "SurfacesList", surfs)
            f.setNumber(dist, "Sampling", 30)
            thr = f.add("Threshold")
            f.setNumber(thr, "InField", dist)
            f.setNumber(thr, "SizeMin", hi)
            f.setNumber(thr, "SizeMax", h)
            f.setNumber(thr, "DistMin", 0.0)
            f.setNumber(thr, "DistMax", um(spec.d_refine()))
            fields.append(thr)
            hmin = min(hmin, hi)
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)
    gmsh.option.setNumber("Mesh.MeshSizeMin", 0.05 * hmin)
    if fields:
        fmin = f.add("Min")
        f.setNumbers(fmin, "FieldsList", fields)
        f.setAsBackgroundMesh(fmin)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)


# ---------------------------------------------------------------------------------------
# the distributed result
# ---------------------------------------------------------------------------------------


@dataclass
class TaggedMesh:
    """A distributed DOLFINx mesh (metres) with named cell regions and facet interfaces.

    ``regions[name]`` / ``interfaces[name]`` are tuples of tag values of
    ``cell_tags`` / ``facet_tags``; aggregate names list several leaf tags.
    ``info`` holds kind-specific data in SI units (particle centres and radii, grain
    orientations, exact volumes/areas where known, element counts and quality).
    """

    mesh: Any
    cell_tags: Any
    facet_tags: Any
    regions: dict[str, tuple[int, ...]]
    interfaces: dict[str, tuple[int, ...]]
    info: dict = field(default_factory=dict)

    @property
    def comm(self):
        return self.mesh.comm

    @property
    def cell_names(self) -> dict[int, str]:
        """Cell tag value -> leaf region name (each cell carries exactly one tag)."""
        return {v[0]: n for n, v in self.regions.items() if n in self.info.get("leaf_regions", ())}

    @property
    def facet_names(self) -> dict[int, str]:
        """Facet tag value -> leaf interface name (each tagged facet carries one tag)."""
        return {
            v[0]: n for n, v in self.interfaces.items() if n in self.info.get("leaf_interfaces", ())
        }

    def _tagged(self, tags, values, owned: bool, dim: int) -> np.ndarray:
        if tags is None:
            return np.zeros(0, dtype=np.int32)
        sel = np.isin(tags.values, np.asarray(values, dtype=np.int32))
        idx = np.sort(tags.indices[sel]).astype(np.int32)
        if owned:
            imap = self.mesh.topology.index_map(dim)
            idx = idx[idx < imap.size_local]
        return idx

    def cells(self, name: str, owned: bool = False) -> np.ndarray:
        """Local indices of the cells of region ``name`` (ghosts included unless ``owned``)."""
        if name not in self.regions:
            raise KeyError(f"unknown region '{name}'; known: {', '.join(sorted(self.regions))}")
        tdim = self.mesh.topology.dim
        return self._tagged(self.cell_tags, self.regions[name], owned, tdim)

    def facets(self, name: str, owned: bool = False) -> np.ndarray:
        """Local indices of the facets of interface ``name`` (ghosts included unless ``owned``)."""
        if name not in self.interfaces:
            raise KeyError(
                f"unknown interface '{name}'; known: {', '.join(sorted(self.interfaces))}"
            )
        fdim = self.mesh.topology.dim - 1
        return self._tagged(self.facet_tags, self.interfaces[name], owned, fdim)


@dataclass
class BuildResult:
    """What a builder returns on rank 0 (besides the gmsh model it made)."""

    tags: ModelTags
    info: dict = field(default_factory=dict)
    refine_interfaces: list[str] | None = None
    extra_fields: list[int] | None = None
    #: default region sizes found while building [m] (the user's region_mesh_size wins)
    region_sizes: dict[str, float] = field(default_factory=dict)
    algorithm3d: int = 1  # 1 Delaunay, 10 HXT


@contextlib.contextmanager
def gmsh_session(verbose: bool = False, name: str = "cellsim"):
    """Initialise gmsh if needed (non-interruptible, silent) and give a fresh model.

    If gmsh was already initialised by the caller, only the model is added and removed.
    """
    import gmsh

    owner = not gmsh.isInitialized()
    if owner:
        gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
        gmsh.option.setNumber("General.Verbosity", 5 if verbose else 2)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add(name)
        gmsh.model.setCurrent(name)
        yield gmsh
    finally:
        with contextlib.suppress(Exception):
            gmsh.model.remove()
        if owner:
            gmsh.finalize()


def _builders() -> tuple[dict[str, Callable], dict[str, Callable]]:
    from cellsim.geometry import composite, particle

    return {**particle.BUILDERS, **composite.BUILDERS}, dict(composite.PLANS)


def plan_geometry(spec) -> Any:
    """The seeded, gmsh-free plan of a kind (packing, pores, seeds), or None.

    Raises ValueError (e.g. :class:`~cellsim.geometry.packing.PackingError`) for
    requests that cannot be built; :func:`build_mesh` calls it before gmsh starts.
    """
    if isinstance(spec, dict):
        spec = GEOMETRY_ADAPTER.validate_python(spec)
    plans = _builders()[1]
    return plans[spec.kind](spec) if spec.kind in plans else None


def element_quality() -> dict:
    """min/mean gmsh minSICN quality and counts of the 3D mesh (rank 0, gmsh active)."""
    import gmsh

    types, tags, _ = gmsh.model.mesh.getElements(3)
    all_tags = np.concatenate([np.asarray(t) for t in tags]) if tags else np.zeros(0)
    q = np.asarray(gmsh.model.mesh.getElementQualities(all_tags, "minSICN")) if len(all_tags) else np.zeros(1)
    ntri = 0
    for t, et in zip(*gmsh.model.mesh.getElements(2)[:2]):
        ntri += len(et)
    nodes = gmsh.model.mesh.getNodes()[0]
    return {
        "num_tetrahedra": int(len(all_tags)),
        "num_boundary_triangles": int(ntri),
        "num_nodes": int(len(nodes)),
        "quality_measure": "minSICN (1 = regular tetrahedron, <= 0 inverted)",
        "quality_min": float(q.min()),
        "quality_mean": float(q.mean()),
        "quality_histogram": np.histogram(q, bins=10, range=(0.0, 1.0))[0].tolist(),
    }


def build_mesh(
    spec,
    comm=None,
    *,
    msh_file: str | None = None,
    verbose: bool = False,
    order: int = 1,
) -> TaggedMesh:
    """Build, mesh (rank 0) and distribute the geometry ``spec`` over ``comm``.

    ``spec`` is a validated geometry model or a plain ``[geometry]`` dict. When
    ``msh_file`` is given, rank 0 also writes the gmsh mesh there (model units:
    micrometres, recorded in ``info['msh_unit']``).
    """
    from cellsim.dolfinx_env import require_dolfinx

    dolfinx = require_dolfinx()
    import dolfinx.io.gmsh as dgmsh
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    if isinstance(spec, dict):
        spec = GEOMETRY_ADAPTER.validate_python(spec)

    rank = comm.rank
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    payload = None
    error = None
    stack = contextlib.ExitStack()
    t0 = time.perf_counter()
    gmsh_mod = None
    # the plan (packing etc.) runs before gmsh; its ValueErrors reach every rank as such
    if rank == 0:
        try:
            plan = plan_geometry(spec)
        except ValueError as exc:
            error = exc
    error = comm.bcast(error, root=0)
    if error is not None:
        raise error
    t_plan = time.perf_counter() - t0
    try:
        if rank == 0:
            try:
                gmsh_mod = stack.enter_context(gmsh_session(verbose))
                builder = _builders()[0][spec.kind]
                res: BuildResult = builder(spec, plan)
                regions, interfaces = res.tags.commit()
                apply_mesh_sizes(
                    spec, res.tags, res.refine_interfaces, res.extra_fields, res.region_sizes
                )
                gmsh_mod.option.setNumber("Mesh.Algorithm3D", res.algorithm3d)
                gmsh_mod.option.setNumber("Mesh.Optimize", 1)
                t1 = time.perf_counter()
                gmsh_mod.model.mesh.generate(3)
                if order > 1:  # curved (isoparametric) elements on the OCC geometry
                    gmsh_mod.model.mesh.setOrder(order)
                info = dict(res.info)
                info["kind"] = spec.kind
                info["leaf_regions"] = list(res.tags.leaf_regions)
                info["leaf_interfaces"] = list(res.tags.leaf_interfaces)
                info["mesh_size"] = spec.h()
                info["mesh"] = element_quality()
                info["timing"] = {
                    "plan_s": t_plan,
                    "geometry_s": t1 - t0 - t_plan,
                    "meshing_s": time.perf_counter() - t1,
                }
                if msh_file is not None:
                    gmsh_mod.write(msh_file)
                    info["msh_unit"] = "micrometre"
                payload = (regions, interfaces, info)
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                error = f"{type(exc).__name__}: {exc}"
        error = comm.bcast(error, root=0)
        if error is not None:
            raise GeometryError(f"building geometry kind '{spec.kind}' failed: {error}")
        t2 = time.perf_counter()
        md = dgmsh.model_to_mesh(
            gmsh_mod.model if rank == 0 else None, comm, 0, gdim=3, partitioner=partitioner
        )
    finally:
        stack.close()
    regions, interfaces, info = comm.bcast(payload, root=0)
    info.setdefault("timing", {})["distribute_s"] = time.perf_counter() - t2
    msh = md.mesh
    msh.geometry.x[:] *= MODEL_UNIT
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    return TaggedMesh(msh, md.cell_tags, md.facet_tags, regions, interfaces, info)
