"""The nonlinear solver of every model: PETSc SNES Newton on the blocked residual.

One :class:`NewtonSolver` per model, built from the case's ``[solver]`` section:

* ``linear_solver = mumps | superlu_dist | petsc``: LU. With ``reuse_factorisation =
  true`` the LU factors are kept across Newton iterations and time steps as the
  preconditioner of a GMRES (PETSc ``snes_lag_preconditioner`` -1, persisting), rebuilt
  when GMRES slows down (more than 15 iterations per Newton iteration) or a solve fails
  (then the solve is repeated once with fresh factors). With ``"step"`` they are made
  fresh at the first Newton iteration of every solve and kept (GMRES) for its other
  iterations; a failed linear solve repeats the solve with factors at every iteration
  (with ``iterative`` the same for the fieldsplit preconditioner);
* ``linear_solver = iterative``: GMRES (unpreconditioned residual norm, restart 200) with
  a multiplicative (block Gauss-Seidel) PCFIELDSPLIT over groups of blocks (the model's
  ``fieldsplit_groups``): one GAMG V-cycle on all potentials (a conduction operator in
  every region plus the Butler-Volmer and contact conductances: symmetric positive
  definite, M-matrix-like), GAMG on the salt concentration (diffusion-dominated for the
  time steps used), block Jacobi/ILU(0) on the particle concentration (mass-dominated),
  GAMG on the displacement. Measured on a 2D lattice and a 3D sphere column (13.5k
  unknowns), one Jacobian, rtol 1e-10: 15-23 GMRES iterations, against 100-1000 for a
  two-group split. No hypre (not in the PyPI DOLFINx wheel). GAMG keeps its
  interpolation across Jacobians; a split made only of blocks of role "displacement"
  gets their rigid-body modes as near-nullspace (:func:`rigid_body_modes`), the node
  block size and threshold 0.05.

Assembly: :class:`cellsim.assembly.BlockAssembler` (no empty lifting in the residual;
Jacobian blocks that do not depend on the unknowns kept until their inputs change).

Convergence: ||F|| <= atol (scaled by the model's residual unit), or ||F|| <= rtol ||F_0||,
or, when the residual has reached its round-off floor (it stopped falling: ||F_k|| >
0.2 ||F_k-1||) and the last Newton update is negligible in every block (below
STAGNATION_STEP times the block's typical size): with stiff electronic networks (contact
conductances of 1e9 S m-2) the round-off of the potential rows lies above any fixed atol,
and Newton would otherwise iterate there to its limit and the step be retried in vain.
Newton converging quadratically never meets the stagnation condition, so it ends where
the standard test ends it.

Chord iterations (solves with the step's factors, the half-cell's default): after a Newton
iteration that cut ||F|| at least ``1 / CHORD_REDUCTION``-fold, the next iteration keeps
the Jacobian when the chord iterations that rate predicts reach the tolerance within
``slow_newton - 3`` iterations (:meth:`NewtonSolver._chord_pays`); the tolerances and the
converged solution's accuracy are unchanged, only the way there (``CELLSIM_JACOBIAN_REUSE=0``
turns it off; benchmarks compare the two).

Newton damping (``max_potential_step``): the whole update is scaled so that no block of
role "potential" moves by more than that many volts in one iteration (Butler-Volmer is
exponential in the potentials). :func:`clean_jacobian_pattern` removes the structurally
non-zero but always zero entries DOLFINx 0.11.0 puts into interface couplings between
submeshes. Failures are classified by :func:`cellsim.newton.solve`; the state is restored
on failure.
"""

from __future__ import annotations

import functools
import os
import weakref

import numpy as np

from . import jit, newton
from .assembly import BlockAssembler, InputWatch, Owned, release_garbage, watch
from .dolfinx_env import require_dolfinx
from .newton import StepResult
from .predictor import Predictor

require_dolfinx()
from dolfinx.fem.petsc import NonlinearProblem  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

