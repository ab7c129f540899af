import gc
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _collect():
    """DOLFINx/PETSc destructors are collective: collect garbage on every rank together."""
    yield
    gc.collect()
    from mpi4py import MPI

    MPI.COMM_WORLD.barrier()
