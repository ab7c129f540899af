"""Parameter functions of cellsim's sets as text expressions of one variable ``x``
(for the output case.toml, BPX files and the DFN twin).

cellsim writes its OCPs, diffusivities and electrolyte properties with ``+ - * / **`` and
``_math.exp/tanh/ln/sqrt`` (numpy outside UFL). Evaluating such a function on a
:class:`Expr` records it as a string in the grammar of BPX functions (``x``, numbers,
``+ - * / **``, ``exp``, ``tanh``, ``log``, ``sqrt``): the same text goes into the BPX file,
into the PyBaMM parameter set, and can be checked against the Python function.
"""

from __future__ import annotations

import numpy as np


def _num(v) -> str:
    return repr(float(v))


class Expr:
    """A symbolic expression that prints itself (enough of numpy's protocol for np.exp etc.)."""

    __array_priority__ = 1000

    def __init__(self, text: str):
        self.text = text

    @staticmethod
    def _t(v) -> str:
        return v.text if isinstance(v, Expr) else _num(v)

    def _bin(self, op, other, right=False):
        a, b = (self._t(other), self.text) if right else (self.text, self._t(other))
        return Expr(f"({a} {op} {b})")

    def __add__(self, o):
        return self._bin("+", o)

    def __radd__(self, o):
        return self._bin("+", o, True)

    def __sub__(self, o):
        return self._bin("-", o)

    def __rsub__(self, o):
        return self._bin("-", o, True)

    def __mul__(self, o):
        if not isinstance(o, Expr) and float(o) == 0.0:
            return 0.0  # 0 * x: cellsim's constant_function writes value + 0.0 * x
        return self._bin("*", o)

    def __rmul__(self, o):
        if not isinstance(o, Expr) and float(o) == 0.0:
            return 0.0
        return self._bin("*", o, True)

    def __truediv__(self, o):
        return self._bin("/", o)

    def __rtruediv__(self, o):
        return self._bin("/", o, True)

    def __pow__(self, o):
        return self._bin("**", o)

    def __rpow__(self, o):
        return self._bin("**", o, True)

    def __neg__(self):
        return Expr(f"(-{self.text})")

    def __pos__(self):
        return self

    # numpy calls these for object operands (np.exp(obj) -> obj.exp())
    def exp(self):
        return Expr(f"exp({self.text})")

    def tanh(self):
        return Expr(f"tanh({self.text})")

    def cosh(self):
        return Expr(f"cosh({self.text})")

    def log(self):
        return Expr(f"log({self.text})")

    def sqrt(self):
        return Expr(f"sqrt({self.text})")


def to_text(fun) -> str | float | dict:
    """The expression of ``fun(x)`` as text (or a float when it does not depend on x; a
    function read from a BPX file gives back the file's text or table {"x": [...], "y": [...]})."""
    const = getattr(fun, "constant_value", None)
    if const is not None:
        return float(const)
    orig = getattr(fun, "bpx_value", None)
    if orig is not None:
        return orig
    with np.errstate(all="ignore"):
        out = fun(Expr("x"))
    if isinstance(out, np.ndarray):
        out = out.item()
    if not isinstance(out, Expr):
        return float(out)
    return out.text


def evaluate(text, x):
    """Evaluate an expression of :func:`to_text` at x (float or numpy array)."""
    if isinstance(text, dict):
        from .bpx import table_function

        return table_function(text["x"], text["y"])(np.asarray(x, float))
    if not isinstance(text, str):
        return 0.0 * np.asarray(x, float) + float(text)
    ns = {"exp": np.exp, "tanh": np.tanh, "log": np.log, "sqrt": np.sqrt, "cosh": np.cosh, "x": np.asarray(x, float)}
    return eval(text, {"__builtins__": {}}, ns)  # noqa: S307 - our own expressions
