"""``[dfn]``: the homogenised twin run with every resolved half-cell run (docs/dfn.md).

No DOLFINx or PyBaMM import: with ``run = true`` the case is refused before any mesh is
built when PyBaMM or bpx is not installed.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import Field, field_validator

from ..schema import StrictModel

#: the radius mappings of cellsim.dfn.homogenise.RADIUS_MAPPINGS (checked by a test)
RADII = ("geometric", "volume", "area")


class DfnSpec(StrictModel):
    """The Doyle-Fuller-Newman twin of the resolved cell, run after it (docs/dfn.md)."""

    run: bool = Field(
        False, description="After the resolved run, build the homogenised DFN parameters from this cell's own mesh, "
        "run PyBaMM's half-cell DFN through the same protocol and write its time series (dfn_timeseries.csv), "
        "parameters (dfn_parameters.json, dfn.bpx.json) and the overlay of both voltage curves "
        "(dfn_vs_resolved.png) beside timeseries.csv; the RMS voltage difference goes into manifest.json "
        "(summary.dfn_twin) and the end-of-run summary. Needs PyBaMM and bpx (`pip install 'cellsim[dfn]'`).")
    radius: Literal[RADII] = Field(
        "geometric", description="Particle-radius mapping of the twin: 'geometric' (default), 'volume' (true "
        "Sauter radius, i0 scaled by the wetted fraction) or 'area' (3V/A); docs/dfn.md.")

    @field_validator("run")
    @classmethod
    def _available(cls, v: bool) -> bool:
        if v:
            missing = [m for m in ("pybamm", "bpx") if importlib.util.find_spec(m) is None]
            if missing:
                raise ValueError(f"dfn.run = true needs {' and '.join(missing)}, which is not installed: "
                                 "pip install 'cellsim[dfn]' (or set dfn.run = false)")
        return v
