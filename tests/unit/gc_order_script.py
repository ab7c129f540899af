"""Helper of test_gc_order.py (run under ``mpiexec -n 2``): two particle models with kept
MUMPS factors are dropped without ``close()`` and collected by the garbage collector in a
different order on each rank. Prints "GC-ORDER OK" on rank 0 when it gets through."""

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from cellsim.dolfinx_env import require_dolfinx  # noqa: E402

require_dolfinx()
from mpi4py import MPI  # noqa: E402


def build(comm):
    from comm_leak import PARTICLE

    from cellsim.case import case_from_dict
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model

    case = case_from_dict(PARTICLE)
    model = build_model(case, build_mesh(case.geometry, comm), comm)
    assert model.solve_initial().converged
    assert model.step(5.0).converged  # MUMPS factors made and kept
    model.accept()
    return model


def main():
    comm = MPI.COMM_WORLD
    gc.disable()  # only the explicit collections below free the models
    models = [build(comm), build(comm)]
    print(f"rank {comm.rank}: two models built", file=sys.stderr, flush=True)
    # each model sits in a reference cycle (model <-> solver) so only gc.collect frees it;
    # the ranks let them go in opposite orders
    order = [0, 1] if comm.rank % 2 == 0 else [1, 0]
    for k in order:
        models[k] = None
        gc.collect()
        print(f"rank {comm.rank}: model {k} collected", file=sys.stderr, flush=True)
    from cellsim import assembly

    released = assembly.release_garbage(comm)  # the safe point: collective
    left = comm.allreduce(len(assembly._graves), op=MPI.MAX)
    comm.Barrier()
    if comm.rank == 0:
        print(f"GC-ORDER OK released={released} left={left}", flush=True)


if __name__ == "__main__":
    main()
