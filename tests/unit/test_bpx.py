"""Active materials from BPX files (``[material] bpx``), and the resolved material values in the
output case.toml. No mesh: the case schema, cellsim.materials.bpx, and PyBaMM's own BPX reader
as the independent reference.

tests/data/lgm50_chen2020.bpx.json is a hand-written BPX file (not written by cellsim): a DFN
parameterisation of the LG M50 cell with the values of Chen et al. (2020), both electrodes,
the graphite OCP as a table, the NMC811 OCP and diffusivity as expressions, activation
energies.
"""

from __future__ import annotations

import json
import math
import shutil
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpx")

from cellsim.case import CaseError, case_from_dict, case_to_toml, load_case  # noqa: E402
from cellsim.case.common import OVERRIDE_KEYS, MaterialSpec  # noqa: E402
from cellsim.materials import get_material  # noqa: E402
from cellsim.materials.base import FARADAY, arrhenius  # noqa: E402
from cellsim.materials.bpx import BpxError, bpx_material, expression_function, table_function  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
LGM50 = DATA / "lgm50_chen2020.bpx.json"
X = np.linspace(0.03, 0.97, 40)


def _halfcell(material: dict, **extra) -> dict:
    return {"model": "halfcell", "material": material, **extra}


def _particle(material: dict) -> dict:
    return {"model": "particle", "material": material, "geometry": {"kind": "sphere", "radius": 5e-6},
            "control": {"mode": "galvanostatic", "c_rate": 1.0}, "time": {"t_end": 60.0}}


def _validate(d: dict, case_dir=None):
    ctx = {"mesh_given": True, **({"case_dir": str(case_dir)} if case_dir else {})}
    return case_from_dict(d, source="<test>", context=ctx)


# ------------------------------------------------------------------ functions
def test_expressions_equal_the_bpx_packages_function_to_round_off():
    """An expression evaluates as bpx.Function.to_python_function (math module) does, on numbers
    and arrays, and keeps its text."""
    import bpx

    texts = ["-0.809 * x + 4.4875 - 0.0428 * tanh(18.5138 * (x - 0.5542)) - 17.7326 * tanh(15.789 * (x - 0.3117))",
             "1.9793 * exp(-39.3631 * x) + 0.2482 - 0.0909 * tanh(29.8538 * (x - 0.1234))",
             "2 * x ** 2 - x / 3 + cosh(x) - -1.5e-3", "3.3e-14"]
    for t in texts:
        ref = bpx.Function.validate(t).to_python_function()
        f = expression_function(t)
        assert f.bpx_value == t
        got = f(X)
        want = np.array([ref(float(x)) for x in X])
        assert np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)) < 1e-14, t
        assert float(f(0.4)) == pytest.approx(ref(0.4), rel=1e-15, abs=0)
    for bad in ("x.__class__", "__import__('os')", "foo(x)", "x if x else 1", "y + 1", "exp(x, 2)"):
        with pytest.raises(BpxError):
            expression_function(bad)


def test_tables_are_the_linear_interpolant_with_linear_extrapolation():
    xs, ys = [0.0, 0.1, 0.35, 0.6, 1.0], [1.2, 0.6, 0.2, 0.15, 0.05]
    f = table_function(xs, ys)
    inside = np.linspace(0.0, 1.0, 101)
    assert np.max(np.abs(f(inside) - np.interp(inside, xs, ys))) < 1e-14
    assert f(np.array([-0.1]))[0] == pytest.approx(1.2 + 0.1 * 6.0, rel=1e-13)  # first slope -6
    assert f(np.array([1.2]))[0] == pytest.approx(0.05 - 0.2 * 0.25, rel=1e-12)  # last slope -0.25
    with pytest.raises(BpxError, match="increase"):
        table_function([0.0, 0.5, 0.5], [1, 2, 3])


