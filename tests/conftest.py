"""Shared test fixtures: collective clean-up after each test (DOLFINx destructors are collective)."""

import gc

import pytest


@pytest.fixture(autouse=True)
def _collective_cleanup():
    yield
    gc.collect()
    try:
        from mpi4py import MPI

        MPI.COMM_WORLD.Barrier()
    except ImportError:  # pragma: no cover
        pass


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
