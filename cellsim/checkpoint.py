"""Checkpoints: the whole state of a run, written atomically, read back on any rank count.

A checkpoint (``OUTDIR/checkpoint/state.json`` and the arrays file ``state.<step>...npz`` it
names; the json is replaced last, atomically, so it always names a complete arrays file) holds

* every unknown and every history field of the model: per Function the coordinates of
  its degrees of freedom (``tabulate_dof_coordinates``) and their values, gathered to
  rank 0 (owned dofs only, so each appears once);
* the model's reference constants and accumulated scalars (charge passed, lithium
  plated, the particle's last increment used as Newton start);
* the driver's position: protocol cycle and step, time, time within the step, dt, the
  number of accepted steps and time-series rows.

Reading matches every local dof of the rebuilt model to a stored one by its coordinates
(rounded to 1e-9 of the mesh size, then sorted), so a run can resume on a different
number of MPI ranks. A dof whose coordinates are not found makes the load fail with the
field's name (a different mesh). adios4dolfinx would do this for DOLFINx meshes but needs
an MPI-enabled ADIOS2 Python module, which the PyPI wheel is not (ENVIRONMENT.md).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

DIR = "checkpoint"
FORMAT = "cellsim-checkpoint"
VERSION = 1


def _functions(model) -> dict:
    out = {f"u/{n}": model.u[n] for n in model.block_names}
    out.update({f"old/{n}": f for n, f in model.old.items()})
    for k, f in getattr(model, "extra_functions", lambda: {})().items():
        out[f"extra/{k}"] = f
    out.update(_predictor(model).functions() if _predictor(model) is not None else {})
    return out


def _predictor(model):
    """The Newton predictor of the model's solver (cellsim.predictor), if it has one."""
    return getattr(getattr(model, "solver", None), "predictor", None)


def _local(f):
    V = f.function_space
    imap, bs = V.dofmap.index_map, V.dofmap.index_map_bs
    n = imap.size_local
    x = V.tabulate_dof_coordinates()[:n]
    vals = f.x.array[: n * bs].reshape(n, bs)
    return x, vals


def _key(x, h):
    q = np.round(x / h).astype(np.int64)
    return q


def _is_global(f) -> bool:
    """One global dof (a real-valued unknown such as the cell voltage, or a vector of them: one
    dof of block size n, e.g. a value per particle)."""
    return f.function_space.dofmap.index_map.size_global == 1


def _global_values(f, comm) -> np.ndarray:
    """All entries of a global (real) unknown, from the rank that owns it (collective)."""
    bs = f.function_space.dofmap.index_map_bs
    n = f.function_space.dofmap.index_map.size_local
    return comm.allreduce(np.array(f.x.array[:bs], dtype=float) if n else np.zeros(bs))


def save(model, driver: dict, outdir) -> None:
    """Write the checkpoint of ``model`` and ``driver`` (collective; rank 0 writes)."""
    comm = model.comm
    h = model.length_scale() * 1e-9
    arrays = {}
    for name, f in _functions(model).items():
        if _is_global(f):
            val = _global_values(f, comm)
            if comm.rank == 0:
                arrays[f"{name}/g"] = val
            continue
        x, v = _local(f)
        xs, vs = comm.gather(x, root=0), comm.gather(v, root=0)
        if comm.rank == 0:
            arrays[f"{name}/x"] = np.concatenate(xs)
            arrays[f"{name}/v"] = np.concatenate(vs)
    st = model.state()
    meta = {"format": FORMAT, "version": VERSION, "mpi_size": comm.size, "driver": driver,
            "constants": st["constants"], "scalars": st["scalars"], "h": h,
            "predictor_dts": _predictor(model).dts if _predictor(model) is not None else [0.0, 0.0],
            "model": model.case.model}
    error = None
    if comm.rank == 0:
        try:
            d = Path(outdir) / DIR
            d.mkdir(parents=True, exist_ok=True)
            # A new arrays file per checkpoint, named by the json: replacing the json is the one
            # atomic step, so a kill at any moment leaves a json and the arrays it was written
            # with (two files replaced one after the other once paired a step's driver position
            # with the next checkpoint's fields after a SIGKILL between the two replaces).
            name = f"state.{int(driver.get('steps', 0))}.{os.getpid()}.{time.time_ns()}.npz"
            meta["arrays"] = name
            with open(d / name, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            tmpj = d / f".state.{os.getpid()}.json"
            with open(tmpj, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(meta, indent=1))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmpj, d / "state.json")
            for old in d.glob("state*.npz"):  # arrays no json names any more
                if old.name != name:
                    old.unlink(missing_ok=True)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    error = comm.bcast(error, root=0)
    if error:
        raise OSError(f"cannot write the checkpoint in {Path(outdir) / DIR}: {error}")


