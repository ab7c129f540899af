"""Resolved half-cell electrochemistry: particles, carbon-binder and electrolyte coupled by
Butler-Volmer, lithium-metal counter electrode, cycling protocols.

Modules: :mod:`~cellsim.halfcell.spec` (case schema, no DOLFINx), :mod:`~cellsim.halfcell.model`
(the coupled blocked residual), :mod:`~cellsim.halfcell.protocol` (CC/CV/rest steps and events),
:mod:`~cellsim.halfcell.run` (time loop and output), :mod:`~cellsim.halfcell.tortuosity_cmd`
(tortuosity factors of a geometry).
"""
