"""The Python API as documented: the README's block runs as written, and a terminal run
shows the progress bar, the ETA and the summary table.

The block is taken from README.md ("## Python API", the first ```python block), so the
documentation cannot drift from the code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_api_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README.md: no ```python block in the Python API section"
    return m.group(1)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in list(env):  # a clean, single-process environment
        if k.startswith(("PMI_", "MPICH_", "HYDRA_", "OMPI_")):
            del env[k]
    return env


def test_readme_python_api_block_runs_as_written(tmp_path):
    code = readme_api_block()
    assert "cellsim.run(" in code and "cellsim.load(" in code
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=_env(),
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert out.startswith("completed | reached time.t_end = 240 s"), out[:500]
    assert "particle potential [V]" in out and "['particle']" in out
    assert "step    1 " not in out  # quiet=True: warnings only on the terminal ...
    log = (tmp_path / "results" / "notebook" / "cellsim.log").read_text()
    assert "step    1 " in log and "total wall time" in log  # ... the log file keeps every line
    for png in ("voltage.png", "voltage_components.png", "timeseries.png", "fields.png"):
        assert (tmp_path / "results" / "notebook" / png).stat().st_size > 10_000, png


SMALL = """
[geometry]
kind = "sphere"
radius = 5.86e-6
mesh_size = 2.5e-6
[physics]
initial_stoichiometry = 0.1
[control]
mode = "galvanostatic"
c_rate = 2.0
[time]
t_end = 120.0
dt_initial = 20.0
dt_max = 60.0
[output]
fields = false
"""


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal test (Linux)")
def test_terminal_run_shows_a_progress_bar_eta_and_summary(tmp_path):
    """`cellsim run` on a terminal (a pty): one bar line rewritten with \\r, percentage,
    ETA, no plain step lines; then the summary table with the time split."""
    import pty

    case = tmp_path / "small.toml"
    case.write_text(SMALL)
    env = _env()
    env["TERM"] = "xterm"
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from cellsim.cli import main; sys.exit(main())",
                             "run", str(case), "-o", str(tmp_path / "out")],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=tmp_path, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    rc = proc.wait(timeout=600)
    text = b"".join(chunks).decode(errors="replace")
    assert rc == 0, text[-3000:]
    assert "\r" in text and "ETA" in text and "elapsed" in text
    assert "100.0 %" in text
    assert not re.search(r"^step +1 ", text, re.M)  # the bar replaces the step lines
    for row in ("meshing (gmsh)", "model set-up and form compilation", "Newton solves",
                "assembly (residual, Jacobian)", "linear solves", "output (time series, fields, manifest)",
                "total wall time"):
        assert row in text, row
    log = (tmp_path / "out" / "cellsim.log").read_text()
    assert re.search(r"step +1 .*\[ *\d+\.\d %, ETA [0-9:?]+\]", log)  # plain lines in the log


def test_run_returns_a_failed_result_with_its_reason(tmp_path):
    """A run that fails is a Result with status failed and the reason (as the command line
    reports it); raise_on_failure=True raises instead; the case dict is given with ``set``."""
    import cellsim
    from cellsim.case import case_from_dict

    case = {"geometry": {"kind": "sphere", "radius": 5.86e-6, "mesh_size": 2.5e-6},
            "physics": {"initial_stoichiometry": 0.1}, "control": {"mode": "galvanostatic", "c_rate": 2.0},
            "output": {"fields": False}}
    bad = {"control.c_rate": 500.0, "time.dt_initial": 60.0, "time.dt_max": 60.0, "time.dt_min": 30.0,
           "time.t_end": 240.0}
    res = cellsim.run(case, tmp_path / "bad", set=bad, quiet=True)
    assert res.status == "failed" and "dt_min" in res.reason
    with pytest.raises(RuntimeError, match="dt_min"):
        cellsim.run(case_from_dict(case), tmp_path / "bad", set=bad, quiet=True, raise_on_failure=True)
