"""Mesh-size controls and their validation, shared by every geometry kind (pydantic).

All lengths in metres. :class:`MeshControls` is the base of every ``[geometry]`` kind: it
holds ``mesh_size``, ``region_mesh_size``, ``interface_mesh_size``,
``refinement_distance`` and ``max_elements``, estimates the tetrahedron count
N ~ sum_regions 8.5 V_r / h_r^3 and rejects, before gmsh starts, requests whose mesh
size exceeds the smallest feature or whose estimate exceeds ``max_elements``.
Each kind overrides ``feature_size``, ``region_volumes`` and ``check_shape``.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from cellsim.schema import StrictModel

#: number of regular tetrahedra of edge h that fill h^3 (6 sqrt 2)
TETS_PER_H3 = 6.0 * math.sqrt(2.0)


def fmt(x: float) -> str:
    """A length or number as written in error messages (4 significant digits)."""
    return f"{x:.4g}"


def _inv_cube(h: float) -> float:
    """1/h^3, inf instead of an overflow or a division by zero for absurd sizes."""
    try:
        return 1.0 / h**3
    except (OverflowError, ZeroDivisionError):
        return math.inf


class MeshControls(StrictModel):
    """Mesh-size controls shared by every geometry kind (sizes in metres)."""

    mesh_size: float | None = Field(
        None,
        gt=0,
        le=1e-2,
        description="Target element edge length in the bulk [m]. Default: a fraction of the "
        "smallest feature of the geometry (radius/8 for a sphere; see each kind).",
    )
    region_mesh_size: dict[str, Annotated[float, Field(gt=0, le=1e-2)]] = Field(
        default_factory=dict,
        description="Element size per region name [m], overriding mesh_size inside that "
        "region and on its boundary, e.g. {coating = 5e-8}.",
    )
    interface_mesh_size: float | None = Field(
        None,
        gt=0,
        le=1e-2,
        description="Element size on the named interfaces [m]; the size grows linearly to "
        "mesh_size over refinement_distance. Default: mesh_size (no refinement) for single "
        "particles, mesh_size/2 for electrodes.",
    )
    refinement_distance: float | None = Field(
        None,
        gt=0,
        le=1e-2,
        description="Distance from an interface over which the size grows from "
        "interface_mesh_size to mesh_size [m]. Default: 2 * mesh_size.",
    )
    optimize_netgen: bool = Field(
        False,
        description="Run gmsh's Netgen optimiser after the 3D mesh (on top of the default "
        "optimisation). Opt-in: about 25 % more tetrahedra, 3-5x the meshing time, and a "
        "changed mesh; on electrodes it raised the minimum quality on some packings "
        "(0.0048 -> 0.0115) and lowered it on others (0.0090 -> 0.0083).",
    )
    mesh_algorithm: Literal["delaunay", "hxt"] | None = Field(
        None,
        description="gmsh's 3D mesher: 'delaunay' (gmsh algorithm 1) or 'hxt' (algorithm 10, "
        "faster, about 10 % fewer tetrahedra for the same sizes). Default: the kind's choice, "
        "'hxt' for electrode and half_cell of 50,000 or more estimated tetrahedra, 'delaunay' "
        "for smaller ones and every other kind. The surface "
        "mesher is Frontal-Delaunay either way; a mesh below min_element_quality first has "
        "the volumes that hold the slivers meshed again with the other 3D mesher (the rest of "
        "the mesh kept), then is meshed anew with other surface meshers and then with the "
        "other 3D mesher.",
    )
    mesh_optimize_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="gmsh's optimiser reworks the tetrahedra whose quality (gamma) is below "
        "this value (Mesh.OptimizeThreshold). Default: the kind's choice, 0.2 for electrode "
        "and half_cell with 'hxt' (2.2x faster than gmsh's 0.3 there, the same worst "
        "element), 0.3 otherwise.",
    )
    min_element_quality: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Smallest acceptable element quality of the (linear) mesh, gmsh's minSICN "
        "(1 = regular tetrahedron, 0 = flat): a mesh with a worse tetrahedron (a sliver, which "
        "spoils the conditioning and the local accuracy) is refused with an error naming the "
        "regions where the slivers lie. 0 accepts any valid mesh.",
    )
    max_elements: int = Field(
        3_000_000,
        gt=0,
        description="Largest acceptable estimated number of tetrahedra; larger requests are "
        "rejected before meshing.",
    )

    # ---- per-kind interface (overridden) ----------------------------------------------
    #: cell region names the kind creates (aggregates included)
    REGIONS: ClassVar[tuple[str, ...]] = ()
    #: facet interface names the kind creates
    INTERFACES: ClassVar[tuple[str, ...]] = ()

    def feature_size(self) -> float:
        """Smallest geometric feature [m]; the default mesh size is a fraction of it."""
        raise NotImplementedError

    def default_mesh_size(self) -> float:
        return self.feature_size() / 8.0

    def h(self) -> float:
        """Effective bulk element size [m]."""
        return self.mesh_size if self.mesh_size is not None else self.default_mesh_size()

    def default_region_sizes(self) -> dict[str, float]:
        """Region sizes the kind imposes unless the user overrides them [m]."""
        return {}

    def region_sizes(self) -> dict[str, float]:
        """Per-region element sizes [m] (defaults of the kind, then user overrides)."""
        out = {k: min(v, self.h()) for k, v in self.default_region_sizes().items()}
        out.update(self.region_mesh_size)
        return out

    def h_interface(self) -> float:
        return self.interface_mesh_size if self.interface_mesh_size is not None else self.h()

    def d_refine(self) -> float:
        return self.refinement_distance if self.refinement_distance is not None else 2.0 * self.h()

    def region_volumes(self) -> dict[str, float]:
        """Approximate volume of each (non-aggregate) region [m^3], for the size estimate."""
        raise NotImplementedError

    def interface_area(self) -> float:
        """Approximate total area of the refined interfaces [m^2]."""
        return 0.0

    def estimated_elements(self) -> int:
        h = self.h()
        sizes = self.region_sizes()
        n = 0.0
        for name, vol in self.region_volumes().items():
            # a leaf region ("particle_0", "grain_3") also takes the size of its aggregate
            # ("particle", "grain"), as the mesher does
            stem, _, num = name.rpartition("_")
            size = sizes.get(name, sizes.get(stem, h) if num.isdigit() else h)
            n += TETS_PER_H3 * vol * _inv_cube(size)
        hi = self.h_interface()
        if hi < h:
            n += TETS_PER_H3 * self.interface_area() * self.d_refine() * (_inv_cube(hi) - _inv_cube(h))
        return int(n) if math.isfinite(n) and n < 1e18 else 10**18

    def _check_region_name(self, name: str) -> bool:
        """Whether ``name`` is a numbered leaf region of this kind (e.g. ``grain_3``)."""
        return False

    def check_shape(self) -> None:
        """Cross-field checks of the shape itself (before the mesh-size checks)."""

    @model_validator(mode="after")
    def _check_mesh_controls(self):
        if not self.REGIONS:  # abstract base
            return self
        self.check_shape()
        for name in self.region_mesh_size:
            if name not in self.REGIONS and not self._check_region_name(name):
                raise ValueError(
                    f"region_mesh_size: unknown region '{name}'; allowed for kind "
                    f"'{self.kind}': {', '.join(self.REGIONS)}"  # type: ignore[attr-defined]
                )
        feat = self.feature_size()
        if self.h() > feat:
            raise ValueError(
                f"mesh_size = {fmt(self.h())} m is larger than the smallest feature "
                f"({fmt(feat)} m); allowed: 0 < mesh_size <= {fmt(feat)}"
            )
        n = self.estimated_elements()
        if n > self.max_elements:
            raise ValueError(
                f"mesh_size = {fmt(self.h())} m (region sizes {self.region_sizes()}) gives about "
                f"{n:.3g} tetrahedra, more than max_elements = {self.max_elements}; "
                "use a larger mesh_size / region size or raise max_elements"
            )
        return self
