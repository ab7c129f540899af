"""One time step of a case against a Poisson solve of equal size, in the same process.

Issue "Speed" measures every model as a ratio (the build machine is shared and noisy):
one accepted time step, and one Newton iteration, divided by the time of a P1 Poisson
problem with the same number of unknowns solved by CG + GAMG (rtol 1e-8) on a unit cube,
assembled and solved in the same session (minimum of ``--repeats`` solves before and as
many after the steps). The case runs its own protocol through the one time driver for
``--steps`` accepted steps after ``--warmup`` steps (JIT and symbolic factorisations
excluded); no output is written.

    python benchmarks/step_vs_poisson.py cases/halfcell_discharge.toml
    mpiexec -n 2 python benchmarks/step_vs_poisson.py cases/particle_charge.toml
    python benchmarks/step_vs_poisson.py cases/halfcell_discharge.toml --set solver.reuse_factorisation=true

Prints one JSON line: unknowns, ranks, set-up time (mesh, model and JIT), time per step
and per Newton iteration, Newton and Krylov iterations per step, the Poisson time and
the ratios (with the Poisson median and the minima before and after the steps),
Jacobians assembled per step (fewer than Newton iterations where chord iterations keep
one), the same in CPU seconds (``cpu_*``: user + system time of the slowest rank, the
better measure on a shared machine), peak resident memory per rank. Not a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from mpi4py import MPI


class PoissonReference:
    """A P1 Poisson problem of about ``n_dofs`` unknowns (CG + GAMG, rtol 1e-8) on a unit
    cube, built once; :meth:`measure` times ``repeats`` whole solves (assembly, GAMG set-up,
    solve: a new LinearProblem each time), after one untimed solve that includes the JIT.
    The script measures it before and after the case's steps and takes the minimum of all
    the solves (one burst of three after the steps varied by +-25 % between quiet runs);
    both bursts' minima and the median are reported, so a drift during the run shows."""

    def __init__(self, n_dofs: int, comm):
        import ufl
        from dolfinx import fem, mesh

        n = max(4, round(n_dofs ** (1.0 / 3.0)) - 1)
        self.comm = comm
        msh = mesh.create_unit_cube(comm, n, n, n)
        self.V = V = fem.functionspace(msh, ("Lagrange", 1))
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        x = ufl.SpatialCoordinate(msh)
        self.a = ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
        self.L = ufl.sin(3 * x[0]) * x[1] * v * ufl.dx
        facets = mesh.locate_entities_boundary(msh, 2, lambda X: X[0] < 1e-12)
        self.bc = fem.dirichletbc(0.0, fem.locate_dofs_topological(V, 2, facets), V)
        self.wall, self.cpu, self.its, self._k = [], [], 0, 0
        self._solve()  # the JIT (not timed)

    @property
    def unknowns(self) -> int:
        return int(self.V.dofmap.index_map.size_global)

    def _solve(self) -> tuple[float, float]:
        from dolfinx.fem.petsc import LinearProblem

        comm = self.comm
        comm.Barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        p = LinearProblem(self.a, self.L, bcs=[self.bc], petsc_options_prefix=f"bench_poisson{self._k}_",
                          petsc_options={"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-8})
        p.solve()
        cpu = comm.allreduce(time.process_time() - c0, op=MPI.MAX)
        comm.Barrier()
        self._k += 1
        self.its = p.solver.getIterationNumber()
        return time.perf_counter() - t0, cpu

    def measure(self, repeats: int) -> None:
        for _ in range(repeats):
            w, c = self._solve()
            self.wall.append(w)
            self.cpu.append(c)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5,
                    help="Poisson solves timed before and after the steps (each)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a case key, e.g. solver.linear_solver=iterative")
    args = ap.parse_args(argv)
    import tomllib

    from cellsim.case import case_from_dict
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model
    from cellsim.simulation import run_protocol

    comm = MPI.COMM_WORLD
    data = tomllib.loads(open(args.case).read())
    for item in args.set:
        key, val = item.split("=", 1)
        sec, k = key.split(".", 1)
        data.setdefault(sec, {})[k] = tomllib.loads(f"v = {val}")["v"]
    data.setdefault("output", {})["fields"] = False
    case = case_from_dict(data)
    t0 = time.perf_counter()
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_model(case, tm, comm)
    model.solve_initial()
    t_model = time.perf_counter() - t0
    # one run of warmup + steps; the steps are timed from the driver's wall-time column,
    # and in CPU seconds (slowest rank) between the accepts of the first and last timed step
    poisson = PoissonReference(model.num_dofs(), comm)
    poisson.measure(args.repeats)
    accepts, jacs = [], []
    accept = model.accept
    solver = getattr(model, "solver", None)

    def timed_accept():
        accept()
        accepts.append(time.process_time())
        jacs.append(getattr(solver, "_jacobians", 0))  # Jacobians assembled (chord iterations keep one)

    model.accept = timed_accept
    c_start, j_start = time.process_time(), getattr(solver, "_jacobians", 0)
    allrows = run_protocol(case, model, max_steps=args.warmup + args.steps, keep_rows=True).rows
    model.accept = accept
    rows = allrows[1 + args.warmup:]
    t_steps = rows[-1]["wall time [s]"] - allrows[args.warmup]["wall time [s]"] if rows else 0.0
    nsteps = max(len(rows), 1)
    newton = sum(r["newton iterations [-]"] for r in rows) / nsteps
    krylov = sum(r["krylov iterations [-]"] for r in rows) / nsteps
    dofs = model.num_dofs()
    poisson.measure(args.repeats)
    t_poisson, c_poisson, p_dofs, p_its = min(poisson.wall), min(poisson.cpu), poisson.unknowns, poisson.its
    half = len(poisson.wall) // 2
    step = t_steps / nsteps
    # the last nsteps accepts are the timed steps; the accept before them (or the start)
    marks = [c_start] + accepts
    c_steps = marks[-1] - marks[-1 - nsteps] if len(marks) > nsteps else 0.0
    cstep = comm.allreduce(c_steps, op=MPI.MAX) / nsteps
    jmarks = [j_start] + jacs
    jac = (jmarks[-1] - jmarks[-1 - nsteps]) / nsteps if len(jmarks) > nsteps else 0.0
    out = {
        "case": args.case, "overrides": args.set, "ranks": comm.size, "unknowns": dofs,
        "mesh_s": round(t_mesh, 2), "model_setup_s": round(t_model, 2), "steps": nsteps,
        "time_per_step_s": round(step, 4), "newton_per_step": round(newton, 2), "jacobians_per_step": round(jac, 2),
        "krylov_per_step": round(krylov, 1),
        "time_per_newton_s": round(step / max(newton, 1e-30), 4),
        "poisson_unknowns": p_dofs, "poisson_s": round(t_poisson, 4), "poisson_cg_its": p_its,
        "poisson_repeats": len(poisson.wall), "poisson_median_s": round(float(sorted(poisson.wall)[half]), 4),
        "poisson_min_before_after_s": [round(min(poisson.wall[:half]), 4), round(min(poisson.wall[half:]), 4)],
        "step_over_poisson": round(step / t_poisson, 2),
        "newton_over_poisson": round(step / max(newton, 1e-30) / t_poisson, 2),
        "cpu_per_step_s": round(cstep, 4), "poisson_cpu_s": round(c_poisson, 4),
        "cpu_step_over_poisson": round(cstep / c_poisson, 2),
        "cpu_newton_over_poisson": round(cstep / max(newton, 1e-30) / c_poisson, 2),
        "peak_rss_mib_per_rank": round(comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                                      op=MPI.MAX) / 1024, 0),
    }
    if comm.rank == 0:
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
