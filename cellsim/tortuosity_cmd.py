"""Tortuosity factors of a half-cell electrode (TauFactor-like), for homogenised models.

The electrode is the part of the geometry between the current collector and the separator
(regions ``particle``, ``binder``, ``electrolyte``); the transport axis is the thickness
direction (the last coordinate). On that sub-box, :func:`cellsim.physics.tortuosity.tortuosity`
solves steady conduction with unit potential difference between the collector plane and
the separator plane and reports

* electrolyte: volume fraction eps_e (porosity), conductivity fraction f_e = D_eff/D, and
  tortuosity factor tau_e = eps_e / f_e (a homogenised model uses D_eff = D eps_e / tau_e,
  i.e. Bruggeman exponent b = 1 - ln tau_e / ln eps_e);
* electronic network (carbon-binder and particles, each with its conductivity; contacts
  ideal): effective conductivity sigma_eff, eps_s, and tau_s = eps_s sigma_ref / sigma_eff
  with sigma_ref the binder conductivity. A network that does not reach both planes carries
  no through-current in this sense: it is reported with ``percolates = false``.

``main(case_path, outdir, comm)`` is the ``cellsim tortuosity CASE`` command: it builds the
case's geometry and writes ``tortuosity.json`` into ``outdir``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .dolfinx_env import require_dolfinx


def _electrode_submesh(tm):
    """Submesh of the electrode region (particles, binder, electrolyte) with its cell tags."""
    require_dolfinx()
    from dolfinx import mesh as dmesh

    parent = tm.mesh
    tdim = parent.topology.dim
    tags = tuple(tm.regions.get("particle", ())) + tuple(tm.regions.get("binder", ())) + tuple(
        tm.regions.get("electrolyte", ()))
    sel = np.isin(tm.cell_tags.values, np.asarray(tags, dtype=tm.cell_tags.values.dtype))
    cells = np.unique(tm.cell_tags.indices[sel]).astype(np.int32)
    sub, emap, _, _ = dmesh.create_submesh(parent, tdim, cells)
    imap = sub.topology.index_map(tdim)
    nsub = imap.size_local + imap.num_ghosts
    pcells = emap.sub_topology_to_topology(np.arange(nsub, dtype=np.int32), False)
    imp = parent.topology.index_map(tdim)
    tag_of = np.full(imp.size_local + imp.num_ghosts, -1, dtype=np.int32)
    tag_of[tm.cell_tags.indices] = tm.cell_tags.values
    st = dmesh.meshtags(sub, tdim, np.arange(nsub, dtype=np.int32), tag_of[pcells])
    return sub, st


def electrode_tortuosity(tm, binder_conductivity: float = 50.0, particle_conductivity: float = 0.18,
                         rtol: float = 1e-10) -> dict:
    """Electrolyte and electronic-network tortuosity of the electrode of ``tm`` (collective)."""
    from .physics.tortuosity import tortuosity

    sub, st = _electrode_submesh(tm)
    axis = tm.mesh.geometry.dim - 1
    E = tuple(tm.regions["electrolyte"])
    res = tortuosity(sub, st, E, axis=axis, rtol=rtol, petsc_options_prefix="cellsim_tau_e_")
    out = {
        "axis": axis,
        "thickness [m]": res.length,
        "cross_section [m2]": res.area,
        "electrolyte": {
            "volume_fraction": res.volume_fraction,
            "conductivity_fraction": res.conductivity_fraction,
            "tortuosity_factor": res.tortuosity_factor,
            "bruggeman_exponent": (1.0 - math.log(res.tortuosity_factor) / math.log(res.volume_fraction)
                                   if 0 < res.volume_fraction < 1 and math.isfinite(res.tortuosity_factor)
                                   else None),
            "isolated_volume_fraction": res.isolated_volume_fraction,
            "flux_mismatch": res.flux_mismatch,
            "krylov_iterations": res.krylov_iterations,
        },
    }
    P = tuple(tm.regions.get("particle", ()))
    B = tuple(tm.regions.get("binder", ()))
    sigma = {t: particle_conductivity for t in P}
    sigma.update({t: binder_conductivity for t in B})
    try:
        r2 = tortuosity(sub, st, P + B, axis=axis, sigma=sigma, sigma_ref=binder_conductivity, rtol=rtol,
                        petsc_options_prefix="cellsim_tau_s_")
        out["electronic"] = {
            "percolates": True,
            "volume_fraction": r2.volume_fraction,
            "conductivity_fraction": r2.conductivity_fraction,
            "tortuosity_factor": r2.tortuosity_factor,
            "effective_conductivity [S m-1]": r2.conductivity_fraction * binder_conductivity,
            "reference_conductivity [S m-1]": binder_conductivity,
            "isolated_volume_fraction": r2.isolated_volume_fraction,
        }
    except ValueError as exc:
        out["electronic"] = {"percolates": False, "reason": str(exc), "tortuosity_factor": math.inf,
                             "effective_conductivity [S m-1]": 0.0}
    # volumes of the phases in the electrode box
    from dolfinx import fem
    import ufl
    from mpi4py import MPI

    dx = ufl.Measure("dx", domain=sub, subdomain_data=st)
    one = fem.Constant(sub, 1.0)
    box = res.length * res.area

    def vol(tags):
        if not tags:
            return 0.0
        return sub.comm.allreduce(fem.assemble_scalar(fem.form(one * dx(tags))), op=MPI.SUM) / box

    out["active_fraction"] = vol(P)
    out["binder_fraction"] = vol(B)
    out["porosity"] = vol(E)
    return out


def main(case_path, outdir, comm=None) -> int:
    """``cellsim tortuosity CASE``: tortuosity factors of the case's electrode -> tortuosity.json."""
    from mpi4py import MPI

    from .case import load_case
    from .geometry.mesh import build_mesh
    from .log import setup_logging

    comm = comm or MPI.COMM_WORLD
    log = setup_logging(comm.rank)
    case = load_case(case_path)
    if getattr(case, "model", None) != "halfcell":
        if comm.rank == 0:
            log.error(f"{case_path}: tortuosity needs a half-cell case (model = 'halfcell')")
        return 2
    tm = build_mesh(case.geometry, comm, order=1)
    mat = case.material.resolve()
    sig_p = case.solid.particle_conductivity or mat.electronic_conductivity
    res = electrode_tortuosity(tm, case.solid.binder_conductivity, sig_p)
    res["case"] = str(case_path)
    outdir = Path(outdir)
    if comm.rank == 0:
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / "tortuosity.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
        e, s = res["electrolyte"], res["electronic"]
        log.info(f"electrolyte: eps = {e['volume_fraction']:.4f}, tau = {e['tortuosity_factor']:.4f}, "
                 f"Bruggeman b = {e['bruggeman_exponent']}")
        log.info("electronic network: " + (f"eps = {s['volume_fraction']:.4f}, tau = {s['tortuosity_factor']:.4f}, "
                                           f"sigma_eff = {s['effective_conductivity [S m-1]']:.4g} S/m"
                                           if s["percolates"] else f"does not percolate ({s['reason']})"))
        log.info(f"written {outdir / 'tortuosity.json'}")
    return 0
