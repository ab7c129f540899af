"""Homogenised (DFN) parameters of a resolved half-cell electrode, measured on its mesh.

Collective (every rank gets the same dict). What is measured, and how it maps to the
Doyle-Fuller-Newman model (docs/dfn.md has the equations and the measured effect of the
alternatives):

* thickness L and cross-section A of the electrode box, porosity eps_e, binder fraction,
  electrolyte tortuosity factor tau_e (-> transport efficiency eps_e/tau_e, Bruggeman
  b = 1 - ln tau_e / ln eps_e) and effective electronic conductivity sigma_eff from
  :func:`cellsim.tortuosity_cmd.electrode_tortuosity`;
* per particle i: volume V_i, wetted area A_pe,i (particle/electrolyte facets, the
  reactive surface), binder-covered area A_pb,i, radius R_i (the generator's radius when
  the geometry reports ``particle_radii``, else the volume-equivalent (3 V_i / 4 pi)^(1/3));
* connectivity: particles listed in ``tm.info["particles_not_connected"]`` (the geometry
  report) are left out of the active fraction; without that entry every particle counts
  (``connectivity = "not reported"``);
* active fraction eps_s = sum V_i / (L A) over connected particles;
* particle radius, three mappings that give the same reactive area per volume
  a_r = f 3 eps_s / R, with w = sum A_pe,i R_32 / (3 sum V_i) the wetted fraction of the
  equivalent spheres:
  ``"volume"``: R = Sauter mean R_32 = sum R_i^3 / sum R_i^2 (= R for equal spheres), exchange
  current scaled by f = w (the shortest diffusion path: under-polarised, measured);
  ``"area"``: R = 3 sum V_i / sum A_pe,i = R_32 / w, f = 1 (the former test mapping; the
  longest path: over-polarised, measured);
  ``"geometric"`` (default): their geometric mean, R = R_32 / sqrt(w), f = sqrt(w)
  (docs/dfn.md: the two bound the resolved voltage in every measured cell, this lies between).
"""

from __future__ import annotations

import math
import re

import numpy as np

RADIUS_MAPPINGS = ("geometric", "volume", "area")
DEFAULT_RADIUS = "geometric"


def _particles(tm) -> list[tuple[int, str]]:
    out = []
    for name, tags in tm.regions.items():
        m = re.fullmatch(r"particle_(\d+)", name)
        if m and len(tags) == 1:
            out.append((int(m.group(1)), name))
    return sorted(out)


def measure_electrode(tm, binder_conductivity: float = 50.0, particle_conductivity: float = 0.18) -> dict:
    """Everything the twin needs from the mesh (collective): see the module docstring."""
    from ..geometry import measure
    from ..tortuosity_cmd import electrode_tortuosity

    tau = electrode_tortuosity(tm, binder_conductivity, particle_conductivity)
    parts = _particles(tm)
    if not parts:  # one aggregate region only
        parts = [(0, "particle")]
    radii_info = tm.info.get("particle_radii") if tm.info else None
    per = []
    for i, name in parts:
        V = measure.region_volume(tm, name)
        a_e = f"{name}_electrolyte" if name != "particle" else "particle_electrolyte"
        a_b = f"{name}_binder" if name != "particle" else "particle_binder"
        Ae = measure.interface_area(tm, a_e) if a_e in tm.interfaces else 0.0
        Ab = measure.interface_area(tm, a_b) if a_b in tm.interfaces else 0.0
        R = (3.0 * V / (4.0 * math.pi)) ** (1.0 / 3.0)
        src = "volume-equivalent"
        if radii_info is not None and i < len(radii_info) and name != "particle":
            R, src = float(radii_info[i]), "geometry"
        per.append({"index": i, "name": name, "volume [m3]": V, "wetted_area [m2]": Ae,
                    "binder_area [m2]": Ab, "radius [m]": R, "radius_source": src})
    nc = tm.info.get("particles_not_connected") if tm.info else None
    if nc is None:
        connectivity = "not reported (all particles counted)"
        isolated = []
    else:
        isolated = sorted(int(k) for k in nc)
        connectivity = "geometry report"
    for p in per:
        p["connected"] = p["index"] not in isolated
    sep_vol = measure.region_volume(tm, "separator") if "separator" in tm.regions else 0.0
    return {"tortuosity": tau, "particles": per, "connectivity": connectivity, "isolated": isolated,
            "separator_volume [m3]": sep_vol,
            "collector_contact_area [m2]": sum(measure.interface_area(tm, n) for n in
                                               ("collector_binder", "collector_particle") if n in tm.interfaces)}


