"""Helpers for the single-particle verification tests: run the model in-process and
measure errors against radial reference solutions at quadrature points."""

from __future__ import annotations

import numpy as np

from cellsim.case import case_from_dict
from cellsim.dolfinx_env import require_dolfinx

dolfinx = require_dolfinx()
import basix  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

from cellsim.geometry.mesh import build_mesh  # noqa: E402
from cellsim.models.particle import ParticleModel  # noqa: E402

R_P = 5.0e-6  # particle radius used by the tests [m]


def make_case(**sections):
    d = {"geometry": {"kind": "sphere", "radius": R_P, "mesh_size": R_P / 3}}
    for k, v in sections.items():
        if k == "geometry" and "kind" in v:
            d[k] = v
        elif isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return case_from_dict(d)


def build_model(case, comm=MPI.COMM_WORLD):
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    model = ParticleModel(case, tm, comm)
    model.set_control()
    res = model.solve_initial()
    assert res.converged, res.reason
    return model


def advance(model, dt, nsteps):
    """nsteps fixed backward-Euler steps; returns the diagnostics after each."""
    out = []
    for _ in range(nsteps):
        res = model.step(dt)
        assert res.converged, res.reason
        model.accept()
        out.append(model.diagnostics())
    return out


def _quadrature_values(model, exprs, degree=4):
    msh = model.mesh
    pts, wts = basix.make_quadrature(basix.CellType.tetrahedron, degree)
    ncell = msh.topology.index_map(3).size_local
    cells = np.arange(ncell, dtype=np.int32)
    vals = []
    for e in exprs:
        ex = fem.Expression(e, pts)
        vals.append(ex.eval(msh, cells))
    return wts, vals


def radial_errors(model, c_exact, sr_exact=None, st_exact=None):
    """Relative L2 errors of c, sigma_rr and sigma_tt against radial functions of r.

    c_exact, sr_exact, st_exact: callables of r (numpy). Errors are normalised by the L2
    norm of (c - c_mean) and of sigma_tt respectively, i.e. by the varying part.
    """
    msh = model.mesh
    x = ufl.SpatialCoordinate(msh)
    exprs = [x, abs(ufl.JacobianDeterminant(msh)), model.cs * model.X]
    if sr_exact is not None:
        model.update_fields()
        sig = model._cellwise_stress()
        r = ufl.sqrt(ufl.dot(x, x)) + 1e-30
        n = x / r
        srr = ufl.dot(sig * n, n)
        stt = (ufl.tr(sig) - srr) / 2
        exprs += [srr, stt]
    wts, vals = _quadrature_values(model, exprs)
    nq = len(wts)
    X = vals[0].reshape(-1, nq, 3)
    w = vals[1].reshape(-1, nq) * wts[None, :]
    rr = np.linalg.norm(X, axis=2)
    comm = model.comm

    def l2(a):
        return np.sqrt(comm.allreduce(float(np.sum(w * a**2)), op=MPI.SUM))

    c_h = vals[2].reshape(-1, nq)
    ce = c_exact(rr)
    vol = comm.allreduce(float(w.sum()), op=MPI.SUM)
    cmean = comm.allreduce(float(np.sum(w * ce)), op=MPI.SUM) / vol
    out = {"c": l2(c_h - ce) / l2(ce - cmean)}
    if sr_exact is not None:
        srr_h, stt_h = vals[3].reshape(-1, nq), vals[4].reshape(-1, nq)
        sre, ste = sr_exact(rr), st_exact(rr)
        out["sigma_r"] = l2(srr_h - sre) / l2(ste)
        out["sigma_t"] = l2(stt_h - ste) / l2(ste)
    return out


def point_stress(model, point):
    """Stress tensor (3x3) of the model at a point (collective; the owning rank evaluates)."""
    from dolfinx import geometry

    model.update_fields()
    msh = model.mesh
    p = np.asarray(point, dtype=np.float64).reshape(1, 3)
    tree = geometry.bb_tree(msh, 3)
    cand = geometry.compute_collisions_points(tree, p)
    coll = geometry.compute_colliding_cells(msh, cand, p)
    links = coll.links(0)
    ncell = msh.topology.index_map(3).size_local
    links = links[links < ncell]
    val = np.zeros(9)
    have = 0
    if len(links):
        val = model.f_sig.eval(p, links[:1]).reshape(9)
        have = 1
    tot = model.comm.allreduce(val * have, op=MPI.SUM)
    cnt = model.comm.allreduce(have, op=MPI.SUM)
    return (tot / cnt).reshape(3, 3)


def fitted_order(h, e):
    return float(np.polyfit(np.log(h), np.log(e), 1)[0])


def cracking_grains_parallel_vs_serial(geom, mechanics, control, steps=3, dt=30.0, accept_first=True,
                                       on_step=None):
    """Cohesive NMC811 grains with the Kondrakov lattice strain, charged from the stress-free
    lattice (x = 0.99) for ``steps`` fixed steps of ``dt``, on COMM_WORLD and (in parallel)
    on COMM_SELF: checks that both give the same diagnostics (rel 1e-7) and that the grain
    boundaries got damaged; returns the serial rows. ``accept_first``: the diagnostics of a
    step are taken after ``accept()`` (the committed damage) or before it; ``on_step(prev,
    d)`` is called with the diagnostics before and after every step."""
    import pytest

    comms = [("par", MPI.COMM_WORLD)] + ([("ser", MPI.COMM_SELF)] if MPI.COMM_WORLD.size > 1 else [])
    out = {}
    for name, comm in comms:
        case = case_from_dict({
            "geometry": geom, "material": {"name": "nmc811_chen2020", "lattice_strain": "nmc811_kondrakov2017"},
            "physics": {"initial_stoichiometry": 0.99, "stress_assisted_diffusion": False,
                        "stress_in_overpotential": False},
            "mechanics": {"interface": "cohesive", **mechanics},
            "discretisation": {"displacement_degree": 1}, "control": control, "time": {"t_end": 3600.0}})
        m = ParticleModel(case, build_mesh(case.geometry, comm), comm)
        m.set_control()
        assert m.solve_initial().converged
        prev, rows = m.diagnostics(), []
        for _ in range(steps):
            res = m.step(dt)
            assert res.converged, res.reason
            if accept_first:
                m.accept()
            d = m.diagnostics()
            if not accept_first:
                m.accept()
            if on_step is not None:
                on_step(prev, d)
            rows.append(d)
            prev = d
        out[name] = rows
    rp, rs = out["par"], out.get("ser", out["par"])
    for a, b in zip(rp, rs):
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-7, abs=1e-14, nan_ok=True), k
    assert rs[-1]["damaged area fraction [-]"] > 0.0
    return rs
