"""Case validation and the command line: clear errors, exit code 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cellsim.case import case_from_dict, load_case
from cellsim.cli import main
from cellsim.schema import CaseError

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "geometry": {"kind": "sphere", "radius": 5e-6},
    "control": {"mode": "galvanostatic", "c_rate": 1.0},
}


def _write(tmp_path, text, name="case.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_case_in_cases_folder_is_valid():
    import tomllib

    from cellsim.geometry.spec import GEOMETRY_ADAPTER

    files = sorted((ROOT / "cases").glob("*.toml"))
    assert files, "no cases"
    for f in files:
        if f.name.startswith("mesh_"):  # geometry-only cases for `cellsim mesh`
            GEOMETRY_ADAPTER.validate_python(tomllib.loads(f.read_text())["geometry"])
        else:
            load_case(f)  # raises CaseError with the reasons


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"geometry": {"kind": "sphere", "radious": 5e-6}}, ["geometry.radious", "did you mean 'radius'"]),
        ({"geometry": {"kind": "sphere", "radius": -5e-6}}, ["geometry.radius = -5e-06", "greater than 0"]),
        ({"material": {"poisson_ratio": 0.5}}, ["material.poisson_ratio = 0.5", "less than 0.5"]),
        ({"material": {"youngs_modulus": 0}}, ["material.youngs_modulus = 0", "greater than 0"]),
        ({"material": {"diffusivity": -1e-14}}, ["material.diffusivity", "greater than 0"]),
        ({"material": {"name": "grafite_chen2020"}}, ["material.name", "graphite_chen2020"]),
        ({"time": {"t_end": -10}}, ["time.t_end = -10", "greater than 0"]),
        ({"contrl": {}}, ["contrl: unknown key", "did you mean 'control'"]),
        ({"control": {"mode": "galvanostatic"}}, ["needs exactly", "c_rate"]),
        ({"geometry": {"kind": "spere", "radius": 5e-6}}, ["geometry.kind = 'spere'", "did you mean 'sphere'"]),
        ({"physics": {"mechanics": False}}, ["stress_assisted_diffusion", "mechanics"]),
    ],
)
def test_bad_input_names_key_value_and_allowed(patch, expected):
    d = {**GOOD, **patch}
    with pytest.raises(CaseError) as err:
        case_from_dict(d)
    msg = str(err.value)
    for e in expected:
        assert e in msg, msg


@pytest.mark.parametrize("line", ['radious = 5e-6', 'radius = -5e-6'])
def test_run_with_bad_case_exits_2_and_writes_nothing(tmp_path, capsys, line):
    case = _write(tmp_path, f'[geometry]\nkind = "sphere"\n{line}\n[control]\nmode = "flux"\nflux = 1e-5\n')
    out = tmp_path / "out"
    assert main(["run", str(case), "-o", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "geometry.radi" in err


def test_check_without_dolfinx(tmp_path):
    """`cellsim check` validates with DOLFINx made unimportable."""
    case = ROOT / "cases" / "particle_charge.toml"
    code = ("import sys; sys.modules['dolfinx'] = None; sys.modules['petsc4py'] = None; "
            "from cellsim.cli import main; sys.exit(main(['check', sys.argv[1]]))")
    r = subprocess.run([sys.executable, "-c", code, str(case)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "valid particle case" in r.stdout
    bad = _write(tmp_path, "[geometry]\nkind = 'sphere'\nradius = 0\n")
    r = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "geometry.radius = 0" in r.stderr


def test_toml_syntax_error_is_reported(tmp_path):
    bad = _write(tmp_path, "[geometry\nkind = 'sphere'\n")
    with pytest.raises(CaseError, match="not valid TOML"):
        load_case(bad)


def test_case_reference_doc_is_current():
    """docs/case_reference.md is generated from the schema; regenerate with `cellsim schema`."""
    from cellsim.docs import case_reference_markdown

    doc = (ROOT / "docs" / "case_reference.md").read_text()
    assert doc == case_reference_markdown(), "run: cellsim schema > docs/case_reference.md"


def test_info_lists_versions_and_solvers(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("cellsim", "dolfinx", "petsc", "MPI", "mumps"):
        assert key in out


def test_info_materials_lists_every_parameter_with_units_and_citation(capsys):
    """`cellsim info --materials`: every parameter of every set, with its unit, and the sources."""
    import dataclasses

    from cellsim.materials import MATERIALS

    assert main(["info", "--materials"]) == 0
    out = capsys.readouterr().out
    for name, m in MATERIALS.items():
        assert f"material {name}" in out and m.citation in out
        for f in dataclasses.fields(m):
            if f.name not in ("name", "citation", "mechanics_citation", "overrides", "notes"):
                assert f"    {f.name} [" in out, (name, f.name)
    assert "exchange_current_activation_energy [J mol-1] = 17800" in out
