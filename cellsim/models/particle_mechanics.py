r"""Solid regions of a single particle on their own displacement blocks, tied by cohesive
interfaces (``[mechanics] interface = "cohesive"``): a mixin of
:class:`cellsim.models.particle.ParticleModel`.

Regions and blocks. The particle's solid regions (core and coating; later the grains of a
secondary particle) are listed in the model's order. Two regions that share a facet get
different **colours** (greedy graph colouring, largest degree first, ties in region order:
:func:`colour_regions`); all regions of one colour form one submesh with one displacement
block ``u_k`` and one hydrostatic-stress block ``sigma_h_k`` (k = colour). A core-shell
particle has two colours (core: 0, coating: 1); a polycrystal of 20 grains needs about 4-6.
Every pair of touching colours (a, b), a < b, gets one :class:`cellsim.physics.cohesive_term.Cohesive`
term over the union of the facets of all touching region pairs of those colours ("+" =
colour a, so for core_coating the core; n points from colour a into colour b), with
delta = u_b - u_a: a 20-grain polycrystal has 79 touching grain pairs but only the pairs
of its 4-6 colours as terms, so that few cohesive forms are compiled (a term's forms do not
depend on how many region pairs it holds). A term keeps its region pairs (``coh.pairs``:
[(name, (i, j))]; a term of one region pair is named after it, e.g. ``core_coating``, one of
several ``interfaces_a_b``); per-pair figures come from the facets afterwards
(:meth:`SplitMechanicsMixin.pair_diagnostics`). No region pair needs anything of its own:
grain boundaries are more pairs of the same list.

=============  =================================  ==================================================
block          stored unknown                     row
=============  =================================  ==================================================
c_k            X_k = c / c_s on colour k's         SolidDiffusion with sigma_h_k (or w_k), Butler-Volmer
               submesh (interface_transport =      on its outer surface, GrainTransport per pair
               'damaged', :mod:`.particle_species`)
c_s            X on the whole particle             SolidDiffusion (+ :class:`BlockStressFlux`, the
               ('continuous')                      stress-assisted flux with each block's sigma_h_k)
u_k            U_k = u / L on colour k's submesh   Elasticity of the regions of colour k, weak
                                                   foundation RBM_SPRING E/L^2 on colour k, and the
                                                   cohesive tractions of its interfaces
sigma_h_k      sigma_h / E on colour k's submesh   projection of tr(sigma)/3 of colour k
=============  =================================  ==================================================

Rigid-body modes: every block keeps the weak elastic foundation of the free particle
(k = RBM_SPRING E / L^2 on its own cells, relative effect 1e-9), so the coating is held as
before and a fully debonded core (d = d_max = 1) stays non-singular without a residual
interface stiffness; ``max_damage`` < 1 may be set in addition. Every block also has its
six rigid-body modes (translations, rotations about the particle's centre) removed by
Lagrange multipliers (:class:`RigidModes`): past the peak of the law the blocks lose their
relative stiffness and the uneven damage front of a mesh would otherwise push the core onto
one side of the coating or spin it (seen: openings +-50 % around the mean and shear
openings as large as the normal ones); held, the core separates as the symmetric closed
form says. The grains of a polycrystal (``kind = "secondary_particle"``) instead share one
set of six multipliers for the whole particle: a grain off the centre swells with a mean
displacement, and holding each colour's mean rigid motion would stress a stress-free
polycrystal (seen: 1 GPa with one orientation on 4 grains). A fully cracked grain is then
held by its weak foundation only.

Time stepping (as the half-cell's skeleton): the damage inside a step is that of the last
accepted step (``damage_update = 'lagged'``, the default) or the law at the current opening
('implicit'); after an accepted step the history is committed
(:meth:`Cohesive.update_history`); the history is part of the model state (rejected steps)
and of checkpoints (resume); the step is limited by ``max_damage_change``, and a converged
step whose damage grows by more than ``damage_jump_limit * max_damage_change`` is refused and
retried with dt/2 (:mod:`.cohesive_history`, shared with the half-cell's skeleton).

Concentration: with ``interface_transport = "damaged"`` (the default) one concentration block
per colour on the same submesh, with the transport across each interface scaled by its
integrity (:mod:`.particle_species`); with ``"continuous"`` one continuous c_s over the
particle (with :class:`BlockStressFlux`).

Bookkeeping per interface (time series, summed over all cohesive interfaces): damaged and
debonded area fraction, dissipated energy [J], max opening [m], all of the state at the end
of the step (the values the step commits). Fields: one file per block with the
concentration, displacement and stresses, and ``interface_damage`` on each interface.
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import R_GAS
from ..physics import mechanics
from ..physics.cohesive import CohesiveParameters, dissipation_increment
from ..physics.cohesive_term import Cohesive
from ..physics.mechanics import RBM_SPRING, Elasticity
from ..physics.term import Term, Unknown
from .. import regions as itf
from .cohesive_history import CohesiveHistoryMixin
from .particle_grains import lattice_eigenstrain, submesh_field
from .stress_output import StressInterpolation

dolfinx = require_dolfinx()
import basix.ufl  # noqa: E402
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

#: time-series columns of the cohesive interfaces (all of them together)
INTERFACE_COLUMNS = ["damaged area fraction [-]", "debonded area fraction [-]", "dissipated energy [J]",
                     "max opening [m]"]


# ------------------------------------------------------------------ regions -> blocks
def interface_facet_regions(parent, region_cells: list):
    """Local interior facets (owned and ghost) between two different regions (lists of local
    parent cells, owned and ghost) and the region pair (i, j), i < j, of each (two arrays)."""
    tdim = parent.topology.dim
    parent.topology.create_connectivity(tdim - 1, tdim)
    f2c = parent.topology.connectivity(tdim - 1, tdim)
    imap = parent.topology.index_map(tdim)
    rid = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int64)
    for i, cells in enumerate(region_cells):
        rid[np.asarray(cells, dtype=np.int64)] = i
    off, links = f2c.offsets, f2c.array
    two = np.flatnonzero(np.diff(off) == 2)
    a, b = rid[links[off[two]]], rid[links[off[two] + 1]]
    sel = (a >= 0) & (b >= 0) & (a != b)
    return two[sel].astype(np.int32), np.minimum(a[sel], b[sel]), np.maximum(a[sel], b[sel])


def touching_pairs(parent, region_cells: list) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of regions (lists of local parent cells, owned and ghost) that share
    a facet anywhere in the mesh (collective)."""
    _, a, b = interface_facet_regions(parent, region_cells)
    local = sorted({(int(x), int(y)) for x, y in zip(a, b)})
    pairs = set()
    for s in parent.comm.allgather(local):
        pairs.update(tuple(p) for p in s)
    return sorted(pairs)


