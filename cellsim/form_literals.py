"""Parameters out of the compiled code: the numbers of a form become one Constant.

cellsim's physics writes a material's or a case's parameters into its UFL forms as
numbers (``FloatValue``: a diffusivity, F/RT, an OCP table's points). FFCx writes each
number into the generated C, and the number is part of the form's signature, so a case
that differs from a compiled one in any parameter compiles its forms again (three
parameters of ``halfcell_discharge`` changed 31 of its 58 forms). Here every
floating-point number of a form is replaced by an entry of one vector ``fem.Constant``
that belongs to that form (with ``CELLSIM_JIT_LIFT=1``, see below): the generated code reads
the values at assembly, and the form's signature, hence the compiled module, no longer
depends on them. Forms that
differ only in their numbers then share one compiled module, so
``python -m cellsim.precompile`` (``scripts/setup``, the Dockerfile) covers every case of
the shipped kinds whatever its parameter values.

:func:`lifted` maps a ``ufl.Form`` to that form (kept in the form's ``_cache``, so every
caller gets the same object); :func:`install` makes ``dolfinx.fem.form`` (also as
``dolfinx.fem.forms.form`` and the name ``dolfinx.fem.petsc`` compiles its problems' forms
with) lift every form it compiles. The values and the arithmetic are those of the
original form: the same kernel with its literals read from an array (results agree to
rounding, about 1e-16 relative; tests/unit/test_form_literals.py). Integers stay in the code
(exponents, indices, counts: the structure of an expression), and so do values that UFL
itself simplifies on construction (0 is ``Zero``, so a parameter set to 0 changes the form).
Off by default; ``CELLSIM_JIT_LIFT=1`` in the environment switches it on (for precompile and
for the runs alike: the compiled modules differ). The cost, measured on a cold cache: the
generated code reads each form's numbers at offsets of that form's own constant array, so
kernels that were the same C text in several forms (per-colour copies of a block, which
:func:`cellsim.ffcx_patches.dedup_kernels` leaves out) differ in their offsets; the cohesive
half-cell polycrystal's Newton module grew from 77 to 129 kernels (1.5 to 3.3 MB of C) and
its cold set-up from 27.9 to 65.2 CPU s; the plain half-cell's by about 10 %. Worth it for a
parameter sweep on a precompiled cache (every variant compiles nothing), not as the default.
"""

from __future__ import annotations

import functools
import os

import dolfinx
import dolfinx.fem
import dolfinx.fem.function
import numpy as np
import ufl
import ufl.domain
from ufl.algorithms.apply_algebra_lowering import apply_algebra_lowering
from ufl.algorithms.apply_derivatives import apply_derivatives
from ufl.classes import CoefficientDerivative
from ufl.constantvalue import FloatValue
from ufl.corealg.traversal import unique_pre_traversal

#: ``CELLSIM_JIT_LIFT=1`` switches lifting on (by default the numbers stay in the generated code)
ENABLED = os.environ.get("CELLSIM_JIT_LIFT", "0").strip() in ("1", "true", "yes", "on")
_KEY = "cellsim_lifted"


def _fixed() -> frozenset:
    """Numbers that no case changes (physical constants): they stay in the code, where the
    compiler folds and shares them (lifted, each copy would be an entry of its own)."""
    from .materials.base import FARADAY, R_GAS

    return frozenset(v for c in (FARADAY, R_GAS) for v in (c, -c))


_FIXED = _fixed()


def _post_order(expr, seen: set):
    """The nodes of ``expr``'s DAG not in ``seen`` (ids), each after its operands, by node
    identity (not equality: two equal numbers at two places are two nodes, so a layout built
    on this does not depend on which values coincide); adds their ids to ``seen``."""
    stack = [expr]
    while stack:
        node = stack[-1]
        if id(node) in seen:
            stack.pop()
            continue
        todo = [o for o in node.ufl_operands if id(o) not in seen]
        if todo:
            stack.extend(reversed(todo))
            continue
        stack.pop()
        seen.add(id(node))
        yield node


def _numbers(integrands) -> list:
    """The number nodes to lift (not the fixed constants), in post-order."""
    seen: set = set()
    return [n for e in integrands for n in _post_order(e, seen)
            if isinstance(n, FloatValue) and n.value() not in _FIXED]


def literals(form: ufl.Form) -> list[float]:
    """The floating-point numbers of ``form``'s integrands, one per number node, in the
    order :func:`lift` gives them their entries (post-order, integral by integral)."""
    return [n.value() for n in _numbers(itg.integrand() for itg in form.integrals())]


