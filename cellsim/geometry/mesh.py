"""Build a geometry on MPI rank 0 with Gmsh and distribute it as a tagged DOLFINx mesh.

Pipeline of :func:`build_mesh`:

1. the spec is validated (no gmsh yet), so bad requests fail before meshing;
2. on rank 0 only, gmsh is initialised (non-interruptible, silent), the kind's builder
   makes the OpenCASCADE model in micrometres, names its regions and interfaces
   (:class:`ModelTags` -> gmsh physical groups), sets size fields, and gmsh meshes it;
   element quality (gmsh ``minSICN``, 1 = regular tetrahedron) is measured there;
3. :func:`~cellsim.geometry.distribute.model_to_mesh` (``dolfinx.io.gmsh.model_to_mesh``
   with the tagged elements collected in linear time) distributes the mesh with a shared-facet ghosted
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
from typing import Any

import numpy as np

from cellsim.geometry import electrode, particle, structured
from cellsim.geometry.base import MODEL_UNIT, BuildResult, GeometryError, ModelTags, um  # noqa: F401
from cellsim.geometry.distribute import model_to_mesh
from cellsim.geometry.gmsh_model import (  # noqa: F401
    apply_mesh_sizes,
    element_quality,
    gmsh_session,
    low_quality_volumes,
)
from cellsim.geometry.spec import GEOMETRY_ADAPTER

#: kind -> builder (rank 0, inside a gmsh model) and kind -> plan (numpy, before gmsh)
BUILDERS = {**particle.BUILDERS, **structured.BUILDERS, **electrode.BUILDERS}
PLANS = {**structured.PLANS, **electrode.PLANS}


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


def plan_geometry(spec) -> Any:
    """The seeded, gmsh-free plan of a kind (packing, pores, seeds), or None.

    Raises ValueError (e.g. :class:`~cellsim.geometry.packing.PackingError`) for
    requests that cannot be built; :func:`build_mesh` calls it before gmsh starts.
    """
    if isinstance(spec, dict):
        spec = GEOMETRY_ADAPTER.validate_python(spec)
    return PLANS[spec.kind](spec) if spec.kind in PLANS else None


#: (2D algorithm, 3D algorithm) tried in turn when gmsh fails (e.g. "PLC Error: two
#: facets intersect" from a surface mesh of near-tangent CAD features) or leaves slivers:
#: None = the chosen 3D mesher, "other" = the other one (HXT <-> Delaunay)
RETRY_ALGORITHMS = ((6, None), (5, None), (1, None), (6, "other"))

#: spec.mesh_algorithm -> gmsh's Mesh.Algorithm3D
ALGORITHMS_3D = {"delaunay": 1, "hxt": 10}


def _chosen_3d(spec, res: BuildResult) -> int:
    """The gmsh 3D algorithm: the spec's ``mesh_algorithm``, else the kind's choice."""
    return ALGORITHMS_3D[spec.mesh_algorithm] if spec.mesh_algorithm else res.algorithm3d


def _other_3d(alg3: int) -> int:
    """The other gmsh 3D mesher (HXT <-> Delaunay)."""
    return 1 if alg3 == 10 else 10


def _mesher(spec, res: BuildResult, choice) -> tuple[int, float]:
    """(3D algorithm, optimiser threshold) of a retry entry's 3D choice (None: the chosen
    mesher, "other": the other one); the threshold is the spec's, else the kind's for HXT,
    else gmsh's 0.3."""
    alg3 = _chosen_3d(spec, res)
    if choice is not None:
        alg3 = _other_3d(alg3)
    thr = spec.mesh_optimize_threshold
    if thr is None:
        thr = res.hxt_optimize_threshold if alg3 == 10 else 0.3
    return alg3, thr


def _min_scaled_jacobians(gmsh_mod):
    tags = [t for ts in gmsh_mod.model.mesh.getElements(3)[1] for t in ts]
    if not tags:
        return []
    import numpy as np

    return np.asarray(gmsh_mod.model.mesh.getElementQualities(tags, "minSJ"))


