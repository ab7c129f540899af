"""Shared test fixtures: collective clean-up after each test (DOLFINx destructors are collective)."""

import gc

import pytest


@pytest.fixture(autouse=True)
def _collective_cleanup():
    yield
    gc.collect()
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover
        return
    # Solvers the collector freed (models not closed) left their PETSc objects to
    # cellsim.assembly.release_garbage: destroyed here, collectively, in the same order on
    # every rank (a destroy by the collector itself hung 2-rank runs, see test_gc_order.py);
    # then petsc4py's own deferred objects of COMM_WORLD. Only where a test has loaded
    # them (the import order matters: dolfinx_solver first).
    import sys

    assembly = sys.modules.get("cellsim.assembly")
    if assembly is not None:
        assembly.release_garbage(MPI.COMM_WORLD)
    PETSc = getattr(sys.modules.get("petsc4py"), "PETSc", None)
    if PETSc is not None and hasattr(PETSc, "garbage_cleanup"):
        PETSc.garbage_cleanup(MPI.COMM_WORLD)
    MPI.COMM_WORLD.Barrier()


def all_ranks_agree(comm, ok: bool, msg: str = "") -> None:
    """Assert on every rank together (an assert on one rank only would deadlock the others)."""
    ok_all = comm.allreduce(bool(ok), op=__import__("mpi4py").MPI.LAND)
    assert ok_all, msg


def sigterm_at(call: int):
    """Context manager: the time driver sees a SIGTERM at its ``call``-th interrupt check (an
    interrupted run writes its checkpoint and stops, as under a job scheduler)."""
    import contextlib
    import signal

    from cellsim import simulation

    @contextlib.contextmanager
    def patched():
        orig = simulation.Interrupt.requested
        n = {"calls": 0}

        def fake(c):
            n["calls"] += 1
            if n["calls"] == call:
                simulation.Interrupt.signum = signal.SIGTERM
            return orig(c)

        simulation.Interrupt.requested = staticmethod(fake)
        try:
            yield
        finally:
            simulation.Interrupt.requested = orig

    return patched()


def pytest_terminal_summary(terminalreporter):
    """How many more MPI communicators this process could create (MPICH: about 2000 in
    all): a leak of released models shows here long before MPICH aborts a long run. Counted
    on COMM_SELF (the same per-process pool of context ids), so no rank waits for another."""
    import sys

    if "petsc4py" not in sys.modules:  # no DOLFINx/PETSc test ran
        return
    from mpi4py import MPI

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    from comm_leak import free_context_ids

    terminalreporter.write_line(f"[cellsim] MPI communicators this process can still create: "
                                f"{free_context_ids(MPI.COMM_SELF)} (benchmarks/comm_leak.py)")
