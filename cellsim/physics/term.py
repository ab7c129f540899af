"""What a physics term is, and how a model composes terms into one blocked residual.

A term is one equation family acting on one region or interface. It

* declares the unknowns it **owns** (:class:`Unknown`: name, region, element, scale) in
  :meth:`Term.declare`; a model creates them in the order it lists its blocks;
* names the unknowns it **reads** (owned by other terms) in ``reads``;
* contributes residual parts to any block in :meth:`Term.residual`, in SI units of the
  block's equation: species balances in mol s-1, charge balances in A, force balances
  in N, projections in their unit times m3. Source/flux parts of species balances are
  multiplied by ``m.live`` (0 during the initial equilibrium solve, when concentrations
  are frozen); accumulation parts are not;
* may rewrite the summed rows in :meth:`Term.finalize` (a row combination that keeps the
  solution, e.g. the electrolyte's salt rows minus t+ times its charge rows);
* offers diagnostics (scalars for the time series) through its own methods.

The model (``m``, :class:`cellsim.models.base.Model`) gives a term what it needs while
it builds: ``m.q(name)`` the unknown in SI units, ``m.u[name]`` the Function,
``m.old[name]`` its value at the last accepted step, ``m.v[name]`` the test function,
``m.dt``, ``m.live``, ``m.T``, and the measures of the regions and interfaces. The model
multiplies each summed row by its block weight (making every block dimensionless, or all
in amperes), so terms never see the scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Unknown:
    """An unknown field of a model.

    name:     block name ("c_s", "phi_e", "u", ...)
    space:    its DOLFINx function space (on the region's submesh, or the parent mesh)
    scale:    SI value = scale * stored value (+ offset)
    offset:   a UFL Constant added for the SI value (reference potential), or None
    history:  keep the value of the last accepted step (time derivative)
    role:     "potential" (Newton damping limits its change), "concentration", ...
    typical:  a typical size of the stored value (Newton's round-off stagnation test)
    """

    name: str
    space: Any
    scale: float = 1.0
    offset: Any = None
    history: bool = False
    role: str = ""
    typical: float = 1.0


class Term:
    """Base class of the physics terms (see the module docstring)."""

    #: unknowns whose declaration this term makes
    owns: tuple[str, ...] = ()
    #: unknowns of other terms this term uses
    reads: tuple[str, ...] = ()

    def declare(self, m) -> list[Unknown]:
        """The unknowns this term owns (a model may hand them over as ``declared``)."""
        return list(getattr(self, "declared", []))

    def residual(self, m) -> dict[str, Any]:
        return {}

    def finalize(self, m, rows: dict) -> None:
        return None


def add_rows(rows: dict, parts: dict) -> None:
    """rows[k] += parts[k] for every block k of ``parts`` (None parts are skipped)."""
    for k, f in parts.items():
        if f is None:
            continue
        rows[k] = f if k not in rows else rows[k] + f