def _check_curved(gmsh_mod) -> dict:
    """Curved elements whose Jacobian changes sign (inverted near strongly curved surfaces)
    would give wrong stresses with no warning: untangle them with gmsh's high-order
    optimiser, and refuse the mesh if that fails (a curved mesh that is valid is left as
    it is)."""
    sj = _min_scaled_jacobians(gmsh_mod)
    if len(sj) == 0 or sj.min() > 0.0:
        return {"min_scaled_jacobian": float(sj.min()) if len(sj) else None, "inverted_repaired": 0}
    n0 = int((sj <= 0).sum())
    gmsh_mod.option.setNumber("Mesh.HighOrderOptimize", 2)  # elastic + optimisation
    gmsh_mod.model.mesh.optimize("HighOrderElastic")
    gmsh_mod.model.mesh.optimize("HighOrder")
    sj = _min_scaled_jacobians(gmsh_mod)
    if sj.min() <= 0.0:
        raise GeometryError(
            f"{int((sj <= 0).sum())} curved (order-2) tetrahedra are inverted (minimum scaled Jacobian "
            f"{sj.min():.3g}) even after gmsh's high-order optimisation ({n0} before): use "
            "discretisation.geometry_order = 1, or a smaller mesh_size where the surface is most curved")
    return {"min_scaled_jacobian": float(sj.min()), "inverted_repaired": n0}


def _generate(gmsh_mod, spec, alg2: int, alg3: int, threshold: float = 0.3) -> None:
    """Mesh the current model in 3D with the given gmsh algorithms (default optimiser of
    the tetrahedra below ``threshold``, Netgen's on request)."""
    gmsh_mod.option.setNumber("Mesh.Algorithm", alg2)
    gmsh_mod.option.setNumber("Mesh.Algorithm3D", alg3)
    gmsh_mod.option.setNumber("Mesh.Optimize", 1)
    gmsh_mod.option.setNumber("Mesh.OptimizeThreshold", threshold)
    gmsh_mod.model.mesh.generate(3)
    if sum(len(t) for t in gmsh_mod.model.mesh.getElements(3)[1]) == 0:
        raise RuntimeError("no tetrahedra generated")
    if spec.optimize_netgen:
        gmsh_mod.model.mesh.optimize("Netgen")


def _remesh_volumes(gmsh_mod, spec, volumes, alg3: int, threshold: float) -> None:
    """Mesh the given CAD volumes again in 3D with gmsh's 3D algorithm ``alg3``, every other
    entity's mesh kept (``Mesh.MeshOnlyEmpty``): their boundary triangles stay, so the mesh
    stays conforming. The fix for a sliver that one mesher leaves in a tiny volume (211
    particles: one flat tetrahedron in a 6.7e-4 um^3 volume, 1.8 s here against a whole new
    mesh of 40 s)."""
    gmsh_mod.model.mesh.clear([(3, int(v)) for v in volumes])
    gmsh_mod.option.setNumber("Mesh.MeshOnlyEmpty", 1)
    try:
        gmsh_mod.option.setNumber("Mesh.Algorithm3D", alg3)
        gmsh_mod.option.setNumber("Mesh.OptimizeThreshold", threshold)
        gmsh_mod.model.mesh.generate(3)
    finally:
        gmsh_mod.option.setNumber("Mesh.MeshOnlyEmpty", 0)
    if spec.optimize_netgen:
        gmsh_mod.model.mesh.optimize("Netgen")


class QualityError(GeometryError):
    """The mesh has tetrahedra below ``min_element_quality`` (slivers); ``volumes``: {CAD
    volume: number of them}."""

    def __init__(self, message: str, qmin: float, volumes: dict | None = None):
        super().__init__(message)
        self.qmin = qmin
        self.volumes = dict(volumes or {})


