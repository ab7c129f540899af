"""Helpers of the unit tests that run on several MPI ranks."""

from __future__ import annotations

import pytest


def on_rank0(comm, check) -> None:
    """Run ``check()`` on rank 0 only, then make every rank pass or fail together (a
    failure on rank 0 alone would leave the other ranks waiting in the next collective)."""
    exc, text = None, None
    if comm.rank == 0:
        try:
            check()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            exc, text = e, f"{type(e).__name__}: {e}"
    text = comm.bcast(text, root=0)
    if exc is not None:
        raise exc
    if text is not None:
        pytest.fail(f"check on rank 0 failed: {text}")
