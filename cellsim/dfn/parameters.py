"""The twin's parameter set: the homogenised dict + cellsim's material functions, as PyBaMM
``ParameterValues`` and as a BPX file (and back).

One description, ``spec`` (a JSON-able dict): the output of
:func:`cellsim.dfn.homogenise.homogenise` plus ``functions`` (OCP U(x), particle
diffusivity D_s(x), electrolyte kappa(c_e), D_e(c_e), t+(c_e) as text expressions of x,
:mod:`cellsim.materials.text`) and the kinetic constants. Both the PyBaMM set and the BPX
file are made from it, and :func:`spec_from_bpx` reads a BPX file back into it, so the
round trip BPX -> PyBaMM gives the very set the twin runs with.

Kinetics (cellsim, DESIGN.md): i0 = f F k c_e^alpha_a (c_max - c)^alpha_a c^alpha_c with f
the exchange-current factor of the radius mapping. BPX (alpha = 1/2 only):
i0 = F k_norm sqrt((c_e/c_e0) x (1 - x)), so k_norm = f k c_max sqrt(c_e0).

Temperature: the exchange current carries the material's Arrhenius factor
exp(E_r/R (1/T_ref - 1/T)) in both cellsim and the twin (BPX: "Reaction rate constant
activation energy"); diffusivities and the electrolyte are those of the sets (isothermal).

BPX has no lithium-metal electrode: the file is a ``Model = "Partial"`` parameterisation
(cell, electrolyte, positive electrode = the working electrode, separator) with the
counter electrode in ``User-defined``.
"""

from __future__ import annotations

import copy
import json
import math

from .expressions import to_pybamm, to_text

FARADAY = 96485.33212
BPX_VERSION = "1.0.0"


def twin_spec(hom: dict, case) -> dict:
    """The full description of the twin (JSON-able): homogenised values + functions."""
    from ..materials import nyman2008, xu2019

    mat = case.material.resolve()
    props = nyman2008.properties(case.electrolyte.parameters)
    spec = dict(hom)
    spec.update({
        "c_max [mol m-3]": mat.c_max,
        "x_0": mat.x_0,
        "x_100": mat.x_100,
        "rate_constant": mat.rate_constant,
        "exchange_current_activation_energy [J mol-1]": mat.exchange_current_activation_energy,
        "reference_temperature [K]": mat.reference_temperature,
        "alpha_a": mat.alpha_a,
        "alpha_c": mat.alpha_c,
        "lithium_alpha": [case.lithium.alpha_a, case.lithium.alpha_c],
        "lithium_molar_volume [m3 mol-1]": xu2019.LITHIUM_MOLAR_VOLUME,
        "lithium_rate_constant": xu2019.M_REF,
        "functions": {
            "ocp [V]": to_text(mat.ocp),
            "particle_diffusivity [m2 s-1]": to_text(mat.diffusivity),
            "electrolyte_conductivity [S m-1]": to_text(props.conductivity),
            "electrolyte_diffusivity [m2 s-1]": to_text(props.diffusivity),
            "transference_number": to_text(props.transference_number),
        },
    })
    return spec