def exists(outdir) -> bool:
    return (Path(outdir) / DIR / "state.json").is_file()


def load(model, outdir) -> dict:
    """Restore ``model`` from the checkpoint in ``outdir``; returns the driver state (collective)."""
    comm = model.comm
    d = Path(outdir) / DIR
    meta, data, error = None, None, None
    if comm.rank == 0:
        try:
            meta = json.loads((d / "state.json").read_text())
            if meta.get("format") != FORMAT:
                raise ValueError("not a cellsim checkpoint")
            with np.load(d / meta.get("arrays", "state.npz")) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    error = comm.bcast(error, root=0)
    if error:
        raise OSError(f"cannot read the checkpoint in {d}: {error}")
    meta = comm.bcast(meta, root=0)
    if meta["model"] != model.case.model:
        raise ValueError(f"the checkpoint is of a '{meta['model']}' run, the case is '{model.case.model}'")
    h = meta["h"]
    missing = []
    pred = _predictor(model)
    stored = comm.bcast(set(data) if comm.rank == 0 else None, root=0)
    for name, f in _functions(model).items():
        if name.startswith("predictor") and not {f"{name}/x", f"{name}/g"} & stored:
            pred.reset()  # a checkpoint without the increments: no prediction at the first step
            continue
        if _is_global(f):
            g = comm.bcast(np.asarray(data[f"{name}/g"], dtype=float) if comm.rank == 0 else None, root=0)
            bs = f.function_space.dofmap.index_map_bs
            if g.size not in (1, bs):
                raise ValueError(f"checkpoint: '{name}' holds {g.size} values, the model has {bs}")
            f.x.array[:] = np.resize(g, f.x.array.size)  # one value: every entry (older files)
            continue
        x_all = comm.bcast(data[f"{name}/x"] if comm.rank == 0 else None, root=0)
        v_all = comm.bcast(data[f"{name}/v"] if comm.rank == 0 else None, root=0)
        keys = _key(x_all, h)
        order = np.lexsort(keys.T[::-1])
        skeys = keys[order]
        x, _ = _local(f)
        mine = _key(x, h)
        # binary search of every local key among the sorted stored keys
        view = np.ascontiguousarray(skeys).view([("", np.int64)] * skeys.shape[1]).ravel()
        mview = np.ascontiguousarray(mine).view([("", np.int64)] * mine.shape[1]).ravel()
        pos = np.searchsorted(view, mview)
        ok = (pos < len(view)) & (view[np.minimum(pos, len(view) - 1)] == mview)
        bad = comm.allreduce(int((~ok).sum()))
        if bad:
            missing.append(f"{name} ({bad} dofs)")
            continue
        V = f.function_space
        n, bs = V.dofmap.index_map.size_local, V.dofmap.index_map_bs
        f.x.array[: n * bs] = v_all[order[pos]].reshape(-1)
        f.x.scatter_forward()
    if missing:
        raise ValueError("the checkpoint does not fit this mesh (fields " + ", ".join(missing) + " not found): "
                         "resume needs the same case and geometry")
    model.set_state({"unknowns": {}, "history": {}, "constants": meta["constants"], "scalars": meta["scalars"]})
    if pred is not None:
        if any(k.startswith("predictor") for k in stored):
            pred.dts = [float(v) for v in meta.get("predictor_dts", [0.0, 0.0])]
        else:
            pred.reset()
    model.after_load()
    return meta["driver"]
