"""cellsim: finite-element simulation of battery particles, electrodes and half-cells.

Importing :mod:`cellsim` does not import DOLFINx; modules that need it go through
:func:`cellsim.dolfinx_env.require_dolfinx`, so that ``cellsim check`` and the
case schema work on a machine without DOLFINx.
"""

__version__ = "0.1.0"
