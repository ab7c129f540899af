"""Active materials from a BPX file (Battery Parameter eXchange, https://bpxstandard.com).

``[material] bpx = "cell.json"`` (a path relative to the case file) with ``electrode =
"positive" | "negative"`` takes the active material of one electrode of the file; the usual
per-key overrides of ``[material]`` apply on top (docs/bpx.md). The file is read and
validated with the ``bpx`` package (the optional extra ``cellsim[bpx]``).

What is taken from the electrode's section, and how it becomes cellsim's parameters:

=======================================  ==================================================
BPX                                      cellsim (:class:`~cellsim.materials.base.ActiveMaterial`)
=======================================  ==================================================
Maximum concentration [mol.m-3]          ``c_max``
OCP [V] (number, expression or table)    ``ocp(x)``, x = c/c_max
Diffusivity [m2.s-1] (same)              ``diffusivity(x)``
Reaction rate constant K [mol.m-2.s-1]   ``rate_constant`` k = K / (c_max sqrt(c_e0)): BPX's
                                         i0 = F K sqrt(c_e/c_e0 x (1-x)) is cellsim's
                                         i0 = F k c_e^0.5 (c_max-c)^0.5 c^0.5 with alpha = 1/2;
                                         c_e0 = State / Initial electrolyte concentration
... activation energy [J.mol-1]          ``exchange_current_activation_energy``
Minimum / Maximum stoichiometry          ``x_100`` / ``x_0`` (positive) or ``x_0`` / ``x_100``
                                         (negative electrode)
Cell / Reference temperature [K]         ``reference_temperature``
=======================================  ==================================================

Expressions (``x``, numbers, ``+ - * / **``, ``exp``, ``tanh``, ``cosh``, ``log``,
``sqrt``) are parsed once (Python's ``ast``, no ``eval``) into a function that evaluates
numbers, numpy arrays and UFL expressions alike. Tables ``{"x": [...], "y": [...]}`` become
the piecewise-linear interpolant (linear extrapolation beyond the ends, as PyBaMM's
``Interpolant``), written as a sum of ramps max(x - x_k, 0) so that UFL can use it too.
The original text or table is kept on the function (``bpx_value``), so the DFN twin and its
BPX file carry the very same function.

BPX holds no mechanics and no intrinsic particle conductivity (its electrode conductivity
is the porous matrix's effective one): those come from ``base`` (``[material] name`` when
given explicitly), else the generic defaults of ActiveMaterial. A diffusivity activation
energy in the file is recorded in ``notes`` and not applied (cellsim's particle diffusivity
is isothermal). Files written by ``cellsim dfn`` (``User-defined`` keys "Stoichiometry at
0 % / 100 % state of charge", "Exchange-current factor (wetted surface)") give back the
material of the resolved cell: those keys take precedence over the min/max stoichiometry,
and the rate constant is divided by the exchange-current factor.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from dataclasses import replace
from pathlib import Path

from . import _math as m
from .base import ActiveMaterial, constant_function

ELECTRODES = ("positive", "negative")
_FUNCS = {"exp": m.exp, "tanh": m.tanh, "cosh": m.cosh, "log": m.ln, "sqrt": m.sqrt}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}


class BpxError(ValueError):
    """A BPX file that cannot give a material (the message names the key and the value)."""


def _compile(node, text: str):
    """A closure evaluating the expression tree ``node`` at x."""
    if isinstance(node, ast.Expression):
        return _compile(node.body, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        v = float(node.value)
        return lambda x: v
    if isinstance(node, ast.Name) and node.id == "x":
        return lambda x: x
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        op, a, b = _BINOPS[type(node.op)], _compile(node.left, text), _compile(node.right, text)
        return lambda x: op(a(x), b(x))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        a = _compile(node.operand, text)
        return (lambda x: -a(x)) if isinstance(node.op, ast.USub) else a
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and len(node.args) == 1 and not node.keywords):
        f, a = _FUNCS[node.func.id], _compile(node.args[0], text)
        return lambda x: f(a(x))
    raise BpxError(f"expression {text!r}: '{ast.unparse(node)}' is not allowed; allowed: x, numbers, + - * / **, "
                   f"{', '.join(_FUNCS)}")


def expression_function(text: str):
    """The BPX expression ``text`` (variable ``x``) as a function of numbers, arrays and UFL."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise BpxError(f"expression {text!r}: not a valid expression ({exc.msg})") from None
    body = _compile(tree, str(text))

    def f(x):
        return body(x) + 0.0 * x  # a constant expression keeps the type and shape of x

    f.__doc__ = f"BPX expression {text}"
    f.bpx_value = str(text)
    return f


