"""The homogenised twin (cellsim.dfn, ``cellsim dfn``): BPX round trip, protocol mapping, and
agreement of the twin of an equal-sphere column with the resolved run.

Column (tests/halfcell/gmsh_column.py, as test_pybamm.py): 3 NMC811 spheres of R = 3 um in a
7 um square column joined by a carbon-binder rod (r = 0.9 um) to the collector, 8 um
separator. Its side walls are symmetry planes, so the column is a laterally homogeneous
electrode. The twin gets everything from the mesh and the case (cellsim.dfn.homogenise): no
value is copied from the resolved model.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

pytest.importorskip("pybamm")
pytest.importorskip("bpx")

sys.path.insert(0, str(Path(__file__).parent))

from cellsim.case.halfcell import HalfCellCase  # noqa: E402
from cellsim.dfn import (  # noqa: E402
    DEFAULT_RADIUS, compare, parameter_values, run_twin, spec_from_bpx, twin_specs, write_bpx,
)
from cellsim.dfn.expressions import evaluate  # noqa: E402
from cellsim.dfn.run import cellsim_end_kind, resolved_rows  # noqa: E402
from dfn_tools import twin_against  # noqa: E402

SEPARATOR = 8e-6
COARSE = {"h": 1.5e-6, "h_particle": 0.75e-6}


def column_case(steps, x0=None, temperature=None, **time):
    d = {"model": "halfcell", "protocol": {"steps": steps}, "output": {"fields": False},
         "time": {"dt_initial": 5.0, "dt_max": 120.0, "max_change": 0.03, **time}}
    d["physics"] = {}
    if x0 is not None:
        d["physics"]["initial_stoichiometry"] = x0
    if temperature is not None:
        d["physics"]["temperature"] = temperature
    return HalfCellCase.model_validate(d, context={"mesh_given": True})


@pytest.fixture(scope="module")
def column():
    from gmsh_column import build_column

    return build_column(separator=SEPARATOR, comm=MPI.COMM_WORLD, **COARSE)


def resolved_run(case, tm):
    from cellsim.models.halfcell import HalfCellModel
    from cellsim.simulation import run_protocol

    model = HalfCellModel(case, tm, tm.mesh.comm)
    res = run_protocol(case, model, keep_rows=True)
    return model, res


# ---------------------------------------------------------------------------- parameters
@pytest.mark.mpi
def test_column_parameters_from_the_mesh(column):
    """The measured homogenised values are those of the column (collective: every rank)."""
    case = column_case([{"mode": "cc", "c_rate": 0.2, "until_soc": 0.0}])
    specs = twin_specs(case, column)
    v, a, g = specs["volume"], specs["area"], specs["geometric"]
    assert v["thickness [m]"] == pytest.approx(21e-6, rel=1e-9)
    assert v["active_fraction"] == pytest.approx(3 * 4 / 3 * math.pi * 3e-6**3 / (49e-12 * 21e-6), rel=0.03)
    assert 0.6 < v["porosity"] < 0.72 and 1.0 < v["electrolyte_tortuosity"] < 1.5
    assert v["particle_radius [m]"] == pytest.approx(3e-6, rel=0.02)  # volume-equivalent
    assert 0.9 < v["exchange_current_factor"] < 1.0  # the rod covers ~3 % of each sphere
    # both mappings have the same reactive area per volume
    assert v["specific_reactive_area [m-1]"] == pytest.approx(a["specific_reactive_area [m-1]"], rel=1e-12)
    assert g["specific_reactive_area [m-1]"] == pytest.approx(a["specific_reactive_area [m-1]"], rel=1e-12)
    assert a["exchange_current_factor"] == 1.0 and a["particle_radius [m]"] > v["particle_radius [m]"]
    assert g["particle_radius [m]"] == pytest.approx(math.sqrt(v["particle_radius [m]"] * a["particle_radius [m]"]))
    assert g["exchange_current_factor"] == pytest.approx(math.sqrt(v["exchange_current_factor"]))
    assert v["connectivity"].startswith("not reported")  # the test column has no connectivity report
    assert v["electronic_conductivity [S m-1]"] > 0


# ---------------------------------------------------------------------------- BPX
def test_bpx_round_trip(column, tmp_path):
    """The written BPX file validates with bpx and reloads into the same PyBaMM values (every
    number, every function at 50 points), the PyBaMM JSON set too, and the twin run from the
    reloaded file gives the same voltage (to the solver tolerance)."""
    import bpx
    import pybamm

    case = column_case([{"mode": "cc", "c_rate": 1.0, "until_voltage": 3.6}])
    spec = twin_specs(case, column, radii=DEFAULT_RADIUS)[DEFAULT_RADIUS]
    path = tmp_path / "dfn.bpx.json"
    write_bpx(spec, path)
    bpx.parse_bpx_file(str(path))  # validates (raises otherwise)
    back = spec_from_bpx(path)
    assert json.loads(json.dumps(back["functions"])) == spec["functions"]
    pv, pv2 = parameter_values(spec), parameter_values(back)
    mat = case.material.resolve()
    x = np.linspace(0.27, 0.99, 50)
    assert np.max(np.abs(evaluate(spec["functions"]["ocp [V]"], x) - mat.ocp(x))) < 1e-12
    pv.to_json(str(tmp_path / "p.json"))
    pv3 = pybamm.ParameterValues.from_json(str(tmp_path / "p.json"))
    for key, val in pv.items():
        if isinstance(val, (int, float)):
            assert pv2[key] == pytest.approx(val, rel=1e-12, abs=1e-300), key
            assert pv3[key] == pytest.approx(val, rel=1e-12, abs=1e-300), key
    # functions: evaluate through PyBaMM at the same inputs
    ce = np.linspace(200.0, 1800.0, 50)
    T = 298.15
    for key, args in (("Positive electrode OCP [V]", (x,)), ("Electrolyte conductivity [S.m-1]", (ce, T)),
                      ("Electrolyte diffusivity [m2.s-1]", (ce, T)), ("Cation transference number", (ce, T)),
                      ("Positive particle diffusivity [m2.s-1]", (x, T)),
                      ("Positive electrode exchange-current density [A.m-2]", (ce, x * 5e4, 63104.0, T))):
        vals = []
        for p in (pv, pv2, pv3):
            sym = [pybamm.Vector(np.atleast_1d(a)) if np.ndim(a) else pybamm.Scalar(a) for a in args]
            fp = pybamm.FunctionParameter(key, {f"arg{i}": a for i, a in enumerate(sym)})
            vals.append(np.asarray(p.process_symbol(fp).evaluate()).ravel())
        assert np.allclose(vals[1], vals[0], rtol=1e-10, atol=0), key
        assert np.allclose(vals[2], vals[0], rtol=1e-10, atol=0), key
    r1 = run_twin(spec, case.protocol, pv=pv)
    r2 = run_twin(back, case.protocol, pv=pv2)
    assert r1.rows["voltage [V]"].size == r2.rows["voltage [V]"].size
    assert np.max(np.abs(r1.rows["voltage [V]"] - r2.rows["voltage [V]"])) < 1e-6  # solver tolerance (rtol 1e-8)


# ---------------------------------------------------------------------------- protocol
def test_cccv_rest_protocol_same_steps_and_events(column):
    """CC charge 1C to 4.2 V, CV until C/5, rest 2 min, CC discharge 1C to 3.9 V: the resolved
    run and the twin take the same steps, end them on the same events, at nearly the same times."""
    steps = [{"mode": "cc", "c_rate": 1.0, "direction": "charge", "until_voltage": 4.2},
             {"mode": "cv", "voltage": 4.2, "until_c_rate": 0.2},
             {"mode": "rest", "duration": 120.0},
             {"mode": "cc", "c_rate": 1.0, "direction": "discharge", "until_voltage": 3.9}]
    case = column_case(steps, x0=0.6)
    spec = twin_specs(case, column, radii=DEFAULT_RADIUS)[DEFAULT_RADIUS]
    model, res = resolved_run(case, column)
    assert res.status == "completed", res.reason
    tw = run_twin(spec, case.protocol)
    cs = [cellsim_end_kind(r) for _, _, r in res.step_ends]
    dfn = [k for _, _, k, _ in tw.step_ends]
    assert cs == ["until_voltage", "current_limit", "duration", "until_voltage"]
    assert dfn == cs, (tw.step_ends, res.step_ends)
    t_cs = np.diff([0.0] + [t for _, t, _ in res.step_ends])
    t_dfn = []
    for n in range(1, 5):
        t = tw.rows["time [s]"][tw.rows["protocol step [-]"] == n]
        t_dfn.append(t[-1] - t[0])
    print("\nstep durations resolved", t_cs, "DFN", t_dfn)
    assert t_dfn[2] == pytest.approx(120.0, abs=1e-6) and t_cs[2] == pytest.approx(120.0, abs=1e-6)
    for k in (0, 3):  # CC steps: same time to the voltage limit within 5 %
        assert t_dfn[k] == pytest.approx(t_cs[k], rel=0.05)
    # CV: the DFN current limit is the same C/5 of the same 1C
    i_end = tw.rows["current density [A m-2]"][tw.rows["protocol step [-]"] == 2][-1]
    assert abs(i_end) == pytest.approx(0.2 * model.i_1C, rel=0.03)
    c = compare(resolved_rows(res.rows), tw.rows)
    print("resolved - DFN:", c["rms [V]"], [(s["protocol step"], s["rms [V]"]) for s in c["steps"]])
    assert c["rms [V]"] < 10e-3


# ---------------------------------------------------------------------------- agreement
def _agreement(column, c_rate, **time):
    case = column_case([{"mode": "cc", "c_rate": c_rate, "until_soc": 0.0}],
                       dt_initial=2.0 / c_rate, **time)
    specs = twin_specs(case, column)
    model, res = resolved_run(case, column)
    assert res.status == "completed", res.reason
    assert specs["volume"]["one_c_current_density [A m-2]"] == pytest.approx(model.i_1C, rel=1e-9)
    rows = resolved_rows(res.rows)
    out = {}
    for r, s in specs.items():
        tw = run_twin(s, case.protocol)
        assert [k for _, _, k, _ in tw.step_ends] == ["until_soc"]
        out[r] = compare(rows, tw.rows)
        print(f"\nC-rate {c_rate}, {r} radius {s['particle_radius [m]']:.4g} m, i0 x {s['exchange_current_factor']:.4f}:"
              f" RMS {out[r]['rms [V]'] * 1e3:.3f} mV, max {out[r]['max [V]'] * 1e3:.3f} mV, "
              f"mean {out[r]['mean [V]'] * 1e3:+.3f} mV, {out[r]['points']} points, resolved steps {res.steps}")
    return out


def test_column_twin_within_3mv_at_c5(column):
    """The twin of the equal-sphere column agrees with the resolved C/5 discharge within 3 mV RMS."""
    out = _agreement(column, 0.2, dt_max=120.0)
    assert out[DEFAULT_RADIUS]["points"] > 15
    for r in out:
        assert out[r]["rms [V]"] < 3e-3, r
    # the two bounds: the volume radius under-polarises, 3V/A over-polarises (mean of V_resolved - V_DFN)
    assert out["volume"]["mean [V]"] < out[DEFAULT_RADIUS]["mean [V]"] < out["area"]["mean [V]"]


def test_column_twin_within_8mv_at_2c(column):
    """2C discharge: within 8 mV RMS (about 30 s, so not marked slow)."""
    out = _agreement(column, 2.0, dt_max=60.0)
    for r in out:
        assert out[r]["rms [V]"] < 8e-3, r
    assert out[DEFAULT_RADIUS]["rms [V]"] <= min(out["volume"]["rms [V]"], out["area"]["rms [V]"])


def test_column_twin_at_0c_and_45c(column):
    """Away from 25 C (Arrhenius exchange current of the material, in both codes): the twin
    agrees with the resolved 1C discharge as at 25 C, and the temperature does matter."""
    mid = {}
    for T in (273.15, 318.15):
        case = column_case([{"mode": "cc", "c_rate": 1.0, "until_soc": 0.0}], temperature=T, dt_initial=2.0)
        spec = twin_specs(case, column, radii=DEFAULT_RADIUS)[DEFAULT_RADIUS]
        model, res = resolved_run(case, column)
        assert res.status == "completed", res.reason
        _, c = twin_against(res, spec, case.protocol, label=f"T = {T} K")
        assert c["rms [V]"] < 3e-3, T
        rows = resolved_rows(res.rows)
        mid[T] = float(np.interp(0.5 * rows["capacity [mA h m-2]"][-1], rows["capacity [mA h m-2]"],
                                 rows["voltage [V]"]))
    print("mid-discharge voltage [V]:", mid)
    assert mid[318.15] - mid[273.15] > 1e-3  # less polarisation when warm: the test has teeth


# ---------------------------------------------------------------------------- command
def test_dfn_command_writes_files(tmp_path):
    """``cellsim dfn`` on a case file without --resolved: parameter files, BPX (valid), time series."""
    import bpx

    from cellsim.cli import main
    from cellsim.output import read_timeseries

    case = tmp_path / "column.toml"
    case.write_text(_SMALL_CASE)
    assert main(["dfn", str(case), "-o", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    for f in ("dfn_parameters.json", "dfn.bpx.json", "dfn_pybamm_parameters.json", "dfn_timeseries.csv",
              "dfn_summary.json"):
        assert (out / f).is_file(), f
    bpx.parse_bpx_file(str(out / "dfn.bpx.json"))
    ts = read_timeseries(out / "dfn_timeseries.csv")
    for c in ("time [s]", "voltage [V]", "current density [A m-2]", "capacity [mA h m-2]", "state of charge [-]"):
        assert c in ts and np.all(np.isfinite(ts[c]))
    assert ts["voltage [V]"][-1] == pytest.approx(3.8, abs=2e-3)
    assert main(["dfn", str(case), "-o", str(tmp_path / "o2"), "--resolved", str(tmp_path / "none")]) == 2
    # the written BPX file as a case's material: the set the case had (the twin's i0 factor divided out)
    from cellsim.case.common import MaterialSpec
    from cellsim.materials import get_material

    got, ref = MaterialSpec(bpx=str(out / "dfn.bpx.json")).resolve(), get_material("nmc811_chen2020")
    for k in ("c_max", "x_0", "x_100", "exchange_current_activation_energy", "reference_temperature"):
        assert getattr(got, k) == getattr(ref, k), k
    assert got.rate_constant == pytest.approx(ref.rate_constant, rel=1e-13)
    x = np.linspace(0.27, 0.99, 30)
    assert np.max(np.abs(got.ocp(x) - ref.ocp(x))) < 1e-13


_SMALL_CASE = """
model = "halfcell"
[geometry]
kind = "half_cell"
thickness = 8e-6
width = 8e-6
depth = 8e-6
collector_thickness = 1e-6
separator_thickness = 5e-6
volume_fraction = 0.3
binder_fraction = 0.05
seed = 3
mesh_size = 2.0e-6
interface_mesh_size = 1.2e-6
[geometry.radius_distribution]
kind = "lognormal"
mean = 2.5e-6
std = 0.2e-6
[[protocol.steps]]
mode = "cc"
c_rate = 1.0
until_voltage = 3.8
"""


# ---------------------------------------------------------------------------- connectivity, graphite (no mesh)
def _fake_measurement(isolated=(), radius=3e-6, wetted=0.9, n=4):
    """What measure_electrode returns, for n equal spheres in a 100 um2 x 20 um box."""
    V = 4.0 / 3.0 * math.pi * radius**3
    A = 4.0 * math.pi * radius**2
    tau = {"thickness [m]": 20e-6, "cross_section [m2]": 100e-12, "porosity": 0.55, "binder_fraction": 0.05,
           "electrolyte": {"tortuosity_factor": 1.4, "bruggeman_exponent": 1 - math.log(1.4) / math.log(0.55)},
           "electronic": {"percolates": True, "effective_conductivity [S m-1]": 5.0}}
    parts = [{"index": i, "name": f"particle_{i}", "volume [m3]": V, "wetted_area [m2]": wetted * A,
              "binder_area [m2]": (1 - wetted) * A, "radius [m]": radius, "radius_source": "geometry",
              "connected": i not in isolated} for i in range(n)]
    return {"tortuosity": tau, "particles": parts, "connectivity": "geometry report", "isolated": list(isolated),
            "separator_volume [m3]": 100e-12 * 8e-6, "collector_contact_area [m2]": 10e-12}


def test_isolated_particles_are_left_out_and_soc_counts_them():
    """An isolated particle is not in the twin's active fraction; 1C and the state of charge are
    counted as the resolved run counts them (all particles), so until_soc ends at cellsim's SOC."""
    from cellsim.dfn import homogenise, twin_spec

    case = column_case([{"mode": "cc", "c_rate": 1.0, "until_soc": 0.5}])
    full = homogenise(_fake_measurement(), case)
    one_off = homogenise(_fake_measurement(isolated=(2,)), case)
    assert one_off["active_fraction"] == pytest.approx(0.75 * full["active_fraction"], rel=1e-12)
    assert one_off["active_fraction_all"] == pytest.approx(full["active_fraction"], rel=1e-12)
    assert one_off["one_c_current_density [A m-2]"] == pytest.approx(full["one_c_current_density [A m-2]"])
    assert one_off["isolated_particles"] == [2]
    assert full["exchange_current_factor"] == pytest.approx(math.sqrt(0.9), rel=1e-12)  # geometric
    tw = run_twin(twin_spec(one_off, case), case.protocol)
    assert [k for _, _, k, _ in tw.step_ends] == ["until_soc"]
    assert tw.rows["state of charge [-]"][-1] == pytest.approx(0.5, abs=2e-4)
    # the connected material alone went from SOC 1 to 1 - 0.5 / 0.75
    q = tw.rows["capacity [mA h m-2]"][-1] / 1e3  # A h m-2
    assert q == pytest.approx(0.5 * one_off["one_c_current_density [A m-2]"], rel=2e-3)


