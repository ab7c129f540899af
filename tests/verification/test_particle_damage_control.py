"""The damage-jump rejection of the particle model (``[mechanics] damage_jump_limit``, shared
with the half-cell through :mod:`cellsim.models.cohesive_history`).

The core-shell debonding of tests/verification/test_core_shell_debonding.py (delithiation:
the core shrinks, the coating debonds) under the time driver with long steps (dt_max = 5 s,
1.5 % of the separation strain per step) and a tight damage target
(max_damage_change = 0.02). Without the check (damage_jump_limit = 1e3) the step that crosses
the onset commits far more than 2 x max_damage_change; with it (2, the default) that
converged step is refused, the driver retries with dt/2, and no accepted step exceeds the
limit. The accepted series still meets the closed forms of the sphere in its shell: no
damage before 0.98 eps*_0, the mean normal traction on the bilinear path
(:func:`sphere_in_shell_path`) within 2 % of the strength N at every accepted step, full
separation first within 2 % of 2 G_Ic/(N a), and the dissipated energy 4 pi a^2 G_Ic
within 2 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402
from cellsim.simulation import run_protocol  # noqa: E402
from tests.reference import cohesive_closed_form as ref  # noqa: E402
from tests.verification.test_core_shell_debonding import ARGS, C_MAX, G_I, OMEGA, X0, A, N, core_shell_case  # noqa: E402

LIMITS = (1e3, 2.0)  # off, the default
MAX_DAMAGE_CHANGE = 0.02


def damage_case(limit: float):
    return core_shell_case(time={"t_end": 380.0, "dt_initial": 5.0, "dt_max": 5.0, "max_change": 0.05},
                           mechanics={"max_damage_change": MAX_DAMAGE_CHANGE, "damage_jump_limit": limit})


def run_recording(limit: float, comm):
    """Run the debonding under the driver; per accepted step (eps*, mean normal traction,
    damage increase, min damage, dt) and the number of refused converged steps."""
    case = damage_case(limit)
    tm = build_mesh(case.geometry, comm)
    model = ParticleModel(case, tm, comm)
    dx = ufl.Measure("dx", domain=model.mesh, subdomain_data=tm.cell_tags)(tuple(tm.regions["core"]))
    f_core = fem.form(model.cs * model.X * dx)
    v_core = model._assemble(fem.form(fem.Constant(model.mesh, 1.0) * dx))
    it = model.cohesives[0].itf
    rows, refused = [], []
    accept, check = model.accept, model.check_damage_jump

    def rec_accept():
        _, T, _ = it.facet_state()
        tn = comm.allreduce(float(np.dot(it.area, np.sum(T * it.normal, axis=1))), op=MPI.SUM) / it.total_area
        eps = OMEGA / 3.0 * (model._assemble(f_core) / v_core - X0 * C_MAX)
        jump = model.cohesives[0].max_damage_change()
        accept()
        dmin = comm.allreduce(float(np.min(it.d.x.array[: it._nown], initial=1.0)), op=MPI.MIN)
        rows.append((eps, tn, jump, dmin, float(model.dt.value)))

    def rec_check():
        why = check()
        refused.append((bool(why), float(model.dt.value)))
        return why

    model.accept, model.check_damage_jump = rec_accept, rec_check
    res = run_protocol(case, model, keep_rows=True, initial=model.solve_initial())
    assert res.status == "completed", res.reason
    return np.array(rows), refused, res.rows


@pytest.mark.mpi
@pytest.mark.slow
def test_particle_damage_jump_is_rejected_and_retried():
    comm = MPI.COMM_WORLD
    out = {lim: run_recording(lim, comm) for lim in LIMITS}
    (free, chk_free, _), (rows, chk, ts) = out[LIMITS[0]], out[LIMITS[1]]
    n_free, n_ref = sum(r for r, _ in chk_free), sum(r for r, _ in chk)
    limit = LIMITS[1] * MAX_DAMAGE_CHANGE
    eps0 = ref.sphere_in_shell_onset(*ARGS, N)
    epsf = ref.sphere_in_shell_separation(*ARGS, N, G_I)
    eps, tn, jump, dmin, dt = rows.T
    path = np.array([ref.sphere_in_shell_path(*ARGS, N, G_I, e) for e in eps], dtype=float)
    sep = eps[np.argmax(dmin >= 1.0)] if np.any(dmin >= 1.0) else None
    D, D_ref = ts[-1]["dissipated energy [J]"], 4 * math.pi * A * A * G_I
    print(f"\nwithout the check: {len(free)} steps, largest damage increase {free[:, 2].max():.3f}; with it: "
          f"{len(rows)} steps, {n_ref} refused, largest {jump.max():.4f}, smallest dt {dt.min():.3g} s; traction "
          f"vs path max |dT|/N = {np.nanmax(np.abs(tn - path)) / N:.4f}; separation at eps*/eps*_f - 1 = "
          f"{sep / epsf - 1:+.4f}; D/(4 pi a^2 G) - 1 = {D / D_ref - 1:+.4f}")
    assert n_free == 0 and free[:, 2].max() > limit
    assert n_ref >= 1 and jump.max() <= limit
    # a refused step is retried with dt/2 (after the solver's own retry with fresh factors at dt)
    for i, (why, dt_i) in enumerate(chk):
        if why:
            nxt = next(d for _, d in chk[i + 1:] if d != dt_i)
            assert nxt == pytest.approx(0.5 * dt_i, rel=1e-12)
    # the accepted series against the closed forms
    assert np.all(jump[eps > 0.98 * eps0] == 0.0)
    assert np.all(np.isfinite(path)) and np.max(np.abs(tn - path)) <= 0.02 * N
    assert sep is not None and abs(sep / epsf - 1) <= 0.02
    assert abs(D / D_ref - 1) <= 0.02
    assert ts[-1]["debonded area fraction [-]"] == 1.0


def test_particle_accepts_damage_jump_limit_key():
    """The particle's [mechanics] takes damage_jump_limit with the half-cell's bounds."""
    from cellsim.schema import CaseError

    assert damage_case(3.0).mechanics.damage_jump_limit == 3.0
    assert core_shell_case().mechanics.damage_jump_limit == 2.0
    with pytest.raises((CaseError, ValueError), match="damage_jump_limit"):
        damage_case(0.5)
