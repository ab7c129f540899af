r"""Anisotropic lattice (chemical) strain of layered oxides as a function of lithium content.

A layered oxide (R-3m, NMC) changes its hexagonal lattice parameters a (in the transition-
metal layers) and c (across them) differently as lithium leaves it. In crystal axes the
chemical strain of a grain is

    eps_ch^crystal(x) = diag(eps_a(x), eps_a(x), eps_c(x)),
    eps_a(x) = a(x)/a(x_ref) - 1,   eps_c(x) = c(x)/c(x_ref) - 1,

x the stoichiometry (lithium fraction, c/c_max) and x_ref the stress-free state; in sample
axes eps_ch = R eps_ch^crystal R^T, R the grain's rotation (crystal to sample axes, as
``info['grain_orientations']`` of a secondary particle records it). Its trace is the
volumetric chemical strain; an isotropic material with partial molar volume Omega has
eps_a = eps_c = Omega c_max (x - x_ref)/3.

:class:`LatticeStrain` holds a table of a(x), c(x) and interpolates it piecewise linearly
(numpy and UFL give the same numbers). The NMC811 table follows the operando X-ray
diffraction of LiNi0.8Co0.1Mn0.1O2 by Kondrakov et al., J. Phys. Chem. C 121 (2017) 3286
(Fig. 2; values read from the figure to about 0.005 A and NOT re-checked against the
paper's data here): a falls monotonically as lithium leaves, c first grows (the O-O
repulsion across the emptied lithium layers) and then collapses below about 40 % lithium
(the collapse Jousseaume et al., Energy Environ. Sci. 17 (2024) 2753, find universal in
Ni-rich NMC). Over 3.0-4.3 V the unit-cell volume shrinks by about 5 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatticeStrain:
    """Lattice parameters a(x), c(x) [m] tabulated at stoichiometries ``x`` (increasing)."""

    name: str
    citation: str
    x: tuple
    a: tuple
    c: tuple
    #: stoichiometry of the stress-free lattice (e.g. the as-made, fully lithiated state)
    x_ref: float = 1.0

    def __post_init__(self):
        x = np.asarray(self.x, float)
        if x.ndim != 1 or len(x) < 2 or np.any(np.diff(x) <= 0):
            raise ValueError(f"{self.name}: x must increase strictly (got {self.x})")
        if len(self.a) != len(x) or len(self.c) != len(x):
            raise ValueError(f"{self.name}: a and c need one value per x ({len(x)})")
        if not x[0] <= self.x_ref <= x[-1]:
            raise ValueError(f"{self.name}: x_ref = {self.x_ref} outside the table [{x[0]}, {x[-1]}]")

    def _ref(self):
        return (float(np.interp(self.x_ref, self.x, self.a)), float(np.interp(self.x_ref, self.x, self.c)))

    def strains(self, x):
        """(eps_a, eps_c) at stoichiometry x (numpy; clamped to the table's ends)."""
        a0, c0 = self._ref()
        x = np.asarray(x, float)
        return np.interp(x, self.x, self.a) / a0 - 1.0, np.interp(x, self.x, self.c) / c0 - 1.0

    def volumetric(self, x):
        """Volumetric chemical strain tr(eps_ch) = 2 eps_a + eps_c (small strain)."""
        ea, ec = self.strains(x)
        return 2 * ea + ec

    def ufl_strains(self, x):
        """(eps_a, eps_c) as UFL expressions of a UFL stoichiometry x: the same piecewise-linear
        interpolation as :meth:`strains` (constant beyond the ends)."""
        a0, c0 = self._ref()
        return (_ufl_interp(x, self.x, np.asarray(self.a) / a0 - 1.0),
                _ufl_interp(x, self.x, np.asarray(self.c) / c0 - 1.0))


def _ufl_interp(x, xs, ys):
    import ufl

    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    out = ys[-1]
    # from the last interval down: x < x_{i+1} selects interval i (or below: the first value)
    for i in range(len(xs) - 2, -1, -1):
        slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
        out = ufl.conditional(ufl.lt(x, xs[i + 1]), ys[i] + slope * (x - xs[i]), out)
    return ufl.conditional(ufl.lt(x, xs[0]), ys[0], out)


def chemical_strain_tensor(R, eps_a, eps_c):
    """eps_ch = R diag(eps_a, eps_a, eps_c) R^T (UFL): R a 3x3 UFL tensor (e.g. a DG0 tensor
    Function holding each grain's rotation) or a numpy array."""
    import ufl

    D = ufl.as_matrix([[eps_a, 0, 0], [0, eps_a, 0], [0, 0, eps_c]])
    Ru = ufl.as_matrix(np.asarray(R).tolist()) if isinstance(R, np.ndarray) else R
    return Ru * D * Ru.T


#: Li_x Ni0.8 Co0.1 Mn0.1 O2 (see the module docstring for the source and its accuracy)
NMC811_KONDRAKOV2017 = LatticeStrain(
    name="nmc811_kondrakov2017",
    citation=("A. O. Kondrakov et al., J. Phys. Chem. C 121 (2017) 3286 (operando XRD of NCM811; "
              "values read from Fig. 2, approximate); c-axis collapse below ~40 % Li: "
              "T. Jousseaume et al., Energy Environ. Sci. 17 (2024) 2753"),
    x=(0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00),
    a=(2.815e-10, 2.818e-10, 2.823e-10, 2.830e-10, 2.838e-10, 2.847e-10, 2.856e-10, 2.864e-10, 2.872e-10),
    c=(14.03e-10, 14.26e-10, 14.44e-10, 14.46e-10, 14.42e-10, 14.36e-10, 14.30e-10, 14.25e-10, 14.20e-10),
    x_ref=1.0,
)

LATTICE_STRAINS = {NMC811_KONDRAKOV2017.name: NMC811_KONDRAKOV2017}
