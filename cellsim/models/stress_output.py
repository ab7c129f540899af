"""The stress output of a solid: hydrostatic, von Mises and full stress in one interpolation.

Every model with mechanics writes three stress fields of one UFL stress ``sigma``: the
hydrostatic and von Mises stress (a scalar DG space ``Q``) and the tensor (a DG space ``T``
of the same degree). Each was a ``fem.Expression`` of its own, so a compiled module of its
own (three per solid region: 6 of the 16 modules of the cohesive half-cell's cold set-up).
:class:`StressInterpolation` interpolates the three as ONE vector expression
``[sigma_h, sigma_vm, sigma_00, sigma_01, ...]`` into a DG vector space of the same degree on
the same mesh and copies the components into the three fields. Interpolation into DG is
point evaluation at the element's points, and the three spaces number their nodes alike
(checked when built), so the values are those of three separate interpolations
(tests/unit/test_stress_output.py).
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..physics import mechanics

require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402


class StressInterpolation:
    """``update()`` sets ``sh`` (hydrostatic), ``vm`` (von Mises) and ``sig`` (tensor) from
    ``sigma``; the three Functions are on DG spaces of one degree on one mesh."""

    def __init__(self, sigma, sh: fem.Function, vm: fem.Function, sig: fem.Function):
        Q, T = sh.function_space, sig.function_space
        gdim = ufl.shape(sigma)[0]
        deg = Q.ufl_element().embedded_superdegree
        comps = [mechanics.hydrostatic(sigma), mechanics.von_mises(sigma)]
        comps += [sigma[i, j] for i in range(gdim) for j in range(gdim)]
        W = fem.functionspace(Q.mesh, ("DG", deg, (len(comps),)))
        if not all(np.array_equal(V.dofmap.list, Q.dofmap.list) for V in (W, T, vm.function_space)):
            raise RuntimeError("stress output: the DG spaces number their nodes differently")
        self._w = fem.Function(W)
        self._expr = fem.Expression(ufl.as_vector(comps), W.element.interpolation_points)
        self._n, self._fields = len(comps), (sh, vm, sig)

    def update(self) -> None:
        """Interpolate (collective: ghosts included, as ``Function.interpolate`` does)."""
        self._w.interpolate(self._expr)
        a = self._w.x.array.reshape(-1, self._n)
        sh, vm, sig = self._fields
        sh.x.array[:] = a[:, 0]
        vm.x.array[:] = a[:, 1]
        sig.x.array[:] = a[:, 2:].ravel()