_count = [0]  # solvers built in this process (unique PETSc option prefixes)
#: largest Newton update (relative to each block's typical size) that counts as negligible
STAGNATION_STEP = 1e-10
#: a Jacobian is kept for the next iteration (chord) only when the last iteration cut ||F||
#: by at least this factor (solves with the step's factors; CELLSIM_JACOBIAN_REUSE=0: off)
CHORD_REDUCTION = 0.1


@functools.cache
def _snes_set_lag_preconditioner():
    import ctypes

    fn = ctypes.CDLL(PETSc.__file__).SNESSetLagPreconditioner  # libpetsc, through petsc4py's module
    it = ctypes.c_int64 if np.dtype(PETSc.IntType).itemsize == 8 else ctypes.c_int32
    fn.argtypes, fn.restype = [ctypes.c_void_p, it], ctypes.c_int
    return fn


def set_lag_preconditioner(snes, lag: int) -> None:
    """PETSc's ``SNESSetLagPreconditioner``, which petsc4py 3.25 does not wrap (``snes.
    setLagPreconditioner`` raises AttributeError): -2 rebuild once at the next Jacobian then
    keep, -1 keep, n > 0 rebuild at every n-th iteration of a solve (collective)."""
    if _snes_set_lag_preconditioner()(snes.handle, lag) != 0:
        raise RuntimeError(f"SNESSetLagPreconditioner({lag}) failed")


def _weak(method):
    """A PETSc callback that calls the bound ``method`` through a weak reference to its object.

    petsc4py keeps a SNES's callbacks in a dictionary of the PETSc object that Python's
    garbage collector does not traverse, so a bound method of the solver (or of its
    assembler) given to the SNES would make the cycle solver -> SNES -> callback -> solver
    uncollectable: every model built in a process would stay alive, with its meshes, PETSc
    objects and the MPI communicators they hold, until MPICH runs out of communicator
    context ids (about 2000: "Too many communicators", exit code 15) after some tens of
    runs (benchmarks/comm_leak.py)."""
    ref = weakref.WeakMethod(method)

    def call(*args, **kwargs):
        return ref()(*args, **kwargs)

    return call


class _Problem(NonlinearProblem):
    """DOLFINx's NonlinearProblem without its destructor, which destroys the SNES and the
    matrices (collective) whenever the garbage collector frees it, in a rank-dependent
    order; :class:`NewtonSolver` owns and releases them (``cellsim.assembly.Owned``)."""

    def __del__(self):
        pass


def snes_options(spec, atol_scale: float = 1.0) -> dict:
    """PETSc options of the Newton and the linear solver from a ``[solver]`` section."""
    opts = {
        "snes_type": "newtonls",
        "snes_linesearch_type": spec.line_search,
        "snes_rtol": spec.rtol,
        "snes_atol": spec.atol * atol_scale,
        "snes_stol": 0.0,
        "snes_max_it": spec.max_iterations,
    }
    if spec.linear_solver == "iterative":
        opts.update({"ksp_type": "gmres", "ksp_rtol": spec.ksp_rtol, "ksp_max_it": 1000,
                     "ksp_gmres_restart": 200, "ksp_norm_type": "unpreconditioned"})
        if spec.reuse_factorisation == "step":  # the preconditioner of the first iteration
            opts["snes_lag_preconditioner"] = spec.max_iterations + 1
        return opts
    opts.update({"pc_type": "lu", "pc_factor_mat_solver_type": spec.linear_solver})
    if spec.reuse_factorisation:
        opts.update({"ksp_type": "gmres", "ksp_rtol": 1e-10, "ksp_atol": 1e-30, "ksp_max_it": 40,
                     "ksp_gmres_restart": 40})
        if spec.reuse_factorisation == "step":
            # PETSc rebuilds the preconditioner when (iteration % lag) == 0: with a lag above
            # the iteration limit and no persistence, at the first iteration of every solve
            opts["snes_lag_preconditioner"] = spec.max_iterations + 1
        else:
            opts["snes_lag_preconditioner_persists"] = True
    else:
        opts["ksp_type"] = "preonly"
    return opts


