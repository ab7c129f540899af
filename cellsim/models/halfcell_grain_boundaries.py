r"""Cohesive grain boundaries of secondary particles in the half-cell's skeleton
(``[mechanics] skeleton = true, grain_boundary = "cohesive"``), a mixin of
:class:`cellsim.models.halfcell.HalfCellModel` (through
:class:`cellsim.models.halfcell_mechanics.SkeletonMixin`).

Blocks. The grains ``particle_i_grain_k`` of all particles are coloured over the grain
adjacency of the whole mesh (touching grains differ; greedy Welsh-Powell colouring of
:func:`cellsim.models.particle_mechanics.colour_regions`, as the single particle's grains):
all grains of colour k, of every particle, form one submesh with one displacement block
``u_k`` (vector P1). Grains of different particles touch only where two particles touch;
such a facet is a grain boundary of the same law. The lithium is one block per colour too
(``interface_transport = "damaged"``, the default; :mod:`.halfcell_species`), or one field
(``"continuous"``). phi_s and the projected hydrostatic stress ``sigma_h`` stay one field over
the particles (P1 on the particle submesh; sigma_h the L2 projection of the piecewise
tr(sigma)/3 of all colours).

=================  ============================================================================
term               on
=================  ============================================================================
Elasticity         each colour's grains, block u_k (chemical strain per grain, as bonded), its
                   sigma_h rows summed over the colours into the one projection
ElasticSupport     u_k: the collector clamp on the colour's collector_particle facets, rollers
                   on its lateral facets
Cohesive           one term per touching colour pair (a < b) on the union of the grain
                   boundaries between grains of those colours ("+" = colour a, n from a into
                   b, delta = u_b - u_a), law ``grain_boundary_*`` (``grain_boundary_<a>_<b>``)
Cohesive /         per colour the particle/binder facets of its grains (``particle_binder_<k>``),
BondedTie          against the binder block u_b; DamagedContact (phi_s / phi_b) on the same
                   facets with that colour's damage
=================  ============================================================================

History, state, checkpoints, damage control and damage-jump rejection of all these cohesive
terms are :class:`cellsim.models.cohesive_history.CohesiveHistoryMixin`'s (the model's
``cohesives``: particle/binder terms, then grain boundaries).

Bookkeeping (time series): grain-boundary damaged area fraction (d > 0), cracked area
fraction (separated: the history opening reached the final opening delta_f of the law at the
facet's mode mixity, :meth:`GrainBoundaryMixin._gb_cracked`), cracked area
[m2] (one face), dissipated energy [J] and max opening [m], all grain boundaries together
and per particle (its grain-boundary facets: both cells in the particle).
"""

from __future__ import annotations

import numpy as np

from .. import regions as itf
from ..dolfinx_env import require_dolfinx
from ..physics import mechanics
from ..physics.cohesive import CohesiveParameters, final_opening
from ..physics.cohesive_term import BondedTie, Cohesive, DamagedContact
from ..physics.mechanics import RBM_SPRING, ElasticSupport, Elasticity
from ..physics.term import Unknown
from .halfcell_grains import grain_regions, relative_lattice_eigenstrain
from .particle_grains import submesh_field
from .particle_mechanics import colour_regions, interface_facet_regions, owned_history_facets, touching_pairs

dolfinx = require_dolfinx()
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: facet tags of the shared measures: particle/binder per colour, collector clamp per colour,
#: rollers per colour (ds), grain boundaries per colour pair
PB_TAG, CLAMP_TAG, ROLLER_TAG, GB_TAG = 200, 230, 40, 300

GB_COLUMNS = ["grain boundary damaged area fraction [-]", "grain boundary cracked area fraction [-]",
              "grain boundary cracked area [m2]", "grain boundary dissipated energy [J]",
              "grain boundary max opening [m]"]


def facet_colour(parent, facets, colour_of_cell) -> np.ndarray:
    """The largest colour of the (one or two) cells of each facet (-1: no coloured cell)."""
    tdim = parent.topology.dim
    f2c = parent.topology.connectivity(tdim - 1, tdim)
    off, links = f2c.offsets, f2c.array
    facets = np.asarray(facets, dtype=np.int64)
    n = np.diff(off)[facets]
    c0 = links[off[facets]]
    c1 = links[off[facets] + (n > 1)]
    return np.maximum(colour_of_cell[c0], colour_of_cell[c1])