def colour_regions(n: int, pairs) -> list[int]:
    """A colour per region such that touching regions differ: greedy, regions in order of
    decreasing number of neighbours (ties: region order), each the smallest free colour
    (Welsh-Powell; at most max degree + 1 colours)."""
    nbr = [set() for _ in range(n)]
    for i, j in pairs:
        nbr[i].add(j)
        nbr[j].add(i)
    colour = [-1] * n
    for i in sorted(range(n), key=lambda k: (-len(nbr[k]), k)):
        used = {colour[j] for j in nbr[i]}
        colour[i] = next(c for c in range(n) if c not in used)
    # number the colours in order of first appearance in the region list (core = 0)
    renum = {}
    for c in colour:
        renum.setdefault(c, len(renum))
    return [renum[c] for c in colour]


class BlockStressFlux(Term):
    r"""The stress-assisted part of the lithium flux, D c Omega/(R T) grad sigma_h, with the
    sigma_h block of each region's colour (the rest of the flux is SolidDiffusion's):
    row of ``c``: - int D(x) c Omega/(R T) grad sigma_h_k . grad v dx_r (mol s-1); with a
    lattice strain the block of w = sigma : d eps_ch/dc and Omega = 1."""

    def __init__(self, c: str, pieces):
        self.c, self.pieces = c, list(pieces)  # [(dx_r, material, sigma_h or w block, Omega or 1)]
        self.reads = tuple(sorted({p[2] for p in self.pieces}))

    def residual(self, m):
        c, v = m.q(self.c), m.v[self.c]
        F = 0
        for dx, mat, sh, om in self.pieces:
            D = mat.diffusivity(c / mat.c_max)
            F = F - m.live * D * c * om / (R_GAS * m.T) * ufl.inner(
                ufl.grad(m.q(sh)), ufl.grad(v)) * dx
        return {self.c: F}


