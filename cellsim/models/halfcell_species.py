r"""Lithium of the half-cell's particles: one continuous field, or one block per grain colour
(a mixin of :class:`cellsim.models.halfcell.HalfCellModel`).

One field (the default, and ``[mechanics] interface_transport = "continuous"``): c_s (P1 on
the particle submesh), :class:`SolidDiffusion` on all particles, :class:`ButlerVolmer` on
``particle_electrolyte``.

Per colour (``grain_boundary = "cohesive"`` with ``interface_transport = "damaged"``, the
default there): the grains of colour k (all particles, the submesh of the displacement block
``u_k``, :mod:`.halfcell_grain_boundaries`) carry their own concentration block ``c_k``
(P1, mol m-3). On colour k

    dc_k/dt + div N_k = 0,   N_k = -D(x) grad c_k + D(x) c_k Omega/(R T) grad sigma_h,
    N_k . n = -j_k  on the colour's part of particle_electrolyte (Butler-Volmer with c_k),

and on the grain boundaries of every touching colour pair (a on "+", b on "-") the flux from
a into b is J = k(d) (c_a - c_b), k(d) = (1 - d)^p k_0 + k_res
(:class:`cellsim.models.particle_species.GrainTransport`, the single particle's term; d the
committed damage of the pair's cohesive term, lagged by one step; keys
``interface_transport_coefficient`` = k_0, default 1e3 D(x_0)/h with h the cube root of the
mean particle cell volume, ``interface_transport_residual`` = k_res,
``interface_transport_exponent`` = p). What leaves a enters b: lithium is conserved on
every facet whatever d is. The elasticity of colour k reads c_k.

phi_s stays one continuous field over the particles (the electronic resistance of a grain
boundary is not modelled: a cracked boundary blocks lithium, not electrons, which reach the
grains through the carbon-binder and the other grains of the particle). sigma_h stays the one
continuous L2 projection of the colours' tr(sigma)/3 (:mod:`.halfcell_grain_boundaries`): the
stress-assisted flux of colour k uses its gradient inside colour k, and the stress in the
overpotential its trace on the surface; across a cracked boundary the projection smooths the
jump of the hydrostatic stress over one element.

The particle-wide field ``lithium_concentration`` (``self.c_s``) is then a discontinuous
mirror (DG1 on the particle submesh, each cell its colour's values, so a jump across a
cracked boundary shows), refreshed after every accepted step and before output; every
balance and diagnostic reads the blocks themselves.
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..physics.kinetics import ButlerVolmer
from ..physics.solid_diffusion import SolidDiffusion
from ..physics.term import Unknown
from .halfcell_grain_boundaries import facet_colour
from .particle_species import K0_FACTOR, GrainTransport, mesh_size

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: facet tags of the colours' particle_electrolyte measures (PE_TAG + colour)
PE_TAG = 500


class HalfCellSpeciesMixin:
    """The particles' concentration blocks, their terms and the readers of them."""

    split_c = False
    surface_kinetics: list = []
    transports: list = []

    def block_c(self, k: int) -> str:
        """The concentration block that grain colour ``k`` reads."""
        return f"c_{k}" if self.split_c else "c_s"

    @property
    def conc_blocks(self) -> list[str]:
        return [n for n, _ in self.c_pieces]

    # ------------------------------------------------------------------ before the measures
    def setup_colour_surfaces(self, add, gcount, f_pe) -> None:
        """The particle_electrolyte facets of every colour (its grains on "+"), registered with
        ``add`` (after :meth:`setup_grain_blocks`; collective)."""
        fc = facet_colour(self.parent, f_pe, self._cell_colour)
        self._pe_colour = []
        for k in range(len(self.colour_sub)):
            f = np.asarray(f_pe[fc == k], dtype=np.int32)
            if gcount(f):
                if add(f, self.colour_cells[k], PE_TAG + k) != "dS":
                    raise ValueError("particle_electrolyte facets must be interior facets of the mesh")
                self._pe_colour.append((k, PE_TAG + k))

    # ------------------------------------------------------------------ terms
    def species_terms(self, dxP, dS, mat, sad: bool, sio: bool, P1):
        """(terms, block order): the particles' SolidDiffusion and Butler-Volmer terms
        (``self.surface_kinetics``, one per colour that meets the electrolyte)."""
        stress = "sigma_h" if sad else None
        kw = dict(phi_s="phi_s", c_e="c_e", phi_e="phi_e", interface=True,
                  sigma_h=(lambda m: m.q("sigma_h")("+")) if sio else None)
        if not self.split_c:
            diff = SolidDiffusion("c_s", [(dxP, mat)], stress=stress)
            diff.declared = [Unknown("c_s", P1("particle"), history=True, role="concentration", typical=mat.c_max)]
            self.c_pieces = [("c_s", dxP)]
            self.surface_kinetics = [ButlerVolmer(mat, self.dG_pe, c_s="c_s", **kw)]
            return [diff, *self.surface_kinetics], ["c_s"]
        terms, self.c_pieces = [], []
        for k, r in enumerate(self.colour_sub):
            name, dxk = self.block_c(k), self.dx(self.colour_tags[k])
            diff = SolidDiffusion(name, [(dxk, mat)], stress=stress)
            diff.declared = [Unknown(name, fem.functionspace(r.mesh, ("Lagrange", 1)), history=True,
                                     role="concentration", typical=mat.c_max)]
            terms.append(diff)
            self.c_pieces.append((name, dxk))
        self.surface_kinetics = [ButlerVolmer(mat, dS(tag), c_s=self.block_c(k), **kw) for k, tag in self._pe_colour]
        return terms + self.surface_kinetics, self.conc_blocks

    def transport_coefficient(self, x0: float) -> float:
        """k_0 [m s-1]: the key, or 1e3 D(x_0)/h (h: cube root of the mean particle cell volume)."""
        ms = self.case.mechanics
        if ms.interface_transport_coefficient is not None:
            return float(ms.interface_transport_coefficient)
        h = mesh_size(self.sub["particle"].mesh, self.vol_particles)
        return K0_FACTOR * float(np.asarray(self.mat.diffusivity(np.array(x0)))) / h

    def transport_terms(self, x0: float) -> list:
        """One GrainTransport per cohesive grain-boundary colour pair (after the skeleton terms)."""
        if not self.split_c:
            return []
        ms = self.case.mechanics
        self.k0 = self.transport_coefficient(x0)
        # a Constant: the forms do not depend on its value (one compilation for any k_0)
        self.k0_constant = fem.Constant(self.parent, self.k0)
        self.transports = [GrainTransport(self.block_c(a), self.block_c(b), self.k0_constant, self._dS(tag), coh,
                                          p=ms.interface_transport_exponent, G_res=ms.interface_transport_residual)
                           for (a, b, _, tag), coh in zip(self._gb_pairs, self.gb_cohesives)]
        return list(self.transports)

    # ------------------------------------------------------------------ forms of the readers
    def surface_sum(self, fn):
        """sum over the reacting surfaces of fn(kinetics) on its measure (UFL)."""
        return sum(fn(k) * k.measure for k in self.surface_kinetics)

    def lithium_integrand(self, q=1.0):
        """sum_k c_k q dx_k (UFL; mol with q = 1)."""
        return sum(self.u[n] * q * dx for n, dx in self.c_pieces)

    def setup_species_readers(self) -> None:
        """The owned surface dofs of every block (rows the reaction touches), and the mirror."""
        em = self.entity_maps
        self._surf_dofs = []
        # all made before the first is assembled: they compile together (cellsim.jit.deferred)
        forms = [fem.form(ufl.TestFunction(self.u[kin.c_s].function_space)("+") * kin.measure, entity_maps=em)
                 for kin in self.surface_kinetics]
        for kin, form in zip(self.surface_kinetics, forms):
            V = self.u[kin.c_s].function_space
            ind = fem.assemble_vector(form)
            ind.scatter_reverse(dolfinx.la.InsertMode.add)
            self._surf_dofs.append((kin.c_s, np.flatnonzero(ind.array[: V.dofmap.index_map.size_local] > 0)))
        if not self.split_c:
            return
        rp = self.sub["particle"]
        self.c_s = fem.Function(fem.functionspace(rp.mesh, ("DG", 1)), name="lithium_concentration")
        self._mirror_cells = []
        for k, r in enumerate(self.colour_sub):
            im = r.mesh.topology.index_map(r.mesh.topology.dim)
            sub_cells = np.arange(im.size_local + im.num_ghosts, dtype=np.int32)
            pc = r.entity_map.sub_topology_to_topology(sub_cells, False)
            self._mirror_cells.append((self.block_c(k), sub_cells, rp.entity_map.sub_topology_to_topology(pc, True)))
        self.sync_c_mirror()

    def sync_c_mirror(self) -> None:
        """The particle-wide DG1 ``lithium_concentration`` from the blocks (per colour)."""
        if self.split_c:
            for name, c0, c1 in self._mirror_cells:
                self.c_s.interpolate(self.u[name], cells0=c0, cells1=c1)

    # ------------------------------------------------------------------ arrays
    def conc_values(self, owned: bool = True) -> np.ndarray:
        """This rank's c values of all blocks [mol m-3] (owned dofs, or all local ones)."""
        out = []
        for n in self.conc_blocks:
            f = self.u[n]
            out.append(f.x.array[: f.function_space.dofmap.index_map.size_local] if owned else f.x.array)
        return np.concatenate(out)

    def surface_conc_values(self) -> np.ndarray:
        """This rank's owned surface dofs' c of all reacting blocks [mol m-3]."""
        return np.concatenate([self.u[n].x.array[d] for n, d in self._surf_dofs])

    def set_conc(self, fn) -> None:
        """c (and its history) of every block = fn(size) [mol m-3]."""
        for n in self.conc_blocks:
            self.u[n].x.array[:] = fn(self.u[n].x.array.size)
            self.old[n].x.array[:] = self.u[n].x.array

    def max_conc_change(self) -> float:
        """Largest |c - c_old| over all blocks [mol m-3] (collective)."""
        d = max(np.abs(self.u[n].x.array - self.old[n].x.array).max(initial=0.0) for n in self.conc_blocks)
        return self.comm.allreduce(d, op=MPI.MAX)

    def accept(self) -> None:
        super().accept()
        self.sync_c_mirror()

    def after_load(self) -> None:
        super().after_load()
        self.sync_c_mirror()


__all__ = ["HalfCellSpeciesMixin", "PE_TAG"]
