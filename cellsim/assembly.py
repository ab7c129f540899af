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
  read changed (the time step, the history of the last step, a control switch); each
  Newton iteration copies that matrix and adds the blocks that do depend on the
  unknowns;
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
    True at the first call). Local to this rank."""

    def __init__(self, forms):
        cpp = [f._cpp_object for f in forms]
        self._consts = list({id(c): c for f in cpp for c in f.constants}.values())
        self._coeffs = list({id(c): c for f in cpp for c in f.coefficients}.values())
        self._key = None

    def changed(self) -> bool:
        key = [np.array(c.value, copy=True) for c in self._consts] + [c.x.array.copy() for c in self._coeffs]
        same = self._key is not None and all(np.array_equal(a, b) for a, b in zip(key, self._key))
        self._key = key
        return not same


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
        self._Jc_of = None  # handle of the Jacobian matrix it was made for
        self._J_kept = None  # that matrix (held, so its handle cannot be reused)
        self.constant_assemblies = 0  # how often the constant blocks were assembled (tests)

    def close(self) -> None:
        """Destroy the kept matrix and the index sets now (collective). A solver owning
        this assembler destroys them with its own objects instead."""
        for obj in (self._Jc, self._J_kept, *self.is0, *self.is1):
            if obj is not None:
                self.owned.discard(obj)
                obj.destroy()
        self._Jc = self._J_kept = self._Jc_of = None
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
            if self._Jc is not None:
                self.owned.discard(self._Jc)
                self._Jc.destroy()
            self._Jc = self.owned.add(J.duplicate(copy=False))
            self._Jc.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATIONS, False)
            if self._J_kept is not None:  # (a reference to the replaced matrix)
                self.owned.discard(self._J_kept)
                self._J_kept.destroy()
            self._Jc_of, self._J_kept = J.handle, self.owned.add(J)
            self._inputs.changed()  # record the inputs of this assembly
            self._assemble_constant()
            return
        # a changed input on any rank re-assembles on every rank (collective)
        if J.comm.tompi4py().allreduce(self._inputs.changed(), op=MPI.LOR):
            self._assemble_constant()
        self._Jc.copy(J, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        self._add_blocks(J, self.variable)
        J.assemble()

    def _assemble_constant(self) -> None:
        self._Jc.zeroEntries()
        self._add_blocks(self._Jc, self.constant)
        self._Jc.assemble()
        self.constant_assemblies += 1
