"""Cohesive grain boundaries of secondary particles in the half-cell's skeleton
(``[mechanics] grain_boundary = "cohesive"``, cellsim/models/halfcell_grain_boundaries.py).

Mesh: the two 4-grain particles of tests/geometry/test_composite_multiscale.py (GRAINS),
tied to the carbon-binder, collector clamped; NMC811 lattice strain (Kondrakov 2017 table),
initial stoichiometry X0 = 0.9.

(a) Penalty-stiff, unbreakable grain boundaries = bonded grains. At a uniform X1 = 0.75
(frozen concentrations) the random orientations give mismatch stresses of order
E |D(X1) - D(X0)|; the cohesive run (strengths 10 GPa: no damage) must give the bonded run's
displacement, hydrostatic and von Mises stress. A penalty tie of stiffness K between solids of
modulus E and element size h changes the solution by O(E / (K h)) relative (the opening
sigma / K against the displacement over one element): asserted as first order in 1/K (the
max relative differences fall by 7-13x from K = 1e21 to 1e22 Pa m-1) and below 3e-3 at
K = 1e22 (E / (K h) = 7.5e-5 at h = 0.5 um, the stresses' largest difference sits at the
smallest elements next to the boundaries: measured 1.2e-3 for von Mises, 9e-5 displacement).

(b) The closed form of the law on opening grain boundaries. Weak boundaries (N = 20 MPa,
G_Ic = 0.01 J m-2, default penalty) open in 30 s of 1C charge (46 steps: 90 % of the
boundary area damages, none separates yet: max opening 5e-10 m < delta_f = 1e-9 m). The
lithium balances hold every step. The output fields hold one file per colour and the damage
of every interface. Every
accepted step, the committed damage of every grain-boundary facet equals that of the
independent reference law (tests/reference/cohesive_closed_form.py, written without any code
of cellsim.physics.cohesive) fed the same sequence of facet openings, to 1e-9; some facets
damage and the dissipated energy grows.

(c) The run of (b) on 2 ranks equals the serial run (rows, damage, dissipated energy).

(d) Its end checkpointed and loaded into a fresh model: the same grain-boundary history
(kappa, d, dissipated energy per facet) exactly, and after one more step in both to 1e-9.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geometry"))
from test_composite_multiscale import GRAINS  # noqa: E402

from cellsim.case.halfcell import HalfCellCase  # noqa: E402
from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.materials.lattice import NMC811_KONDRAKOV2017 as LATTICE  # noqa: E402
from cellsim.models.halfcell import HalfCellModel  # noqa: E402
from cellsim.simulation import run_protocol  # noqa: E402
from tests.reference import cohesive_closed_form as ref  # noqa: E402

X0, X1 = 0.9, 0.75
K = 1e22
STIFF = {"grain_boundary_penalty": K, "grain_boundary_normal_strength": 1e10, "grain_boundary_shear_strength": 1e10}
#: weak boundaries at the default penalty 1e20 Pa m-1 (1e22 leaves a round-off floor of 4e-9 in the lithium
#: balance of the short damage-controlled steps; 6e-11 at 1e20); damage steps of up to 0.3
WEAK = {"grain_boundary_normal_strength": 20e6, "grain_boundary_shear_strength": 40e6,
        "grain_boundary_fracture_energy_I": 0.01, "grain_boundary_fracture_energy_II": 0.02, "max_damage_change": 0.3}
ERRORS = ["interface current error [-]", "lithium metal current error [-]", "particle lithium error [-]",
          "lithium balance error [-]"]


def make_case(gb: str, steps=None, **mech):
    steps = steps or [{"mode": "rest", "duration": 1.0}]
    d = {"model": "halfcell", "protocol": {"steps": steps}, "solver": {"atol": 1e-12, "rtol": 1e-14},
         "time": {"dt_initial": 10.0, "dt_max": 60.0}, "output": {"fields": False},
         "physics": {"mechanics": True, "initial_stoichiometry": X0},
         "mechanics": {"skeleton": True, "grain_boundary": gb, **mech},
         "material": {"name": "nmc811_chen2020", "lattice_strain": LATTICE.name}}
    return HalfCellCase.model_validate(d, context={"mesh_given": True})


def _cells_on_particle_submesh(model, k):
    """(colour-k submesh cells 0..n-1, their particle-submesh cells)."""
    r, rp = model.colour_sub[k], model.sub["particle"]
    im = r.mesh.topology.index_map(r.mesh.topology.dim)
    n = im.size_local + im.num_ghosts
    pc = r.entity_map.sub_topology_to_topology(np.arange(n, dtype=np.int32), False)
    return np.arange(n, dtype=np.int32), rp.entity_map.sub_topology_to_topology(pc, True)


def _rel(a, b, comm):
    num = comm.allreduce(float(np.max(np.abs(a - b), initial=0.0)), op=MPI.MAX)
    den = comm.allreduce(float(np.max(np.abs(b), initial=0.0)), op=MPI.MAX)
    return num / den


def _penalty_errors(comm, tm, bonded, K):
    """Max relative differences (displacement, von Mises, sigma_h) of the cohesive run with
    penalty K (unbreakable) from the bonded run at the frozen uniform X1."""
    from dolfinx import fem

    coh = HalfCellModel(make_case("cohesive", **{**STIFF, "grain_boundary_penalty": K}), tm, comm)
    assert len(coh.grain_blocks) >= 2 and len(coh.gb_cohesives) >= 1
    coh.set_initial_state(X1, coh.case.electrolyte.initial_concentration)
    assert coh.solve_initial().converged
    fb = bonded._mech_fields()  # [u, stress, sigma_h, von Mises] on the particle submesh (DG0 stresses)
    errs = {"u": 0.0, "vm": 0.0}
    for k, fs in enumerate(coh.grain_stress_fields()):
        sub_cells, p_cells = _cells_on_particle_submesh(coh, k)
        ub = fem.Function(coh.u[f"u_{k}"].function_space)
        ub.interpolate(bonded.U, cells0=p_cells, cells1=sub_cells)
        errs["u"] = max(errs["u"], _rel(coh.u[f"u_{k}"].x.array, ub.x.array, comm))
        Qb, Qc = fb[3].function_space, fs[3].function_space
        vb = fb[3].x.array[Qb.dofmap.list[p_cells, 0]]
        vc = fs[3].x.array[Qc.dofmap.list[sub_cells, 0]]
        errs["vm"] = max(errs["vm"], _rel(vc, vb, comm))
    # sigma_h: the same particle submesh (same cells, same dof layout) in both models
    Vb, Vc = bonded.S.function_space, coh.S.function_space
    assert np.allclose(Vb.tabulate_dof_coordinates(), Vc.tabulate_dof_coordinates())
    errs["sigma_h"] = _rel(coh.S.x.array, bonded.S.x.array, comm)
    # no damage anywhere (unbreakable): the committed history after the solve stays zero
    for c in coh.gb_cohesives:
        c.update_history()
        assert comm.allreduce(float(np.max(c.itf.d.x.array, initial=0.0)), op=MPI.MAX) == 0.0
    coh.close()
    return errs


@pytest.mark.slow
@pytest.mark.mpi
def test_stiff_unbreakable_grain_boundaries_equal_bonded_grains():
    comm = MPI.COMM_WORLD
    tm = build_mesh(GRAINS, comm)
    bonded = HalfCellModel(make_case("bonded"), tm, comm)
    bonded.set_initial_state(X1, bonded.case.electrolyte.initial_concentration)
    assert bonded.solve_initial().converged
    vm_max = comm.allreduce(float(np.max(bonded._mech_fields()[3].x.array, initial=0.0)), op=MPI.MAX)
    (a1, c1), (a0, c0) = LATTICE.strains(X1), LATTICE.strains(X0)
    dD = np.linalg.norm([a1 - a0, a1 - a0, c1 - c0])
    assert vm_max > 0.05 * bonded.mat.youngs_modulus * dD, vm_max  # a real mismatch stress to compare
    e1, e2 = _penalty_errors(comm, tm, bonded, K / 10), _penalty_errors(comm, tm, bonded, K)
    if comm.rank == 0:
        print(f"max von Mises {vm_max:.4g} Pa; K = {K / 10:g}: {e1}; K = {K:g}: {e2}")
    for key in e1:  # first order in 1/K, towards the bonded solution
        assert 7.0 < e1[key] / e2[key] < 13.0, (key, e1, e2)
        assert e2[key] < 3e-3, (key, e2)


def _weak_run(comm):
    """The 1C charge with weak grain boundaries: (rows, model, per-accept records of every
    grain-boundary facet: [(dn, ds), committed d] per term)."""
    tm = build_mesh(GRAINS, comm)
    case = make_case("cohesive", [{"mode": "cc", "c_rate": 1.0, "direction": "charge", "duration": 30.0}], **WEAK)
    model = HalfCellModel(case, tm, comm)
    records = []
    accept = model.accept

    def recording_accept():
        rec = []
        for c in model.gb_cohesives:
            jump, _, _ = c.itf.facet_state()
            dn = np.sum(jump * c.itf.normal, axis=1)
            ds = np.linalg.norm(jump - dn[:, None] * c.itf.normal, axis=1)
            rec.append([dn, ds])
        accept()
        for r, c in zip(rec, model.gb_cohesives):
            r.append(c.itf.d.x.array[: c.itf._nown].copy())
        records.append(rec)

    model.accept = recording_accept
    model.solve_initial()
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    return res.rows, model, records, tm


def _gb_history(model) -> dict:
    return {f"{c.name}/{k}": getattr(c.itf, k).x.array[: c.itf._nown].copy()
            for c in model.gb_cohesives for k in ("kappa", "d", "D")}


def _check_resume(model, tm, tmp):
    """Checkpoint the end of the run, load it into a fresh model, take one more 1C step in
    both: the same damage history, facet by facet."""
    from cellsim import checkpoint as ck

    comm = model.comm
    ck.save(model, {"steps": 0}, tmp)
    other = HalfCellModel(model.case, tm, comm)
    ck.load(other, tmp)
    h0, h1 = _gb_history(model), _gb_history(other)
    for k in h0:
        np.testing.assert_array_equal(h1[k], h0[k], err_msg=k)
    for m in (model, other):
        m.set_current(float(model.i_app.value), predict=False)
        assert m.step(5.0).converged
        m.accept()
    h0, h1 = _gb_history(model), _gb_history(other)
    for k in h0:
        np.testing.assert_allclose(h1[k], h0[k], rtol=1e-9, atol=1e-12 * max(np.abs(h0[k]).max(initial=0), 1e-300),
                                   err_msg=k)
    assert comm.allreduce(max(float(np.max(v, initial=0.0)) for k, v in h0.items() if k.endswith("/d")),
                          op=MPI.MAX) > 0


@pytest.mark.slow
@pytest.mark.mpi
def test_opening_grain_boundaries_follow_the_closed_form_law_and_ranks_agree(tmp_path_factory):
    comm = MPI.COMM_WORLD
    rows, model, records, tm = _weak_run(comm)
    for r in rows[1:]:
        for k in ERRORS:
            assert abs(r[k]) < 1e-9, (k, r[k])
    ms = model.case.mechanics
    p = ms.grain_boundary_parameters()
    worst, ndam = 0.0, 0
    for t, c in enumerate(model.gb_cohesives):
        n = c.itf._nown
        laws = [ref.ReferenceLaw(p["K"], p["N"], p["S"], p["G_Ic"], p["G_IIc"], mixed_mode=p["mixed_mode"],
                                 eta=p["eta"], d_max=p["d_max"]) for _ in range(n)]
        for rec in records:
            dn, ds, d = rec[t]
            for i, law in enumerate(laws):
                law.step(float(dn[i]), (float(ds[i]),))
                worst = max(worst, abs(law.d - d[i]))
        ndam += int(np.sum(records[-1][t][2] > 0))
    worst = comm.allreduce(worst, op=MPI.MAX)
    ndam = comm.allreduce(ndam, op=MPI.SUM)
    if comm.rank == 0:
        print(f"law: worst |d - d_ref| {worst:.3g} over {len(records)} steps, {ndam} damaged facets; last row "
              + ", ".join(f"{k} {v:.4g}" for k, v in rows[-1].items() if "grain boundary" in k))
    assert worst < 1e-9, worst
    last = rows[-1]
    assert ndam > 10 and last["grain boundary damaged area fraction [-]"] > 0.05, (ndam, last)
    E = [r["grain boundary dissipated energy [J]"] for r in rows]
    assert E[-1] > 0 and all(b >= a - 1e-30 for a, b in zip(E, E[1:]))
    parts = [last[f"grain boundary damaged area fraction particle {i} [-]"] for i in range(2)]
    assert min(parts) <= last["grain boundary damaged area fraction [-]"] <= max(parts)
    # fields: one file per colour (displacement, stresses), the damage of every interface; the
    # written von Mises maximum is the column's
    from cellsim.output import FIELD_UNITS

    out = model.output_fields()
    for k in range(len(model.grain_blocks)):
        assert [f.name for f in out[f"particle_grains_{k}"]] == ["displacement", "stress", "hydrostatic_stress",
                                                                  "von_mises_stress"]
    for c in model.gb_cohesives:
        assert [f.name for f in out[f"{c.name}_interface"]] == ["interface_damage"]
    assert all(f.name in FIELD_UNITS for fs in out.values() for f in fs)
    vm = comm.allreduce(max(float(np.max(out[f"particle_grains_{k}"][3].x.array, initial=0.0))
                            for k in range(len(model.grain_blocks))), op=MPI.MAX)
    assert vm == last["max von mises stress particle [Pa]"]
    tmp = Path(comm.bcast(str(tmp_path_factory.mktemp("gb_resume")) if comm.rank == 0 else None, root=0))
    _check_resume(model, tm, tmp)
    if comm.size > 1:
        rs, _, _, _ = _weak_run(MPI.COMM_SELF)
        assert len(rs) == len(rows)
        for k in ("voltage [V]", "grain boundary damaged area fraction [-]", "grain boundary dissipated energy [J]",
                  "grain boundary cracked area fraction [-]", "max von mises stress particle [Pa]"):
            assert math.isclose(rs[-1][k], last[k], rel_tol=1e-7, abs_tol=1e-30), (k, rs[-1][k], last[k])


def test_grain_boundary_options_are_checked_before_any_mesh():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="grain_boundary = 'cohesive' needs mechanics.skeleton = true"):
        HalfCellCase.model_validate({"model": "halfcell", "protocol": {"steps": [{"mode": "rest", "duration": 1}]},
                                     "physics": {"mechanics": True}, "mechanics": {"grain_boundary": "cohesive"}},
                                    context={"mesh_given": True})
    with pytest.raises(ValidationError, match="particle_type = 'secondary'"):
        dense = {k: v for k, v in GRAINS.items() if k not in ("particle_type", "n_grains")}
        HalfCellCase.model_validate({"model": "halfcell", "geometry": dense,
                                     "protocol": {"steps": [{"mode": "rest", "duration": 1}]},
                                     "physics": {"mechanics": True},
                                     "mechanics": {"skeleton": True, "grain_boundary": "cohesive"}})
    with pytest.raises(ValidationError, match="grain_boundary_fracture_energy_I"):
        make_case("cohesive", grain_boundary_penalty=1e12)
    with pytest.raises(ValidationError, match="gap_reaction"):
        make_case("cohesive", gap_reaction=True)


# ---------------------------------------------------------------------------------------------
# lithium per grain colour (interface_transport = "damaged", halfcell_species.py)
# ---------------------------------------------------------------------------------------------
UNBREAKABLE = {"grain_boundary_normal_strength": 1e10, "grain_boundary_shear_strength": 1e10}
N_STEPS, DT = 4, 5.0


def _colour_forms(model):
    """Per colour block: (lithium [mol], its own surface reaction current [A]) forms."""
    from dolfinx import fem

    from cellsim.materials.base import FARADAY

    em = model.entity_maps
    out = []
    for name, dx in model.c_pieces:
        cur = sum(FARADAY * k.j * k.measure for k in model.surface_kinetics if k.c_s == name)
        out.append((fem.form(model.u[name] * dx, entity_maps=em),
                    fem.form(cur, entity_maps=em) if cur != 0 else None))
    return out


def _fixed_charge(model, colour_forms=None):
    """N_STEPS backward-Euler steps of DT at 1C charge from the uniform initial state: rows, and
    per step and colour (lithium gained, dt * own surface current / F) [mol]."""
    from cellsim.materials.base import FARADAY

    model.set_initial_state(X0, model.case.electrolyte.initial_concentration)
    assert model.solve_initial().converged
    model.set_current(-model.i_1C)
    rows, per = [], []
    for _ in range(N_STEPS):
        N0 = [model._assemble(fn) for fn, _ in colour_forms or []]
        assert model.step(DT).converged
        per.append([(model._assemble(fn) - n0, DT * (model._assemble(fi) if fi else 0.0) / FARADAY)
                    for (fn, fi), n0 in zip(colour_forms or [], N0)])
        model.accept()
        rows.append(model.diagnostics())
    return rows, per


def _split_minus_continuous(split, cont, comm) -> float:
    """max over colours of |c_k - c| / max |c - c_0| (c the continuous run's field)."""
    from dolfinx import fem

    num = 0.0
    for k in range(len(split.colour_sub)):
        sub_cells, p_cells = _cells_on_particle_submesh(split, k)
        ck = split.u[split.block_c(k)]
        cc = fem.Function(ck.function_space)
        cc.interpolate(cont.c_s, cells0=p_cells, cells1=sub_cells)
        num = max(num, float(np.max(np.abs(ck.x.array - cc.x.array), initial=0.0)))
    den = float(np.max(np.abs(cont.c_s.x.array - X0 * cont.c_max), initial=0.0))
    return comm.allreduce(num, op=MPI.MAX) / comm.allreduce(den, op=MPI.MAX)


def _mirror_error(model, comm) -> float:
    """max |written lithium_concentration - c_k| over the colours' cells [mol m-3]."""
    from dolfinx import fem

    f = model.output_fields()["particle"][0]
    assert f.name == "lithium_concentration" and f.function_space.ufl_element().discontinuous
    err = 0.0
    for k in range(len(model.colour_sub)):
        sub_cells, p_cells = _cells_on_particle_submesh(model, k)
        ck = model.u[model.block_c(k)]
        back = fem.Function(ck.function_space)
        back.interpolate(f, cells0=p_cells, cells1=sub_cells)
        err = max(err, float(np.max(np.abs(back.x.array - ck.x.array), initial=0.0)))
    return comm.allreduce(err, op=MPI.MAX)


@pytest.mark.slow
@pytest.mark.mpi
def test_lithium_per_grain_colour_bonded_equals_continuous_cracked_blocks():
    """(a) Intact (unbreakable) boundaries: the per-colour c equals the continuous-c run to
    O(1/k_0) (fitted: the difference falls 7-13x from k_0 to 10 k_0). (b) Every boundary forced
    to d = 1 with k_res = 0: no lithium crosses (transport exactly 0, each colour's lithium
    changes by its own surface reaction to round-off), while intact boundaries pass a lot.
    (c) The lithium balances every step. (d) 2 ranks = serial. The written
    lithium_concentration is the blocks' values."""
    from dolfinx import fem

    comm = MPI.COMM_WORLD
    tm = build_mesh(GRAINS, comm)
    cont = HalfCellModel(make_case("cohesive", interface_transport="continuous", **UNBREAKABLE), tm, comm)
    assert not cont.split_c and cont.block_names[0] == "c_s"
    rows_c, _ = _fixed_charge(cont)
    model = HalfCellModel(make_case("cohesive", **UNBREAKABLE), tm, comm)
    assert model.split_c and len(model.transports) == len(model.gb_cohesives) >= 1
    assert model.block_names[: len(model.colour_sub)] == [f"c_{k}" for k in range(len(model.colour_sub))]
    forms = _colour_forms(model)
    errs, runs = [], {}
    for f in (1.0, 10.0):
        model.k0_constant.value = f * model.k0
        runs[f] = _fixed_charge(model, forms)
        errs.append(_split_minus_continuous(model, cont, comm))
        assert _mirror_error(model, comm) <= 1e-12 * model.c_max
    q = DT * model.I_ref / 96485.33212  # lithium a 1C current moves in one step [mol]
    intact = max(abs(a - b) for step in runs[1.0][1] for a, b in step) / q
    # (b) every grain boundary cracked through (history forced to d = 1), no residual transport
    for c in model.gb_cohesives:
        it = c.itf
        it.d.x.array[:], it.d_inv.x.array[:], it.kappa.x.array[:] = 1.0, 1.0, 1.0
    model.k0_constant.value = model.k0
    rows_d, per_d = _fixed_charge(model, forms)
    for c in model.gb_cohesives:
        assert comm.allreduce(float(np.min(c.itf.d.x.array[: c.itf._nown], initial=1.0)), op=MPI.MIN) == 1.0
    flux = [model._assemble(fem.form(t.flux(model) * t.dS, entity_maps=model.entity_maps)) for t in model.transports]
    blocked = max(abs(a - b) for step in per_d for a, b in step) / q
    if comm.rank == 0:
        print(f"k0 = {model.k0:.4g} m/s: |c_k - c| / |dc| = {errs[0]:.3g} (k0), {errs[1]:.3g} (10 k0), ratio "
              f"{errs[0] / errs[1]:.3g}; per-colour imbalance intact {intact:.3g}, cracked {blocked:.3g}; "
              f"transport flux cracked {flux}")
    assert 7.0 < errs[0] / errs[1] < 13.0, errs  # first order in 1/k_0
    assert errs[1] < 2e-3, errs
    assert intact > 1e-3, intact  # intact boundaries carry lithium between colours
    assert all(v == 0.0 for v in flux), flux
    assert blocked < 1e-9, blocked
    # (c) balances every step of every run
    for rows in (rows_c, runs[1.0][0], runs[10.0][0], rows_d):
        for r in rows:
            for k in ERRORS:
                assert abs(r[k]) < 1e-9, (k, r[k])
    # (d) the ranks agree
    if comm.size > 1:
        tm1 = build_mesh(GRAINS, MPI.COMM_SELF)
        m1 = HalfCellModel(make_case("cohesive", **UNBREAKABLE), tm1, MPI.COMM_SELF)
        rows1, _ = _fixed_charge(m1)
        for k in ("voltage [V]", "mean stoichiometry [-]", "max lithium concentration [mol m-3]",
                  "min surface stoichiometry [-]", "max surface stoichiometry [-]", "soc particle 0 [-]"):
            assert math.isclose(rows1[-1][k], runs[1.0][0][-1][k], rel_tol=1e-9), (k, rows1[-1][k],
                                                                                  runs[1.0][0][-1][k])
        m1.close()
    cont.close()
    model.close()


# ---------------------------------------------------------------------------------------------
# cracked grain boundaries react (crack_reaction = true, halfcell_cracks.py)
# ---------------------------------------------------------------------------------------------
def _crack_run(comm):
    tm = build_mesh(GRAINS, comm)
    case = make_case("cohesive", [{"mode": "cc", "c_rate": 1.0, "direction": "charge", "duration": 30.0}],
                     crack_reaction=True, **WEAK)
    model = HalfCellModel(case, tm, comm)
    assert model.cracks and model.block_names[-3:] == ["crack_ce", "crack_phie", "crack_current"]
    model.solve_initial()
    res = run_protocol(case, model, keep_rows=True)
    assert res.status == "completed", res.reason
    return res.rows, model


@pytest.mark.slow
@pytest.mark.mpi
def test_cracked_grain_boundaries_react_with_the_lumped_electrolyte_and_conserve(tmp_path_factory):
    """The weak boundaries of the 1C charge crack and react: charge and lithium balances every
    step (the crack current is in the interface current); reactive area gained = 2 d A of the
    grain-boundary facets (assembled independently); the crack current drawn from the
    electrolyte (lumped sink) equals the faces' current of the step; the lumped c_e, phi_e are the means
    over each particle's surface; a checkpoint reloads (one more step equal); 2 ranks = serial."""
    from dolfinx import fem

    comm = MPI.COMM_WORLD
    rows, model = _crack_run(comm)
    for r in rows[1:]:
        for k in ERRORS:
            assert abs(r[k]) < 1e-9, (k, r[k])
    assert rows[0]["crack current [A]"] == 0.0 and rows[0]["reactive area [m2]"] == model.area_pe
    last = rows[-1]
    em = model.entity_maps
    # a row holds the damage its step used (committed before it); after the run's last accept:
    cracked = sum(model._assemble(fem.form(2.0 * c.itf.d("+") * c.itf.dS, entity_maps=em)) for c in model.gb_cohesives)
    gained = model.diagnostics()["reactive area [m2]"] - model.area_pe
    assert last["grain boundary damaged area fraction [-]"] > 0.05 and cracked > 0.05 * model.area_pe, (cracked, last)
    assert math.isclose(gained, cracked, rel_tol=1e-10), (gained, cracked)
    # the crack current: a real share of the current, from the faces, and drawn from the electrolyte
    chi = model.crack_chi("+")
    A = fem.Constant(model.parent, model.crack_areas)
    I_sink = model._assemble(fem.form(ufl_dot(chi, model.q("crack_current")("+")) / ufl_dot(chi, A) * model.dG_pe,
                                      entity_maps=em))
    assert abs(last["crack current [A]"]) > 1e-3 * model.I_ref, last["crack current [A]"]
    assert abs(I_sink - last["crack current [A]"]) < 1e-9 * model.I_ref, (I_sink, last["crack current [A]"])
    for i in range(len(model.particles)):  # the lumped electrolyte: the means over each particle's surface
        A_i = model.crack_areas[i]
        # the model's areas (one vector assembly) = each particle's own surface integral
        A_ref = model._assemble(fem.form(model.crack_chi[i]("+") * model.dG_pe, entity_maps=em))
        assert abs(A_i - A_ref) <= 1e-12 * A_ref, (i, A_i, A_ref)
        ce = model._assemble(fem.form(model.crack_chi[i]("+") * model.c_e("-") * model.dG_pe, entity_maps=em)) / A_i
        pe = model._assemble(fem.form(model.crack_chi[i]("+") * model.phi_e("-") * model.dG_pe, entity_maps=em)) / A_i
        vals = [comm.allreduce(float(model.u[n].x.array[i]) if model.u[n].function_space.dofmap.index_map.size_local
                               else 0.0, op=MPI.SUM) for n in ("crack_ce", "crack_phie")]
        assert abs(vals[0] - ce) < 1e-9 * ce and abs(vals[1] - pe) < 1e-9, (i, vals, ce, pe)
    # checkpoint: every entry of the crack blocks is kept; one more step in both
    from cellsim import checkpoint as ck

    tmp = Path(comm.bcast(str(tmp_path_factory.mktemp("crack_resume")) if comm.rank == 0 else None, root=0))
    ck.save(model, {"steps": 0}, tmp)
    other = HalfCellModel(model.case, model.tm, comm)
    ck.load(other, tmp)
    for n in ("crack_ce", "crack_phie", "crack_current"):
        np.testing.assert_allclose(other.u[n].x.array, model.u[n].x.array, rtol=1e-9, atol=1e-12)
    rr = []
    for m in (model, other):
        m.set_current(float(model.i_app.value), predict=False)
        assert m.step(5.0).converged
        rr.append(m.diagnostics())
        m.accept()
    for k in ("voltage [V]", "crack current [A]", "reactive area [m2]", "lithium balance error [-]"):
        assert math.isclose(rr[0][k], rr[1][k], rel_tol=1e-7, abs_tol=1e-12), (k, rr[0][k], rr[1][k])
    other.close()
    if comm.rank == 0:
        print(f"crack current {last['crack current [A]']:.4g} A (I_1C {model.I_ref:.4g} A), reactive area "
              f"{model.area_pe:.4g} -> {last['reactive area [m2]']:.4g} m2")
    if comm.size > 1:
        rs, m1 = _crack_run(MPI.COMM_SELF)
        assert len(rs) == len(rows)
        for k in ("voltage [V]", "crack current [A]", "reactive area [m2]", "grain boundary damaged area fraction [-]"):
            assert math.isclose(rs[-1][k], last[k], rel_tol=1e-7), (k, rs[-1][k], last[k])
        m1.close()
    model.close()


def ufl_dot(a, b):
    import ufl

    return ufl.dot(a, b)


def test_crack_reaction_options_are_checked_before_any_mesh():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="crack_reaction = True.*grain_boundary = 'cohesive'"):
        make_case("bonded", crack_reaction=True)
    with pytest.raises(ValidationError, match="crack_reaction = true needs interface_transport = 'damaged'"):
        make_case("cohesive", crack_reaction=True, interface_transport="continuous")
    with pytest.raises(ValidationError, match="interface_transport_residual"):
        make_case("cohesive", interface_transport_residual=-1.0)
