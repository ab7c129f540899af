"""Fingerprint the meshes of every case with a [geometry] section, to check refactors.

    python benchmarks/mesh_fingerprint.py OUTDIR [CASE ...]      # writes OUTDIR/<case>.npz
    python benchmarks/mesh_fingerprint.py --compare DIR_A DIR_B  # identical or not, per case

Run the first form once with the old code (``PYTHONPATH=<old checkout>``) and once with
the new, then compare: node coordinates, cell connectivity, cell and facet tags and the
name tables must be bitwise identical (serial build, COMM_SELF). A case that fails to
build is recorded with its error message (and the next cases run); two failures compare
equal when their messages are.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time

import numpy as np


def fingerprint(case: str, out: str) -> None:
    from mpi4py import MPI

    from cellsim.geometry.mesh import build_mesh
    from cellsim.geometry.report import load_geometry_section

    spec = load_geometry_section(case)
    t0 = time.perf_counter()
    tm = build_mesh(spec, MPI.COMM_SELF)
    msh = tm.mesh
    tdim = msh.topology.dim
    np.savez(
        out,
        x=msh.geometry.x,
        dofmap=msh.geometry.dofmaps[0],
        cell_idx=tm.cell_tags.indices, cell_val=tm.cell_tags.values,
        facet_idx=tm.facet_tags.indices, facet_val=tm.facet_tags.values,
        facet_vertices=msh.topology.connectivity(tdim - 1, 0).array
        if msh.topology.connectivity(tdim - 1, 0) is not None else np.zeros(0),
        names=json.dumps({"regions": tm.regions, "interfaces": tm.interfaces}, sort_keys=True),
    )
    print(f"{os.path.basename(case)}: {msh.topology.index_map(tdim).size_local} cells, "
          f"{msh.geometry.x.shape[0]} nodes, {time.perf_counter() - t0:.1f} s", flush=True)


def compare(a: str, b: str) -> int:
    bad = 0
    for fa in sorted(glob.glob(os.path.join(a, "*.npz"))):
        fb = os.path.join(b, os.path.basename(fa))
        if not os.path.exists(fb):
            print(f"{os.path.basename(fa)}: MISSING in {b}")
            bad += 1
            continue
        A, B = np.load(fa), np.load(fb)
        diff = [k for k in A.files if A[k].shape != B[k].shape or not np.array_equal(A[k], B[k])]
        if "error" in A.files or "error" in B.files:
            print(f"{os.path.basename(fa)[:-4]:<32} {'IDENTICAL' if not diff else 'DIFFERENT ' + str(diff)}"
                  f"  (failed to build: {str(A['error']) if 'error' in A.files else 'only in ' + b})")
            bad += bool(diff)
            continue
        ncell = A["dofmap"].shape[0]
        print(f"{os.path.basename(fa)[:-4]:<32} {'IDENTICAL' if not diff else 'DIFFERENT ' + str(diff)}"
              f"  ({ncell} cells, {A['x'].shape[0]} nodes; other: {B['dofmap'].shape[0]} cells)")
        bad += bool(diff)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        raise SystemExit(compare(sys.argv[2], sys.argv[3]))
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    cases = sys.argv[2:] or sorted(
        c for c in glob.glob(os.path.join(os.path.dirname(__file__), "..", "cases", "*.toml"))
        if "\n[geometry]" in "\n" + open(c).read()
    )
    for c in cases:  # a case that fails to build is recorded (its message) and the rest run
        out = os.path.join(outdir, os.path.basename(c)[:-5] + ".npz")
        try:
            fingerprint(c, out)
        except Exception as exc:  # noqa: BLE001 - recorded, compared like a mesh
            msg = f"{type(exc).__name__}: {exc}"
            np.savez(out, error=np.array(msg))
            print(f"{os.path.basename(c)}: FAILED {msg[:300]}", flush=True)