class GrainBoundaryMixin:
    """Colour blocks of grains, their terms, bookkeeping and fields."""

    grain_cohesive = False
    gb_cohesives: list = []
    grain_blocks: list = []

    # ------------------------------------------------------------------ before the measures
    def setup_grain_blocks(self, add, gcount, f_pb, solid_cells) -> None:
        """Colour the grains, make one submesh per colour and register the facet data of every
        per-colour and grain-boundary measure with ``add(facets, plus_cells, tag) -> kind``
        (collective; before the shared measures are built)."""
        tm, parent = self.tm, self.parent
        grains = grain_regions(tm)
        if not grains:
            raise ValueError("mechanics.grain_boundary = 'cohesive': the mesh has no grains (info "
                             "'grain_orientations'); allowed with geometry particle_type = 'secondary'")
        gcells = [itf.region_cells(tm.cell_tags, t) for t, _ in grains]
        colour = colour_regions(len(gcells), touching_pairs(parent, gcells))
        ncol = max(colour) + 1
        tags = [tuple(t for (ts, _), c in zip(grains, colour) if c == k for t in ts) for k in range(ncol)]
        subs = itf.make_submeshes(parent, tm.cell_tags, {f"u_{k}": tags[k] for k in range(ncol)})
        self.grain_colour, self.colour_tags = colour, tags
        self.colour_sub = [subs[f"u_{k}"] for k in range(ncol)]
        self.grain_blocks = [f"u_{k}" for k in range(ncol)]
        self.entity_maps += [r.entity_map for r in self.colour_sub]
        imap = parent.topology.index_map(parent.topology.dim)
        col = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int64)
        for k, r in enumerate(self.colour_sub):
            col[r.parent_cells] = k
        self.colour_cells = [r.parent_cells for r in self.colour_sub]
        self._cell_colour = col  # colour of every local parent cell (-1: not a grain)
        rp = self.sub["particle"]
        fc = facet_colour(parent, f_pb, col)
        self._pb_colour = []  # (colour, facets, tag)
        for k in range(ncol):
            f = np.asarray(f_pb[fc == k], dtype=np.int32)
            if gcount(f):
                add(f, rp.parent_cells, PB_TAG + k)
                self._pb_colour.append((k, f, PB_TAG + k))
        self._clamp_colour = []  # (colour, tag, restricted)
        for name, block, f, _ in self._contact_facets:
            if block != "phi_s":
                continue
            fcc = facet_colour(parent, f, col)
            for k in range(ncol):
                fk = np.asarray(f[fcc == k], dtype=np.int32)
                if gcount(fk):
                    kind = add(fk, solid_cells, CLAMP_TAG + k)
                    self._clamp_colour.append((k, CLAMP_TAG + k, kind == "dS"))
        self._roller_colour = []
        for k, cells in enumerate(self.colour_cells):
            f = self.lateral_facets(parent, cells)
            if gcount(f):
                add(f, cells, ROLLER_TAG + k)
                self._roller_colour.append(k)
        # grain boundaries: one measure per touching colour pair, "+" = the smaller colour
        fac, ra, rb = interface_facet_regions(parent, gcells)
        ca, cb = np.array(colour, dtype=np.int64)[ra], np.array(colour, dtype=np.int64)[rb]
        lo, hi = np.minimum(ca, cb), np.maximum(ca, cb)
        self._gb_pairs = []  # (a, b, facets, tag)
        for a in range(ncol):
            for b in range(a + 1, ncol):
                f = np.sort(fac[(lo == a) & (hi == b)]).astype(np.int32)
                if gcount(f):
                    tag = GB_TAG + len(self._gb_pairs)
                    if add(f, self.colour_cells[a], tag) != "dS":
                        raise ValueError("grain boundaries must be interior facets of the mesh")
                    self._gb_pairs.append((a, b, f, tag))
        # the particle of every grain-boundary facet (both its cells are in that particle)
        ptag = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int64)
        for i, ts in enumerate(self.particle_tags):
            ptag[itf.region_cells(tm.cell_tags, ts)] = i
        self._cell_particle_parent = ptag

    # ------------------------------------------------------------------ terms
    def grain_skeleton_terms(self, omega, x0: float, Vu, k_support, dS):
        """(terms, particle block order, weights of the u_k blocks) of the coloured particles."""
        case, mat = self.case, self.mat
        ms = case.mechanics
        E_s, R = mat.youngs_modulus, self.R_ref
        self.x_init_mech = x0
        terms, els = [], []
        for k, r in enumerate(self.colour_sub):
            dxk = self.dx(self.colour_tags[k])
            el = Elasticity([(dxk, E_s, mat.poisson_ratio, omega, x0 * self.c_max)], c=self.block_c(k), u=f"u_{k}",
                            spring=(dxk, RBM_SPRING * E_s / R**2))
            el.declared = [Unknown(f"u_{k}", fem.functionspace(r.mesh, Vu), scale=R, role="displacement")]
            if k == 0:  # one sigma_h over the particles: every colour adds its rows
                el.declared.append(Unknown("sigma_h", fem.functionspace(self.sub["particle"].mesh, ("Lagrange", 1)),
                                           scale=E_s, role="stress"))
            els.append(el)
            clamps = [((dS if rr else self._ds)(tag), rr) for kk, tag, rr in self._clamp_colour if kk == k]
            rollers = [(self._ds(ROLLER_TAG + k), False)] if k in self._roller_colour else []
            terms += [el, ElasticSupport(f"u_{k}", k_support, clamps=clamps, rollers=rollers)]
        self.grain_elasticities = els
        G0 = case.solid.particle_binder_conductance
        self.pb_cohesives = []
        if ms.interface == "cohesive":
            params = CohesiveParameters(**ms.cohesive_parameters())
            for k, f, tag in self._pb_colour:
                coh = Cohesive(f"u_{k}", "u_b", f, self.colour_cells[k], params, dS, tag,
                               name=f"particle_binder_{k}", damage_update=ms.damage_update)
                self.pb_cohesives.append(coh)
                terms += [coh, DamagedContact("phi_s", "phi_b", G0, dS(tag), coh, p=ms.conductance_exponent,
                                              G_res=ms.residual_conductance * G0)]
        else:
            from ..physics.conduction import ContactConductance

            terms += [BondedTie(f"u_{k}", "u_b", ms.penalty, dS(tag)) for k, _, tag in self._pb_colour]
            terms.append(ContactConductance("phi_s", "phi_b", G0, self.dG_pb))
        gb = CohesiveParameters(**ms.grain_boundary_parameters())
        self.gb_cohesives = [Cohesive(f"u_{a}", f"u_{b}", f, self.colour_cells[a], gb, dS, tag,
                                      name=f"grain_boundary_{a}_{b}", damage_update=ms.damage_update)
                             for a, b, f, tag in self._gb_pairs]
        terms += self.gb_cohesives
        return terms, list(self.grain_blocks) + ["sigma_h"]

    # ------------------------------------------------------------------ bookkeeping
    def _setup_grain_diagnostics(self) -> None:
        """The particle of every owned grain-boundary facet, in history order."""
        tdim = self.parent.topology.dim
        f2c = self.parent.topology.connectivity(tdim - 1, tdim)
        self._gb_particle = []
        for c in self.gb_cohesives:
            f = owned_history_facets(c.itf)
            self._gb_particle.append(self._cell_particle_parent[f2c.array[f2c.offsets[f]]])

    @staticmethod
    def _gb_cracked(it) -> np.ndarray:
        """Owned facets separated: the history opening kappa reached the law's final opening
        delta_f(B) (traction-free envelope) at the facet's present mode mixity B. Not d ~ 1:
        with a stiff penalty (delta_f / delta_0 = K delta_f / N of order 1e3-1e4) d passes 0.99
        at a hundred times the onset opening, with most of G_c still to dissipate."""
        _, _, st = it.facet_state()
        B = np.nan_to_num(np.asarray(st.mixity, dtype=float), nan=0.0)
        return it.kappa.x.array[: it._nown] >= final_opening(B, it.p) * (1.0 - 1e-12)

    def _gb_sums(self) -> np.ndarray:
        """(particles + 1) x 4: area, damaged area, cracked area, dissipated energy per particle
        and in total (last row; collective)."""
        n = len(self.particles)
        s = np.zeros((n + 1, 4))
        for c, part in zip(self.gb_cohesives, self._gb_particle):
            it = c.itf
            d = it.d.x.array[: it._nown]
            vals = np.stack([it.area, it.area * (d > 0), it.area * self._gb_cracked(it),
                             it.area * it.D.x.array[: it._nown]], axis=1)
            sel = part >= 0
            np.add.at(s, part[sel], vals[sel])
            s[n] += vals.sum(axis=0)
        return self.comm.allreduce(s, op=MPI.SUM)

    def grain_boundary_diagnostics(self) -> dict:
        """See the module docstring (collective)."""
        s = self._gb_sums()
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.nan_to_num(s[:, 1:3] / s[:, :1])
        d = {"grain boundary damaged area fraction [-]": float(frac[-1, 0]),
             "grain boundary cracked area fraction [-]": float(frac[-1, 1]),
             "grain boundary cracked area [m2]": float(s[-1, 2]),
             "grain boundary dissipated energy [J]": float(s[-1, 3]),
             "grain boundary max opening [m]": max((c.itf.max_opening() for c in self.gb_cohesives), default=0.0)}
        for (name, _), f in zip(self.particles, frac[:-1]):
            nm = name.replace("_", " ")
            d[f"grain boundary damaged area fraction {nm} [-]"] = float(f[0])
            d[f"grain boundary cracked area fraction {nm} [-]"] = float(f[1])
        d.update(self.crack_diagnostics())
        return d

    def grain_boundary_columns(self) -> list[str]:
        cols = list(GB_COLUMNS)
        for name, _ in self.particles:
            nm = name.replace("_", " ")
            cols += [f"grain boundary damaged area fraction {nm} [-]", f"grain boundary cracked area fraction {nm} [-]"]
        return cols + self.crack_columns()

    # ------------------------------------------------------------------ fields
    def grain_stress_fields(self) -> list[list]:
        """Per colour [displacement, stress, hydrostatic_stress, von_mises_stress] on its submesh
        (the stress of its grains from the particle's concentration copied onto the submesh)."""
        from .halfcell_output import StressFields

        if not hasattr(self, "_grain_out"):
            self._grain_out = []
            mat, rp = self.mat, self.sub["particle"]
            name = self.case.material.lattice_strain
            Rp = self.R_grain_parent  # the grains' rotations (set with the elasticity's strain)
            for k, r in enumerate(self.colour_sub):
                sub = r.mesh
                nc = sub.topology.index_map(sub.topology.dim)
                pc = r.entity_map.sub_topology_to_topology(np.arange(nc.size_local + nc.num_ghosts, dtype=np.int32),
                                                           False)
                cells_p = rp.entity_map.sub_topology_to_topology(pc, True)
                c_sub = fem.Function(fem.functionspace(sub, ("Lagrange", 1)))
                om = mat.partial_molar_volume if name is None else relative_lattice_eigenstrain(
                    name, submesh_field(Rp, sub, pc), self.c_max, self.x_init_mech)
                u = self.R_ref * self.u[f"u_{k}"]
                sig = mechanics.stress(u, c_sub, mat.youngs_modulus, mat.poisson_ratio, om,
                                       self.x_init_mech * self.c_max)
                sf = StressFields(sub, self.gdim, sig, self.u[f"u_{k}"].function_space)
                self._grain_out.append((k, c_sub, cells_p, sf))
        out = []
        for k, c_sub, cells_p, sf in self._grain_out:
            if self.split_c:  # the colour's own concentration block (same submesh)
                c_sub.interpolate(self.u[self.block_c(k)])
            else:
                c_sub.interpolate(self.c_s, cells0=cells_p, cells1=np.arange(len(cells_p), dtype=np.int32))
            out.append(sf.update(self.R_ref * self.u[f"u_{k}"].x.array))
        return out

    def max_grain_von_mises(self) -> float:
        m = max((float(np.max(f[3].x.array, initial=0.0)) for f in self.grain_stress_fields()), default=0.0)
        return self.comm.allreduce(m, op=MPI.MAX)


__all__ = ["GrainBoundaryMixin", "GB_COLUMNS", "facet_colour"]
