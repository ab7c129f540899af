"""Fixtures of the unit tests (the collective clean-up after each test is in tests/conftest.py)."""

import gc
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def shared_dir():
    """A folder every rank sees (rank 0 makes it and broadcasts the path)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    path = tempfile.mkdtemp(prefix="cellsim-out-") if comm.rank == 0 else None
    path = Path(comm.bcast(path, root=0))
    yield path
    gc.collect()
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)
