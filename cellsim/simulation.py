"""Time loop: adaptive backward-Euler steps, cut-offs, output and a clean stop.

A step that fails (Newton diverges, non-finite values) is retried with half the step; a
run whose step falls below ``time.dt_min`` stops with status "failed" and the reason in
manifest.json. A step that crosses a cut-off is repeated with smaller steps until the
crossing is located to within ``max(dt_min, 1e-4 t_end)``, then the run stops with status
"cut-off".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .case import Case, case_to_toml
from .log import get_logger, setup_logging


@dataclass
class RunResult:
    status: str  # completed | cut-off | failed
    reason: str
    steps: int
    time: float
    outdir: Path


def _collective_errors():
    from .geometry.mesh import GeometryError

    return (GeometryError,)


BASE_COLUMNS = ["time [s]", "step [-]", "dt [s]", "newton iterations [-]", "krylov iterations [-]"]


def check_cutoffs(case: Case, d: dict) -> tuple[str, str, float]:
    """(reason, column, limit) of the first cut-off reached, or ('', '', nan)."""
    st = case.stop
    checks = [
        ("min surface stoichiometry [-]", st.min_surface_stoichiometry, "<", "surface stoichiometry"),
        ("max surface stoichiometry [-]", st.max_surface_stoichiometry, ">", "surface stoichiometry"),
        ("state of charge [-]", st.min_soc, "<", "state of charge"),
        ("state of charge [-]", st.max_soc, ">", "state of charge"),
        ("particle potential [V]", st.min_voltage, "<", "particle potential"),
        ("particle potential [V]", st.max_voltage, ">", "particle potential"),
    ]
    for col, lim, op, what in checks:
        if lim is None or col not in d:
            continue
        v = d[col]
        if v != v:  # nan (no potential in flux mode)
            continue
        if (op == "<" and v < lim) or (op == ">" and v > lim):
            word = "below" if op == "<" else "above"
            return f"{what} {v:.6g} {word} the cut-off {lim:g} (stop.{_key(col, op)})", col, lim
    return "", "", float("nan")


def _key(col, op):
    base = {"state of charge [-]": "soc", "particle potential [V]": "voltage"}.get(col, "surface_stoichiometry")
    return ("min_" if op == "<" else "max_") + base


def run_case(case, outdir: str | Path, comm=None, command: str = "") -> RunResult:
    """Run a validated case, writing the output contract into outdir (collective)."""
    if getattr(case, "model", "particle") == "halfcell":
        from .halfcell.run import run_halfcell

        return run_halfcell(case, outdir, comm=comm, command=command)
    return run_particle(case, outdir, comm=comm, command=command)


def run_particle(case: Case, outdir: str | Path, comm=None, command: str = "") -> RunResult:
    """Single-particle run (see :mod:`cellsim.particle_model`)."""
    from mpi4py import MPI

    from .dolfinx_env import require_dolfinx

    require_dolfinx()
    from .geometry.mesh import build_mesh
    from .output import RunOutput
    from .particle_model import ParticleModel, diagnostic_columns

    comm = comm or MPI.COMM_WORLD
    COLLECTIVE_ERRORS = _collective_errors()  # raised on every rank together
    outdir = Path(outdir)
    wall0 = time.perf_counter()
    out = RunOutput(outdir, comm, case_to_toml(case), columns=BASE_COLUMNS + diagnostic_columns(case),
                    meta={"title": case.title, "command": command})
    log = setup_logging(comm.rank, str(outdir / "cellsim.log") if comm.rank == 0 else None)
    status, reason, step, t = "failed", "", 0, 0.0
    try:
        log.info(f"cellsim: {case.title or 'case'} on {comm.size} MPI rank(s); output in {outdir}")
        tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
        model = ParticleModel(case, tm, comm)
        ndofs = sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
                    for u in model.unknowns)
        log.info(f"mesh: {tm.mesh.topology.index_map(3).size_global} cells, {ndofs} unknowns; "
                 f"volume {model.volume:.4g} m3, surface {model.area:.4g} m2")
        model.set_control()
        res = model.solve_initial()
        if not res.converged:
            raise RuntimeError(f"initial equilibrium: {res.reason}")
        d = model.diagnostics()
        row = {"time [s]": 0.0, "step [-]": 0, "dt [s]": 0.0, "newton iterations [-]": res.newton_iterations,
               "krylov iterations [-]": res.krylov_iterations, **d}
        out.add_row(row)
        if case.output.fields:
            out.write_fields(0.0, model.output_fields())
        ts = case.time
        dt = ts.dt_initial
        dt_locate = max(ts.dt_min, 1e-4 * ts.t_end)
        status = "completed"
        while t < ts.t_end * (1 - 1e-12):
            dt = min(dt, ts.t_end - t)
            res = model.step(dt)
            if not res.converged:
                if not res.retry:
                    status, reason = "failed", f"step at t = {t:.6g} s failed: {res.reason}"
                    break
                log.info(f"  step at t = {t:.6g} s with dt = {dt:.4g} s failed ({res.reason}); retrying with dt/2")
                dt *= 0.5
                if dt < ts.dt_min:
                    status = "failed"
                    reason = (f"time step fell below time.dt_min = {ts.dt_min:g} s at t = {t:.6g} s; last "
                              f"failure: {res.reason}")
                    break
                continue
            d_new = model.diagnostics()
            cut, col, lim = check_cutoffs(case, d_new)
            if cut and dt > dt_locate:
                # locate the crossing: secant estimate of the step that just reaches it
                model.reject()
                v0, v1 = d[col], d_new[col]
                frac = (lim - v0) / (v1 - v0) if v1 != v0 else 0.5
                dt = max(dt_locate, min(0.9 * dt, 1.02 * frac * dt))
                continue
            d = d_new
            change = model.max_change()
            model.accept()
            t += dt
            step += 1
            out.add_row({"time [s]": t, "step [-]": step, "dt [s]": dt,
                         "newton iterations [-]": res.newton_iterations,
                         "krylov iterations [-]": res.krylov_iterations, **d})
            v = d.get("particle potential [V]", float("nan"))
            log.info(f"step {step:4d}  t = {t:10.4g} s  dt = {dt:8.3g} s  V = {v:.5f} V  "
                     f"x = {d['mean stoichiometry [-]']:.4f}  Newton {res.newton_iterations} "
                     f"(Krylov {res.krylov_iterations})")
            last = cut or t >= ts.t_end * (1 - 1e-12)
            if case.output.fields and (step % case.output.fields_every == 0 or last):
                out.write_fields(t, model.output_fields())
            if cut:
                status, reason = "cut-off", cut
                break
            if ts.adaptive:
                grow = min(2.0, max(0.5, 0.9 * ts.max_change / max(change, 1e-300)))
                if res.newton_iterations > 6:
                    grow = min(grow, 0.7)
                dt = min(max(dt * grow, ts.dt_min), ts.dt_max)
        if status == "completed":
            reason = f"reached t_end = {ts.t_end:g} s"
        summary = {"steps": step, "final time [s]": t, **{k: v for k, v in d.items()}}
        log.info(f"{status}: {reason}  ({step} steps, {time.perf_counter() - wall0:.1f} s wall)")
        out.close(status, reason, summary)
    except Exception as exc:
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        if comm.size > 1 and not isinstance(exc, COLLECTIVE_ERRORS):
            # raised on this rank only: the others may wait in a collective call forever
            import sys
            import traceback

            print(f"cellsim (rank {comm.rank}): {reason}\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            out.fail_local(reason)
            comm.Abort(1)
        get_logger().error(f"failed: {reason}")
        out.close(status, reason, {"steps": step, "final time [s]": t})
        raise
    return RunResult(status, reason, step, t, outdir)
