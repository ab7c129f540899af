"""The timing loop the model benchmarks share (particle_bench.py, porous_bench.py,
polycrystal_bench.py): mesh, set-up (model, initial solve), one warm-up step (the FFCx JIT
and the MUMPS set-up are excluded from the step timing and counted in ``setup_s``), then a
fixed number of accepted steps of size dt. Not a test.
"""

from __future__ import annotations

import resource
import time

from mpi4py import MPI

from cellsim.geometry.mesh import build_mesh
from cellsim.models import build_model


def time_steps(case, steps: int, dt: float, comm) -> tuple[dict, object, object]:
    """(figures, model, tagged mesh) of ``steps`` steps of ``dt`` [s] after one warm-up step.

    figures: mesh_s, setup_s, steps, time_per_step_s, cpu_per_step_s (CPU seconds of the
    busiest rank, the steadier figure on a shared machine), newton_per_step,
    krylov_per_step, diagnostics_s (one call after the steps), cells, dofs,
    dofs_per_block, peak_rss_per_rank_MiB."""
    comm.Barrier()
    t0 = time.perf_counter()
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_model(case, tm, comm)
    model.set_control()
    res = model.solve_initial()
    assert res.converged, res.reason
    t_setup = time.perf_counter() - t0
    res = model.step(dt)  # warm-up
    assert res.converged, res.reason
    model.accept()
    newton = krylov = 0
    comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        res = model.step(dt)
        assert res.converged, res.reason
        model.accept()
        newton += res.newton_iterations
        krylov += res.krylov_iterations
    comm.Barrier()
    t_steps = time.perf_counter() - t0
    cpu = comm.allreduce(time.process_time() - c0, op=MPI.MAX)
    t0 = time.perf_counter()
    model.diagnostics()
    t_diag = time.perf_counter() - t0
    blocks = {n: u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
              for n, u in zip(model.block_names, model.unknowns)}
    rss = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, op=MPI.MAX)
    return {
        "cells": tm.mesh.topology.index_map(tm.mesh.topology.dim).size_global, "dofs": sum(blocks.values()),
        "dofs_per_block": blocks, "mesh_s": round(t_mesh, 3), "setup_s": round(t_setup, 3), "steps": steps,
        "time_per_step_s": round(t_steps / steps, 4), "cpu_per_step_s": round(cpu / steps, 4),
        "newton_per_step": newton / steps, "krylov_per_step": krylov / steps, "diagnostics_s": round(t_diag, 4),
        "peak_rss_per_rank_MiB": round(rss, 1),
    }, model, tm
