"""Residual and Jacobian assembly of a blocked Newton problem, without repeated work.

:class:`BlockAssembler` replaces DOLFINx 0.11's ``assemble_residual`` and
``assemble_jacobian`` callbacks of a ``NonlinearProblem(kind="mpi")`` with no Dirichlet
conditions (the models impose every condition weakly). It assembles the same matrix and
vector entries, but

* the residual is not "lifted": DOLFINx packs the coefficients of every Jacobian block at
  every residual evaluation for a lifting that is empty without Dirichlet conditions;
* Jacobian blocks that do not depend on any unknown (linear terms: elasticity, stress
  projection, conduction with a fixed conductivity, contact conductances, mass matrices)
  are assembled into a kept matrix only when one of the constants or coefficients they
  read changed (the time step, the history of the last step, a control switch), and then
  only those blocks whose own inputs changed since the first assembly (the others are
  kept apart in a second matrix of the same pattern, made only while some blocks change
  and others do not); each Newton iteration copies the kept matrix and adds the blocks
  that do depend on the unknowns;
* the block index sets are made once, and no diagonal insertion (there are no
  conditions) is done.

A block counts as constant when none of the unknowns is among the coefficients of its
compiled form; its inputs (constants' values, coefficients' arrays) are compared exactly
before every Jacobian, so a changed input always re-assembles it.

Release of PETSc objects (:class:`Owned`, :func:`release_garbage`): destroying a parallel
solver (SNES with MUMPS factors, GAMG hierarchies, matrices) is collective, and Python's
garbage collector frees unreachable models in an order of its own on each rank: two
models dropped without ``close()`` and collected in a different order on two ranks
deadlocked (one rank inside one MUMPS destroy, the other inside the other's). So no
solver object is destroyed by the collector: a collected solver's objects are kept in a
list under a number that is the same on every rank, and :func:`release_garbage`, called
collectively at safe points (a model's ``close()``, the construction of a solver, the end
of a run, the tests' clean-up fixture), destroys those that every rank has collected, in
the order of their numbers. Objects on a one-rank communicator are destroyed at once.
"""

from __future__ import annotations

import weakref

import numpy as np

from .dolfinx_env import require_dolfinx

require_dolfinx()
import dolfinx.cpp as _cpp  # noqa: E402
import dolfinx.la.petsc as _la  # noqa: E402
from dolfinx.fem import pack_coefficients, pack_constants  # noqa: E402
from dolfinx.fem.petsc import assemble_vector, assign  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402


def _index_sets(J, axis: int):
    spaces = []
    for k in range(len(J) if axis == 0 else len(J[0])):
        line = J[k] if axis == 0 else [row[k] for row in J]
        f = next(f for f in line if f is not None)
        spaces.append(f.function_spaces[axis])
    return _cpp.la.petsc.create_index_sets([(V.dofmaps[0].index_map, V.dofmaps[0].index_map_bs) for V in spaces])


_graves: dict[int, "Owned"] = {}  # number -> the objects of a collected solver (parallel)
_number = [0]


class Owned:
    """The PETSc objects of one solver (destroyed together, in the order added) and the
    PETSc option keys it put into the database."""

    def __init__(self):
        self.objs, self.option_keys = [], []

    def add(self, *objs):
        self.objs.extend(o for o in objs if o is not None)
        return objs[0] if len(objs) == 1 else objs

    def discard(self, obj) -> None:
        self.objs = [o for o in self.objs if o is not obj]

    def parallel(self) -> bool:
        return any(bool(o) and o.getComm().getSize() > 1 for o in self.objs)

    def on(self, comm) -> bool:
        """Whether these objects live on ``comm`` (the same group of ranks)."""
        for o in self.objs:
            if bool(o):
                return MPI.Comm.Compare(o.getComm().tompi4py(), comm) in (MPI.IDENT, MPI.CONGRUENT)
        return True

    def destroy(self) -> None:
        """Destroy every object now (collective over their communicator) and drop the
        option keys."""
        if not PETSc.Sys.isFinalized():
            for o in self.objs:
                o.destroy()
            opts = PETSc.Options()
            for key in self.option_keys:
                if opts.hasName(key):
                    opts.delValue(key)
        self.objs, self.option_keys = [], []


def _bury(number: int, owned: Owned) -> None:
    """Finalizer of a collected solver: never a collective destroy here (see the module
    docstring); the objects wait in ``_graves`` for :func:`release_garbage`."""
    if PETSc.Sys.isFinalized() or not owned.objs:
        return
    if owned.parallel():
        _graves[number] = owned
    else:
        owned.destroy()


