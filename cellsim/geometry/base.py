"""Low-level pieces shared by every builder: model units, errors, names, build results.

Imports no builder and neither gmsh nor DOLFINx at module level (gmsh only inside
:meth:`ModelTags.commit`). Data flows spec -> base -> gmsh_model -> builders
(:mod:`~cellsim.geometry.particle`, :mod:`~cellsim.geometry.structured`,
:mod:`~cellsim.geometry.electrode`) -> :mod:`~cellsim.geometry.mesh` -> report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        _add_leaf(self.leaf_regions, f"region '{name}' has no volumes", name, volumes)

    def interface(self, name: str, surfaces) -> None:
        _add_leaf(self.leaf_interfaces, f"interface '{name}' has no surfaces", name, surfaces)

    def aggregate(self, name: str, members, dim: int = 3) -> None:
        target = self.agg_regions if dim == 3 else self.agg_interfaces
        target.setdefault(name, []).extend(members)

    def volumes_of(self, name: str) -> list[int]:
        """OCC volumes of a leaf or aggregate region."""
        return _entities_of(name, self.leaf_regions, self.agg_regions)

    def surfaces_of(self, name: str) -> list[int]:
        """OCC surfaces of a leaf or aggregate interface."""
        return _entities_of(name, self.leaf_interfaces, self.agg_interfaces)

    def commit(self) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        import gmsh

        all_vols = sorted(t for _, t in gmsh.model.getEntities(3))
        seen = _owners(self.leaf_regions, "volume", "regions")
        missing = [v for v in all_vols if v not in seen]
        if missing:
            raise GeometryError(f"volumes {missing} belong to no region")
        _owners(self.leaf_interfaces, "surface", "interfaces")
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


def _add_leaf(leaves: dict[str, list[int]], empty_message: str, name: str, tags) -> None:
    tags = [int(t) for t in tags]
    if not tags:
        raise GeometryError(empty_message)
    leaves.setdefault(name, []).extend(tags)


def _owners(leaves: dict[str, list[int]], what: str, where: str) -> dict[int, str]:
    """OCC tag -> its leaf name; raises when a tag is in two leaves."""
    seen: dict[int, str] = {}
    for name, tags in leaves.items():
        for t in tags:
            if t in seen:
                raise GeometryError(f"{what} {t} is in {where} '{seen[t]}' and '{name}'")
            seen[t] = name
    return seen


def _entities_of(name: str, leaves: dict[str, list[int]], aggs: dict[str, list[str]]) -> list[int]:
    """OCC tags of a leaf name, or of every leaf below an aggregate name."""
    if name in leaves:
        return list(leaves[name])
    out: list[int] = []
    for m in aggs.get(name, []):
        out.extend(_entities_of(m, leaves, aggs))
    return out


@dataclass
class BuildResult:
    """What a builder returns on rank 0 (besides the gmsh model it made)."""

    tags: ModelTags
    info: dict = field(default_factory=dict)
    refine_interfaces: list[str] | None = None
    extra_fields: list[int] | None = None
    #: default region sizes found while building [m] (the user's region_mesh_size wins)
    region_sizes: dict[str, float] = field(default_factory=dict)
    algorithm3d: int = 1  # 1 Delaunay, 10 HXT (the kind's default; spec.mesh_algorithm wins)
    #: gmsh's Mesh.OptimizeThreshold when the mesher is HXT (spec.mesh_optimize_threshold wins)
    hxt_optimize_threshold: float = 0.3
