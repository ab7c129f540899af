"""Provenance of a run: versions of the numerical stack and the git commit of cellsim."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np


def _module_version(modname: str, attr: str = "__version__") -> str | None:
    try:
        mod = __import__(modname)
        for part in modname.split(".")[1:]:
            mod = getattr(mod, part)
        v = getattr(mod, attr, None)
        return None if v is None or str(v) == "" else str(v)
    except Exception:
        return None


def collect_versions() -> dict[str, str | None]:
    """Versions of cellsim and the numerical stack; a package that is missing gives None.

    Importing DOLFINx here is harmless in a run (it is already imported); without DOLFINx
    the entries are None.
    """
    import platform

    try:
        import dolfinx_solver  # noqa: F401  (orders MPI/PETSc loading in the PyPI wheel)
    except ImportError:
        pass
    v: dict[str, str | None] = {
        "cellsim": _module_version("cellsim"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dolfinx": _module_version("dolfinx"),
        "dolfinx_git_commit": _module_version("dolfinx", "git_commit_hash"),
        "basix": _module_version("basix"),
        "ffcx": _module_version("ffcx"),
        "ufl": _module_version("ufl"),
        "mpi4py": _module_version("mpi4py"),
        "petsc": None,
        "petsc4py": _module_version("petsc4py"),
        "mpi_library": None,
        "h5py": _module_version("h5py"),
    }
    try:
        from petsc4py import PETSc

        v["petsc"] = ".".join(str(i) for i in PETSc.Sys.getVersion())
    except Exception:
        pass
    try:
        from mpi4py import MPI

        v["mpi_library"] = MPI.Get_library_version().strip().splitlines()[0].strip()
    except Exception:
        pass
    try:
        import importlib.metadata as md

        v["dolfinx_solver_real"] = md.version("dolfinx-solver-real")
    except Exception:
        v["dolfinx_solver_real"] = None
    return v


def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git tree holding ``path`` (default: the
    cellsim package), or None when it is not a git checkout or git is missing."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        # the package must be tracked by that repository (an installed copy inside some
        # other repository, e.g. a venv in a project folder, must not report its commit)
        subprocess.run(
            ["git", "-C", str(where), "ls-files", "--error-unmatch", "__init__.py"],
            capture_output=True, text=True, timeout=10, check=True,
        )
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            return None
        st = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return {"commit": sha, "dirty": bool(st.strip())}
    except Exception:
        return None
