"""Case schema of the electrolyte in the pores of a porous particle (``[pores]``, particle
model with ``geometry.kind = "porous_particle"`` only). The pores are filled with the
bath's electrolyte (concentration ``physics.electrolyte_concentration``), resolved with the
concentrated-solution term (:mod:`cellsim.physics.electrolyte`)."""

from __future__ import annotations


from pydantic import Field

from ..schema import StrictModel
from .common import ElectrolyteParameters


class PoreElectrolyteSpec(StrictModel):
    """LiPF6 in EC:EMC (3:7) in the pores (Nyman et al. 2008 properties)."""

    parameters: ElectrolyteParameters = "Chen2020"
    transport_factor: float = Field(
        1.0, gt=0, le=1e6, description="Factor B on the pore electrolyte's conductivity and diffusivity [-], in "
        "(0, 1e6]: 1 for a resolved pore; < 1 for a tortuous nanoporous filling; large values give the limit of "
        "a pore electrolyte as good as the bath.",
    )
