"""Case schema of the electrolyte in the pores of a porous particle (``[pores]``, particle
model with ``geometry.kind = "porous_particle"`` only). The pores are filled with the
bath's electrolyte (concentration ``physics.electrolyte_concentration``), resolved with the
concentrated-solution term (:mod:`cellsim.physics.electrolyte`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..schema import StrictModel

#: the electrolyte property sets, for the half-cell's electrolyte and a porous particle's pores
ElectrolyteParameters = Annotated[Literal["Chen2020", "Nyman2008"], Field(
    description="Property set: 'Chen2020' (Nyman kappa and D_e, t+ = 0.2594, thermodynamic factor 1) or "
    "'Nyman2008' (as Chen2020 with the concentration-dependent t+(c_e) fit).")]


class PoreElectrolyteSpec(StrictModel):
    """LiPF6 in EC:EMC (3:7) in the pores (Nyman et al. 2008 properties)."""

    parameters: ElectrolyteParameters = "Chen2020"
    transport_factor: float = Field(
        1.0, gt=0, le=1e6, description="Factor B on the pore electrolyte's conductivity and diffusivity [-], in "
        "(0, 1e6]: 1 for a resolved pore; < 1 for a tortuous nanoporous filling; large values give the limit of "
        "a pore electrolyte as good as the bath.",
    )