def parameter_values(spec: dict):
    """PyBaMM ``ParameterValues`` of the half-cell DFN (working electrode = 'positive').

    Electrode area 1 m2, so PyBaMM's current [A] is cellsim's current density [A m-2] and its
    capacity [A h] is the capacity per area."""
    import pybamm

    fn = spec["functions"]
    pv = pybamm.ParameterValues("Chen2020")
    from ..materials.base import arrhenius

    # the exchange current at the (isothermal) run temperature, as in cellsim's kinetics term
    f = spec["exchange_current_factor"] * arrhenius(spec.get("exchange_current_activation_energy [J mol-1]", 0.0),
                                                    spec["temperature [K]"],
                                                    spec.get("reference_temperature [K]", 298.15))
    k = spec["rate_constant"]
    aa, ac = spec["alpha_a"], spec["alpha_c"]

    def ocp(sto):
        return to_pybamm(fn["ocp [V]"], sto)

    def d_s(sto, T):
        return to_pybamm(fn["particle_diffusivity [m2 s-1]"], sto) + 0 * sto

    def i0(c_e, c_s_surf, c_s_max, T):
        return f * FARADAY * k * c_e**aa * (c_s_max - c_s_surf) ** aa * c_s_surf**ac

    def kappa(c_e, T):
        return to_pybamm(fn["electrolyte_conductivity [S m-1]"], c_e) + 0 * c_e

    def d_e(c_e, T):
        return to_pybamm(fn["electrolyte_diffusivity [m2 s-1]"], c_e) + 0 * c_e

    tp = fn["transference_number"]

    def t_plus(c_e, T):
        return to_pybamm(tp, c_e) + 0 * c_e

    i0_li_const = spec.get("lithium_exchange_current [A m-2]")
    m_ref = spec["lithium_rate_constant"]

    def i0_li(c_e, c_Li, T):
        if i0_li_const is not None:
            return i0_li_const + 0 * c_e
        return m_ref * c_Li**0.7 * c_e**0.3

    T = spec["temperature [K]"]
    L = spec["thickness [m]"]
    c_max = spec["c_max [mol m-3]"]
    q_1c = spec["one_c_current_density [A m-2]"]  # A h per m2 (= the 1C current [A] on 1 m2)
    pv.update(
        {
            "Lithium metal partial molar volume [m3.mol-1]": spec["lithium_molar_volume [m3 mol-1]"],
            "Exchange-current density for lithium metal electrode [A.m-2]": i0_li,
            "Separator Bruggeman coefficient (electrode)": 0.0,
            "Heat transfer coefficient [W.m-2.K-1]": 10.0,
        },
        check_already_exists=False,
    )
    pv.update(
        {
            "Positive electrode thickness [m]": L,
            "Positive electrode porosity": spec["porosity"],
            "Positive electrode active material volume fraction": spec["active_fraction"],
            "Positive particle radius [m]": spec["particle_radius [m]"],
            "Positive electrode Bruggeman coefficient (electrolyte)": math.log(spec["transport_efficiency"])
            / math.log(spec["porosity"]),
            "Positive electrode Bruggeman coefficient (electrode)": 0.0,
            "Positive electrode conductivity [S.m-1]": spec["electronic_conductivity [S m-1]"],
            "Maximum concentration in positive electrode [mol.m-3]": c_max,
            "Initial concentration in positive electrode [mol.m-3]": spec["initial_stoichiometry"] * c_max,
            "Positive electrode OCP [V]": ocp,
            "Positive electrode OCP entropic change [V.K-1]": 0.0,
            "Positive particle diffusivity [m2.s-1]": d_s,
            "Positive electrode exchange-current density [A.m-2]": i0,
            "Separator thickness [m]": spec["separator_thickness [m]"],
            "Separator porosity": spec["separator_porosity"],
            "Separator Bruggeman coefficient (electrolyte)": spec["separator_bruggeman"],
            "Electrolyte conductivity [S.m-1]": kappa,
            "Electrolyte diffusivity [m2.s-1]": d_e,
            "Cation transference number": t_plus,
            "Thermodynamic factor": 1.0,
            "Initial concentration in electrolyte [mol.m-3]": spec["initial_electrolyte_concentration [mol m-3]"],
            "Electrode height [m]": 1.0,
            "Electrode width [m]": 1.0,
            "Number of electrodes connected in parallel to make a cell": 1.0,
            "Nominal cell capacity [A.h]": q_1c,
            "Current function [A]": q_1c,
            "Ambient temperature [K]": T,
            "Initial temperature [K]": T,
            "Reference temperature [K]": T,
            "Lower voltage cut-off [V]": spec["min_voltage [V]"] or 2.5,
            "Upper voltage cut-off [V]": spec["max_voltage [V]"] or 4.4,
        }
    )
    return pv