def test_graphite_working_electrode_twin():
    """Graphite (x_100 > x_0: the SOC rises on lithiation): C/2 lithiation until SOC 0.9 ends on it."""
    from cellsim.dfn import homogenise, twin_spec

    case = HalfCellCase.model_validate(
        {"model": "halfcell", "material": {"name": "graphite_chen2020"}, "physics": {"initial_stoichiometry": 0.1},
         "stop": {"min_voltage": 0.005, "max_voltage": 1.5},
         "protocol": {"steps": [{"mode": "cc", "c_rate": 0.5, "until_soc": 0.9}]}}, context={"mesh_given": True})
    spec = twin_spec(homogenise(_fake_measurement(), case), case)
    tw = run_twin(spec, case.protocol)
    assert [k for _, _, k, _ in tw.step_ends] == ["until_soc"]
    soc = tw.rows["state of charge [-]"]
    assert soc[0] < 0.1 and soc[-1] == pytest.approx(0.9, abs=2e-4)
    assert np.all(np.diff(tw.rows["voltage [V]"]) < 1e-6)  # lithiating graphite: the voltage falls


def test_overlay_picture_of_both_curves(tmp_path):
    """`cellsim dfn --resolved` draws both voltage curves against capacity and time, RMS in the title."""
    from cellsim.dfn.command import overlay

    t = np.linspace(0.0, 3600.0, 50)
    a = {"time [s]": t, "capacity [mA h m-2]": t / 3.6, "voltage [V]": 4.2 - 0.5 * t / 3600.0}
    b = {**a, "voltage [V]": a["voltage [V]"] + 2e-3}
    png = tmp_path / "dfn_vs_resolved.png"
    overlay(a, b, {"rms [V]": 2e-3, "max [V]": 2e-3}, png, "geometric")
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 800 and im.size[1] > 300


@pytest.mark.mpi
def test_graphite_column_twin_within_2mv_at_c2(column):
    """A graphite working electrode (the column with graphite_chen2020, lithiated at C/2 from
    x = 0.1 to SOC 0.9): the twin agrees with the resolved run within 2 mV RMS."""
    case = HalfCellCase.model_validate(
        {"model": "halfcell", "material": {"name": "graphite_chen2020"}, "physics": {"initial_stoichiometry": 0.1},
         "stop": {"min_voltage": 0.005, "max_voltage": 1.5}, "output": {"fields": False},
         "protocol": {"steps": [{"mode": "cc", "c_rate": 0.5, "until_soc": 0.9}]},
         "time": {"dt_initial": 4.0, "dt_max": 120.0, "max_change": 0.03}}, context={"mesh_given": True})
    spec = twin_specs(case, column)[DEFAULT_RADIUS]
    model, res = resolved_run(case, column)
    assert res.status == "completed", res.reason
    _, c = twin_against(res, spec, case.protocol, ["until_soc"], label=f"graphite C/2, resolved steps {res.steps}")
    assert c["points"] > 15
    assert c["rms [V]"] < 2e-3
