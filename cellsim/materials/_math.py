"""Elementary functions that work on numpy arrays and on UFL expressions alike.

Parameter functions (OCPs, diffusivities) are written once with these, then used both
inside variational forms (UFL) and in reference/post-processing code (numpy).
"""

from __future__ import annotations

import numpy as np


def _is_ufl(x) -> bool:
    return type(x).__module__.split(".")[0] in ("ufl", "dolfinx")


def exp(x):
    if _is_ufl(x):
        import ufl

        return ufl.exp(x)
    return np.exp(x)


def tanh(x):
    if _is_ufl(x):
        import ufl

        return ufl.tanh(x)
    return np.tanh(x)


def ln(x):
    if _is_ufl(x):
        import ufl

        return ufl.ln(x)
    return np.log(x)


def sqrt(x):
    if _is_ufl(x):
        import ufl

        return ufl.sqrt(x)
    return np.sqrt(x)


def cosh(x):
    if _is_ufl(x):
        import ufl

        return ufl.cosh(x)
    return np.cosh(x)


def ramp(x):
    """max(x, 0): the piecewise-linear building block of interpolated tables."""
    if _is_ufl(x):
        import ufl

        return ufl.max_value(x, 0.0)
    return np.maximum(x, 0.0)
