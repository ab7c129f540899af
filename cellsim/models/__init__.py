"""Models: compositions of the physics terms over named regions.

=============  ===========================================  ==========================
model          terms                                        module
=============  ===========================================  ==========================
particle       SolidDiffusion, Elasticity, ButlerVolmer     :mod:`.particle`
               (bath), ParticlePotential
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


def model_class(name: str):
    mod, cls = MODELS[name]
    return getattr(importlib.import_module(mod), cls)


def build_model(case, tm, comm):
    """The model of a validated case on a built TaggedMesh (collective)."""
    return model_class(case.model)(case, tm, comm)
