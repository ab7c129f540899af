"""cellsim.form_literals: a form's numbers read from one Constant, so that forms differing
only in their parameter values share one compiled module; the assembled values unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

require_dolfinx()
import dolfinx.fem.forms  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402
import dolfinx.jit  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem, mesh  # noqa: E402
from mpi4py import MPI  # noqa: E402

import cellsim.jit  # noqa: E402,F401  (installs the lifting)
from cellsim import form_literals as fl  # noqa: E402

CASES = Path(__file__).resolve().parents[2] / "cases"
_UNLIFTED = dolfinx.fem.forms.form.__wrapped__  # DOLFINx's own form()


@pytest.fixture(autouse=True)
def _lifting_on(monkeypatch):
    """Lifting is opt-in (CELLSIM_JIT_LIFT=1): on for these tests."""
    monkeypatch.setattr(fl, "ENABLED", True)


def _problem(comm, a=2.5e-3, b=0.7, c=1.3, d=0.41, e=3.1):
    m = mesh.create_unit_cube(comm, 4, 3, 3)
    V = fem.functionspace(m, ("Lagrange", 2))
    u = fem.Function(V)
    u.interpolate(lambda x: 0.3 + 0.2 * x[0] - 0.1 * x[1] * x[2])
    v = ufl.TestFunction(V)
    k = fem.Constant(m, 1.7)
    sw = ufl.conditional(ufl.lt(u, d), e, 0.2)
    F = ((a * ufl.exp(b * u) + k) * ufl.inner(ufl.grad(u), ufl.grad(v)) + c * u**2 * v
         + ufl.max_value(u, 0.35) ** 1.5 * sw * v) * ufl.dx + 4.2e-2 * ufl.sinh(0.5 * u) * v * ufl.ds
    return u, F, ufl.derivative(F, u)


@pytest.mark.mpi
def test_lifted_forms_assemble_the_same_values():
    u, F, J = _problem(MPI.COMM_WORLD)
    L = fl.lifted(F)
    assert fl.lifted(F) is L  # one lifted form per form
    assert fl.literals(L) == [] and len(L.constants()) == 2  # k and the numbers' constant
    assert set(L.constants()[-1].value.tolist()) == set(fl.literals(F))
    b_new = fem.assemble_vector(fem.form(F)).array  # fem.form lifts
    b_old = fem.assemble_vector(_UNLIFTED(F)).array
    assert np.abs(b_old).max() > 0
    assert np.abs(b_new - b_old).max() <= 1e-14 * np.abs(b_old).max()
    A_new = fem.assemble_matrix(fem.form(J)).to_scipy()
    A_old = fem.assemble_matrix(_UNLIFTED(J)).to_scipy()
    assert abs(A_new - A_old).max() <= 1e-14 * abs(A_old).max()
    # NonlinearProblem compiles its forms through dolfinx.fem.petsc: lifted too
    assert dolfinx.fem.petsc._create_form is fem.form
    # fem.Expression (the stress fields written to files): the same values
    V = u.function_space
    e = 2.5e-3 * ufl.exp(0.7 * u) + ufl.max_value(u, 0.35) ** 1.5
    assert fl.literals(e * ufl.dx) and not fl.literals(fl.lift_expression(e) * ufl.dx)
    new, old = fem.Function(V), fem.Function(V)
    new.interpolate(fem.Expression(e, V.element.interpolation_points))
    old.interpolate(dolfinx.fem.function.Expression(e, V.element.interpolation_points))
    assert isinstance(fem.Expression(e, V.element.interpolation_points), dolfinx.fem.function.Expression)
    assert np.abs(new.x.array - old.x.array).max() <= 1e-15 * np.abs(old.x.array).max()


def test_numbers_do_not_enter_the_signature():
    comm = MPI.COMM_SELF
    _, F1, J1 = _problem(comm)
    _, F2, J2 = _problem(comm, a=7.5e-3, b=0.9, c=1.1, d=0.45, e=3.3)
    assert F1.signature() != F2.signature()  # the numbers are in the plain forms' signatures
    assert fl.lifted(F1).signature() == fl.lifted(F2).signature()
    assert fl.lifted(J1).signature() == fl.lifted(J2).signature()
    # two parameters with equal values are still two entries in a residual (its layout does not
    # depend on which values coincide; a Jacobian's derivatives are applied first, which merges
    # equal numbers: a coincidence there only costs a compilation)
    _, F3, _ = _problem(comm, a=0.7, b=0.7)
    assert fl.lifted(F3).signature() == fl.lifted(F1).signature()
    # an integer exponent is structure, not a parameter
    m = mesh.create_unit_square(comm, 2, 2)
    V = fem.functionspace(m, ("Lagrange", 1))
    w, v = fem.Function(V), ufl.TestFunction(V)
    assert fl.lifted(w**2 * v * ufl.dx).signature() != fl.lifted(w**3 * v * ufl.dx).signature()
    assert fl.literals(w**2 * v * ufl.dx) == []


def _cached(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("*.c.cached")}


def test_a_case_with_other_parameters_compiles_nothing(tmp_path, monkeypatch):
    """A shipped case, then the same case with other parameters (temperature, C-rate, initial
    state, kinetics, elasticity, particle size) into the same cache: no new module."""
    from cellsim.case import load_case
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model
    from cellsim.simulation import run_protocol

    cache = tmp_path / "cache"
    opts = dict(dolfinx.jit.get_options(), cache_dir=cache)
    monkeypatch.setattr(dolfinx.jit, "get_options", lambda *a, **k: dict(opts))
    text = (CASES / "particle_cccv.toml").read_text()
    variant = (text.replace("radius = 5.22e-6", "radius = 4.8e-6")
               .replace("initial_stoichiometry = 0.9", "initial_stoichiometry = 0.85\ntemperature = 310.0")
               .replace('name = "nmc811_chen2020"', 'name = "nmc811_chen2020"\nrate_constant = 2e-11\n'
                        'youngs_modulus = 150e9')
               .replace("c_rate = 1.0", "c_rate = 2.0"))
    assert variant.count("2e-11") == 1 and variant.count("310.0") == 1 and variant.count("c_rate = 2.0") == 2
    sizes = []
    for name, body in (("shipped.toml", text), ("variant.toml", variant)):
        (tmp_path / name).write_text(body)
        case = load_case(tmp_path / name)
        tm = build_mesh(case.geometry, MPI.COMM_WORLD, order=case.discretisation.geometry_order)
        model = build_model(case, tm, MPI.COMM_WORLD)
        model.solve_initial()
        run_protocol(case, model, max_steps=1)
        model.output_fields()
        sizes.append(model.num_dofs())
        model.close()
        if name == "shipped.toml":
            first = _cached(cache)
    assert sizes[0] != sizes[1]  # another mesh
    assert len(first) >= 2
    assert _cached(cache) == first  # nothing compiled for the variant