def _rebuild(expr, seen: set, memo: dict, entry: dict):
    """``expr`` with every number node replaced by its entry (node identity)."""
    for node in _post_order(expr, seen):
        ops = node.ufl_operands
        if id(node) in entry:
            memo[id(node)] = entry[id(node)]
        elif ops:
            new = tuple(memo[id(o)] for o in ops)
            same = all(x is y for x, y in zip(new, ops))
            memo[id(node)] = node if same else node._ufl_expr_reconstruct_(*new)
        else:
            memo[id(node)] = node
    return memo[id(expr)]


def lift(form: ufl.Form) -> ufl.Form:
    """``form`` with its numbers in one new vector ``fem.Constant`` (``form`` itself if it has
    none). Not remembered: :func:`lifted` is what callers use."""
    # derivatives first (UFL would apply them at compilation): their products of numbers are
    # then folded into one number each, as without lifting (after lifting they would stay
    # products of entries: measured 23 % more C and 1.4x the code generation time)
    # (only where there are any: rebuilding merges equal numbers into one node, so a Jacobian's
    # layout can depend on which values coincide, a residual's does not)
    if any(isinstance(n, CoefficientDerivative) for itg in form.integrals()
           for n in unique_pre_traversal(itg.integrand())):
        form = apply_derivatives(apply_algebra_lowering(form))
    found = _numbers(itg.integrand() for itg in form.integrals())
    if not found:
        return form
    constant = _constant(form.ufl_domains()[0], found)
    entry = {id(n): constant[i] for i, n in enumerate(found)}
    seen, memo = set(), {}
    return ufl.Form([itg.reconstruct(integrand=_rebuild(itg.integrand(), seen, memo, entry))
                     for itg in form.integrals()])


def _constant(domain, numbers):
    return dolfinx.fem.Constant(domain, np.asarray([n.value() for n in numbers], dtype=dolfinx.default_scalar_type))


def _lifts(dtype) -> bool:
    """Lifting is on and ``dtype`` (a form's or expression's; None: the default) is the
    default scalar type, which the constant takes."""
    return ENABLED and np.dtype(dolfinx.default_scalar_type if dtype is None else dtype) == np.dtype(
        dolfinx.default_scalar_type)


def lift_expression(expr):
    """An expression (for ``fem.Expression``) with its numbers in one new vector Constant."""
    found = _numbers([expr])
    domains = ufl.domain.extract_domains(expr)
    if not found or not domains:
        return expr
    constant = _constant(domains[0], found)
    return _rebuild(expr, set(), {}, {id(n): constant[i] for i, n in enumerate(found)})


def lifted(form):
    """The lifted form of a ``ufl.Form`` (made once per form object; the same object at
    every call), anything else unchanged."""
    if not ENABLED or not isinstance(form, ufl.Form) or not form.integrals():
        return form
    hit = form._cache.get(_KEY)
    if hit is None:
        hit = form._cache[_KEY] = lift(form)
    return hit


def lifted_all(forms):
    """:func:`lifted` over a form or (nested) lists of forms."""
    if isinstance(forms, (list, tuple)):
        return [lifted_all(f) for f in forms]
    return lifted(forms)


def lifting(form_fn):
    """Wrap ``dolfinx.fem.form``: the forms it compiles are lifted first (default dtype only:
    the constant takes the form's scalar type)."""
    if getattr(form_fn, "_cellsim_lifting", False):
        return form_fn

    @functools.wraps(form_fn)
    def form(f, *args, **kwargs):
        if _lifts(kwargs.get("dtype", args[0] if args else None)):
            f = lifted_all(f)
        return form_fn(f, *args, **kwargs)

    form._cellsim_lifting = True
    return form


def _expression_class():
    base = dolfinx.fem.function.Expression

    class Expression(base):
        """``dolfinx.fem.Expression`` whose numbers are read from a Constant (default dtype)."""

        def __init__(self, e, X, *args, **kwargs):
            if _lifts(kwargs.get("dtype", args[3] if len(args) > 3 else None)):
                e = lift_expression(e)
            super().__init__(e, X, *args, **kwargs)

    Expression._cellsim_lifting = True
    return Expression


def install() -> None:
    """Make DOLFINx lift (idempotent): ``dolfinx.fem.form`` (also as ``dolfinx.fem.forms.form``
    and as the ``_create_form`` of ``dolfinx.fem.petsc``'s problems) and ``dolfinx.fem.Expression``
    (a subclass: the class in ``dolfinx.fem.function``, which ``isinstance`` checks use, stays)."""
    import dolfinx.fem.forms
    import dolfinx.fem.petsc

    wrapped = lifting(dolfinx.fem.forms.form)
    dolfinx.fem.forms.form = wrapped
    dolfinx.fem.form = wrapped
    dolfinx.fem.petsc._create_form = wrapped
    if not getattr(dolfinx.fem.Expression, "_cellsim_lifting", False):
        dolfinx.fem.Expression = _expression_class()
