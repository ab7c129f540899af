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