class NewtonSolver:
    """Newton on the blocked forms of a model (collective).

    ``model`` provides ``unknowns``, ``block_names``, ``spec`` (block -> Unknown) and
    ``comm``; ``forms`` are the residual blocks in the same order.
    """

    def __init__(self, model, forms, spec, name: str, atol_scale: float = 1.0, entity_maps=None,
                 divergence_tolerance: float | None = None, max_potential_step: float | None = None):
        self.model, self.comm, self.spec = model, model.comm, spec
        _count[0] += 1
        prefix = f"cellsim_{name}{_count[0]}_"
        kw = {"entity_maps": entity_maps} if entity_maps else {}
        release_garbage(self.comm)  # a safe point: solvers collected since are destroyed
        with jit.batch(self.comm, forms, model.unknowns):  # one compiled module for F and J
            self.problem = _Problem(forms, model.unknowns, kind="mpi", petsc_options_prefix=prefix,
                                            petsc_options=snes_options(spec, atol_scale), **kw)
        self.snes = self.problem.solver
        p = self.problem
        # every PETSc object of this solver, destroyed by close() or, once the solver is
        # collected, by cellsim.assembly.release_garbage (never by the collector itself)
        self.owned = Owned()
        self.owned.add(p.solver, p.A, p.b, p.x, p.P_mat)
        self._finalizer = watch(self, self.owned, self.comm)
        self.assembler = BlockAssembler(self.problem, model.unknowns, self.owned)
        self.snes.setFunction(_weak(self.assembler.residual), self.problem.b)
        self.snes.setJacobian(_weak(self._jacobian), self.problem.A, self.problem.A)
        self._const_splits, self._sub_ksps, self._jacobians = [], None, 0
        if divergence_tolerance is not None:
            self.snes.setDivergenceTolerance(divergence_tolerance)
        self.reuse = spec.reuse_factorisation is True and spec.linear_solver != "iterative"
        self.step_factors = spec.reuse_factorisation == "step"
        self.fallbacks = 0  # step-factor solves repeated with fresh factors at every iteration
        # chord iterations (the Jacobian of the last iteration kept) in solves with the step's
        # factors (see _converged)
        self.chord = self.step_factors and os.environ.get("CELLSIM_JACOBIAN_REUSE", "1") != "0"
        self._keep_jacobian = False
        self.kept_jacobians = 0  # Jacobians not assembled (tests, benchmarks)
        # the remedy named for an out-of-memory factorisation: only what this model offers
        self._oom_hint = (newton.OOM_HINT if getattr(model, "iterative_available", True)
                          else "use more MPI ranks or a coarser mesh")
        self.need_factor = True
        sizes = [u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
                 for u in model.unknowns]
        self.sizes = sizes
        offs = np.concatenate([[0], np.cumsum(sizes)])
        self.max_potential_step = max_potential_step
        self._pot_ranges = [(offs[k], offs[k + 1]) for k, n in enumerate(model.block_names)
                            if model.spec[n].role == "potential"]
        if max_potential_step is not None and self._pot_ranges:
            self.snes.setLineSearchPreCheck(_weak(self._limit_step))
        self._ranges = [(offs[k], offs[k + 1], model.spec[n].typical) for k, n in enumerate(model.block_names)]
        self._tol = (spec.atol * atol_scale, spec.rtol,
                     divergence_tolerance if divergence_tolerance is not None else 1e4)
        self._f0 = self._fprev = None
        self.f0_reference = None  # ||F_0|| that rtol refers to, when not the first residual's
        self.snes.setConvergenceTest(_weak(self._converged))
        # (CELLSIM_NEWTON_PREDICTOR=0 turns it off: benchmarks compare the two)
        use = getattr(model, "newton_predictor", False) and os.environ.get("CELLSIM_NEWTON_PREDICTOR", "1") != "0"
        self.predictor = Predictor(self) if use else None

    def close(self) -> None:
        """Destroy this solver's PETSc objects now (collective; the solver cannot be used
        afterwards). Models call it from ``close()``; the time driver closes its model at
        the end of a run, so that a process running many cases (a parameter sweep, a test
        suite) does not keep their matrices, factors and MPI communicators."""
        self._finalizer.detach()
        for ksp in self._sub_ksps or []:  # (references only: the SNES owns them)
            ksp.destroy()
        self._sub_ksps = None
        self.assembler.close()
        self.owned.destroy()  # the SNES first (with its KSP, PC, factors), then the matrices
        self.fieldsplit, self._split_keys = [], []
        release_garbage(self.comm)

    # ------------------------------------------------------------------ Jacobian
    def _jacobian(self, snes, x, J, P):
        """The assembler's Jacobian; then the sub-solvers of fieldsplit groups whose
        diagonal blocks are all constant keep their preconditioner (e.g. GAMG on the linear
        elasticity) until an input of those blocks changes (collective). A chord iteration
        (``_keep_jacobian``, decided from the same global residual norms on every rank)
        leaves J as it is: the linear solve then runs on the kept operator (one triangular
        solve while it is the factorised one of the step's first iteration, GMRES on the
        step's factors or preconditioner otherwise)."""
        if self._keep_jacobian:
            self._keep_jacobian = False
            self.kept_jacobians += 1
            return
        self.assembler.jacobian(snes, x, J, P)
        self._jacobians += 1
        if not self._const_splits:
            return
        if self._sub_ksps is None and self._jacobians > 1:  # the fieldsplit is set up by now
            try:
                self._sub_ksps = self.snes.getKSP().getPC().getFieldSplitSubKSP()
            except PETSc.Error:
                self._sub_ksps = None
        # a changed input on any rank rebuilds on every rank
        changed = [self.comm.allreduce(w.changed(), op=MPI.LOR) for _, w in self._const_splits]
        if self._sub_ksps is not None:
            for (k, _), new in zip(self._const_splits, changed):
                self._sub_ksps[k].getPC().setReusePreconditioner(not new)

    # ------------------------------------------------------------------ convergence
    def _converged(self, snes, it, norms):
        """SNES convergence test (see the module docstring); PETSc reason codes."""
        _, _, fnorm = norms
        atol, rtol, divtol = self._tol
        if it == 0:
            self._f0 = self._fprev = fnorm
            if self.f0_reference is not None:  # (the Newton predictor: the unpredicted start's)
                self._f0 = self.f0_reference
        prev, self._fprev = self._fprev, fnorm
        self._keep_jacobian = False
        if fnorm != fnorm:
            return -4  # DIVERGED_FNORM_NAN
        if fnorm <= atol:
            return 2  # CONVERGED_FNORM_ABS
        if it == 0:
            return 0
        if fnorm <= rtol * self._f0:
            return 3  # CONVERGED_FNORM_RELATIVE
        if fnorm > divtol * self._f0 and divtol > 0:
            return -9  # DIVERGED_DTOL
        if fnorm > 0.2 * prev and self._negligible_update(snes):
            return 4  # CONVERGED_SNORM_RELATIVE: at the round-off floor
        self._keep_jacobian = self.chord and self._chord_pays(it, fnorm, prev, max(atol, rtol * self._f0))
        return 0

    def _chord_pays(self, it: int, fnorm: float, prev: float, target: float) -> bool:
        """Whether the next iteration keeps this iteration's Jacobian (a chord iteration: a
        residual and a solve with the step's factors, against a Jacobian, about a Poisson
        solve in the half-cell, for a Newton iteration). A chord iteration cuts ||F|| about
        as much as the last iteration did (rho = fnorm / prev): kept when rho <=
        CHORD_REDUCTION and the chord iterations that rho predicts to reach ``target`` end
        the solve within ``slow_newton - 3`` iterations: room for Newton iterations after a
        chord slower than predicted before the time-step control, which reads only whether
        a solve took more than slow_newton iterations, would count the solve slow."""
        rho = fnorm / prev if prev > 0.0 else 1.0
        if not (0.0 < rho <= CHORD_REDUCTION) or target <= 0.0:
            return False
        need = max(1, int(np.ceil(np.log(target / fnorm) / np.log(rho))))
        return it + need <= self.model.slow_newton - 3

    def _negligible_update(self, snes) -> bool:
        y = snes.getSolutionUpdate().getArray(readonly=True)
        worst = max((np.abs(y[i:j]).max(initial=0.0) / t for i, j, t in self._ranges), default=0.0)
        return self.comm.allreduce(worst, op=MPI.MAX) < STAGNATION_STEP

    # ------------------------------------------------------------------ solve
    def _limit_step(self, x, y):
        a = y.getArray(readonly=True)
        m = max((np.abs(a[i:j]).max(initial=0.0) for i, j in self._pot_ranges), default=0.0)
        m = self.comm.allreduce(m, op=MPI.MAX)
        if m > self.max_potential_step:
            y.scale(self.max_potential_step / m)

    def _request_factorisation(self):
        """Rebuild the LU factors at the next Jacobian, then keep them (PETSc lag -2 -> -1)."""
        opts = PETSc.Options()
        key = f"{self.snes.getOptionsPrefix()}snes_lag_preconditioner"
        opts[key] = -2
        self.snes.setFromOptions()
        del opts[key]
        self.need_factor = False

    def _solve_once(self) -> StepResult:
        m = self.model
        snap = m.snapshot()
        res = newton.solve(self.problem, self.snes, m.unknowns, self.comm, oom_hint=self._oom_hint)
        if res.converged:
            why = m.check_solution()
            if why:
                res = StepResult(False, res.newton_iterations, res.krylov_iterations, why)
        if not res.converged:
            if "NaN" in res.reason or "non-finite" in res.reason:
                res.reason += self._nan_origin()
            m.restore(snap)
        return res

    def _nan_origin(self) -> str:
        """Which blocks hold non-finite residual entries or values (collective)."""
        try:
            F = self.snes.getFunction()[0].getArray(readonly=True)
            offs = np.concatenate([[0], np.cumsum(self.sizes)])
            names = self.model.block_names
            bad_f = [n for k, n in enumerate(names) if not np.isfinite(F[offs[k]:offs[k + 1]]).all()]
            bad_u = [n for n, u in zip(names, self.model.unknowns) if not np.isfinite(u.x.array).all()]
            gather = self.comm.allgather((bad_f, bad_u))
            bad_f = sorted({n for f, _ in gather for n in f})
            bad_u = sorted({n for _, u in gather for n in u})
            out = []
            if bad_f:
                out.append("non-finite residual in block(s) " + ", ".join(bad_f))
            if bad_u:
                out.append("non-finite values of " + ", ".join(bad_u))
            return f" ({'; '.join(out)})" if out else ""
        except Exception:  # a diagnosis only: never hide the failure itself
            return ""

    def _solve_step_factors(self) -> StepResult:
        """Fresh LU factors at the first Newton iteration, kept (GMRES) for the others; a
        failed linear solve (GMRES on the kept factors not converging) repeats the solve
        with fresh factors at every iteration, whose Newton count is the one reported (the
        time-step control reads it as the effort of the step; the Krylov counts add)."""
        res = self._solve_once()
        if res.converged or res.reason_code != -3 or not res.retry:
            return res
        set_lag_preconditioner(self.snes, 1)
        chord, self.chord = self.chord, False  # (a fresh Jacobian and factors every iteration)
        try:
            res2 = self._solve_once()
        finally:
            set_lag_preconditioner(self.snes, self.spec.max_iterations + 1)
            self.chord = chord
        self.fallbacks += 1
        res2.krylov_iterations += res.krylov_iterations
        return res2

    def solve(self) -> StepResult:
        """One Newton solve; the model's state is unchanged on failure."""
        if self.predictor is not None:
            return self.predictor.solve(self._solve)
        return self._solve()

    def _solve(self) -> StepResult:
        if self.step_factors:
            return self._solve_step_factors()
        if not self.reuse:
            return self._solve_once()
        fresh = self.need_factor
        if fresh:
            self._request_factorisation()
        res = self._solve_once()
        if res.converged:
            if res.krylov_iterations > 15 * max(res.newton_iterations, 1):
                self.need_factor = True
            return res
        if fresh:
            return res
        self._request_factorisation()
        res2 = self._solve_once()
        res2.newton_iterations += res.newton_iterations
        res2.krylov_iterations += res.krylov_iterations
        return res2

    # ------------------------------------------------------------------ set-up helpers
    def block_index_sets(self):
        """PETSc index sets of every block in the kind='mpi' vector layout (for fieldsplit)."""
        start = self.comm.exscan(sum(self.sizes), op=MPI.SUM) or 0
        out, off = [], start
        for n in self.sizes:
            out.append(PETSc.IS().createStride(n, first=off, step=1, comm=self.comm))
            off += n
        return out

    def configure_fieldsplit(self, groups: dict, gamg_threshold: float = 0.02, split_options: dict | None = None,
                             fieldsplit_type: str = "multiplicative") -> None:
        """Fieldsplit preconditioner over ``groups`` (split name -> block names; the names
        'phi', 'ce', 'cs', 'u' select GAMG / GAMG / block-Jacobi ILU / GAMG; any other
        name GAMG). ``split_options``: split name -> {option: value} (without the
        ``fieldsplit_<name>_`` prefix) replacing those defaults of that split."""
        names = self.model.block_names
        ksp = self.snes.getKSP()
        pc = ksp.getPC()
        pc.setType("fieldsplit")
        iss = self.block_index_sets()
        splits = []
        for g, members in groups.items():
            idx = [iss[names.index(n)].getIndices() for n in members if n in names]
            if not idx:
                continue
            IS = self.owned.add(PETSc.IS().createGeneral(np.sort(np.concatenate(idx)).astype(PETSc.IntType),
                                                         comm=self.comm))
            self._attach_rigid_body_modes(IS, [n for n in names if n in members])
            splits.append((g, IS))
        pc.setFieldSplitIS(*splits)
        # splits whose diagonal blocks are all constant (their sub-matrix changes only
        # when the assembler re-assembles the constant blocks)
        var = {(i, j) for i, j, _ in self.assembler.variable}
        const = {(i, j): f for i, j, f in self.assembler.constant}
        self._const_splits = []
        for k, (g, _) in enumerate(splits):
            idx = [names.index(n) for n in groups[g] if n in names]
            if not any((i, j) in var for i in idx for j in idx):
                diag = [const[i, j] for i in idx for j in idx if (i, j) in const]
                self._const_splits.append((k, InputWatch(diag)))
        for i in iss:  # (the splits are kept: destroyed in close())
            i.destroy()
        prefix = ksp.getOptionsPrefix() or ""
        opts = PETSc.Options()
        values = {"pc_fieldsplit_type": fieldsplit_type}
        for g, IS in splits:
            values[f"fieldsplit_{g}_ksp_type"] = "preonly"
            if g == "cs":
                values.update({"fieldsplit_cs_pc_type": "bjacobi", "fieldsplit_cs_sub_pc_type": "ilu",
                               # concentration blocks are tiny in amperes (F/dt * volume): no
                               # absolute zero-pivot test
                               "fieldsplit_cs_sub_pc_factor_zeropivot": 0.0})
            else:
                values[f"fieldsplit_{g}_pc_type"] = "gamg"
                # the aggregates and prolongators of the first set-up are kept: a new
                # Jacobian only recomputes the Galerkin coarse operators
                values[f"fieldsplit_{g}_pc_gamg_reuse_interpolation"] = True
                if g in ("phi", "ce"):
                    values[f"fieldsplit_{g}_pc_gamg_threshold"] = gamg_threshold
                elif IS.query("nearnullspace") is not None:
                    # displacement (penalty supports and ties: stiff couplings); measured on
                    # the debonding lattice, GMRES per Newton iteration: 250 with the default
                    # threshold, 50 with 0.01, 34 with 0.05 (MUMPS on the split: 27)
                    values[f"fieldsplit_{g}_pc_gamg_threshold"] = 0.05
            if split_options and g in split_options:
                values = {k: v for k, v in values.items() if not k.startswith(f"fieldsplit_{g}_")}
                values[f"fieldsplit_{g}_ksp_type"] = "preonly"
                values.update({f"fieldsplit_{g}_{k}": v for k, v in split_options[g].items()})
        for k, v in values.items():
            opts[prefix + k] = v
        self._split_keys = [prefix + k for k in values]
        self.owned.option_keys.extend(self._split_keys)
        # the sub-solvers read their options when the preconditioner is first set up (first
        # solve), so the options stay in the database under this solver's unique prefix
        ksp.setFromOptions()
        pc.setFromOptions()
        self.fieldsplit = splits

    def _attach_rigid_body_modes(self, IS, members: list[str]) -> None:
        """A split made only of displacement blocks (role "displacement", vector spaces)
        gets their rigid-body modes as the near-nullspace of its sub-matrix (GAMG builds
        its coarse spaces from them) and the node block size (collective)."""
        spec = self.model.spec
        if not members or any(spec[n].role != "displacement" for n in members):
            return
        spaces = [self.model.u[n].function_space for n in members]
        bs = {V.dofmap.index_map_bs for V in spaces}
        if len(bs) != 1 or bs.pop() != self.model.parent.geometry.dim:
            return
        modes = rigid_body_modes(spaces, self.comm)
        vecs = []
        for m in modes:
            v = PETSc.Vec().createMPI((m.size, PETSc.DECIDE), comm=self.comm)
            v.setArray(m)
            for w in vecs:  # Gram-Schmidt: PETSc wants an orthonormal basis
                v.axpy(-v.dot(w), w)
            v.normalize()
            vecs.append(v)
        IS.setBlockSize(spaces[0].dofmap.index_map_bs)
        nsp = PETSc.NullSpace().create(vectors=vecs, comm=self.comm)
        IS.compose("nearnullspace", nsp)
        for obj in (nsp, *vecs):  # the index set holds them now
            obj.destroy()