def watch(owner, owned: Owned, comm) -> weakref.finalize:
    """Hand ``owned`` to :func:`release_garbage` when ``owner`` is collected (collective:
    the number is agreed over ``comm``). ``detach()`` the result when the owner destroys
    them itself."""
    n = _number[0] + 1
    if comm.size > 1:
        n = comm.allreduce(n, op=MPI.MAX)
    _number[0] = n
    fin = weakref.finalize(owner, _bury, n, owned)
    fin.atexit = False  # at exit PETSc's finalisation frees everything
    return fin


def release_garbage(comm=None) -> int:
    """Destroy the objects of solvers collected on every rank of ``comm`` (default
    COMM_WORLD), in the order of their numbers, then PETSc's own garbage list of ``comm``
    (collective over ``comm``; never from a garbage-collector callback). Returns how many
    solvers' objects were destroyed."""
    comm = MPI.COMM_WORLD if comm is None else comm
    if PETSc.Sys.isFinalized():
        return 0
    mine = sorted(k for k, o in list(_graves.items()) if o.on(comm))
    common = mine
    if comm.size > 1:
        every = comm.allgather(mine)
        common = sorted(set(mine).intersection(*map(set, every)))
    for k in common:
        owned = _graves.pop(k)
        live = [o for o in owned.objs if bool(o)]
        if live:  # what petsc4py deferred on their communicator (same order on every rank)
            PETSc.garbage_cleanup(live[0].getComm())
        owned.destroy()
    PETSc.garbage_cleanup(comm)
    return len(common)


class InputWatch:
    """The inputs (constants' values, coefficients' arrays) of some compiled forms;
    :meth:`changed` says whether any changed since the last call (exact comparison;
    True at the first call), :meth:`changed_forms` which of the forms read a changed one.
    Local to this rank."""

    def __init__(self, forms):
        cpp = [f._cpp_object for f in forms]
        self._consts = list({id(c): c for f in cpp for c in f.constants}.values())
        self._coeffs = list({id(c): c for f in cpp for c in f.coefficients}.values())
        pos = {id(c): k for k, c in enumerate(self._consts + self._coeffs)}
        #: per form, the positions of its inputs in the key
        self._of = [[pos[id(c)] for c in (*f.constants, *f.coefficients)] for f in cpp]
        self._key = None

    def _changed_inputs(self) -> np.ndarray:
        key = [np.array(c.value, copy=True) for c in self._consts] + [c.x.array.copy() for c in self._coeffs]
        if self._key is None:
            out = np.ones(len(key), dtype=bool)
        else:
            out = np.array([not np.array_equal(a, b) for a, b in zip(key, self._key)], dtype=bool)
        self._key = key
        return out

    def changed(self) -> bool:
        first = self._key is None
        return bool(self._changed_inputs().any()) or first

    def changed_forms(self) -> np.ndarray:
        """Per form (in the order given), whether one of its inputs changed since the last
        call (all True at the first call)."""
        first = self._key is None
        ch = self._changed_inputs()
        return np.array([first or bool(ch[k].any()) for k in self._of], dtype=bool)


