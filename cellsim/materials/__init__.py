"""Named parameter sets, one module per source publication.

``get_material(name)`` returns an :class:`~cellsim.materials.base.ActiveMaterial`;
``MATERIALS`` lists the registered names.
"""

from __future__ import annotations

import difflib

from .base import FARADAY, R_GAS, ActiveMaterial  # noqa: F401
from . import chen2020

MATERIALS: dict[str, ActiveMaterial] = {
    chen2020.GRAPHITE.name: chen2020.GRAPHITE,
    chen2020.NMC811.name: chen2020.NMC811,
}


def get_material(name: str) -> ActiveMaterial:
    try:
        return MATERIALS[name]
    except KeyError:
        close = difflib.get_close_matches(name, MATERIALS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise KeyError(f"unknown material '{name}'. Available: {', '.join(sorted(MATERIALS))}.{hint}") from None
