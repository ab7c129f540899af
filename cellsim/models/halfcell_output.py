"""Diagnostics and output fields of the half-cell model (a mixin of :class:`HalfCellModel`).

Time-series columns (:data:`DIAGNOSTIC_COLUMNS` and one ``soc particle i [-]`` per
particle): voltage, current density, capacity, state of charge, concentrations, the
lithium-metal overpotential, the mean OCP and overpotential of the particle surfaces, and
the conservation checks (applied, interface and lithium-metal currents against the
collector current; particle lithium against the interface reaction; total lithium),
each relative to the 1C current or the lithium a 1C current moves in the step.
"""

from __future__ import annotations

import numpy as np

from ..dolfinx_env import require_dolfinx
from ..materials.base import FARADAY
from ..physics.kinetics import X_CLIP
from .stress_output import StressInterpolation

dolfinx = require_dolfinx()
import ufl  # noqa: E402
from dolfinx import fem  # noqa: E402
from mpi4py import MPI  # noqa: E402

DIAGNOSTIC_COLUMNS = [
    "voltage [V]", "current density [A m-2]", "capacity [mA h m-2]", "state of charge [-]",
    "mean stoichiometry [-]", "mean lithium concentration [mol m-3]", "max lithium concentration [mol m-3]",
    "min lithium concentration [mol m-3]", "min surface stoichiometry [-]", "max surface stoichiometry [-]",
    "mean electrolyte concentration [mol m-3]", "min electrolyte concentration [mol m-3]",
    "max electrolyte concentration [mol m-3]", "electrolyte concentration at lithium [mol m-3]",
    "lithium metal overpotential [V]", "mean surface OCP [V]", "mean particle overpotential [V]",
    "applied current error [-]", "interface current error [-]", "lithium metal current error [-]",
    "particle lithium error [-]", "lithium balance error [-]",
]


