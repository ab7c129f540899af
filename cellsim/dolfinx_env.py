"""Import DOLFINx/PETSc in the right order, with a one-line hint when missing.

The PyPI wheel ``dolfinx-solver-real`` ships a module ``dolfinx_solver`` that must be
imported before ``dolfinx`` and ``petsc4py`` (it loads MPI and PETSc in order). An
official DOLFINx (Docker image, conda-forge) has no such module, so it is optional.
"""

from __future__ import annotations

INSTALL_HINT = (
    "DOLFINx is not installed in this Python. Run 'scripts/setup' (creates .venv with the "
    "PyPI wheel 'dolfinx-solver-real'), or 'pip install \"cellsim[dolfinx]\"', or use the "
    "official FEniCS image / conda-forge 'fenics-dolfinx'."
)


class MissingDolfinxError(RuntimeError):
    """DOLFINx (or its MPI/PETSc stack) cannot be imported."""


def require_dolfinx():
    """Import and return the ``dolfinx`` module, or raise MissingDolfinxError."""
    try:
        import dolfinx_solver  # noqa: F401  (orders MPI/PETSc loading in the PyPI wheel)
    except ImportError:
        pass
    try:
        import dolfinx
        import dolfinx.fem.petsc  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDolfinxError(f"{INSTALL_HINT} ({exc})") from exc
    return dolfinx
