"""Tortuosity factor of a phase from steady conduction through it (TauFactor convention).

The sample is the bounding box of the mesh, [x_min, x_max] along the transport axis, of
length Lx and cross-section A (A = the other extent per unit depth in 2D). The phase is the
set of cells with the given tags. On the phase P solve

    -div(sigma grad u) = 0 in P,   u = 1 on the phase's facets in the plane x = x_min,
                                   u = 0 on the phase's facets in the plane x = x_max,
                                   sigma grad u . n = 0 on every other phase boundary
                                   (the sample's side faces and the walls to other phases).

The current through the sample is Q = int_P sigma |grad u|^2 dx (energy identity, with
Delta u = 1), its effective conductivity sigma_eff = Q Lx / A, and with sigma_ref the
bulk conductivity of the phase (default: the uniform sigma, i.e. 1):

    conductivity fraction   f   = sigma_eff / sigma_ref        (D_eff / D in TauFactor)
    volume fraction         eps = |P| / (Lx A)
    tortuosity factor       tau = eps / f,   so that D_eff = D eps / tau.

A straight channel across the sample has tau = 1; tau -> infinity when the phase does not
percolate (f = 0). Phase regions that touch neither the inlet nor the outlet plane carry no
current; they are found by a (parallel) connectivity sweep and pinned (u = 0) so that the
system stays non-singular; their volume still counts in eps (TauFactor counts all phase
volume) and is reported as ``isolated_volume_fraction``.

Solver: conjugate gradients with algebraic multigrid (PETSc GAMG; the PyPI DOLFINx wheel has
no hypre), relative tolerance ``rtol``. The inlet and outlet currents are also computed
from the residual (variationally consistent boundary fluxes) and reported, so
``flux_mismatch`` = |Q_in - Q_out| / Q_in measures the solve quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import ufl

from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
from dolfinx import fem, la, mesh  # noqa: E402
from dolfinx.fem.petsc import LinearProblem, assemble_vector  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402


@dataclass(frozen=True)
class TortuosityResult:
    """Outcome of :func:`tortuosity`. Currents are per unit depth in 2D."""

    axis: int
    length: float  # Lx [m]
    area: float  # A [m2] (3D) or [m] (2D)
    volume_fraction: float  # eps
    conductivity_fraction: float  # f = sigma_eff / sigma_ref
    tortuosity_factor: float  # tau = eps / f (inf if f == 0)
    current: float  # Q [A per unit potential difference, times sigma units]
    current_in: float  # inlet current from the residual
    current_out: float  # outlet current from the residual
    flux_mismatch: float  # |Q_in - Q_out| / Q_in
    isolated_volume_fraction: float
    krylov_iterations: int
    num_dofs: int


def _tags(t: int | Iterable[int] | None) -> tuple[int, ...] | None:
    if t is None:
        return None
    if isinstance(t, (int, np.integer)):
        return (int(t),)
    return tuple(int(v) for v in t)


def _connected(V: Any, seeds: np.ndarray) -> np.ndarray:
    """Boolean over local dofs (owned + ghost): reachable from ``seeds`` through cells.

    Parallel: a sweep over cells followed by a reverse/forward ghost update, repeated until
    the global count stops changing (about the graph diameter in sweeps).
    """
    comm = V.mesh.comm
    cell_dofs = V.dofmap.list
    imap = V.dofmap.index_map
    nown = imap.size_local
    vec = la.vector(imap, 1)
    reached = np.zeros(nown + imap.num_ghosts, dtype=bool)
    reached[seeds] = True
    count = comm.allreduce(int(reached[:nown].sum()), op=MPI.SUM)
    while True:
        hit = reached[cell_dofs].any(axis=1)
        reached[cell_dofs[hit].ravel()] = True
        vec.array[:] = reached.astype(np.float64)
        vec.scatter_reverse(la.InsertMode.add)
        owned = vec.array[:nown] > 0
        vec.array[:nown] = owned.astype(np.float64)
        vec.scatter_forward()
        reached = vec.array > 0
        new = comm.allreduce(int(reached[:nown].sum()), op=MPI.SUM)
        if new == count:
            return reached
        count = new


def tortuosity(
    msh: Any,
    cell_tags: Any = None,
    phase: int | Iterable[int] | None = None,
    axis: int = 0,
    sigma: float | dict[int, float] = 1.0,
    sigma_ref: float | None = None,
    rtol: float = 1e-10,
    petsc_options_prefix: str = "cellsim_tortuosity_",
) -> TortuosityResult:
    """Tortuosity factor of the phase ``phase`` (cell tag(s)) of ``msh`` along ``axis``.

    ``cell_tags``/``phase`` None: the whole mesh is the phase. ``sigma``: the phase's
    conductivity, a number or ``{tag: value}`` for a phase made of several materials (then
    ``sigma_ref`` is required; f = sigma_eff / sigma_ref). Raises ValueError, before any
    solve, for a bad axis, unknown tags, non-positive conductivities, or a phase that does
    not reach the inlet or outlet plane.
    """
    comm = msh.comm
    gdim, tdim = msh.geometry.dim, msh.topology.dim
    if axis not in range(gdim):
        raise ValueError(f"axis = {axis!r}: must be one of {list(range(gdim))}")
    tags = _tags(phase)
    if (cell_tags is None) != (tags is None):
        raise ValueError("give both cell_tags and phase, or neither (whole mesh)")
    if isinstance(sigma, dict):
        if sigma_ref is None:
            raise ValueError("sigma given per tag: sigma_ref (the reference conductivity) is required")
        bad = {k: v for k, v in sigma.items() if not (v > 0)}
        if bad:
            raise ValueError(f"sigma: conductivities must be > 0, got {bad}")
        if tags is not None and set(tags) - set(sigma):
            raise ValueError(f"sigma: no value for phase tag(s) {sorted(set(tags) - set(sigma))}")
    else:
        if not sigma > 0:
            raise ValueError(f"sigma = {sigma!r}: must be > 0")
        sigma_ref = float(sigma) if sigma_ref is None else sigma_ref
    if not sigma_ref > 0:
        raise ValueError(f"sigma_ref = {sigma_ref!r}: must be > 0")

    # the sample: bounding box of the whole mesh
    x = msh.geometry.x[:, :gdim]
    lo = np.array([comm.allreduce(float(x[:, d].min()) if len(x) else np.inf, op=MPI.MIN) for d in range(gdim)])
    hi = np.array([comm.allreduce(float(x[:, d].max()) if len(x) else -np.inf, op=MPI.MAX) for d in range(gdim)])
    ext = hi - lo
    length = float(ext[axis])
    area = float(np.prod(np.delete(ext, axis)))
    tol = 1e-8 * float(ext.max())

    # the phase as a submesh
    if tags is None:
        imap_c = msh.topology.index_map(tdim)
        cells = np.arange(imap_c.size_local + imap_c.num_ghosts, dtype=np.int32)
        cell_tag_of_sub = None
    else:
        present = set(np.unique(cell_tags.values).tolist())
        present = set().union(*comm.allgather(present))
        missing = sorted(set(tags) - present)
        if missing:
            raise ValueError(f"phase tag(s) {missing} not in the cell tags; tags present: {sorted(present)}")
        sel = np.isin(cell_tags.values, tags)
        cells = np.unique(cell_tags.indices[sel]).astype(np.int32)
    sub, emap, _, _ = mesh.create_submesh(msh, tdim, cells)
    if tags is not None:
        nsub = sub.topology.index_map(tdim).size_local + sub.topology.index_map(tdim).num_ghosts
        parent_of_sub = emap.sub_topology_to_topology(np.arange(nsub, dtype=np.int32), False)
        tag_by_parent = np.full(msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts, -1)
        tag_by_parent[cell_tags.indices] = cell_tags.values
        cell_tag_of_sub = tag_by_parent[parent_of_sub]

    V = fem.functionspace(sub, ("Lagrange", 1))
    if isinstance(sigma, dict):
        Q0 = fem.functionspace(sub, ("DG", 0))
        sig = fem.Function(Q0)
        if cell_tag_of_sub is None:
            raise ValueError("sigma per tag needs cell_tags and phase")
        sig.x.array[:] = np.array([sigma.get(int(t), np.nan) for t in cell_tag_of_sub])
    else:
        sig = fem.Constant(sub, float(sigma))

    fdim = tdim - 1
    sub.topology.create_connectivity(fdim, tdim)
    bfacets = mesh.exterior_facet_indices(sub.topology)
    mids = mesh.compute_midpoints(sub, fdim, bfacets) if len(bfacets) else np.zeros((0, 3))
    f_in = bfacets[np.abs(mids[:, axis] - lo[axis]) < tol]
    f_out = bfacets[np.abs(mids[:, axis] - hi[axis]) < tol]
    n_in = comm.allreduce(len(f_in), op=MPI.SUM)
    n_out = comm.allreduce(len(f_out), op=MPI.SUM)
    if n_in == 0 or n_out == 0:
        side = "inlet" if n_in == 0 else "outlet"
        where = lo[axis] if n_in == 0 else hi[axis]
        raise ValueError(
            f"phase {list(tags) if tags else 'all'} has no facet on the {side} plane "
            f"x[{axis}] = {where:.6g}: it cannot carry current along axis {axis}"
        )
    d_in = fem.locate_dofs_topological(V, fdim, f_in)
    d_out = fem.locate_dofs_topological(V, fdim, f_out)

    # pin phase regions that touch neither plane (no current; singular otherwise)
    reached = _connected(V, np.concatenate([d_in, d_out]))
    d_iso = np.flatnonzero(~reached).astype(np.int32)
    dx = ufl.Measure("dx", domain=sub)
    iso_cells_mask = ~reached[V.dofmap.list].any(axis=1)
    iso_marker = fem.Function(fem.functionspace(sub, ("DG", 0)))
    iso_marker.x.array[:] = iso_cells_mask.astype(np.float64)
    vol_iso = comm.allreduce(fem.assemble_scalar(fem.form(iso_marker * dx)), op=MPI.SUM)
    vol_phase = comm.allreduce(fem.assemble_scalar(fem.form(fem.Constant(sub, 1.0) * dx)), op=MPI.SUM)

    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = ufl.inner(sig * ufl.grad(u), ufl.grad(v)) * dx
    L = ufl.inner(fem.Constant(sub, 0.0), v) * dx
    bcs = [
        fem.dirichletbc(1.0, d_in, V),
        fem.dirichletbc(0.0, d_out, V),
    ]
    if comm.allreduce(len(d_iso), op=MPI.SUM) > 0:
        bcs.append(fem.dirichletbc(0.0, d_iso, V))
    uh = fem.Function(V, name="potential")
    opts = {
        "ksp_type": "cg",
        "pc_type": "gamg",
        "ksp_rtol": rtol,
        "ksp_atol": 0.0,
        "ksp_max_it": 2000,
        "ksp_error_if_not_converged": True,
    }
    problem = LinearProblem(a, L, u=uh, bcs=bcs, petsc_options_prefix=petsc_options_prefix, petsc_options=opts)
    problem.solve()
    its = problem.solver.getIterationNumber()

    current = comm.allreduce(fem.assemble_scalar(fem.form(ufl.inner(sig * ufl.grad(uh), ufl.grad(uh)) * dx)), op=MPI.SUM)
    # variationally consistent boundary currents: r(psi) = a(u_h, psi) with psi = 1 on the plane
    r = assemble_vector(fem.form(ufl.inner(sig * ufl.grad(uh), ufl.grad(v)) * dx))
    r.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    nown = V.dofmap.index_map.size_local
    ra = r.array_r
    q_in = comm.allreduce(float(ra[d_in[d_in < nown]].sum()), op=MPI.SUM)
    q_out = -comm.allreduce(float(ra[d_out[d_out < nown]].sum()), op=MPI.SUM)
    r.destroy()

    sigma_eff = current * length / area
    f = sigma_eff / sigma_ref
    eps = vol_phase / (length * area)
    tau = eps / f if f > 0 else float("inf")
    return TortuosityResult(
        axis=axis,
        length=length,
        area=area,
        volume_fraction=eps,
        conductivity_fraction=f,
        tortuosity_factor=tau,
        current=current,
        current_in=q_in,
        current_out=q_out,
        flux_mismatch=abs(q_in - q_out) / abs(q_in) if q_in != 0 else float("nan"),
        isolated_volume_fraction=vol_iso / (length * area),
        krylov_iterations=int(its),
        num_dofs=int(V.dofmap.index_map.size_global),
    )


__all__ = ["TortuosityResult", "tortuosity"]
