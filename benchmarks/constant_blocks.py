"""Which kept (constant) Jacobian blocks of a case are assembled again, and what each costs.

The assembler (:class:`cellsim.assembly.BlockAssembler`) keeps the Jacobian blocks that do
not depend on the unknowns and assembles again only those whose own inputs changed ("moving"
blocks); the others stay in a kept matrix of their own. This runs a case for ``--steps``
accepted steps and prints one JSON line: the blocks (by unknown names), which are moving,
how often the kept blocks were assembled, and the CPU time of one assembly of each kept block
(median of ``--repeats``), so the time a step saves is the sum over the static blocks::

    python benchmarks/constant_blocks.py cases/halfcell_debonding.toml --steps 16

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib

from mpi4py import MPI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    from cellsim.case import case_from_dict
    from cellsim.geometry.mesh import build_mesh
    from cellsim.models import build_model
    from cellsim.simulation import run_protocol

    comm = MPI.COMM_WORLD
    data = tomllib.loads(open(args.case).read())
    data.setdefault("output", {})["fields"] = False
    case = case_from_dict(data)
    tm = build_mesh(case.geometry, comm, order=case.discretisation.geometry_order)
    model = build_model(case, tm, comm)
    model.solve_initial()
    rows = run_protocol(case, model, max_steps=args.steps, keep_rows=True).rows
    asm = model.solver.assembler
    names = model.block_names

    def name(i, j):
        return f"{names[i]}/{names[j]}"

    cost = {}
    for i, j, f in asm.constant:  # into a scratch copy of the kept matrix (not used after)
        M = asm._Jc.duplicate(copy=False)
        t = []
        for _ in range(args.repeats):
            comm.Barrier()
            c0 = time.process_time()
            asm._add_blocks(M, [(i, j, f)])
            t.append(time.process_time() - c0)
        M.destroy()
        cost[name(i, j)] = round(comm.allreduce(sorted(t)[len(t) // 2], op=MPI.MAX) * 1e3, 3)
    moving = [name(i, j) for (i, j, _), m in zip(asm.constant, asm._moving) if m]
    static = [name(i, j) for (i, j, _), m in zip(asm.constant, asm._moving) if not m]
    out = {"case": args.case, "ranks": comm.size, "steps": len(rows) - 1, "unknowns": model.num_dofs(),
           "kept_assemblies": asm.constant_assemblies, "moving": moving, "static": static,
           "block_cpu_ms": cost, "moving_cpu_ms": round(sum(cost[k] for k in moving), 2),
           "static_cpu_ms": round(sum(cost[k] for k in static), 2),
           "variable_blocks": [name(i, j) for i, j, _ in asm.variable]}
    if comm.rank == 0:
        print(json.dumps(out))
    model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