class RigidModes(Term):
    r"""The rigid-body modes of one displacement block removed by Lagrange multipliers
    lambda_k (forces per volume, one real vector block ``name``, 6 in 3D, 3 in 2D):
    rows ``u``: + sum_k int lambda_k r_k . v dx (N), ``name``: int u . r_k mu_k dx (m4),
    r_k the translations and the rotations about ``centre`` (scaled by 1/L).

    The weak foundation alone does not hold a block whose interface softens: past the peak
    of the law the tied blocks lose their relative stiffness, and the uneven damage front of
    a mesh (its force and torque imbalance) moves the core against one side of the coating
    or spins it. A self-equilibrated chemical load leaves lambda = 0 (to round-off), so the
    constraint changes nothing where the weak foundation suffices."""

    def __init__(self, name: str, u, dx, centre, length: float):
        """``u``, ``dx``: one block and its measure, or lists of blocks and measures held
        together (one set of modes for their union: the grains of a polycrystal)."""
        self.name, self.centre, self.length = name, centre, length
        self.pieces = list(zip(u, dx)) if isinstance(u, (list, tuple)) else [(u, dx)]
        self.owns, self.reads = (name,), tuple(p[0] for p in self.pieces)

    def residual(self, m):
        lam, mu = m.q(self.name), m.v[self.name]
        x = ufl.SpatialCoordinate(m.parent)
        modes = mechanics.rigid_body_modes(x, [float(c) for c in self.centre], self.length)
        out, Fl = {}, 0
        for ub, dx in self.pieces:
            out[ub] = sum(lam[k] * ufl.inner(r, m.v[ub]) for k, r in enumerate(modes)) * dx
            Fl = Fl + sum(ufl.inner(m.q(ub), r) * mu[k] for k, r in enumerate(modes)) * dx
        out[self.name] = Fl
        return out


def owned_history_facets(it) -> np.ndarray:
    """Parent facets of a cohesive interface's owned facets, in the order of its history arrays."""
    cells = np.empty(it._nown, dtype=np.int32)
    dofs = it.V0.dofmap.list[:, 0]
    own = dofs < it._nown
    cells[dofs[own]] = np.flatnonzero(own)
    return it.fmap.sub_topology_to_topology(cells, False)


class Block:
    """One colour: its regions (names, tags, materials), submesh, blocks and elasticity term."""

    def __init__(self, k, names, tags, mats, region):
        self.k, self.names, self.tags, self.mats, self.region = k, names, tags, mats, region
        self.u, self.sh = f"u_{k}", f"sigma_h_{k}"
        self.mu = None  # the block of sigma : d eps_ch/dc (lattice strain, stress-assisted flux)
        self.name = names[0] if len(names) == 1 else f"solid_{k}"
        self.elasticity = None


