"""The homogenised twin of a resolved half-cell: its DFN parameters from the mesh, a BPX file,
a PyBaMM parameter set, PyBaMM's half-cell DFN through the same protocol (docs/dfn.md).

    from cellsim.dfn import twin_specs, run_twin, compare
    specs = twin_specs(case, tm)                 # collective; {"geometric": spec, "volume": ..., "area": ...}
    tw = run_twin(specs["geometric"], case.protocol)  # PyBaMM (the 'dfn' extra: pybamm, bpx)
    compare(read_timeseries(run_dir), tw.rows)   # RMS of V_resolved - V_DFN

Modules: ``homogenise`` (mesh -> parameters; DOLFINx), ``parameters`` (spec -> PyBaMM set,
BPX and back), ``expressions`` (cellsim functions as text), ``run`` (protocol -> Experiment,
the run, time series, comparison), ``command`` (``cellsim dfn``). PyBaMM and bpx are imported
only inside the functions that need them.
"""

from __future__ import annotations

from .command import main, run_and_write, twin_specs  # noqa: F401
from .homogenise import DEFAULT_RADIUS, RADIUS_MAPPINGS, homogenise, measure_electrode  # noqa: F401
from .parameters import parameter_values, spec_from_bpx, to_bpx, twin_spec, write_bpx  # noqa: F401
from .run import compare, plan_experiment, run_twin  # noqa: F401