#: the particle's fieldsplit (iterative solver): split name -> block roles, in the order of
#: the multiplicative sweep, and the sub-solvers (other names: GAMG, see configure_fieldsplit)
#: (u, sigma_h, then c and phi: the rows of c and phi, which read sigma_h and u (stress-
#: assisted flux, stress in the overpotential), then see the updated stress; only the
#: chemical strain (u's row reading c) lies above the sweep. Measured on particle_charge,
#: 10 steps from dt = 2 s to 184 s: 7.7 CPU s against 9.6 s with c first)
PARTICLE_SPLITS = {"u": ("displacement",), "sh": ("stress",), "cs": ("concentration", "potential")}
PARTICLE_SPLIT_OPTIONS = {"sh": {"pc_type": "bjacobi", "sub_pc_type": "ilu"}}


def particle_fieldsplit(model) -> tuple[dict, float, dict]:
    """Arguments of :meth:`NewtonSolver.configure_fieldsplit` for a particle model."""
    groups = {g: tuple(n for n in model.block_names if model.spec[n].role in roles)
              for g, roles in PARTICLE_SPLITS.items()}
    return {g: m for g, m in groups.items() if m}, 0.02, PARTICLE_SPLIT_OPTIONS


def rigid_body_modes(spaces, comm) -> list[np.ndarray]:
    """Translations and rotations of the owned dofs of vector spaces on one geometry,
    concatenated over ``spaces`` (local arrays; rotations about the common centroid,
    lengths scaled by the extent, so the modes are of one size)."""
    gdim = spaces[0].mesh.geometry.dim
    xs = [V.tabulate_dof_coordinates()[:V.dofmap.index_map.size_local, :gdim] for V in spaces]
    x = np.concatenate(xs) if xs else np.zeros((0, gdim))
    n = comm.allreduce(len(x), op=MPI.SUM)
    c = comm.allreduce(x.sum(axis=0), op=MPI.SUM) / max(n, 1)
    x = x - c
    L = comm.allreduce(np.abs(x).max(initial=0.0), op=MPI.MAX) or 1.0
    x = x / L
    rot = ([(-x[:, 1], x[:, 0])] if gdim == 2 else
           [(-x[:, 1], x[:, 0], 0 * x[:, 0]), (0 * x[:, 0], -x[:, 2], x[:, 1]), (x[:, 2], 0 * x[:, 0], -x[:, 0])])
    out = []
    for k in range(gdim):
        m = np.zeros((len(x), gdim))
        m[:, k] = 1.0
        out.append(m.ravel())
    for r in rot:
        out.append(np.column_stack(r).ravel())
    return out