def table_function(xs, ys):
    """Piecewise-linear interpolant of the table (linear extrapolation at both ends)."""
    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    if len(xs) < 2 or len(xs) != len(ys):
        raise BpxError(f"table with {len(xs)} x and {len(ys)} y values: needs at least 2 points, as many x as y")
    if any(b <= a for a, b in zip(xs, xs[1:])):
        raise BpxError("table x values must increase strictly")
    s = [(ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k]) for k in range(len(xs) - 1)]
    kinks = [(xs[k], s[k] - s[k - 1]) for k in range(1, len(s)) if s[k] != s[k - 1]]
    x0, y0, s0 = xs[0], ys[0], s[0]

    def f(x):
        out = y0 + s0 * (x - x0)
        for xk, ds in kinks:
            out = out + ds * m.ramp(x - xk)
        return out

    f.__doc__ = f"BPX table of {len(xs)} points on [{xs[0]:g}, {xs[-1]:g}]"
    f.bpx_value = {"x": xs, "y": ys}
    return f


def bpx_function(value, key: str):
    """A BPX FloatFunctionTable (number, Function text, InterpolatedTable) as a cellsim function."""
    if isinstance(value, bool):
        raise BpxError(f"{key} = {value!r}: a number, an expression or a table is needed")
    if isinstance(value, (int, float)):
        return constant_function(float(value))
    if isinstance(value, str):
        try:
            return expression_function(value)
        except BpxError as exc:
            raise BpxError(f"{key}: {exc}") from None
    xs, ys = getattr(value, "x", None), getattr(value, "y", None)
    if isinstance(value, dict):
        xs, ys = value.get("x"), value.get("y")
    if xs is None or ys is None:
        raise BpxError(f"{key}: {type(value).__name__} is not a number, an expression or a table")
    try:
        return table_function(xs, ys)
    except BpxError as exc:
        raise BpxError(f"{key}: {exc}") from None