class BlockAssembler:
    """SNES residual and Jacobian callbacks of ``problem`` (see the module docstring)."""

    def __init__(self, problem, unknowns, owned: Owned | None = None):
        self.problem, self.u = problem, list(unknowns)
        # the objects this assembler creates (the owning solver destroys them with its own)
        self.owned = Owned() if owned is None else owned
        self.F, J = problem.F, problem.J
        self._blocks = problem.b.getAttr("_blocks")
        self.is0, self.is1 = _index_sets(J, 0), _index_sets(J, 1)
        self.owned.add(*self.is0, *self.is1)
        cpp_u = [u._cpp_object for u in self.u]
        self.constant, self.variable = [], []
        for i, row in enumerate(J):
            for j, f in enumerate(row):
                if f is None:
                    continue
                deps = f._cpp_object.coefficients
                linear = not any(c is v for c in deps for v in cpp_u)
                (self.constant if linear else self.variable).append((i, j, f))
        # the inputs of the constant blocks (compared before every Jacobian)
        self._inputs = InputWatch([f for _, _, f in self.constant])  # of the constant blocks
        self._Jc = None  # the kept matrix of the constant blocks
        #: constant blocks (positions in self.constant) whose inputs changed after the first
        #: assembly ("moving": the time step, a history); the others ("static") are kept in
        #: _Jk, so a change re-assembles only the moving ones
        self._moving = np.zeros(len(self.constant), dtype=bool)
        self._Jk = None  # the kept matrix of the static constant blocks (while some move)
        self._Jc_of = None  # handle of the Jacobian matrix it was made for
        self._J_kept = None  # that matrix (held, so its handle cannot be reused)
        self.constant_assemblies = 0  # how often the constant blocks were assembled (tests)

    def close(self) -> None:
        """Destroy the kept matrix and the index sets now (collective). A solver owning
        this assembler destroys them with its own objects instead."""
        for obj in (self._Jc, self._Jk, self._J_kept, *self.is0, *self.is1):
            self._release(obj)
        self._Jc = self._Jk = self._J_kept = self._Jc_of = None
        self.is0, self.is1 = [], []

    # ------------------------------------------------------------------ residual
    def residual(self, snes, x, b):
        """F(x) into b (no lifting: no Dirichlet conditions)."""
        _la._ghost_update(x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        assign(x, self.u)
        b.setAttr("_blocks", self._blocks)
        x.setAttr("_blocks", self._blocks)
        _la._zero_vector(b)
        assemble_vector(b, self.F)
        _la._ghost_update(b, PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        _la._ghost_update(b, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)

    # ------------------------------------------------------------------ Jacobian
    def _add_blocks(self, A, blocks) -> None:
        for i, j, f in blocks:
            sub = A.getLocalSubMatrix(self.is0[i], self.is1[j])
            _cpp.fem.petsc.assemble_matrix(sub, f._cpp_object, pack_constants(f), pack_coefficients(f), [], True)
            A.restoreLocalSubMatrix(self.is0[i], self.is1[j], sub)

    def assemble_full(self, A) -> None:
        """Every block into A (zeroed first; assembled afterwards)."""
        A.zeroEntries()
        self._add_blocks(A, self.constant + self.variable)
        A.assemble()

    def jacobian(self, snes, x, J, P):
        """J(x): the kept constant blocks plus the blocks that depend on the unknowns."""
        _la._ghost_update(x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        assign(x, self.u)
        if not self.constant:
            self.assemble_full(J)
            return
        if self._Jc is None or self._Jc_of != J.handle:
            # first Jacobian in this matrix: assemble it whole (which fixes its pattern),
            # then keep the constant blocks in a matrix of the same pattern
            self.assemble_full(J)
            for old in (self._Jc, self._Jk, self._J_kept):  # (J_kept: a reference to the replaced matrix)
                self._release(old)
            self._Jk = None
            self._Jc = self._kept_like(J)
            self._Jc_of, self._J_kept = J.handle, self.owned.add(J)
            self._inputs.changed_forms()  # record the inputs of this assembly
            self._assemble_constant(np.zeros(len(self.constant), dtype=bool))
            return
        # a changed input on any rank re-assembles on every rank (collective)
        changed = self._inputs.changed_forms().astype(np.int8)
        if J.comm.size > 1:
            mine, changed = changed, np.empty_like(changed)
            J.comm.tompi4py().Allreduce(mine, changed, op=MPI.MAX)
        if changed.any():
            self._assemble_constant(changed.astype(bool))
        self._Jc.copy(J, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        self._add_blocks(J, self.variable)
        J.assemble()

    def _release(self, obj) -> None:
        if obj is not None:
            self.owned.discard(obj)
            obj.destroy()

    def _kept_like(self, J):
        M = self.owned.add(J.duplicate(copy=False))
        M.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATIONS, False)
        return M

    def _assemble_constant(self, changed) -> None:
        """Re-assemble the kept constant blocks after the inputs of ``changed`` (one flag per
        constant block, the same on every rank) changed. A block that changes once is
        "moving" from then on; the static ones are kept in their own matrix, assembled again
        only when a block joins the moving ones: in the debonding half-cell, whose
        particle-binder blocks change with the contact and damage history at every step,
        the electrolyte-skeleton and binder couplings are no longer assembled again with them.
        Memory: one more matrix of the Jacobian's pattern while both kinds exist."""
        new = changed & ~self._moving
        self._moving |= changed
        static = [b for b, m in zip(self.constant, self._moving) if not m]
        moving = [b for b, m in zip(self.constant, self._moving) if m]
        if moving and static:
            if self._Jk is None or new.any():
                if self._Jk is None:
                    self._Jk = self._kept_like(self._Jc)
                self._Jk.zeroEntries()
                self._add_blocks(self._Jk, static)
                self._Jk.assemble()
            self._Jk.copy(self._Jc, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self._add_blocks(self._Jc, moving)
        else:  # all static (the first assembly) or all moving: one kept matrix
            if not static:
                self._release(self._Jk)
                self._Jk = None
            self._Jc.zeroEntries()
            self._add_blocks(self._Jc, self.constant)
        self._Jc.assemble()
        self.constant_assemblies += 1
