"""cellsim: finite-element simulation of battery particles, electrodes and half-cells.

Importing :mod:`cellsim` does not import DOLFINx; modules that need it go through
:func:`cellsim.dolfinx_env.require_dolfinx`, so that ``cellsim check`` and the
case schema work on a machine without DOLFINx.

Python API (:mod:`cellsim.api`): ``cellsim.run(case, outdir)`` runs a case (a path, a
dict or a case object) and ``cellsim.load(outdir)`` opens a run; both return a
:class:`~cellsim.api.Result` (``.timeseries`` as a pandas DataFrame, ``.fields(region,
time)`` as PyVista meshes, ``.manifest``, ``.status``, ``.outdir``).
"""

__version__ = "0.1.0"

from .api import Result, load, run  # noqa: E402  (after __version__: cli reads it)

__all__ = ["Result", "__version__", "load", "run"]
