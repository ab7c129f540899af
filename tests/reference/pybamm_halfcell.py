"""PyBaMM reference: half-cell DFN (positive working electrode | separator | lithium metal).

Used by verification tests (ladder step 4) to compare a resolved cellsim half-cell against the
homogenised Doyle-Fuller-Newman model with the same parameters. Needs ``pip install pybamm``
(the ``reference`` extra); nothing in cellsim imports this module.

Parameters: PyBaMM's ``Chen2020`` set (LG M50 NMC811 positive electrode, LiPF6 in EC:EMC with
the Nyman2008 kappa(c_e), D_e(c_e), t+ = 0.2594, thermodynamic factor 1), with the lithium
counter electrode of PyBaMM's ``Xu2019`` half-cell set (exchange current
i0 = 3.5e-8 F c_Li^0.7 c_e^0.3, c_Li = 1/V_Li) unless ``li_exchange_current`` is given
(a constant in A m-2). Overridden by the arguments of :func:`halfcell_parameters`.

C-rate convention here: 1C is the current density that fills the working electrode from its
initial stoichiometry x0 = c0/c_max to x = 1 in one hour,
    i_1C = F eps_act L c_max (1 - x0) / 3600 s   [A m-2],
the current density is applied per electrode area (discharge positive, as in PyBaMM).

Usage::

    import sys; sys.path.insert(0, "tests/reference")   # tests/ is not a package
    from pybamm_halfcell import run_halfcell_dfn
    res = run_halfcell_dfn(thickness=75.6e-6, porosity=0.335, active_fraction=0.665,
                           particle_radius=5.22e-6, bruggeman=1.5, c_rate=1.0)
    res.t, res.V   # s, V

or ``python tests/reference/pybamm_halfcell.py`` for a short self-check.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

FARADAY = 96485.33212


@dataclass
class HalfCellResult:
    t: np.ndarray  # time [s]
    V: np.ndarray  # voltage of the working electrode against lithium [V]
    current_density: float  # applied [A m-2], discharge positive
    capacity: np.ndarray  # charge passed [mA h m-2]
    one_c_current_density: float  # [A m-2]
    termination: str
    wall_time: float  # [s]


def _lazy_pybamm():
    try:
        import pybamm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("PyBaMM is not installed: pip install pybamm (the 'reference' extra)") from exc
    return pybamm


def _check(name: str, value: float, lo: float, hi: float) -> float:
    if not (isinstance(value, (int, float)) and lo <= value <= hi):
        raise ValueError(f"{name} = {value!r}: must be a number in [{lo}, {hi}]")
    return float(value)


def bruggeman_from_tortuosity(porosity: float, tortuosity: float) -> float:
    """Bruggeman exponent b with eps^b = eps/tau, i.e. b = 1 - ln(tau)/ln(eps)."""
    _check("porosity", porosity, 1e-6, 1.0 - 1e-9)
    _check("tortuosity", tortuosity, 1.0, 1e6)
    return 1.0 - math.log(tortuosity) / math.log(porosity)


def one_c_current_density(thickness: float, active_fraction: float, c_max: float, c0: float) -> float:
    """i_1C = F eps_act L c_max (1 - c0/c_max) / 3600 [A m-2]."""
    return FARADAY * active_fraction * thickness * (c_max - c0) / 3600.0


def halfcell_parameters(
    thickness: float = 75.6e-6,
    porosity: float = 0.335,
    active_fraction: float = 0.665,
    particle_radius: float = 5.22e-6,
    bruggeman: float | None = 1.5,
    tortuosity: float | None = None,
    separator_thickness: float = 12e-6,
    separator_porosity: float = 0.47,
    separator_bruggeman: float = 1.5,
    initial_concentration: float | None = None,
    li_exchange_current: float | None = None,
    temperature: float = 298.15,
    v_min: float = 2.5,
    v_max: float = 4.4,
):
    """PyBaMM ParameterValues for the half-cell (see module docstring)."""
    pybamm = _lazy_pybamm()
    _check("thickness", thickness, 1e-7, 1e-2)
    _check("porosity", porosity, 1e-3, 0.999)
    _check("active_fraction", active_fraction, 1e-3, 1.0)
    if porosity + active_fraction > 1.0 + 1e-12:
        raise ValueError(f"porosity + active_fraction = {porosity + active_fraction}: must be <= 1")
    _check("particle_radius", particle_radius, 1e-9, 1e-3)
    _check("separator_thickness", separator_thickness, 1e-7, 1e-2)
    _check("separator_porosity", separator_porosity, 1e-3, 1.0)
    if tortuosity is not None:
        if bruggeman not in (None, 1.5):
            raise ValueError("give either bruggeman or tortuosity, not both")
        bruggeman = bruggeman_from_tortuosity(porosity, tortuosity)
    bruggeman = _check("bruggeman", 1.5 if bruggeman is None else bruggeman, 0.0, 10.0)

    pv = pybamm.ParameterValues("Chen2020")
    c_max = pv["Maximum concentration in positive electrode [mol.m-3]"]
    if initial_concentration is not None:
        _check("initial_concentration", initial_concentration, 1e-6 * c_max, c_max * (1 - 1e-6))
    half = pybamm.lithium_ion.DFN({"working electrode": "positive"}).default_parameter_values  # Xu2019
    i0_li = half["Exchange-current density for lithium metal electrode [A.m-2]"]
    if li_exchange_current is not None:
        _check("li_exchange_current", li_exchange_current, 1e-12, 1e6)
        i0_li = float(li_exchange_current)
    pv.update(
        {
            "Lithium metal partial molar volume [m3.mol-1]": half["Lithium metal partial molar volume [m3.mol-1]"],
            "Exchange-current density for lithium metal electrode [A.m-2]": i0_li,
            "Separator Bruggeman coefficient (electrode)": 0.0,
            "Heat transfer coefficient [W.m-2.K-1]": 10.0,
        },
        check_already_exists=False,
    )
    pv.update(
        {
            "Positive electrode thickness [m]": thickness,
            "Positive electrode porosity": porosity,
            "Positive electrode active material volume fraction": active_fraction,
            "Positive particle radius [m]": particle_radius,
            "Positive electrode Bruggeman coefficient (electrolyte)": bruggeman,
            "Separator thickness [m]": separator_thickness,
            "Separator porosity": separator_porosity,
            "Separator Bruggeman coefficient (electrolyte)": separator_bruggeman,
            "Ambient temperature [K]": temperature,
            "Initial temperature [K]": temperature,
            "Reference temperature [K]": temperature,
            "Lower voltage cut-off [V]": v_min,
            "Upper voltage cut-off [V]": v_max,
        }
    )
    if initial_concentration is not None:
        pv.update({"Initial concentration in positive electrode [mol.m-3]": initial_concentration})
    return pv


def run_halfcell_dfn(
    c_rate: float | None = 1.0,
    current_density: float | None = None,
    t_end: float | None = None,
    n_points: int = 200,
    mesh_points: dict | None = None,
    **params,
) -> HalfCellResult:
    """Galvanostatic discharge of the half-cell DFN; returns t [s] and V [V].

    Give ``c_rate`` (module docstring convention) or ``current_density`` [A m-2] (discharge
    positive). ``t_end`` defaults to 1.2 h / C-rate; the run stops earlier at the voltage
    cut-offs. ``params`` go to :func:`halfcell_parameters`.
    """
    import time

    pybamm = _lazy_pybamm()
    pv = halfcell_parameters(**params)
    L = pv["Positive electrode thickness [m]"]
    eps_act = pv["Positive electrode active material volume fraction"]
    c_max = pv["Maximum concentration in positive electrode [mol.m-3]"]
    c0 = pv["Initial concentration in positive electrode [mol.m-3]"]
    i1c = one_c_current_density(L, eps_act, c_max, c0)
    if (c_rate is None) == (current_density is None):
        raise ValueError("give exactly one of c_rate and current_density")
    i_app = float(current_density) if current_density is not None else _check("c_rate", c_rate, 1e-4, 100.0) * i1c
    area = pv["Electrode height [m]"] * pv["Electrode width [m]"]
    pv.update({"Current function [A]": i_app * area})
    if t_end is None:
        t_end = 1.2 * 3600.0 * i1c / abs(i_app)

    model = pybamm.lithium_ion.DFN({"working electrode": "positive"})
    var_pts = None
    if mesh_points:
        var_pts = dict(mesh_points)
    sim = pybamm.Simulation(model, parameter_values=pv, var_pts=var_pts, solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10))
    t0 = time.perf_counter()
    sol = sim.solve(np.linspace(0.0, t_end, n_points))
    wall = time.perf_counter() - t0
    t = np.asarray(sol["Time [s]"].entries)
    V = np.asarray(sol["Voltage [V]"].entries)
    cap = i_app * t / 3.6  # mA h m-2
    return HalfCellResult(
        t=t, V=V, current_density=i_app, capacity=cap, one_c_current_density=i1c,
        termination=str(sol.termination), wall_time=wall,
    )


if __name__ == "__main__":
    for rate in (0.1, 1.0, 3.0):
        r = run_halfcell_dfn(c_rate=rate)
        print(
            f"C-rate {rate}: i = {r.current_density:.2f} A/m2 (1C = {r.one_c_current_density:.2f}), "
            f"V0 = {r.V[0]:.4f} V, V_end = {r.V[-1]:.4f} V, capacity = {r.capacity[-1]:.1f} mAh/m2, "
            f"t_end = {r.t[-1]:.0f} s, {r.termination}, {r.wall_time:.2f} s"
        )
