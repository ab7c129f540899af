"""The comparison both DFN-twin test files make: run the twin of a resolved run and
compare the two voltage curves (``cellsim.dfn.compare``)."""

from __future__ import annotations


def twin_against(res, spec, protocol, end_kinds=None, label: str = ""):
    """Run the twin ``spec`` through ``protocol``, check that its steps end by ``end_kinds``
    (a list of end kinds, when given) and return (twin result, comparison with ``res``)."""
    from cellsim.dfn import compare, run_twin
    from cellsim.dfn.run import resolved_rows

    tw = run_twin(spec, protocol)
    if end_kinds is not None:
        assert [k for _, _, k, _ in tw.step_ends] == list(end_kinds), tw.step_ends
    c = compare(resolved_rows(res.rows), tw.rows)
    if label:
        print(f"\n{label}: RMS {c['rms [V]'] * 1e3:.3f} mV, max {c['max [V]'] * 1e3:.3f} mV, "
              f"mean {c['mean [V]'] * 1e3:+.3f} mV, {c['points']} points")
    return tw, c