def _check_quality(spec, tags: ModelTags) -> None:
    """Refuse a linear mesh whose worst tetrahedron is below ``spec.min_element_quality``
    (gmsh minSICN), naming the regions that hold the slivers (rank 0, gmsh active)."""
    qmin_ok = spec.min_element_quality
    if qmin_ok <= 0:
        return
    qmin, bad = low_quality_volumes(qmin_ok)
    if not bad:
        return
    names: dict[str, int] = {}
    for name, vols in tags.leaf_regions.items():
        for v in vols:
            if v in bad:
                names[name] = names.get(name, 0) + bad[v]
    where = ", ".join(f"{n} ({k})" for n, k in sorted(names.items()))
    raise QualityError(
        f"min_element_quality = {qmin_ok:g}: the mesh has {sum(bad.values())} tetrahedra below it "
        f"(worst minSICN {qmin:.3g}) in {where}; slivers come from near-tangent CAD features "
        f"(contacts, cuts by the box faces); hint: change the seed, a smaller interface_mesh_size "
        f"or mesh_size, or set min_element_quality = 0 to accept the mesh",
        qmin,
        bad,
    )


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
    metres, recorded in ``info['msh_unit']``; the model itself is built in micrometres).
    """
    from cellsim.dolfinx_env import require_dolfinx

    dolfinx = require_dolfinx()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    if isinstance(spec, dict):
        spec = GEOMETRY_ADAPTER.validate_python(spec)

    rank = comm.rank
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    payload = None
    error = None
    stack = contextlib.ExitStack()
    t0, c0 = time.perf_counter(), time.process_time()
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
    t_plan, c_plan = time.perf_counter() - t0, time.process_time() - c0
    try:
        if rank == 0:
            try:
                builder = BUILDERS[spec.kind]
                info_retries: list[str] = []
                quality_tries: list[str] = []
                for attempt, (alg2, alg3) in enumerate(RETRY_ALGORITHMS):
                    # a failed gmsh run leaves gmsh unusable: every attempt gets a fresh
                    # gmsh (finalised and initialised again when this function owns it)
                    session = contextlib.ExitStack()
                    gmsh_mod = session.enter_context(gmsh_session(verbose, name=f"cellsim{attempt}"))
                    t_geo, c_geo = time.perf_counter(), time.process_time()
                    now = (alg2, alg3)
                    try:
                        res: BuildResult = builder(spec, plan)
                        regions, interfaces = res.tags.commit()
                        apply_mesh_sizes(
                            spec, res.tags, res.refine_interfaces, res.extra_fields, res.region_sizes
                        )
                        t1, c1 = time.perf_counter(), time.process_time()
                        now = (alg2, *_mesher(spec, res, alg3))
                        _generate(gmsh_mod, spec, *now)
                        # slivers: first the volumes that hold them meshed again with the other
                        # 3D mesher (the rest kept), then the same CAD meshed anew with the
                        # remaining algorithms, then refused
                        remeshed = None  # the sliver volumes' own 3D mesh, once
                        todo = ["volumes", *RETRY_ALGORITHMS[attempt + 1:]]
                        while True:
                            try:
                                _check_quality(spec, res.tags)
                                break
                            except QualityError as qe:
                                if remeshed and "worst_after" not in remeshed:
                                    remeshed["worst_after"] = qe.qmin  # not enough: the whole mesh again
                                else:
                                    quality_tries.append(f"2D algorithm {now[0]}, 3D {now[1]}: worst minSICN {qe.qmin:.3g}")
                                if not todo:
                                    local = (f" (its sliver volumes {remeshed['volumes']} meshed again in 3D with "
                                             f"algorithm {remeshed['algorithm3d']}: worst minSICN "
                                             f"{remeshed['worst_after']:.3g})") if remeshed else ""
                                    raise QualityError(f"{qe}{local} (gmsh algorithms tried: {'; '.join(quality_tries)})",
                                                       qe.qmin) from None
                                nxt = todo.pop(0)
                                if nxt == "volumes":
                                    # the optimiser's threshold kept: its pass over the kept mesh changes nothing
                                    other = _other_3d(now[1])
                                    remeshed = {"volumes": sorted(qe.volumes), "algorithm3d": other, "worst_before": qe.qmin}
                                    _remesh_volumes(gmsh_mod, spec, qe.volumes, other, now[2])
                                    continue
                                now = (nxt[0], *_mesher(spec, res, nxt[1]))
                                gmsh_mod.model.mesh.clear()
                                _generate(gmsh_mod, spec, *now)
                        if order > 1:  # curved (isoparametric) elements on the OCC geometry
                            gmsh_mod.model.mesh.setOrder(order)
                            curved = _check_curved(gmsh_mod)
                    except Exception as exc:  # noqa: BLE001 - gmsh raises plain Exception
                        session.close()
                        if isinstance(exc, GeometryError) or "mesh" not in str(exc).lower() and "PLC" not in str(exc) and "tetrahedra" not in str(exc):
                            raise
                        info_retries.append(f"2D algorithm {now[0]}, 3D {now[1]}: {exc}")
                        continue
                    stack.push(session)  # keep this gmsh model until it is distributed
                    break
                else:
                    raise RuntimeError("gmsh failed with every algorithm tried: " + "; ".join(info_retries))
                info = dict(res.info)
                info["kind"] = spec.kind
                if info_retries:
                    info["mesh_retries"] = info_retries
                if quality_tries:
                    info["mesh_quality_retries"] = quality_tries
                if remeshed:  # kept: True when the accepted mesh is the one with these volumes redone
                    info["mesh_volumes_remeshed"] = {**remeshed, "kept": "worst_after" not in remeshed}
                info["leaf_regions"] = list(res.tags.leaf_regions)
                info["leaf_interfaces"] = list(res.tags.leaf_interfaces)
                info["mesh_size"] = spec.h()
                info["mesh"] = element_quality()
                info["mesh"]["gmsh_algorithms"] = {"surface": now[0], "volume": now[1], "optimize_threshold": now[2]}
                if order > 1:
                    info["mesh"]["curved"] = curved
                info["timing"] = {
                    "plan_s": t_plan,
                    "geometry_s": t1 - t_geo,
                    "meshing_s": time.perf_counter() - t1,
                    # CPU time of rank 0 (gmsh and OpenCASCADE run in this process): the
                    # figure to read on a shared machine
                    "plan_cpu_s": c_plan,
                    "geometry_cpu_s": c1 - c_geo,
                    "meshing_cpu_s": time.process_time() - c1,
                }
                if msh_file is not None:  # in metres, like every other file a user opens
                    gmsh_mod.option.setNumber("Mesh.ScalingFactor", MODEL_UNIT)
                    gmsh_mod.write(msh_file)
                    gmsh_mod.option.setNumber("Mesh.ScalingFactor", 1.0)
                    info["msh_unit"] = "metre"
                payload = (regions, interfaces, info)
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                error = f"{type(exc).__name__}: {exc}"
        error = comm.bcast(error, root=0)
        if error is not None:
            raise GeometryError(f"building geometry kind '{spec.kind}' failed: {error}")
        t2, c2 = time.perf_counter(), time.process_time()
        msh, cell_tags, facet_tags = model_to_mesh(
            gmsh_mod.model if rank == 0 else None, comm, 0, gdim=3, partitioner=partitioner
        )
    finally:
        stack.close()
    regions, interfaces, info = comm.bcast(payload, root=0)
    info.setdefault("timing", {})["distribute_s"] = time.perf_counter() - t2
    info["timing"]["distribute_cpu_s"] = time.process_time() - c2  # this rank's
    msh.geometry.x[:] *= MODEL_UNIT
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    return TaggedMesh(msh, cell_tags, facet_tags, regions, interfaces, info)
