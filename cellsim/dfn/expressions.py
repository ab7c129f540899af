"""cellsim's parameter functions as text (:mod:`cellsim.materials.text`) and as PyBaMM symbols."""

from __future__ import annotations

from ..materials.text import Expr, evaluate, to_text  # noqa: F401  (re-exported)


def to_pybamm(text, var):
    """The expression (text, number, or table {"x", "y"}) as a PyBaMM symbol of ``var``."""
    import pybamm

    if isinstance(text, dict):  # a BPX table: PyBaMM's linear interpolant (it extrapolates linearly)
        import numpy as np

        return pybamm.Interpolant(np.asarray(text["x"], float), np.asarray(text["y"], float), var,
                                  interpolator="linear")
    if not isinstance(text, str):
        return float(text)
    ns = {"exp": pybamm.exp, "tanh": pybamm.tanh, "log": pybamm.log, "sqrt": pybamm.sqrt, "cosh": pybamm.cosh,
          "x": var}
    return eval(text, {"__builtins__": {}}, ns)  # noqa: S307 - expressions of cellsim or a validated BPX file
