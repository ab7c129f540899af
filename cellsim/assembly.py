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
"""

from __future__ import annotations

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

    def __init__(self, problem, unknowns):
        self.problem, self.u = problem, list(unknowns)
        self.F, J = problem.F, problem.J
        self._blocks = problem.b.getAttr("_blocks")
        self.is0, self.is1 = _index_sets(J, 0), _index_sets(J, 1)
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
        """Destroy the kept matrix, the index sets and the reference to the Jacobian held
        (collective; also when the assembler is collected, as DOLFINx's NonlinearProblem
        does): a parallel PETSc object left to Python's collector goes to PETSc's garbage
        list of its mesh's communicator, which nothing cleans, and keeps that communicator
        alive (MPICH has about 2000 of them per process)."""
        for obj in (self._Jc, self._J_kept, *self.is0, *self.is1):
            if obj is not None:
                obj.destroy()
        self._Jc = self._J_kept = self._Jc_of = None
        self.is0, self.is1 = [], []

    def __del__(self):
        if getattr(self, "_Jc", None) is not None or getattr(self, "is0", None):
            if not PETSc.Sys.isFinalized():
                self.close()

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
                self._Jc.destroy()
            self._Jc = J.duplicate(copy=False)
            self._Jc.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATIONS, False)
            self._Jc_of, self._J_kept = J.handle, J
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