class HalfCellOutputs:
    """Scalars and fields of the half-cell (needs the attributes HalfCellModel builds)."""

    def _setup_diagnostics(self):
        from .. import regions as itf

        em = self.entity_maps
        P, E, S = self.tags["particle"], self.tags["electrolyte"], self.tags["separator"]
        dxP = self.dx(P)
        eps_sep = self.case.separator.porosity
        self._f_Ns = fem.form(self.lithium_integrand(), entity_maps=em)
        ce_l = self.c_e * self.dx(E) + (eps_sep * self.c_e * self.dx(S) if S else 0)
        I_int = self.surface_sum(lambda k: FARADAY * k.j) + self.crack_current_form()
        if getattr(self, "gap", False):  # the binder's pore electrolyte and the debonded gap's reaction
            ce_l = ce_l + self.case.mechanics.binder_porosity * self.c_e * self.dx(self.tags["binder"])
            I_int = I_int + FARADAY * self.gap_kinetics.j * self.dG_pb
            self._f_I_gap = fem.form(FARADAY * self.gap_kinetics.j * self.dG_pb, entity_maps=em)
        self._f_Ne = fem.form(ce_l, entity_maps=em)
        self._f_I_int = fem.form(I_int, entity_maps=em)
        self._f_I_li = fem.form(FARADAY * self.j_li * self.ds_li, entity_maps=em)
        self._f_I_cc = fem.form(self.I_cc_form, entity_maps=em)
        self._f_phie_li = fem.form(self.phi_e * self.ds_li, entity_maps=em)
        self._f_ce_li = fem.form(self.c_e * self.ds_li, entity_maps=em)
        def xs(k):  # the surface stoichiometry, clipped as inside the kinetics
            return ufl.min_value(ufl.max_value(self.u[k.c_s]("+") / self.c_max, X_CLIP), 1 - X_CLIP)

        self._f_ocp = fem.form(self.surface_sum(lambda k: self.mat.ocp(xs(k))), entity_maps=em)
        self._f_eta = fem.form(self.surface_sum(lambda k: k.eta), entity_maps=em)
        self._f_cs_surf = fem.form(self.surface_sum(lambda k: self.u[k.c_s]("+")), entity_maps=em)
        self._f_ce_surf = fem.form(self.surface_sum(lambda k: self.c_e("-")), entity_maps=em)
        # per-particle lithium: cell integrals of c_s against a DG0 test function, summed by tag
        rp = self.sub["particle"]
        Q0 = fem.functionspace(rp.mesh, ("DG", 0))
        q = ufl.TestFunction(Q0)
        self._f_cell_Ns = fem.form(self.lithium_integrand(q), entity_maps=em)
        vol = fem.assemble_vector(fem.form(q * dxP, entity_maps=em)).array
        nloc = Q0.dofmap.index_map.size_local
        parent_cells = rp.entity_map.sub_topology_to_topology(np.arange(nloc, dtype=np.int32), False)
        imap = self.parent.topology.index_map(self.parent.topology.dim)
        tag_of_parent = np.full(imap.size_local + imap.num_ghosts, -1)
        tag_of_parent[self.tm.cell_tags.indices] = self.tm.cell_tags.values
        ctag = tag_of_parent[parent_cells]
        self._ptags = np.array([t for _, t in self.particles])
        self._cell_particle = itf.tag_to_particle(list(zip(self._ptags, self.particle_tags)), ctag)
        self._nloc_q = nloc
        self.particle_volumes = self.comm.allreduce(self._by_particle(vol[:nloc]), op=MPI.SUM)
        self.setup_species_readers()  # surface dofs of the concentration blocks, the mirror field
        # the collector is an equipotential at V: written as a constant field of its region
        self._collector_field = None
        C = tuple(self.tm.regions.get("current_collector", ()))
        if C:
            cells = itf.region_cells(self.tm.cell_tags, C)
            if self.comm.allreduce(int(np.sum(cells < imap.size_local)), op=MPI.SUM) > 0:
                rc = itf.make_submeshes(self.parent, self.tm.cell_tags, {"current_collector": C})["current_collector"]
                self._collector_field = fem.Function(fem.functionspace(rc.mesh, ("Lagrange", 1)),
                                                     name="solid_potential")

    def _by_particle(self, cellvals):
        out = np.zeros(len(self._ptags))
        sel = self._cell_particle >= 0
        np.add.at(out, self._cell_particle[sel], cellvals[sel])
        return out

    def particle_lithium(self) -> float:
        return self._assemble(self._f_Ns)

    def electrolyte_lithium(self) -> float:
        return self._assemble(self._f_Ne)

    def total_lithium(self) -> float:
        """Lithium in particles + electrolyte [mol] (2D: mol m-1)."""
        return self.particle_lithium() + self.electrolyte_lithium()

    def current_total(self) -> float:
        """Current leaving the electrode solid into the collector [A] (discharge positive)."""
        return self._assemble(self._f_I_cc)

    def voltage(self) -> float:
        n = self.V.function_space.dofmap.index_map.size_local
        v = float(self.V.x.array[0]) if n > 0 else 0.0
        return self.comm.allreduce(v, op=MPI.SUM) + float(self.phi_ref.value)

    def stoichiometry_by_particle(self) -> np.ndarray:
        vals = fem.assemble_vector(self._f_cell_Ns).array[: self._nloc_q]
        N = self.comm.allreduce(self._by_particle(vals), op=MPI.SUM)
        return N / (self.c_max * self.particle_volumes)

    def diagnostics(self) -> dict:
        """Scalars of the current state (collective). Conservation entries refer to the last step."""
        comm, mat = self.comm, self.mat
        A = self.area_cross
        I_cc = self.current_total()
        I_int = self._assemble(self._f_I_int)
        I_li = self._assemble(self._f_I_li)
        Ns, Ne = self.particle_lithium(), self.electrolyte_lithium()
        x_mean = Ns / (self.c_max * self.vol_particles)
        xp = self.stoichiometry_by_particle()
        socp = (xp - mat.x_0) / (mat.x_100 - mat.x_0)
        x_soc = x_mean
        if self.not_connected and self.vol_connected > 0:  # the state of charge of the connected particles
            keep = np.array([int(n.rsplit("_", 1)[-1]) not in self.not_connected for n, _ in self.particles])
            x_soc = float(np.sum((xp * self.particle_volumes)[keep]) / np.sum(self.particle_volumes[keep]))
        cs = self.conc_values()
        ce = self.c_e.x.array[: self.c_e.function_space.dofmap.index_map.size_local]
        xs = self.surface_conc_values() / self.c_max
        d = {
            "voltage [V]": self.voltage(),
            "current density [A m-2]": I_cc / A,
            "capacity [mA h m-2]": self.charge / A / 3.6,
            "state of charge [-]": (x_soc - mat.x_0) / (mat.x_100 - mat.x_0),
            "mean stoichiometry [-]": x_mean,
            "mean lithium concentration [mol m-3]": Ns / self.vol_particles,
            "max lithium concentration [mol m-3]": comm.allreduce(cs.max(initial=-np.inf), op=MPI.MAX),
            "min lithium concentration [mol m-3]": comm.allreduce(cs.min(initial=np.inf), op=MPI.MIN),
            "min surface stoichiometry [-]": comm.allreduce(xs.min(initial=np.inf), op=MPI.MIN),
            "max surface stoichiometry [-]": comm.allreduce(xs.max(initial=-np.inf), op=MPI.MAX),
            "mean electrolyte concentration [mol m-3]": Ne / self.vol_liquid_eff,
            "min electrolyte concentration [mol m-3]": comm.allreduce(ce.min(initial=np.inf), op=MPI.MIN),
            "max electrolyte concentration [mol m-3]": comm.allreduce(ce.max(initial=-np.inf), op=MPI.MAX),
            "lithium metal overpotential [V]": -self._assemble(self._f_phie_li) / A,
            "electrolyte concentration at lithium [mol m-3]": self._assemble(self._f_ce_li) / A,
            "mean surface OCP [V]": self._assemble(self._f_ocp) / self.area_pe,
            "mean particle overpotential [V]": self._assemble(self._f_eta) / self.area_pe,
            "interface current error [-]": (I_int - I_cc) / self.I_ref,
            "lithium metal current error [-]": (I_li + I_cc) / self.I_ref,
            "particle lithium error [-]": self._balance["particle lithium error [-]"],
            "lithium balance error [-]": self._balance["lithium balance error [-]"],
        }
        d["applied current error [-]"] = ((I_cc / A - float(self.i_app.value)) / self.i_1C
                                          if self.mode == "cc" else 0.0)
        for (name, _), s in zip(self.particles, socp):
            d[f"soc {name.replace('_', ' ')} [-]"] = float(s)
        if self.skeleton:
            d.update(self.skeleton_diagnostics())
        return d

    def particle_columns(self) -> list[str]:
        return [f"soc {name.replace('_', ' ')} [-]" for name, _ in self.particles]

    def columns(self) -> list[str]:
        return DIAGNOSTIC_COLUMNS + self.particle_columns() + (self.skeleton_columns() if self.skeleton else [])

    def meta(self) -> dict:
        return {"num_dofs": self.num_dofs(), "one_c_current_density [A m-2]": self.i_1C,
                "one_c_current_density_all_particles [A m-2]": self.i_1C_all,
                "particles": len(self.particles), "particles_not_connected": list(self.not_connected),
                "active_volume_connected [m3]": self.vol_connected, "active_volume [m3]": self.vol_particles}

    def describe(self) -> str:
        tm = self.tm
        return (f"mesh: {tm.mesh.topology.index_map(tm.mesh.topology.dim).size_global} cells; "
                f"{len(self.particles)} particles; {self.num_dofs()} unknowns; 1C = {self.i_1C:.5g} A m-2; "
                f"active volume {self.vol_particles:.4g} m3, cross-section {self.area_cross:.4g} m2"
                + (f"; {len(self.not_connected)} particle(s) not connected to the collector "
                   f"({', '.join(f'particle_{i}' for i in self.not_connected)}): 1C ({self.i_1C:.5g} A m-2, "
                   f"{self.i_1C_all:.5g} with all) and the state of charge count the connected ones"
                   if self.not_connected else ""))

    # ------------------------------------------------------------------ fields
    def field_metadata(self) -> dict:
        """Tag names, and ``particle_id`` (0, 1, ... as in the ``soc particle i`` columns) on the
        particle cells."""
        from ..fields_io import parent_cell_values

        meta = super().field_metadata()
        if not hasattr(self, "_particle_id"):
            rp = self.sub["particle"]
            ids = {int(t): int(name.rsplit("_", 1)[-1]) for (name, _), ts in zip(self.particles, self.particle_tags)
                   for t in ts}
            self._particle_id = parent_cell_values(rp.mesh, rp.entity_map, self.tm.cell_tags, ids)
        meta["cell_arrays"] = {"particle": {"particle_id": self._particle_id}}
        return meta

    def output_fields(self) -> dict:
        if not hasattr(self, "_out_phi_s"):
            self._out_phi_s = fem.Function(self.phi_s.function_space, name="solid_potential")
            if self.phi_b is not None:
                self._out_phi_b = fem.Function(self.phi_b.function_space, name="solid_potential")
        ref = float(self.phi_ref.value)
        self._out_phi_s.x.array[:] = self.phi_s.x.array + ref
        self.sync_c_mirror()
        out = {"particle": [self.c_s, self._out_phi_s], "electrolyte": [self.c_e, self.phi_e]}
        if self.phi_b is not None:
            self._out_phi_b.x.array[:] = self.phi_b.x.array + ref
            out["binder"] = [self._out_phi_b]
        if self._collector_field is not None:
            self._collector_field.x.array[:] = self.voltage()
            out["current_collector"] = [self._collector_field]
        if self.mech and not self.grain_cohesive:  # (coloured grains: per colour, skeleton_fields)
            out["particle"] += self._mech_fields()
        if self.skeleton:
            for region, fs in self.skeleton_fields().items():
                out[region] = out.get(region, []) + fs
        return out

    def _mech_fields(self):
        if not hasattr(self, "_stress_out"):
            self._stress_out = StressFields(self.sub["particle"].mesh, self.gdim, self.sigma, self.U.function_space)
        return self._stress_out.update(self.R_ref * self.U.x.array)


class StressFields:
    """Output fields of one solid region: ``displacement`` (the unknown's space), and DG0
    ``stress``, ``hydrostatic_stress``, ``von_mises_stress`` interpolated from the stress
    expression ``sigma`` (UFL)."""

    def __init__(self, msh, gdim: int, sigma, u_space):
        Q = fem.functionspace(msh, ("DG", 0))
        Tn = fem.functionspace(msh, ("DG", 0, (gdim, gdim)))
        self.u = fem.Function(u_space, name="displacement")
        sh, vm, sg = (fem.Function(Q, name="hydrostatic_stress"), fem.Function(Q, name="von_mises_stress"),
                      fem.Function(Tn, name="stress"))
        self.fields = [self.u, sg, sh, vm]
        self._stress = StressInterpolation(sigma, sh, vm, sg)

    def update(self, u_si) -> list:
        """Set the displacement [m] and interpolate the stresses; [u, stress, sigma_h, sigma_vm]."""
        self.u.x.array[:] = u_si
        self._stress.update()
        return self.fields