def homogenise(meas: dict, case, radius: str = DEFAULT_RADIUS) -> dict:
    """The DFN parameters (flat dict, SI, JSON-able) from :func:`measure_electrode` and the case."""
    if radius not in RADIUS_MAPPINGS:
        raise ValueError(f"radius = {radius!r}: allowed {RADIUS_MAPPINGS}")
    tau = meas["tortuosity"]
    L, A = tau["thickness [m]"], tau["cross_section [m2]"]
    box = L * A
    per = meas["particles"]
    conn = [p for p in per if p["connected"]]
    if not conn:
        raise ValueError("no particle is connected to the current collector: the electrode has no active material")
    V_all = sum(p["volume [m3]"] for p in per)
    V = sum(p["volume [m3]"] for p in conn)
    Ae = sum(p["wetted_area [m2]"] for p in conn)
    Ab = sum(p["binder_area [m2]"] for p in conn)
    Rs = np.array([p["radius [m]"] for p in conn])
    R32 = float(np.sum(Rs**3) / np.sum(Rs**2))
    R_area = 3.0 * V / Ae
    w = Ae * R32 / (3.0 * V)  # wetted fraction of the equivalent spheres (R_area = R32 / w)
    if radius == "volume":
        R, f = R32, w
    elif radius == "area":
        R, f = R_area, 1.0
    else:
        R, f = math.sqrt(R32 * R_area), math.sqrt(w)
    mat = case.material.resolve()
    e = tau["electrolyte"]
    s = tau["electronic"]
    if s.get("percolates"):
        sigma, sigma_src = float(s["effective_conductivity [S m-1]"]), "electrode_tortuosity (network percolates)"
    else:
        # the network does not span collector -> separator plane (e.g. wall gaps): no measured value
        eps_solid = V / box + tau.get("binder_fraction", 0.0)
        sig_p = case.solid.particle_conductivity or mat.electronic_conductivity
        sigma = max(case.solid.binder_conductivity, sig_p) * eps_solid**1.5
        sigma_src = "Bruggeman estimate eps_solid^1.5 sigma (network does not percolate in the tortuosity sense)"
    x0 = case.physics.initial_stoichiometry if case.physics.initial_stoichiometry is not None else mat.x_100
    FARADAY = 96485.33212
    # 1C of the resolved run (all particles, as cellsim run counts today) and of the connected material
    i1c_all = FARADAY * mat.c_max * abs(mat.x_100 - mat.x_0) * V_all / 3600.0 / A
    i1c_conn = i1c_all * V / V_all
    sep_L = meas["separator_volume [m3]"] / A if meas["separator_volume [m3]"] > 0 else 0.0
    return {
        "thickness [m]": L,
        "cross_section [m2]": A,
        "porosity": tau["porosity"],
        "binder_fraction": tau.get("binder_fraction", 0.0),
        "active_fraction": V / box,
        "active_fraction_all": V_all / box,
        "connectivity": meas["connectivity"],
        "particles": len(per),
        "isolated_particles": list(meas["isolated"]),
        "radius_mapping": radius,
        "particle_radius [m]": R,
        "radius_volume_sauter [m]": R32,
        "radius_3V_over_A [m]": R_area,
        "radius_min [m]": float(Rs.min()),
        "radius_max [m]": float(Rs.max()),
        "wetted_fraction": Ae / (Ae + Ab) if Ae + Ab > 0 else 1.0,
        "exchange_current_factor": f,
        "specific_reactive_area [m-1]": f * 3.0 * (V / box) / R,
        "electrolyte_tortuosity": e["tortuosity_factor"],
        "transport_efficiency": tau["porosity"] / e["tortuosity_factor"],
        "bruggeman": e["bruggeman_exponent"],
        "electronic_conductivity [S m-1]": sigma,
        "electronic_conductivity_source": sigma_src,
        "collector_contact_area [m2]": meas["collector_contact_area [m2]"],
        "collector_contact_resistance [Ohm m2]": (A / (case.solid.collector_conductance *
                                                        meas["collector_contact_area [m2]"])
                                                  if meas["collector_contact_area [m2]"] > 0 else None),
        "separator_thickness [m]": sep_L,
        "separator_porosity": case.separator.porosity,
        "separator_bruggeman": case.separator.bruggeman,
        "material": mat.name,
        "electrolyte": case.electrolyte.parameters,
        "initial_electrolyte_concentration [mol m-3]": case.electrolyte.initial_concentration,
        "lithium_exchange_current [A m-2]": case.lithium.exchange_current,
        "temperature [K]": case.physics.temperature,
        "initial_stoichiometry": x0,
        "one_c_current_density [A m-2]": i1c_all,
        "one_c_current_density_connected [A m-2]": i1c_conn,
        "min_voltage [V]": case.stop.min_voltage,
        "max_voltage [V]": case.stop.max_voltage,
    }
