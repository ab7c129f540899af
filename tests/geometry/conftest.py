import gc

import pytest


@pytest.fixture(autouse=True)
def _collect():
    """DOLFINx destructors are collective: collect and synchronise after each test."""
    yield
    gc.collect()
    try:
        from mpi4py import MPI

        MPI.COMM_WORLD.Barrier()
    except ImportError:  # pragma: no cover
        pass