# ------------------------------------------------------------------ a file not written by cellsim
@pytest.mark.parametrize("electrode", ["positive", "negative"])
def test_hand_written_bpx_file_against_pybamms_reader(electrode):
    """OCP, diffusivity and exchange current (also away from the reference temperature) of the
    material equal what PyBaMM makes of the same file (pybamm.ParameterValues.create_from_bpx)."""
    pybamm = pytest.importorskip("pybamm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv = pybamm.ParameterValues.create_from_bpx(str(LGM50))
    mat = _validate(_halfcell({"bpx": str(LGM50), "electrode": electrode})).material.resolve()
    E = electrode.capitalize()

    def ev(key, *args):
        sym = [pybamm.Vector(np.atleast_1d(a)) if np.ndim(a) else pybamm.Scalar(a) for a in args]
        fp = pybamm.FunctionParameter(key, {f"a{i}": a for i, a in enumerate(sym)})
        return np.asarray(pv.process_symbol(fp).evaluate()).ravel()

    assert np.max(np.abs(ev(f"{E} electrode OCP [V]", X) - mat.ocp(X))) < 1e-13
    assert np.max(np.abs(ev(f"{E} particle diffusivity [m2.s-1]", X, 298.15) / mat.diffusivity(X) - 1)) < 1e-13
    cm = mat.c_max
    assert cm == pv[f"Maximum concentration in {electrode} electrode [mol.m-3]"]
    for T in (298.15, 318.15):
        ce = 850.0
        mine = (FARADAY * mat.rate_constant * ce**0.5 * (cm - X * cm) ** 0.5 * (X * cm) ** 0.5
                * arrhenius(mat.exchange_current_activation_energy, T, mat.reference_temperature))
        theirs = ev(f"{E} electrode exchange-current density [A.m-2]", ce, X * cm, cm, T)
        # 1e-9: PyBaMM's Faraday constant is e N_A = 96485.33212331, cellsim's 96485.33212 (3.4e-11)
        assert np.max(np.abs(theirs / mine - 1)) < 1e-9, T
    # the stoichiometry window: SOC 100 % is the positive electrode's minimum, the negative's maximum
    lo, hi = (0.2661, 0.9084) if electrode == "positive" else (0.0279, 0.9014)
    assert (mat.x_100, mat.x_0) == ((lo, hi) if electrode == "positive" else (hi, lo))
    assert mat.exchange_current_activation_energy == (17800.0 if electrode == "positive" else 35000.0)


def test_overrides_apply_on_top_of_the_file_and_name_gives_what_bpx_lacks():
    plain = _validate(_halfcell({"bpx": str(LGM50), "electrode": "positive"})).material.resolve()
    over = _validate(_halfcell({"bpx": str(LGM50), "electrode": "positive", "rate_constant": 2e-11,
                                "x_100": 0.3, "name": "nmc811_chen2020"})).material.resolve()
    nmc = get_material("nmc811_chen2020")
    assert over.rate_constant == 2e-11 and over.x_100 == 0.3 and over.x_0 == plain.x_0
    assert np.array_equal(over.ocp(X), plain.ocp(X))
    # BPX holds no mechanics: from the named set when one is given, else the generic defaults
    assert (over.youngs_modulus, over.partial_molar_volume, over.electronic_conductivity) == (
        nmc.youngs_modulus, nmc.partial_molar_volume, nmc.electronic_conductivity)
    assert plain.partial_molar_volume == 0.0


# ------------------------------------------------------------------ case errors
def _partial_positive(tmp_path) -> Path:
    doc = json.loads(LGM50.read_text())
    doc["Header"]["Model"] = "Partial"
    del doc["Parameterisation"]["Negative electrode"]
    p = tmp_path / "positive_only.json"
    p.write_text(json.dumps(doc))
    return p


def test_bad_bpx_input_is_a_case_error_naming_key_and_value(tmp_path):
    def err(material, case_dir=None):
        with pytest.raises(CaseError) as e:
            _validate(_halfcell(material), case_dir)
        return str(e.value)

    m = err({"bpx": "missing.json"}, tmp_path)
    assert "material.bpx" in m and str(tmp_path / "missing.json") in m and "not found" in m
    (tmp_path / "bad.json").write_text("{not json")
    assert "not a JSON file" in err({"bpx": "bad.json"}, tmp_path)
    doc = json.loads(LGM50.read_text())
    del doc["Parameterisation"]["Positive electrode"]["OCP [V]"]
    (tmp_path / "no_ocp.json").write_text(json.dumps(doc))
    m = err({"bpx": "no_ocp.json", "electrode": "positive"}, tmp_path)
    assert "not a valid BPX file" in m and "OCP [V]" in m
    m = err({"bpx": str(LGM50)})  # both electrodes, none chosen
    assert "material.electrode: required" in m and "'positive'" in m and "'negative'" in m
    m = err({"bpx": str(_partial_positive(tmp_path)), "electrode": "negative"})
    assert "material.electrode = 'negative'" in m and "no negative electrode" in m and "allowed: 'positive'" in m
    assert "material.electrode" in err({"electrode": "positive"})  # without a file
    assert "material.electrode" in err({"bpx": str(LGM50), "electrode": "middle"})
    doc = json.loads(LGM50.read_text())
    doc["Parameterisation"]["Positive electrode"]["Maximum concentration [mol.m-3]"] = 5e6
    (tmp_path / "huge.json").write_text(json.dumps(doc))
    m = err({"bpx": "huge.json", "electrode": "positive"}, tmp_path)
    assert "out of range" in m and "c_max" in m
    # the only electrode of a partial file is the default
    mat = _validate(_halfcell({"bpx": str(_partial_positive(tmp_path))})).material.resolve()
    assert mat.name.endswith(":positive")


def test_bad_bpx_exits_2_before_any_mesh(tmp_path, capsys):
    """`cellsim check` and `cellsim run` stop with exit code 2 at validation (the geometry would
    take a mesh: it is never built)."""
    from cellsim.cli import main

    case = tmp_path / "c.toml"
    case.write_text('model = "halfcell"\n[material]\nbpx = "nothere.json"\n[geometry]\nkind = "half_cell"\n'
                    "thickness = 8e-6\nwidth = 8e-6\ndepth = 8e-6\ncollector_thickness = 1e-6\n"
                    "separator_thickness = 5e-6\nvolume_fraction = 0.3\n[geometry.radius_distribution]\n"
                    'kind = "lognormal"\nmean = 2.5e-6\nstd = 0.2e-6\n')
    assert main(["check", str(case)]) == 2
    assert main(["run", str(case), "-o", str(tmp_path / "out")]) == 2
    from mpi4py import MPI

    if MPI.COMM_WORLD.rank == 0:  # rank 0 prints
        assert "material.bpx" in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_path_is_relative_to_the_case_file_and_the_case_toml_reloads(tmp_path):
    d = tmp_path / "cases"
    d.mkdir()
    shutil.copy(LGM50, d / "cell.json")
    (d / "p.toml").write_text('[geometry]\nkind = "sphere"\nradius = 5e-6\n[material]\nbpx = "cell.json"\n'
                              'electrode = "negative"\nrate_constant = 1e-11\n[physics]\ninitial_stoichiometry = 0.1\n'
                              '[control]\nmode = "galvanostatic"\nc_rate = 1.0\n[time]\nt_end = 60.0\n')
    case = load_case(d / "p.toml")
    assert case.material.bpx == str((d / "cell.json").resolve())
    out = case_to_toml(case)
    back = tomllib.loads(out)["material"]
    assert back["bpx"] == str((d / "cell.json").resolve())  # absolute: the output folder is elsewhere
    assert "name" not in back  # no base set was named
    (tmp_path / "elsewhere.toml").write_text(out)
    again = load_case(tmp_path / "elsewhere.toml")
    assert case_to_toml(again) == out  # what --resume compares
    a, b = case.material.resolve(), again.material.resolve()
    for k in [k for k in OVERRIDE_KEYS if k != "diffusivity"] + ["electronic_conductivity", "reference_temperature"]:
        assert getattr(a, k) == getattr(b, k), k
    assert b.rate_constant == 1e-11
    assert np.array_equal(a.ocp(X), b.ocp(X)) and np.array_equal(a.diffusivity(X), b.diffusivity(X))


# ------------------------------------------------------------------ resolved values in case.toml
@pytest.mark.parametrize("name", ["nmc811_chen2020", "graphite_chen2020"])
def test_case_toml_holds_every_resolved_material_value(name):
    """Every key of the set (defaults included) with the overrides applied, the functions as
    comments; reloading gives the same material and the same text."""
    from cellsim.materials.text import to_text

    case = _validate(_particle({"name": name, "c_max": 40000.0, "diffusivity_slope": 0.4}))
    text = case_to_toml(case)
    mat = tomllib.loads(text)["material"]
    ref = get_material(name)
    for k in OVERRIDE_KEYS:
        want = 40000.0 if k == "c_max" else (ref.diffusivity.constant_value if k == "diffusivity" else getattr(ref, k))
        assert mat[k] == want, k
    assert mat["diffusivity_slope"] == 0.4 and mat["name"] == name
    assert f"# ocp(x) [V] = {to_text(ref.ocp)}" in text
    assert f"electronic_conductivity = {ref.electronic_conductivity!r} S m-1" in text
    again = case_from_dict(tomllib.loads(text), source="<case.toml>")
    assert case_to_toml(again) == text
    a, b = case.material.resolve(), again.material.resolve()
    assert np.array_equal(a.diffusivity(X), b.diffusivity(X)) and np.array_equal(a.ocp(X), b.ocp(X))
    assert MaterialSpec.model_validate(mat).resolve().c_max == 40000.0


# ------------------------------------------------------------------ round trip through cellsim dfn's BPX
@pytest.mark.parametrize("name", ["nmc811_chen2020", "graphite_chen2020"])
def test_twin_bpx_reads_back_as_the_original_material(tmp_path, name):
    """cellsim dfn writes its twin as BPX (write_bpx); `[material] bpx` of that file gives the
    set's parameters back: c_max, x_0, x_100, k (the wetted-surface factor of the twin divided
    out), activation energy, reference temperature, OCP and D at sample points; with `name`
    the values BPX does not hold too."""
    pytest.importorskip("pybamm")
    from cellsim.dfn import homogenise, twin_spec, write_bpx

    stop = {"min_voltage": 0.005, "max_voltage": 1.5} if name.startswith("graphite") else {}
    steps = [{"mode": "cc", "c_rate": 1.0, "until_soc": 0.5}]
    case = _validate({"model": "halfcell", "material": {"name": name}, "stop": stop, "protocol": {"steps": steps},
                      "physics": {"initial_stoichiometry": 0.5}})
    tau = {"thickness [m]": 20e-6, "cross_section [m2]": 100e-12, "porosity": 0.55, "binder_fraction": 0.05,
           "electrolyte": {"tortuosity_factor": 1.4, "bruggeman_exponent": 1 - math.log(1.4) / math.log(0.55)},
           "electronic": {"percolates": True, "effective_conductivity [S m-1]": 5.0}}
    V, A = 4 / 3 * math.pi * 3e-6**3, 4 * math.pi * 3e-6**2
    parts = [{"index": i, "name": f"particle_{i}", "volume [m3]": V, "wetted_area [m2]": 0.8 * A,
              "binder_area [m2]": 0.2 * A, "radius [m]": 3e-6, "radius_source": "geometry", "connected": True}
             for i in range(3)]
    meas = {"tortuosity": tau, "particles": parts, "connectivity": "geometry report", "isolated": [],
            "separator_volume [m3]": 8e-16, "collector_contact_area [m2]": 1e-11}
    spec = twin_spec(homogenise(meas, case), case)
    assert spec["exchange_current_factor"] != 1.0  # the twin's K carries it: it must be divided out
    path = tmp_path / "dfn.bpx.json"
    write_bpx(spec, path)
    ref = get_material(name)
    for material in ({"bpx": str(path)}, {"bpx": str(path), "name": name}):
        got = _validate(_particle(material)).material.resolve()
        for k in ("c_max", "x_0", "x_100", "alpha_a", "alpha_c", "exchange_current_activation_energy",
                  "reference_temperature"):
            assert getattr(got, k) == getattr(ref, k), k
        assert got.rate_constant == pytest.approx(ref.rate_constant, rel=1e-13)
        assert np.max(np.abs(got.ocp(X) - ref.ocp(X))) < 1e-13
        assert np.max(np.abs(got.diffusivity(X) / ref.diffusivity(X) - 1)) < 1e-14
        if "name" in material:
            for k in ("partial_molar_volume", "youngs_modulus", "poisson_ratio", "c_ref", "electronic_conductivity"):
                assert getattr(got, k) == getattr(ref, k), k


def test_bpx_functions_in_ufl_equal_their_numpy_values():
    """The same function inside a DOLFINx expression (how the models use OCP and D): an
    expression and a table (with a point outside it) on a P1 function of x."""
    from cellsim.dolfinx_env import MissingDolfinxError, require_dolfinx

    try:
        require_dolfinx()  # imports dolfinx_solver first where it exists
    except MissingDolfinxError:
        pytest.skip("DOLFINx not installed")
    from mpi4py import MPI

    from dolfinx import fem, mesh

    msh = mesh.create_interval(MPI.COMM_SELF, 40, [-0.1, 1.1])
    V = fem.functionspace(msh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(lambda x: x[0])
    for name in ("positive", "negative"):  # expression OCP / table OCP
        mat = bpx_material(LGM50, name)
        for fun in (mat.ocp, mat.diffusivity):
            if getattr(fun, "constant_value", None) is not None:
                continue  # a number (the negative electrode's D)
            w = fem.Function(V)
            w.interpolate(fem.Expression(fun(u), V.element.interpolation_points))
            xs = V.tabulate_dof_coordinates()[:, 0]
            assert np.max(np.abs(w.x.array - fun(xs)) / np.abs(fun(xs))) < 1e-12, (name, fun.__doc__)


def test_missing_bpx_package_is_a_clear_case_error(tmp_path, monkeypatch):
    import sys

    shutil.copy(LGM50, tmp_path / "fresh.json")  # not in the parse cache
    monkeypatch.setitem(sys.modules, "bpx", None)  # import bpx raises ImportError
    with pytest.raises(CaseError, match=r"material\.bpx = .*needs the bpx package: pip install 'cellsim\[bpx\]'"):
        _validate(_halfcell({"bpx": "fresh.json", "electrode": "positive"}), tmp_path)
