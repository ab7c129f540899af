"""Single-particle builders: sphere, ellipsoid, cylinder (wire), core-shell.

Each builder runs on rank 0 inside an active gmsh model, builds the OpenCASCADE solid
in micrometres (see :mod:`cellsim.geometry.base`), names regions and interfaces with a
:class:`~cellsim.geometry.base.ModelTags`, and records exact measures in SI units:

* sphere, radius R:          V = 4/3 pi R^3,            A = 4 pi R^2
* ellipsoid, semi-axes a,b,c: V = 4/3 pi a b c,
  A = int_0^pi int_0^2pi |r_theta x r_phi| dphi dtheta  (computed by
  :func:`ellipsoid_area`, Gauss-Legendre in theta, trapezoid in phi, spectrally accurate)
* cylinder, radius R, length L: V = pi R^2 L,  A = 2 pi R L + 2 pi R^2
* core-shell, core R_c, coating t, R = R_c + t:
  V_core = 4/3 pi R_c^3, V_coating = 4/3 pi (R^3 - R_c^3),
  A_outer = 4 pi R^2, A_core_coating = 4 pi R_c^2
"""

from __future__ import annotations

import math

import numpy as np

from cellsim.geometry.base import BuildResult, ModelTags, um
from cellsim.geometry.spec_particles import CoreShell, Cylinder, Ellipsoid, Sphere


def ellipsoid_area(a: float, b: float, c: float, n: int = 200) -> float:
    """Surface area of the ellipsoid with semi-axes a, b, c.

    r(theta, phi) = (a sin(theta) cos(phi), b sin(theta) sin(phi), c cos(theta)),
    A = int int |r_theta x r_phi| dphi dtheta with
    |r_theta x r_phi| = sin(theta) sqrt(b^2 c^2 sin^2 theta cos^2 phi
                        + a^2 c^2 sin^2 theta sin^2 phi + a^2 b^2 cos^2 theta).
    Gauss-Legendre in theta (n points) and the trapezoid rule in phi (periodic: 2n points).
    """
    xt, wt = np.polynomial.legendre.leggauss(n)
    th = 0.5 * math.pi * (xt + 1.0)
    wt = 0.5 * math.pi * wt
    ph = np.linspace(0.0, 2.0 * math.pi, 2 * n, endpoint=False)
    T, P = np.meshgrid(th, ph, indexing="ij")
    s, co = np.sin(T), np.cos(T)
    g = s * np.sqrt(
        (b * c * s * np.cos(P)) ** 2 + (a * c * s * np.sin(P)) ** 2 + (a * b * co) ** 2
    )
    return float(np.sum(wt[:, None] * g) * (2.0 * math.pi / (2 * n)))


def _boundary(dimtags) -> list[int]:
    import gmsh

    return sorted({abs(t) for _, t in gmsh.model.getBoundary(dimtags, combined=True, oriented=False)})


def _single(vol: int, info: dict) -> BuildResult:
    tags = ModelTags()
    tags.region("particle_0", [vol])
    tags.aggregate("particle", ["particle_0"])
    info.setdefault("particle_centres", [[0.0, 0.0, 0.0]])
    info["exact_volume"]["particle_0"] = info["exact_volume"]["particle"]
    return BuildResult(tags=tags, info=info)


def build_sphere(spec: Sphere, plan=None) -> BuildResult:
    import gmsh

    occ = gmsh.model.occ
    v = occ.addSphere(0, 0, 0, um(spec.radius))
    occ.synchronize()
    R = spec.radius
    res = _single(
        v,
        {
            "particle_radii": [R],
            "exact_volume": {"particle": 4 / 3 * math.pi * R**3},
            "exact_area": {"particle_electrolyte": 4 * math.pi * R**2},
        },
    )
    res.tags.interface("particle_electrolyte", _boundary([(3, v)]))
    return res


def build_ellipsoid(spec: Ellipsoid, plan=None) -> BuildResult:
    import gmsh

    occ = gmsh.model.occ
    a, b, c = spec.semi_axes
    r = max(a, b, c)
    v = occ.addSphere(0, 0, 0, um(r))
    occ.dilate([(3, v)], 0, 0, 0, a / r, b / r, c / r)
    occ.synchronize()
    res = _single(
        v,
        {
            "semi_axes": [a, b, c],
            "exact_volume": {"particle": 4 / 3 * math.pi * a * b * c},
            "exact_area": {"particle_electrolyte": ellipsoid_area(a, b, c)},
        },
    )
    res.tags.interface("particle_electrolyte", _boundary([(3, v)]))
    return res


def build_cylinder(spec: Cylinder, plan=None) -> BuildResult:
    import gmsh

    occ = gmsh.model.occ
    R, L = spec.radius, spec.length
    v = occ.addCylinder(0, 0, -um(L) / 2, 0, 0, um(L), um(R))
    occ.synchronize()
    side, ends = [], []
    for s in _boundary([(3, v)]):
        (ends if gmsh.model.getType(2, s) == "Plane" else side).append(s)
    res = _single(
        v,
        {
            "radius": R,
            "length": L,
            "axis": [0.0, 0.0, 1.0],
            "exact_volume": {"particle": math.pi * R**2 * L},
            "exact_area": {
                "particle_electrolyte": 2 * math.pi * R * L + 2 * math.pi * R**2,
                "particle_side": 2 * math.pi * R * L,
                "particle_ends": 2 * math.pi * R**2,
            },
        },
    )
    res.tags.interface("particle_side", side)
    res.tags.interface("particle_ends", ends)
    res.tags.aggregate("particle_electrolyte", ["particle_side", "particle_ends"], dim=2)
    return res


def build_core_shell(spec: CoreShell, plan=None) -> BuildResult:
    import gmsh

    occ = gmsh.model.occ
    Rc, R = spec.core_radius, spec.radius
    outer = occ.addSphere(0, 0, 0, um(R))
    inner = occ.addSphere(0, 0, 0, um(Rc))
    _, maps = occ.fragment([(3, outer)], [(3, inner)])
    occ.synchronize()
    core_set = {t for _, t in maps[1]}
    coat_set = {t for _, t in maps[0]} - core_set
    if len(core_set) != 1 or len(coat_set) != 1:
        raise RuntimeError(f"core-shell fragment gave core {core_set}, coating {coat_set}")
    core, coat = core_set.pop(), coat_set.pop()
    core_surf = _boundary([(3, core)])
    outer_surf = [s for s in _boundary([(3, coat)]) if s not in core_surf]
    tags = ModelTags()
    tags.region("core", [core])
    tags.region("coating", [coat])
    tags.aggregate("particle", ["core", "coating"])
    tags.interface("particle_electrolyte", outer_surf)
    tags.interface("core_coating", core_surf)
    v = lambda r: 4 / 3 * math.pi * r**3  # noqa: E731
    info = {
        "particle_centres": [[0.0, 0.0, 0.0]],
        "particle_radii": [R],
        "core_radius": Rc,
        "coating_thickness": spec.coating_thickness,
        "exact_volume": {"core": v(Rc), "coating": v(R) - v(Rc), "particle": v(R)},
        "exact_area": {"particle_electrolyte": 4 * math.pi * R**2, "core_coating": 4 * math.pi * Rc**2},
    }
    return BuildResult(tags=tags, info=info)


BUILDERS = {
    "sphere": build_sphere,
    "ellipsoid": build_ellipsoid,
    "cylinder": build_cylinder,
    "core_shell": build_core_shell,
}