# ---------------------------------------------------------------------- BPX
def to_bpx(spec: dict) -> dict:
    """The twin as a BPX document (``Model = "Partial"``; see the module docstring)."""
    fn = spec["functions"]
    if abs(spec["alpha_a"] - 0.5) > 1e-12 or abs(spec["alpha_c"] - 0.5) > 1e-12:
        raise ValueError("BPX holds symmetric kinetics only (alpha_a = alpha_c = 0.5)")
    c_e0 = spec["initial_electrolyte_concentration [mol m-3]"]
    c_max = spec["c_max [mol m-3]"]
    k_norm = spec["exchange_current_factor"] * spec["rate_constant"] * c_max * math.sqrt(c_e0)
    x_lo, x_hi = sorted((spec["x_0"], spec["x_100"]))
    tp = fn["transference_number"]
    user = {
        "description": "cellsim homogenised twin: lithium-metal counter electrode (Xu 2019 unless a constant "
        "exchange current is given), the electrolyte t+(c_e) when not constant, and the mapping values",
        "Lithium metal partial molar volume [m3.mol-1]": spec["lithium_molar_volume [m3 mol-1]"],
        "Lithium metal exchange-current rate constant [A.m-2.(mol.m-3)-1]": spec["lithium_rate_constant"],
        "Initial stoichiometry": spec["initial_stoichiometry"],
        "Stoichiometry at 0 % state of charge": spec["x_0"],
        "Stoichiometry at 100 % state of charge": spec["x_100"],
        "Temperature [K]": spec["temperature [K]"],
        "Exchange-current factor (wetted surface)": spec["exchange_current_factor"],
        "Electrode cross-section of the resolved cell [m2]": spec["cross_section [m2]"],
        "1C current density [A.m-2]": spec["one_c_current_density [A m-2]"],
    }
    if spec.get("lithium_exchange_current [A m-2]") is not None:
        user["Lithium metal exchange-current density [A.m-2]"] = spec["lithium_exchange_current [A m-2]"]
    if isinstance(tp, str):
        user["Cation transference number function"] = tp
    t_const = tp if not isinstance(tp, str) else float(eval(tp, {"__builtins__": {}}, {"x": c_e0}))  # noqa: S307
    doc = {
        "Header": {
            "BPX": BPX_VERSION,
            "Title": "cellsim homogenised twin (half-cell DFN)",
            "Description": f"Homogenised {spec['material']} working electrode vs lithium metal, from the resolved "
            f"cellsim geometry ({spec['particles']} particles, connectivity: {spec['connectivity']}; "
            f"radius mapping '{spec['radius_mapping']}')",
            "References": "Chen et al. 2020 J. Electrochem. Soc. 167 080534; Nyman et al. 2008 Electrochim. Acta "
            "53 6356; Xu et al. 2019 J. Electrochem. Soc. 166 A3456",
            "Model": "Partial",
        },
        "Parameterisation": {
            "Cell": {
                "Electrode area [m2]": 1.0,
                "Number of electrode pairs connected in parallel to make a cell": 1,
                "Lower voltage cut-off [V]": spec["min_voltage [V]"] or 2.5,
                "Upper voltage cut-off [V]": spec["max_voltage [V]"] or 4.4,
                "Nominal cell capacity [A.h]": spec["one_c_current_density [A m-2]"],
                # the temperature of the material's values (Arrhenius factors are relative to it)
                "Reference temperature [K]": spec.get("reference_temperature [K]", 298.15),
            },
            "Electrolyte": {
                "Cation transference number": t_const,
                "Diffusivity [m2.s-1]": fn["electrolyte_diffusivity [m2 s-1]"],
                "Conductivity [S.m-1]": fn["electrolyte_conductivity [S m-1]"],
            },
            "Positive electrode": {
                "Thickness [m]": spec["thickness [m]"],
                "Porosity": spec["porosity"],
                "Transport efficiency": spec["transport_efficiency"],
                "Conductivity [S.m-1]": spec["electronic_conductivity [S m-1]"],
                "Minimum stoichiometry": x_lo,
                "Maximum stoichiometry": x_hi,
                "Maximum concentration [mol.m-3]": c_max,
                "Particle radius [m]": spec["particle_radius [m]"],
                "Surface area per unit volume [m-1]": 3.0 * spec["active_fraction"] / spec["particle_radius [m]"],
                "Diffusivity [m2.s-1]": fn["particle_diffusivity [m2 s-1]"],
                "OCP [V]": fn["ocp [V]"],
                "Reaction rate constant [mol.m-2.s-1]": k_norm,
                "Reaction rate constant activation energy [J.mol-1]": spec.get(
                    "exchange_current_activation_energy [J mol-1]", 0.0),
            },
            "Separator": {
                "Thickness [m]": spec["separator_thickness [m]"],
                "Porosity": spec["separator_porosity"],
                "Transport efficiency": spec["separator_porosity"] ** spec["separator_bruggeman"],
            },
            "User-defined": user,
        },
        "State": {
            "Initial conditions": {
                "Initial temperature [K]": spec["temperature [K]"],
                "Initial electrolyte concentration [mol.m-3]": c_e0,
            },
            "Thermal environment": {"Ambient temperature [K]": spec["temperature [K]"]},
        },
    }
    return doc


