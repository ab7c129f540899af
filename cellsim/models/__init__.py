"""Models: compositions of the physics terms over named regions.

=============  ===========================================  ==========================
model          terms                                        module
=============  ===========================================  ==========================
particle       SolidDiffusion, Elasticity, ButlerVolmer     :mod:`.particle`
               (bath), ParticlePotential
(porous)       + Electrolyte (pores), ButlerVolmer (pore    :mod:`.particle_pores`
               walls), PoreOpening
halfcell       SolidDiffusion, Conduction, Contact-         :mod:`.halfcell`
               Conductance, Electrolyte, ButlerVolmer,
               LithiumMetal, Collector, Elasticity
=============  ===========================================  ==========================

A new model = one module here + one line in :data:`MODELS` (and its case schema in
:data:`cellsim.case.CASE_MODELS`).
"""

from __future__ import annotations

import importlib

#: model name -> (module, class)
MODELS = {"particle": ("cellsim.models.particle", "ParticleModel"),
          "halfcell": ("cellsim.models.halfcell", "HalfCellModel")}


#: (model, geometry kind) -> (module, class) where a geometry kind needs its own composition
GEOMETRY_MODELS = {("particle", "porous_particle"): ("cellsim.models.particle_pores", "PorousParticleModel")}


def model_class(name: str, kind: str | None = None):
    mod, cls = GEOMETRY_MODELS.get((name, kind), MODELS[name])
    return getattr(importlib.import_module(mod), cls)


def build_model(case, tm, comm):
    """The model of a validated case on a built TaggedMesh (collective)."""
    return model_class(case.model, getattr(case.geometry, "kind", None))(case, tm, comm)
