"""cellsim.precompile: which cases it compiles, and that a matching stamp skips the work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cellsim.dolfinx_env import require_dolfinx

require_dolfinx()
import dolfinx.jit  # noqa: E402

from cellsim import precompile  # noqa: E402

CASES = Path(__file__).resolve().parents[2] / "cases"


def test_model_cases_are_the_simulations():
    names = [p.name for p in precompile.model_cases(CASES)]
    assert "particle_charge.toml" in names and "halfcell_discharge.toml" in names
    assert not [n for n in names if n.startswith("mesh_")]


def test_stamp_makes_it_idempotent(tmp_path, monkeypatch):
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(CASES / "particle_charge.toml", cases)
    opts = dict(dolfinx.jit.get_options(), cache_dir=tmp_path / "cache")
    monkeypatch.setattr(dolfinx.jit, "get_options", lambda *a: dict(opts))
    built = []
    monkeypatch.setattr(precompile, "compile_case", lambda p, comm: built.append(p.name))
    assert precompile.main(["--cases", str(cases), "-q"]) == 0
    assert built == ["particle_charge.toml"] and (tmp_path / "cache" / precompile.STAMP).is_file()
    assert precompile.main(["--cases", str(cases), "-q"]) == 0  # warm: nothing built
    assert built == ["particle_charge.toml"]
    (cases / "particle_charge.toml").write_text((cases / "particle_charge.toml").read_text() + "\n# edited\n")
    assert precompile.main(["--cases", str(cases), "-q"]) == 0  # a changed case: built again
    assert built == ["particle_charge.toml"] * 2

    def broken(p, comm):
        raise RuntimeError("no mesh")

    monkeypatch.setattr(precompile, "compile_case", broken)
    assert precompile.main(["--cases", str(cases), "-q", "--force"]) == 1  # a failure is reported
    assert not (tmp_path / "cache" / precompile.STAMP).exists()  # and the next run tries again
    with pytest.raises(SystemExit):
        precompile.main(["--bogus"])