def clean_jacobian_pattern(solver: NewtonSolver, configurations) -> tuple[int, int]:
    """Replace the Jacobian matrix by one with the true sparsity pattern.

    DOLFINx 0.11.0 builds the sparsity of an interior-facet integral between two submeshes
    with a buffer that keeps local dof 0 for the side on which a space does not exist
    (fixed upstream after 0.11.0.post0): dof 0 of every submesh space gets a structurally
    full row and column over the interface dofs. The values assembled there are zero, but
    the fill ruins LU fill-in and AMG set-up (measured: 8.8 s GAMG set-up on 30k
    potentials, 0.5 s after). The true pattern is probed: the Jacobian is assembled in each
    of ``configurations`` (callables that put the model in a perturbed state) and its
    non-zero entries (plus the diagonal) form the new pattern; insertions outside it (the
    zero values at the leaked positions) are then ignored. Returns (nnz before, after).
    """
    from dolfinx.fem.petsc import assemble_matrix

    problem, comm = solver.problem, solver.comm
    A = problem.A
    mask = None
    for configure in configurations:
        configure()
        A.zeroEntries()
        assemble_matrix(A, problem.J)
        A.assemble()
        ai, aj, av = A.getValuesCSR()
        m = av != 0.0
        mask = m if mask is None else (mask | m)
    r0, _ = A.getOwnershipRange()
    rows = np.repeat(np.arange(len(ai) - 1), np.diff(ai))
    mask |= aj == rows + r0
    counts = np.zeros(len(ai) - 1, dtype=np.int64)
    np.add.at(counts, rows[mask], 1)
    ai_new = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    aj_new = aj[mask].astype(PETSc.IntType)
    B = PETSc.Mat().create(comm=comm)
    B.setSizes(A.getSizes())
    B.setType(PETSc.Mat.Type.AIJ)
    B.setPreallocationCSR((ai_new, aj_new))
    B.setLGMap(*A.getLGMap())
    B.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATIONS, False)
    B.setOptionsPrefix(A.getOptionsPrefix())
    before, after = comm.allreduce(len(aj), op=MPI.SUM), comm.allreduce(len(aj_new), op=MPI.SUM)
    solver.snes.setJacobian(_weak(solver._jacobian), B, B)
    problem._A = B
    solver.owned.discard(A)
    solver.owned.add(B)
    A.destroy()
    return before, after