# ------------------------------------------------------------------ the mixin
class SplitMechanicsMixin(CohesiveHistoryMixin):
    """Blocks per colour of solid regions, cohesive terms per touching pair, the bookkeeping
    and the fields; the cohesive history (state, checkpoints, damage control, damage-jump
    rejection) is :class:`CohesiveHistoryMixin`'s."""

    cohesives: list = []
    blocks: list = []

    def split_mechanics_terms(self, dx, region_list, disc, stress_flux: bool):
        """(terms, block order, weights) of the split solid. ``region_list``: [(name, tags,
        material)] of the solid regions, the reactive surface's region last."""
        msh, comm, gdim = self.mesh, self.comm, self.mesh.geometry.dim
        L, Es = self.L, self.Es
        ms = self.case.mechanics
        cells = [itf.region_cells(self.tm.cell_tags, tags) for _, tags, _ in region_list]
        pairs = touching_pairs(msh, cells)
        colour = colour_regions(len(region_list), pairs)
        self.region_colour = {name: c for (name, _, _), c in zip(region_list, colour)}
        blocks = []
        for k in range(max(colour) + 1):
            idx = [i for i, c in enumerate(colour) if c == k]
            # the surface region's piece last (the surface stress is a block's last piece)
            idx.sort(key=lambda i: i == len(region_list) - 1)
            names = [region_list[i][0] for i in idx]
            tags = [t for i in idx for t in region_list[i][1]]
            region = itf.make_submeshes(msh, self.tm.cell_tags, {f"u_{k}": tuple(tags)})[f"u_{k}"]
            blocks.append(Block(k, names, [region_list[i][1] for i in idx], [region_list[i][2] for i in idx], region))
        self.blocks = blocks
        self.entity_maps = [b.region.entity_map for b in blocks]
        terms, order, weights = [], [], {}
        flux_pieces = []
        for b in blocks:
            dx_b = dx(tuple(t for tg in b.tags for t in tg))
            el = Elasticity([(dx(tuple(tg)), m.youngs_modulus, m.poisson_ratio, self.piece_omega(m), m.c_ref)
                             for tg, m in zip(b.tags, b.mats)], c=self.block_c(b), u=b.u, sigma_h=b.sh,
                            spring=(dx_b, RBM_SPRING * Es / L**2))
            V = fem.functionspace(b.region.mesh, ("Lagrange", disc.displacement_degree, (gdim,)))
            el.declared = [Unknown(b.u, V, scale=L, role="displacement"),
                           Unknown(b.sh, fem.functionspace(b.region.mesh, ("Lagrange", 1)), scale=Es, role="stress")]
            b.elasticity = el
            terms.append(el)
            order += [b.u, b.sh]
            weights.update({b.u: 1.0 / (Es * L), b.sh: 1.0 / (L**3 * Es)})
            cpl = self.lattice_coupling(f"mu_sigma_{b.k}", el, b.region.mesh)
            if cpl is not None:
                b.mu = f"mu_sigma_{b.k}"
                terms.append(cpl[0])
                order.append(b.mu)
                weights[b.mu] = cpl[1]
            flux_pieces += [(dx(tuple(tg)), m, b.mu or b.sh, 1.0 if b.mu else m.partial_molar_volume)
                            for tg, m in zip(b.tags, b.mats)]
        if stress_flux and not self.split_c:  # per-block c: SolidDiffusion of each block has its sigma_h_k
            terms.append(BlockStressFlux("c_s", flux_pieces))
        # every block's rigid-body modes removed by Lagrange multipliers
        xg = msh.geometry.x[:, :gdim]
        lo = np.array(xg.min(axis=0) if xg.size else np.full(gdim, np.inf))
        hi = np.array(xg.max(axis=0) if xg.size else np.full(gdim, -np.inf))
        comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
        comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
        nmodes = 6 if gdim == 3 else 3
        # grains: one set for the whole particle (a grain off the centre has a mean free
        # displacement; holding each colour's mean motion would strain a stress-free polycrystal)
        held = ([(f"rigid_{b.k}", b.u, dx(tuple(t for tg in b.tags for t in tg))) for b in blocks]
                if not getattr(self, "grains", False) else
                [("rigid_0", [b.u for b in blocks], [dx(tuple(t for tg in b.tags for t in tg)) for b in blocks])])
        for lam, ub, dxb in held:
            t = RigidModes(lam, ub, dxb, 0.5 * (lo + hi), L)
            t.declared = [Unknown(lam, fem.functionspace(msh, basix.ufl.real_element(
                msh.basix_cell(), (nmodes,), dtype=np.float64)), scale=Es / L)]
            terms.append(t)
            order.append(lam)
            weights[lam] = 1.0 / L**4
        # one cohesive term per touching colour pair (a < b): every region pair of those colours
        # together, over the union of their facets, "+" = colour a (n from colour a into b)
        params = CohesiveParameters(**ms.cohesive_parameters())
        fac, ra, rb = interface_facet_regions(msh, cells)
        groups = {}
        for i, j in pairs:
            groups.setdefault((min(colour[i], colour[j]), max(colour[i], colour[j])), []).append((i, j))
        colour_cells = [np.concatenate([np.asarray(cells[i], dtype=np.int32) for i in range(len(cells))
                                        if colour[i] == k]) for k in range(len(blocks))]
        data, todo = [], []
        for n, (key, members) in enumerate(sorted(groups.items())):
            sel = np.zeros(len(fac), bool)
            for i, j in members:
                sel |= (ra == i) & (rb == j)
            f = np.sort(fac[sel])
            tag = 100 + n
            data.append((tag, itf.interface_integration_data(msh, f, colour_cells[key[0]]).reshape(-1)))
            todo.append((key, members, f, tag))
        dS = ufl.Measure("dS", domain=msh, subdomain_data=data)
        self.cohesives, self._pair_facets = [], (fac, ra, rb)
        for (a, b), members, f, tag in todo:
            names = [self._interface_name(region_list[i][0], region_list[j][0]) for i, j in members]
            coh = Cohesive(blocks[a].u, blocks[b].u, f, colour_cells[a], params, dS, tag,
                           name=names[0] if len(names) == 1 else f"interfaces_{a}_{b}",
                           damage_update=ms.damage_update)
            # the cracked grain boundaries' reaction (crack_reaction) and the transport across them: interface
            # integrals at [discretisation] quadrature_degree, as the outer surface's (without it UFL
            # estimated degree 25 from exp and powers: 120 points per facet, over half of the compiled code)
            coh.reaction_measure = dS(tag, metadata={"quadrature_degree": disc.quadrature_degree})
            coh.pairs = list(zip(names, members))  # the region pairs it integrates
            coh.colours = (a, b)  # its blocks ("+" = a): the concentration blocks of the transport
            self.cohesives.append(coh)
            terms.append(coh)
        # the reactive surface's stress: the last piece of the surface region's block
        self.elasticity = blocks[colour[-1]].elasticity
        return terms, order, weights

    def _interface_name(self, a: str, b: str) -> str:
        for n in (f"{a}_{b}", f"{b}_{a}"):
            if n in self.tm.interfaces:
                return n
        return f"{a}_{b}"

    def split_solver_options(self) -> None:
        """MUMPS: 200 % extra working space (ICNTL(14); PETSc's default is 20 %). The rigid-mode
        multipliers and the particle potential are dense rows, and a debonded interface changes
        the pivots: on 2 ranks a refactorisation of cases/particle_coating_debonding.toml at the
        end of the charge failed with FACTOR_OUTMEMORY at the default; with 200 % the same run
        completed (MUMPS's INFO code was not read, and the machine's memory was shared with
        other jobs, so the cause is likely, not proven). Read by the factor at its first
        set-up (checked: ICNTL(14) = 200 on the factor)."""
        if self.case.solver.linear_solver != "mumps":
            return
        from petsc4py import PETSc

        prefix = self.snes.getKSP().getOptionsPrefix() or ""
        PETSc.Options()[prefix + "mat_mumps_icntl_14"] = 200

    def finish_split(self) -> None:
        """After compose: the cohesive facet maps join the entity maps."""
        for coh in self.cohesives:
            self.entity_maps.append(coh.entity_map)

    # ------------------------------------------------------------------ state and history
    def before_step(self, dt: float) -> None:
        super().before_step(dt)
        for coh in self.cohesives:
            coh.set_time_step(dt)

    # ------------------------------------------------------------------ bookkeeping
    def interface_diagnostics(self) -> dict:
        """Damaged and debonded area fractions, dissipated energy and max opening of all cohesive
        interfaces together, at the end of the current step (the state the step commits;
        collective)."""
        area = dam = deb = D = 0.0
        dmax = 0.0
        for coh in self.cohesives:
            it = coh.itf
            nown = it._nown
            _, _, st = it.facet_state()
            d_old = it.d.x.array[:nown]
            dD = dissipation_increment(it.kappa.x.array[:nown], st.kappa, it.dm.x.array[:nown], st.delta_m, d_old,
                                       st.damage, st.mixity, it.p, viscous=it.p.mu > 0)
            d = st.damage
            area += it.area.sum()
            dam += it.area[d > 0.0].sum()
            deb += it.area[(d >= it.p.d_max - 1e-6) | (d > 0.99)].sum()
            D += np.dot(it.area, it.D.x.array[:nown] + dD)
            dmax = max(dmax, float(np.max(st.delta_m, initial=0.0)))
        s = self.comm.allreduce(np.array([area, dam, deb, D]), op=MPI.SUM)
        return {"damaged area fraction [-]": s[1] / s[0], "debonded area fraction [-]": s[2] / s[0],
                "dissipated energy [J]": s[3], "max opening [m]": self.comm.allreduce(dmax, op=MPI.MAX)}

    def pair_diagnostics(self) -> dict:
        """{region pair name: (damaged area fraction, debonded area fraction, dissipated energy [J])}
        of every touching region pair (committed history; collective), from the facets of each
        pair within its colour pair's cohesive term."""
        fac, ra, rb = self._pair_facets
        tdim = self.mesh.topology.dim
        nf = self.mesh.topology.index_map(tdim - 1).size_local + self.mesh.topology.index_map(tdim - 1).num_ghosts
        region_pair = np.full((nf, 2), -1, dtype=np.int64)
        region_pair[fac, 0], region_pair[fac, 1] = ra, rb
        names, sums = [], []
        for coh in self.cohesives:
            it = coh.itf
            pf = region_pair[owned_history_facets(it)]
            d = it.d.x.array[: it._nown]
            debonded = (d >= it.p.d_max - 1e-6) | (d > 0.99)
            for name, (i, j) in coh.pairs:
                m = (pf[:, 0] == i) & (pf[:, 1] == j)
                a = it.area[m]
                names.append(name)
                sums.append([a.sum(), a[d[m] > 0].sum(), a[debonded[m]].sum(), np.dot(a, it.D.x.array[: it._nown][m])])
        s = self.comm.allreduce(np.array(sums).reshape(-1, 4), op=MPI.SUM)
        return {n: (r[1] / r[0], r[2] / r[0], r[3]) for n, r in zip(names, s)}

    # ------------------------------------------------------------------ fields
    def _setup_block_fields(self) -> None:
        """Per block: the concentration copied onto its submesh, the displacement and the DG
        stresses (cellwise material coefficients)."""
        self._block_out = []
        deg = max(self.case.discretisation.displacement_degree - 1, 0)
        gdim = self.mesh.geometry.dim
        for b in self.blocks:
            sub = b.region.mesh
            ncell = sub.topology.index_map(sub.topology.dim).size_local + sub.topology.index_map(
                sub.topology.dim).num_ghosts
            parent_cells = b.region.entity_map.sub_topology_to_topology(np.arange(ncell, dtype=np.int32), False)
            c_sub = fem.Function(fem.functionspace(sub, ("Lagrange", self.case.discretisation.concentration_degree)),
                                 name="lithium_concentration")
            Q0 = fem.functionspace(sub, ("DG", 0))
            coeffs = {k: fem.Function(Q0) for k in ("E", "nu", "om", "cref")}
            tag_of = np.full(self.mesh.topology.index_map(self.mesh.topology.dim).size_local
                             + self.mesh.topology.index_map(self.mesh.topology.dim).num_ghosts, -1)
            tag_of[self.tm.cell_tags.indices] = self.tm.cell_tags.values
            for tg, mat in zip(b.tags, b.mats):
                sel = np.isin(tag_of[parent_cells], tg)
                for k, v in (("E", mat.youngs_modulus), ("nu", mat.poisson_ratio),
                             ("om", mat.partial_molar_volume), ("cref", mat.c_ref)):
                    coeffs[k].x.array[sel] = v
            U = self.u[b.u]
            if getattr(self, "lattice", None) is not None:  # one material, the grain rotations per cell
                R_sub = submesh_field(self.R_grain, sub, parent_cells)
                sig = mechanics.stress(self.L * U, c_sub, coeffs["E"], coeffs["nu"],
                                       lattice_eigenstrain(self.lattice, R_sub, b.mats[0].c_max), 0.0)
            else:
                # Omega (c - c_ref) as the "concentration" with Omega = 1 (a coefficient as omega is callable)
                sig = mechanics.stress(self.L * U, coeffs["om"] * (c_sub - coeffs["cref"]), coeffs["E"],
                                       coeffs["nu"], 1.0, 0.0)
            Q = fem.functionspace(sub, ("DG", deg))
            T = fem.functionspace(sub, ("DG", deg, (gdim, gdim)))
            f_u = fem.Function(U.function_space, name="displacement")
            f_sig = fem.Function(T, name="stress")
            f_sh, f_vm = fem.Function(Q, name="hydrostatic_stress"), fem.Function(Q, name="von_mises_stress")
            stress = StressInterpolation(sig, f_sh, f_vm, f_sig)
            self._block_out.append((b, parent_cells, c_sub, f_u, [c_sub, f_u, f_sig, f_sh, f_vm], stress))

    def update_block_fields(self) -> None:
        """Refresh every block's output fields (collective)."""
        c_si = self.f_c
        if not self.split_c:
            c_si.x.array[:] = self.cs * self.X.x.array
        for b, parent_cells, c_sub, f_u, _, stress in self._block_out:
            if self.split_c:  # the block's own concentration
                c_sub.x.array[:] = self.cs * self.u[self.block_c(b)].x.array
            else:
                c_sub.interpolate(c_si, cells0=parent_cells, cells1=np.arange(len(parent_cells), dtype=np.int32))
            f_u.x.array[:] = self.L * self.u[b.u].x.array
            stress.update()

    def block_stress_arrays(self) -> tuple[list, list]:
        """Local (von Mises, hydrostatic) arrays of every block (after update_block_fields)."""
        return ([o[4][4].x.array for o in self._block_out], [o[4][3].x.array for o in self._block_out])

    def block_fields(self) -> dict:
        """{block name: [c, u, stress, sigma_h, sigma_vm]} and {interface: [interface_damage]}."""
        self.update_block_fields()
        out = {b.name: fields for b, _, _, _, fields, _ in self._block_out}
        for coh in self.cohesives:
            out[coh.name] = [coh.damage]
        return out


__all__ = ["SplitMechanicsMixin", "BlockStressFlux", "RigidModes", "touching_pairs", "colour_regions", "INTERFACE_COLUMNS"]
