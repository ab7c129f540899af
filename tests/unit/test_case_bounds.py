"""The bad inputs of issue 12, one by one: `cellsim check` exits 2 with a message naming the key.

Each row builds a case file from a runnable case in cases/ with one change, runs
`cellsim check` in process and asserts exit code 2, no traceback, a message of at most
one screen, and the words that name the key (or the file, for encoding and syntax
errors) and the problem.
"""

from __future__ import annotations

import contextlib
import io
import math
import tomllib
from pathlib import Path

import pytest
import tomli_w

from cellsim.case import case_from_dict
from cellsim.cli import main
from cellsim.schema import CaseError

ROOT = Path(__file__).resolve().parents[2]
PARTICLE = tomllib.loads((ROOT / "cases" / "particle_charge.toml").read_text())
HALFCELL = tomllib.loads((ROOT / "cases" / "halfcell_discharge.toml").read_text())
PARTICLE_TEXT = (ROOT / "cases" / "particle_charge.toml").read_bytes()


def patched(base: dict, **sections) -> bytes:
    """``base`` with keys replaced (``section={key: value}``; a value None deletes the key)."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for sec, keys in sections.items():
        if not isinstance(keys, dict):
            data[sec] = keys
            continue
        data.setdefault(sec, {})
        for k, v in keys.items():
            if v is None:
                data[sec].pop(k, None)
            else:
                data[sec][k] = v
    return tomli_w.dumps(data).encode()


def check(tmp_path, raw: bytes) -> tuple[int, str]:
    p = tmp_path / "case.toml"
    p.write_bytes(raw)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(p)])
    return code, err.getvalue()


CV = {"mode": "potentiostatic", "potential": 0.05}
ROWS = [
    # file-level problems
    ("non-UTF-8 bytes", b"\xff\xfe" + PARTICLE_TEXT, ["not UTF-8", "line 1"]),
    ("latin-1 comment", PARTICLE_TEXT + "# température\n".encode("latin-1"), ["not UTF-8"]),
    ("TOML syntax", b"[geometry\nkind = 'sphere'\n", ["not valid TOML"]),
    ("4301-digit integer", PARTICLE_TEXT.replace(b"radius = 5.86e-6", b"radius = " + b"7" * 4301),
     ["radius", "digits"]),
    ("5000 nested arrays", PARTICLE_TEXT + b"\nzz = " + b"[" * 5000 + b"]" * 5000, ["nested too deeply", "zz"]),
    ("model = [1]", b"model = [1]\n" + PARTICLE_TEXT, ["model = [1]", "unknown model"]),
    ("model = 5", b"model = 5\n", ["model = 5"]),
    ("geometry not a table", patched(PARTICLE, geometry=5), ["geometry"]),
    ("date as a number", PARTICLE_TEXT.replace(b"t_end = 3600.0", b"t_end = 1979-05-27T07:32:00Z"),
     ["time.t_end", "date"]),
    # wrong types
    ("radius = true", patched(PARTICLE, geometry={"radius": True}), ["geometry.radius = True", "valid number"]),
    ("c_rate = '1e3'", patched(PARTICLE, control={"c_rate": "1e3"}), ["control.c_rate = '1e3'", "valid number"]),
    ("int as float ok, float as int no", patched(PARTICLE, output={"fields_every": 5.0}),
     ["output.fields_every = 5.0", "whole number"]),
    ("bool as degree", patched(PARTICLE, discretisation={"concentration_degree": True}),
     ["discretisation.concentration_degree", "boolean"]),
    ("misspelt key", patched(PARTICLE, material={"youngs_modulos": 1e9}),
     ["material.youngs_modulos", "did you mean 'youngs_modulus'"]),
    # geometry (checks that crashed with a traceback)
    ("radius 1e300", patched(PARTICLE, geometry={"radius": 1e300}), ["geometry"]),
    ("radius inf", patched(PARTICLE, geometry={"radius": math.inf}), ["geometry.radius = inf", "finite"]),
    ("mesh_size 1e-200", patched(PARTICLE, geometry={"mesh_size": 1e-200}), ["geometry"]),
    ("radius 1e-30 m (a run that never moved)", patched(PARTICLE, geometry={"mesh_size": None, "radius": 1e-30}),
     ["geometry", "equivalent radius 1e-30 m"]),
    ("radius 1e30 m", patched(PARTICLE, geometry={"mesh_size": None, "radius": 1e30}),
     ["geometry.radius = 1e+30", "less than or equal to 0.01"]),
    # NaN and inf everywhere
    ("NaN current", patched(PARTICLE, control={"mode": "galvanostatic", "c_rate": None, "current": math.nan}),
     ["control.current = nan", "finite"]),
    ("NaN potential", patched(PARTICLE, control={**CV, "potential": math.nan, "c_rate": None, "direction": None}),
     ["control.potential = nan"]),
    ("NaN flux", patched(PARTICLE, control={"mode": "flux", "c_rate": None, "flux": math.nan}),
     ["control.flux = nan"]),
    ("NaN partial molar volume", patched(PARTICLE, material={"partial_molar_volume": math.nan}),
     ["material.partial_molar_volume = nan"]),
    ("NaN cut-off", patched(PARTICLE, stop={"min_voltage": math.nan}), ["stop.min_voltage = nan"]),
    ("NaN max_soc", patched(PARTICLE, stop={"max_soc": math.nan}), ["stop.max_soc = nan"]),
    ("inf t_end", patched(PARTICLE, time={"t_end": math.inf}), ["time.t_end = inf"]),
    ("NaN current density", patched(HALFCELL, protocol={"steps": [
        {"mode": "cc", "current_density": math.nan, "duration": 10.0}]}),
     ["protocol.steps.0.current_density = nan"]),
    ("NaN cv voltage", patched(HALFCELL, protocol={"steps": [{"mode": "cv", "voltage": math.nan, "duration": 1.0}]}),
     ["protocol.steps.0.voltage = nan"]),
    # physical bounds
    ("temperature 1e-300", patched(PARTICLE, physics={"temperature": 1e-300}), ["physics.temperature", "150"]),
    ("temperature 1e9", patched(PARTICLE, physics={"temperature": 1e9}), ["physics.temperature", "500"]),
    ("x_0 = x_100", patched(PARTICLE, material={"x_0": 0.5, "x_100": 0.5}), ["material.x_0", "x_100", "differ"]),
    ("x_0 = 1", patched(PARTICLE, material={"x_0": 1.0}), ["material.x_0", "less than 1"]),
    ("x_100 override equal to the set's x_0", patched(PARTICLE, material={"x_100": 0.0279}),
     ["material.x_0 = 0.0279", "x_100 = 0.0279"]),
    ("c_ref > c_max", patched(PARTICLE, material={"c_ref": 40000.0}), ["material.c_ref = 40000.0", "c_max"]),
    ("max_soc = 5", patched(PARTICLE, stop={"max_soc": 5}), ["stop.max_soc = 5", "less than or equal to 1"]),
    ("min_soc above max_soc", patched(PARTICLE, stop={"min_soc": 0.9, "max_soc": 0.5}), ["stop.min_soc = 0.9"]),
    ("atol = 1e30", patched(PARTICLE, solver={"atol": 1e30}), ["solver.atol = 1e+30", "0.0001"]),
    ("rtol = 0.5", patched(PARTICLE, solver={"rtol": 0.5}), ["solver.rtol = 0.5", "0.001"]),
    ("c_rate = 1e9", patched(PARTICLE, control={"c_rate": 1e9}), ["control.c_rate = 1000000000.0", "100"]),
    ("current far beyond 1000C", patched(PARTICLE, control={"mode": "galvanostatic", "c_rate": None,
                                                             "current": 1e-3}), ["control.current = 0.001", "1000C"]),
    ("zero current", patched(PARTICLE, control={"mode": "galvanostatic", "c_rate": None, "current": 0.0}),
     ["control.current = 0.0", "not be 0"]),
    ("potential 100 V", patched(PARTICLE, control={**CV, "c_rate": None, "direction": None, "potential": 100.0}),
     ["control.potential = 100.0", "less than 6"]),
    ("Omega 1e-2", patched(PARTICLE, material={"partial_molar_volume": 1e-2}), ["material.partial_molar_volume"]),
    ("diffusivity 1e-300", patched(PARTICLE, material={"diffusivity": 1e-300}), ["material.diffusivity", "1e-25"]),
    ("diffusivity 1", patched(PARTICLE, material={"diffusivity": 1.0}), ["material.diffusivity", "1e-06"]),
    ("rate constant 1e3", patched(PARTICLE, material={"rate_constant": 1e3}), ["material.rate_constant"]),
    ("Young's modulus 1e20", patched(PARTICLE, material={"youngs_modulus": 1e20}), ["material.youngs_modulus"]),
    ("bath 1e9", patched(PARTICLE, physics={"electrolyte_concentration": 1e9}),
     ["physics.electrolyte_concentration"]),
    ("fields_every 1e12", patched(PARTICLE, output={"fields_every": 10**12}), ["output.fields_every"]),
    ("dt_min 1e-300", patched(PARTICLE, time={"dt_min": 1e-300}), ["time.dt_min", "1e-09"]),
    ("t_end 1e300", patched(PARTICLE, time={"t_end": 1e300}), ["time.t_end = 1e+300", "1e+09"]),
    ("surface cut-offs crossed", patched(PARTICLE, stop={"min_surface_stoichiometry": 0.995,
                                                          "max_surface_stoichiometry": 0.99}),
     ["stop.min_surface_stoichiometry = 0.995"]),
    ("voltage window crossed", patched(PARTICLE, stop={"min_voltage": 4.0, "max_voltage": 3.0}),
     ["stop.min_voltage = 4.0"]),
    ("electrolyte 1e9", patched(HALFCELL, electrolyte={"initial_concentration": 1e9}),
     ["electrolyte.initial_concentration"]),
    ("c_e cut-off above start", patched(HALFCELL, stop={"min_electrolyte_concentration": 2000.0}),
     ["stop.min_electrolyte_concentration = 2000.0", "initial_concentration"]),
    ("separator porosity 1e-300", patched(HALFCELL, separator={"porosity": 1e-300}), ["separator.porosity", "0.01"]),
    ("binder conductivity 1e-300", patched(HALFCELL, solid={"binder_conductivity": 1e-300}),
     ["solid.binder_conductivity = 1e-300", "1e-12"]),
    ("c_max 1e-300", patched(PARTICLE, material={"c_max": 1e-300}), ["material.c_max", "100"]),
    ("bath 1e-300", patched(PARTICLE, physics={"electrolyte_concentration": 1e-300}),
     ["physics.electrolyte_concentration = 1e-300"]),
    ("current density of 2000C", patched(HALFCELL, protocol={"steps": [
        {"mode": "cc", "current_density": 1e4, "duration": 10.0}]}), ["protocol.steps.0.current_density", "1000C"]),
    ("ksp_rtol 0.9", patched(HALFCELL, solver={"ksp_rtol": 0.9}), ["solver.ksp_rtol = 0.9"]),
    # no unbounded echo
    ("huge material name", patched(PARTICLE, material={"name": "x" * 100_000}), ["material.name", "unknown material"]),
    ("huge title", patched(PARTICLE, title="t" * 100_000), ["title", "at most 200"]),
    ("huge misspelt key", patched(PARTICLE, material={"y" * 10_000: 1.0}), ["material.yyy", "unknown key"]),
]


@pytest.mark.parametrize("raw, words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_exits_2_naming_the_key(tmp_path, raw, words):
    code, err = check(tmp_path, raw)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) <= 25 and all(len(x) <= 320 for x in lines), err[:2000]
    for w in words:
        assert w in err, (w, err)


def test_good_cases_still_pass(tmp_path):
    assert check(tmp_path, PARTICLE_TEXT)[0] == 0
    assert check(tmp_path, patched(PARTICLE, material={"c_ref": 1000, "x_0": 0.1, "x_100": 0.9}))[0] == 0
    assert check(tmp_path, patched(PARTICLE, geometry={"radius": 6e-6}))[0] == 0  # an int-free float edit
    assert check(tmp_path, patched(PARTICLE, physics={"temperature": 300}))[0] == 0  # an int for a float


@pytest.mark.parametrize("data", [[1], "x", 5, None])
def test_top_level_must_be_a_table(data):
    with pytest.raises(CaseError, match="top level must be a table"):
        case_from_dict(data)


def test_python_dict_big_int_is_a_case_error():
    with pytest.raises(CaseError, match="geometry.radius"):
        case_from_dict({"geometry": {"kind": "sphere", "radius": 10**5000}, "control": {"mode": "flux", "flux": 1e-5}})


# Geometry inputs the geometry schema now bounds (the element estimate takes a leaf
# region's aggregate size; lengths and sizes are at most 1 cm)
GEOMETRY_FIXED = [
    ("max_elements bypassed through region_mesh_size.particle (estimate reads particle_0 only)",
     patched(PARTICLE, geometry={"mesh_size": None, "radius": 5e-6, "max_elements": 20000,
                                 "region_mesh_size": {"particle": 1e-7}})),
    ("interface_mesh_size larger than the particle accepted",
     patched(PARTICLE, geometry={"interface_mesh_size": 1.0, "refinement_distance": 1e300})),
    ("max_elements bypassed through region_mesh_size.grain_0 of a secondary particle",
     patched(PARTICLE, geometry={"kind": "secondary_particle", "radius": 5e-6, "n_grains": 10, "mesh_size": None,
                                 "max_elements": 100000, "region_mesh_size": {"grain_0": 1e-8}})),
    ("max_elements bypassed through region_mesh_size.particle_0 of a half-cell",
     patched(HALFCELL, geometry={"region_mesh_size": {"particle_0": 1e-8}})),
]


@pytest.mark.parametrize("raw", [r[1] for r in GEOMETRY_FIXED], ids=[r[0] for r in GEOMETRY_FIXED])
def test_geometry_bounds(tmp_path, raw):
    code, err = check(tmp_path, raw)
    assert code == 2 and "geometry" in err, err


