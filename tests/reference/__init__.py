"""Independent reference solutions used by cellsim's verification tests.

Everything in this package is pure NumPy (no DOLFINx, no SciPy), so that the
finite-element code is compared against something that shares none of its
machinery. See :mod:`tests.reference.sphere` for the single spherical particle.
"""
