"""The pictures' structure (not their pixels): one axis per quantity, log axes for errors,
legends beside crowded axes, voltage and voltage-components figures, every region in the
field picture, and ``cellsim plot --time/--field/--region``.

Time series are written with :class:`cellsim.output.RunOutput` (no DOLFINx) from
closed-form half-cell-like and particle-like columns, with the case file of a real case
so that the OCV at the mean stoichiometry is the material's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellsim import curves
from cellsim.case import case_to_toml, load_case
from cellsim.output import RunOutput

ROOT_CASES = Path(__file__).resolve().parents[2] / "cases"
N = 25
SOC_PARTICLES = [f"soc particle {i} [-]" for i in range(6)]
ERRORS = ["applied current error [-]", "interface current error [-]", "lithium metal current error [-]",
          "particle lithium error [-]", "lithium balance error [-]"]
HALFCELL = (["time [s]", "step [-]", "cycle [-]", "protocol step [-]", "dt [s]", "newton iterations [-]",
             "krylov iterations [-]", "wall time [s]", "voltage [V]", "current density [A m-2]",
             "capacity [mA h m-2]", "state of charge [-]", "mean stoichiometry [-]",
             "mean lithium concentration [mol m-3]", "max lithium concentration [mol m-3]",
             "mean electrolyte concentration [mol m-3]", "min electrolyte concentration [mol m-3]",
             "lithium metal overpotential [V]", "mean surface OCP [V]", "mean particle overpotential [V]"]
            + ERRORS + SOC_PARTICLES)


def halfcell_rows():
    t = np.linspace(0.0, 3600.0, N)
    x = 0.27 + 0.6 * t / 3600
    rows = []
    for k in range(N):
        r = {"time [s]": t[k], "step [-]": k, "cycle [-]": 1, "protocol step [-]": 1 if k < 15 else 2,
             "dt [s]": 0.0 if k == 0 else 150.0, "newton iterations [-]": 3 + k % 2,
             "krylov iterations [-]": 3 + k % 2, "wall time [s]": 2.0 * k,
             "mean surface OCP [V]": 4.25 - 0.7 * x[k] + 0.01, "mean particle overpotential [V]": -0.010 - 1e-6 * k,
             "lithium metal overpotential [V]": 0.0016, "current density [A m-2]": 4.47,
             "capacity [mA h m-2]": 4.47 * t[k] / 3.6, "state of charge [-]": 1 - t[k] / 3600,
             "mean stoichiometry [-]": x[k], "mean lithium concentration [mol m-3]": 5.1e4 * x[k],
             "max lithium concentration [mol m-3]": 5.1e4 * x[k] + 500,
             "mean electrolyte concentration [mol m-3]": 1000.0, "min electrolyte concentration [mol m-3]": 997.0}
        r["voltage [V]"] = (r["mean surface OCP [V]"] + r["mean particle overpotential [V]"]
                            - r["lithium metal overpotential [V]"] - 0.0007)
        for i, c in enumerate(ERRORS):
            r[c] = (-1) ** k * 10.0 ** (-14 + i) * (1 + k)
        for i, c in enumerate(SOC_PARTICLES):
            r[c] = r["state of charge [-]"] + 0.01 * (i - 2.5)
        rows.append(r)
    return rows


@pytest.fixture(scope="module")
def halfcell_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("plots-halfcell")
    case = case_to_toml(load_case(ROOT_CASES / "halfcell_discharge.toml"))
    out = RunOutput(d, None, case, HALFCELL)
    for r in halfcell_rows():
        out.add_row(r)
    out.close("completed", "test", {"step_ends": [{"step": "cycle 1 step 1 (CC discharge at 1C)"},
                                                  {"step": "cycle 1 step 2 (rest 600 s)"}]})
    return d


def _panel(panels, title):
    return next(p for p in panels if p.title == title)


def test_one_axis_per_quantity(halfcell_dir):
    from cellsim.output import read_timeseries

    panels = curves.timeseries_panels(read_timeseries(halfcell_dir))
    drawn = [c for p in panels for c in p.columns + p.twin + p.band]
    for counter in curves.COUNTER_COLUMNS:  # the step counter does not flatten the state of charge
        assert counter not in drawn
    soc = _panel(panels, "state of charge")
    assert soc.columns == ["state of charge [-]"] and soc.band == SOC_PARTICLES
    eta = _panel(panels, "overpotentials")  # not on the 4 V axis of the voltage
    assert sorted(eta.columns) == ["lithium metal overpotential [V]", "mean particle overpotential [V]"]
    assert eta.shown_unit == "mV" and eta.scale == 1e-3
    assert _panel(panels, "potentials").columns == ["voltage [V]", "mean surface OCP [V]"]
    assert _panel(panels, "electrolyte concentrations").columns == [
        "mean electrolyte concentration [mol m-3]", "min electrolyte concentration [mol m-3]"]
    assert _panel(panels, "concentrations").columns == [
        "mean lithium concentration [mol m-3]", "max lithium concentration [mol m-3]"]
    err = _panel(panels, "conservation errors (|value|)")
    assert err.log and err.columns == ERRORS
    assert not any(p.title == "Krylov iterations" for p in panels)  # LU: Krylov = Newton, no axis


def test_timeseries_figure_axes_scales_and_legends(halfcell_dir):
    from cellsim.output import read_timeseries

    panels = curves.timeseries_panels(read_timeseries(halfcell_dir))
    fig = curves.timeseries_figure(halfcell_dir)
    fig.canvas.draw()
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert len(axes) == len(panels)
    err = axes["conservation errors (|value|)"]
    assert err.get_yscale() == "log" and err.get_ylabel() == "|value| [-]"
    lo, hi = err.get_ylim()
    assert lo < 1e-13 and hi > 1e-10  # every error visible, 1e-14 ... 1e-10
    soc = axes["state of charge"]
    assert soc.get_ylim()[0] > -0.2 and soc.get_ylim()[1] < 1.2  # not flattened by a counter
    assert any("6 particles, min–max" in t.get_text() for t in soc.get_legend().get_texts())
    assert axes["overpotentials"].get_ylabel() == "[mV]"
    solver = next(a for t, a in axes.items() if t.startswith("solver"))
    twin = [a for a in fig.axes if a is not solver and a.bbox.bounds == solver.bbox.bounds]
    assert twin and twin[0].get_yscale() == "log"  # dt
    # crowded legends sit beside their axis, small ones inside: none covers the curves of another axis
    renderer = fig.canvas.get_renderer()
    for title, ax in axes.items():
        leg = ax.get_legend()
        if leg is None:
            continue
        box, frame = leg.get_window_extent(renderer), ax.get_window_extent(renderer)
        if len(leg.get_texts()) > 3:
            assert box.x0 >= frame.x1 - 1, title
        else:
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, title


def test_voltage_figure(halfcell_dir):
    fig = curves.voltage_figure(halfcell_dir)
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["voltage vs time", "current density", "voltage vs capacity"]
    assert axes[0].get_ylabel() == "voltage [V]" and axes[0].get_xlabel() == "time [min]"
    assert axes[2].get_xlabel() == "capacity [mA h m-2]"
    labels = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert labels == ["cycle 1 step 1 (CC discharge at 1C)", "cycle 1 step 2 (rest 600 s)"]  # one per step


def test_voltage_components_add_up(halfcell_dir):
    from cellsim.output import read_timeseries

    data = read_timeseries(halfcell_dir)
    ocv = curves._ocv_at_mean(halfcell_dir, data)
    assert ocv is not None and np.all((ocv > 3.5) & (ocv < 4.4))  # NMC811 OCP at x = 0.27 .. 0.87
    vcol, parts = curves.voltage_components(data, ocv)
    assert vcol == "voltage [V]"
    labels = [p[0] for p in parts]
    assert labels == ["OCV at the mean stoichiometry", "particle concentration overpotential",
                      "reaction overpotential", "lithium metal overpotential", "electrolyte and ohmic (remainder)"]
    np.testing.assert_allclose(np.sum([p for _, p in parts], axis=0), data["voltage [V]"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(parts[3][1], -0.0016)  # V = ... - eta_Li
    np.testing.assert_allclose(parts[4][1], -0.0007, atol=1e-12)
    fig = curves.voltage_components_figure(halfcell_dir)
    top, bottom = [a for a in fig.axes if a.get_visible()]
    assert top.get_ylabel() == "[V]" and bottom.get_ylabel() == "[mV]"
    assert len(top.collections) == len(parts) - 1  # one filled band per overpotential, stacked on the OCV
    assert len(bottom.get_lines()) == len(parts) - 1 + 1  # each overpotential, and the zero line


def test_particle_components_and_flux_mode(tmp_path):
    cols = ["time [s]", "protocol step [-]", "particle potential [V]", "current [A]", "surface OCP [V]",
            "charge passed [C]", "mean stoichiometry [-]"]
    case = case_to_toml(load_case(ROOT_CASES / "particle_charge.toml"))
    out = RunOutput(tmp_path / "p", None, case, cols)
    for k in range(5):
        out.add_row({"time [s]": 60.0 * k, "protocol step [-]": 1, "particle potential [V]": 0.2 - 0.01 * k,
                     "current [A]": 1e-9, "surface OCP [V]": 0.21 - 0.01 * k, "charge passed [C]": 6e-8 * k,
                     "mean stoichiometry [-]": 0.1 + 0.01 * k})
    out.close("completed")
    from cellsim.output import read_timeseries

    vcol, parts = curves.voltage_components(read_timeseries(tmp_path / "p"), None, stress_in_eta=True)
    assert vcol == "particle potential [V]"
    assert [p[0] for p in parts] == ["mean surface OCP", "reaction + stress overpotential"]
    np.testing.assert_allclose(parts[1][1], -0.01, atol=1e-12)
    fig = curves.voltage_figure(tmp_path / "p")
    cap = [a for a in fig.axes if a.get_visible()][2]
    assert cap.get_xlabel() == "charge passed (+ = lithiation) [pA h]"  # 2.4e-7 C = 6.67e-11 A h
    cur = [a for a in fig.axes if a.get_visible()][1]
    assert cur.get_ylabel() == "current [nA]"
    # flux mode: no potential, so no voltage pictures
    out = RunOutput(tmp_path / "f", None, "", ["time [s]", "particle potential [V]", "mean stoichiometry [-]"])
    out.add_row({"time [s]": 0.0, "mean stoichiometry [-]": 0.1})
    out.add_row({"time [s]": 1.0, "mean stoichiometry [-]": 0.2})
    out.close("completed")
    from cellsim.postprocess import plot_all

    assert [p.name for p in plot_all(tmp_path / "f")] == ["timeseries.png"]


def test_si_scale():
    assert curves.si_scale([6e-10], "A") == (1e-12, "pA")
    assert curves.si_scale([2.0], "A") == (1.0, "A")
    assert curves.si_scale([3e-14], "mol") == (1e-15, "fmol")
    f, u = curves.si_scale([0.0017], "mA h")
    assert u == "µA h" and f == pytest.approx(1e-3)


def test_field_picture_every_region_and_choices(tmp_path):
    """Two regions: both drawn (one row each); --field/--region/--time choose; unknown names exit 2."""
    import matplotlib.image as mpimg

    from cellsim.cli import main
    from cellsim.postprocess import plot_fields

    d = write_fields_run(tmp_path / "run", regions=("particle", "electrolyte"))
    img = mpimg.imread(plot_fields(d))
    assert img.shape[0] == 2 * 600  # a row per region
    p = plot_fields(d, fields=["von_mises_stress", "displacement"], region="particle", time=600.0)
    assert p.name == "fields_particle.png" and mpimg.imread(p).shape[1] == 2 * 560  # the two fields asked for
    assert main(["plot", str(d), "--time", "600", "--field", "electrolyte_concentration", "--region", "electrolyte"]) == 0
    assert (d / "fields_electrolyte.png").stat().st_size > 10_000
    assert main(["plot", str(d), "--field", "no_such_field"]) == 2
    assert main(["plot", str(d), "--region", "separator"]) == 2


def write_fields_run(outdir: Path, regions=("particle",)) -> Path:
    """A run with P1/DG0 fields on a small box per region (serial), times 0, 600, 1200 s."""
    from cellsim.dolfinx_env import require_dolfinx

    require_dolfinx()
    from dolfinx import fem, mesh
    from mpi4py import MPI

    comm = MPI.COMM_SELF
    funcs = {}
    for k, reg in enumerate(regions):
        msh = mesh.create_box(comm, [[0, 0, 5e-6 * k], [5e-6, 5e-6, 5e-6 * (k + 1)]], [3, 3, 3])
        names = (["lithium_concentration", "von_mises_stress"] if reg == "particle"
                 else ["electrolyte_concentration", "electrolyte_potential"])
        fs = [fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name=names[0]),
              fem.Function(fem.functionspace(msh, ("DG", 0)), name=names[1])]
        if reg == "particle":
            fs.append(fem.Function(fem.functionspace(msh, ("Lagrange", 1, (3,))), name="displacement"))
        funcs[reg] = fs
    with RunOutput(outdir, comm, "", ["time [s]", "voltage [V]"]) as out:
        for t in (0.0, 600.0, 1200.0):
            for fs in funcs.values():
                for i, f in enumerate(fs):
                    f.interpolate(lambda x, i=i: np.vstack([(1 + i + t / 600) * (1 + x[0] / 5e-6 + x[2] / 5e-6)]
                                                           * (3 if f.function_space.value_size == 3 else 1)))
            out.add_row({"time [s]": t, "voltage [V]": 4.0 - t / 1e4})
            out.write_fields(t, funcs)
    return outdir