def _parse(path: Path):
    try:
        import bpx
    except ImportError:
        raise BpxError("reading a BPX file needs the bpx package: pip install 'cellsim[bpx]'") from None
    import json
    import warnings

    from pydantic import ValidationError

    if not path.is_file():
        raise BpxError("file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BpxError(f"not a JSON file ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(doc, dict):
        raise BpxError("the top level must be an object with Header and Parameterisation")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a legacy v0.x file is converted (bpx warns)
            return bpx.parse_bpx_obj(doc)
    except ValidationError as exc:
        lines = []
        for e in exc.errors()[:6]:
            loc = ".".join(str(p) for p in e.get("loc", ()))
            lines.append(f"{loc}: {e.get('msg', '')}")
        more = f" (+{exc.error_count() - 6} more)" if exc.error_count() > 6 else ""
        raise BpxError("not a valid BPX file: " + "; ".join(lines) + more) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise BpxError(f"not a valid BPX file: {type(exc).__name__}: {str(exc)[:200]}") from None


def _electrodes(obj) -> dict:
    p = obj.parameterisation
    return {e: getattr(p, f"{e}_electrode", None) for e in ELECTRODES
            if getattr(p, f"{e}_electrode", None) is not None}


def electrodes_in(path) -> list[str]:
    """The electrodes the BPX file defines ('positive', 'negative')."""
    return list(_electrodes(_parse(Path(path))))


def _user(obj) -> dict:
    ud = obj.parameterisation.user_defined
    return ud.model_dump() if ud is not None else {}


def _material(path: Path, electrode: str | None, base_name: str | None) -> ActiveMaterial:
    from . import get_material

    base = get_material(base_name) if base_name else None
    obj = _parse(path)
    present = _electrodes(obj)
    if electrode is None:
        if len(present) != 1:
            raise BpxError(f"material.electrode: required: the file defines the {' and '.join(present) or 'no'} "
                           f"electrode(s); allowed: {', '.join(repr(e) for e in present)}")
        electrode = next(iter(present))
    if electrode not in present:
        raise BpxError(f"material.electrode = {electrode!r}: the file has no {electrode} electrode; allowed: "
                       f"{', '.join(repr(e) for e in present) or 'none (no electrode in the file)'}")
    el = present[electrode]
    if getattr(el, "particle", None) is not None:
        raise BpxError(f"material.electrode = {electrode!r}: a blended electrode ({', '.join(el.particle)}); "
                       "cellsim takes a single active material")
    where = f"Parameterisation.{electrode.capitalize()} electrode"
    ic = obj.state.initial_conditions if obj.state is not None else None
    c_e0 = getattr(ic, "initial_electrolyte_concentration", None) if ic is not None else None
    if c_e0 is None or not c_e0 > 0:
        raise BpxError("State.Initial conditions.Initial electrolyte concentration [mol.m-3]: missing (BPX "
                       "normalises the reaction rate constant by it)")
    c_max = float(el.maximum_concentration)
    lo, hi = float(el.minimum_stoichiometry), float(el.maximum_stoichiometry)
    x_0, x_100 = (hi, lo) if electrode == "positive" else (lo, hi)
    ud = _user(obj)
    f_i0 = float(ud.get("Exchange-current factor (wetted surface)", 1.0))  # a cellsim dfn file
    if "Stoichiometry at 0 % state of charge" in ud and "Stoichiometry at 100 % state of charge" in ud:
        x_0 = float(ud["Stoichiometry at 0 % state of charge"])
        x_100 = float(ud["Stoichiometry at 100 % state of charge"])
    K = float(el.reaction_rate_constant)
    notes = f"{electrode} electrode of BPX file {path.name}"
    if el.diffusivity_activation_energy:
        notes += (f"; Diffusivity activation energy {el.diffusivity_activation_energy:g} J/mol in the file, not "
                  "applied (isothermal particle diffusivity)")
    header = obj.header
    mat = base if base is not None else ActiveMaterial(
        name="", citation="", c_max=c_max, ocp=None, diffusivity=None, rate_constant=1.0)
    return replace(
        mat,
        name=f"bpx:{path.name}:{electrode}",
        citation=f"BPX {header.bpx}: {header.title or path.name}" + (f" ({header.references})" if header.references
                                                                    else ""),
        c_max=c_max,
        ocp=bpx_function(el.ocp, f"{where}.OCP [V]"),
        diffusivity=bpx_function(el.diffusivity, f"{where}.Diffusivity [m2.s-1]"),
        rate_constant=K / (f_i0 * c_max * math.sqrt(float(c_e0))),
        alpha_a=0.5,
        alpha_c=0.5,
        x_0=x_0,
        x_100=x_100,
        exchange_current_activation_energy=float(el.reaction_rate_constant_activation_energy or 0.0),
        reference_temperature=float(obj.parameterisation.cell.reference_temperature),
        notes=notes + (f"; mechanics and particle conductivity of {base.name}" if base is not None else ""),
        overrides={},
    )


@functools.lru_cache(maxsize=16)
def _cached(path: str, stamp: tuple, electrode, base):
    return _material(Path(path), electrode, base)


def bpx_material(path, electrode: str | None = None, base: str | None = None) -> ActiveMaterial:
    """The active material of ``electrode`` in the BPX file ``path`` (raises :class:`BpxError`).

    ``base``: the name of the set whose values BPX does not hold (mechanics, particle
    conductivity) are kept; default: ActiveMaterial's generic ones. Parsed once per file
    version (cached)."""
    p = Path(path).resolve()
    try:
        st = p.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    if stamp is None:
        return _material(p, electrode, base)  # raises "not found"
    return _cached(str(p), stamp, electrode, base)