def _fn_text(v):
    """A BPX Function / number back to the text/float of a spec."""
    if isinstance(v, (int, float)):
        return float(v)
    return str(v)


def spec_from_bpx(path_or_doc) -> dict:
    """Validate a twin BPX file with the ``bpx`` package and read it back into a spec."""
    import bpx

    if isinstance(path_or_doc, dict):
        obj = bpx.parse_bpx_obj(copy.deepcopy(path_or_doc))  # the parser rewrites its argument
    else:
        obj = bpx.parse_bpx_file(str(path_or_doc))
    p = obj.parameterisation
    pe, el, sep, cell, ud = p.positive_electrode, p.electrolyte, p.separator, p.cell, p.user_defined
    u = ud.model_dump() if ud is not None else {}
    c_e0 = obj.state.initial_conditions.initial_electrolyte_concentration
    c_max = pe.maximum_concentration
    f = u["Exchange-current factor (wetted surface)"]
    eps, te = pe.porosity, pe.transport_efficiency
    tp = u.get("Cation transference number function")
    spec = {
        "thickness [m]": pe.thickness,
        "cross_section [m2]": u["Electrode cross-section of the resolved cell [m2]"],
        "porosity": eps,
        "active_fraction": pe.surface_area_per_unit_volume * pe.particle_radius / 3.0,
        "particle_radius [m]": pe.particle_radius,
        "exchange_current_factor": f,
        "transport_efficiency": te,
        "electrolyte_tortuosity": eps / te,
        "electronic_conductivity [S m-1]": pe.conductivity,
        "separator_thickness [m]": sep.thickness,
        "separator_porosity": sep.porosity,
        "separator_bruggeman": math.log(sep.transport_efficiency) / math.log(sep.porosity),
        "initial_electrolyte_concentration [mol m-3]": c_e0,
        "lithium_exchange_current [A m-2]": u.get("Lithium metal exchange-current density [A.m-2]"),
        "lithium_molar_volume [m3 mol-1]": u["Lithium metal partial molar volume [m3.mol-1]"],
        "lithium_rate_constant": u["Lithium metal exchange-current rate constant [A.m-2.(mol.m-3)-1]"],
        "temperature [K]": u["Temperature [K]"],
        "initial_stoichiometry": u["Initial stoichiometry"],
        "x_0": u["Stoichiometry at 0 % state of charge"],
        "x_100": u["Stoichiometry at 100 % state of charge"],
        "one_c_current_density [A m-2]": u["1C current density [A.m-2]"],
        "min_voltage [V]": cell.lower_voltage_cutoff,
        "max_voltage [V]": cell.upper_voltage_cutoff,
        "c_max [mol m-3]": c_max,
        "rate_constant": pe.reaction_rate_constant / (f * c_max * math.sqrt(c_e0)),
        "exchange_current_activation_energy [J mol-1]": pe.reaction_rate_constant_activation_energy or 0.0,
        "reference_temperature [K]": float(cell.reference_temperature),
        "alpha_a": 0.5,
        "alpha_c": 0.5,
        "functions": {
            "ocp [V]": _fn_text(pe.ocp),
            "particle_diffusivity [m2 s-1]": _fn_text(pe.diffusivity),
            "electrolyte_conductivity [S m-1]": _fn_text(el.conductivity),
            "electrolyte_diffusivity [m2 s-1]": _fn_text(el.diffusivity),
            "transference_number": _fn_text(tp) if tp is not None else float(el.cation_transference_number),
        },
    }
    return spec


def write_bpx(spec: dict, path) -> dict:
    """Write the BPX file and validate it (raises if the bpx package rejects it)."""
    doc = to_bpx(spec)
    spec_from_bpx(doc)  # validates
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    return doc


def write_pybamm_set(pv, path) -> None:
    """The PyBaMM set as JSON (``pybamm.ParameterValues.from_json(path)`` reloads it)."""
    pv.to_json(str(path))
