"""A large batch of forms compiled as a few modules, the C compiler of one running while
FFCx generates the code of the next.

FFCx's ``compile_forms`` generates the C code of its forms (Python, one core) and then
waits for the C compiler (gcc, one process): the two never overlap. The polycrystal
particle's Newton batch (79 forms) spends 6.5 s in FFCx and 4.6 s in gcc, one after the
other. :func:`compile_chunked` splits such a batch into a few chunks (consecutive forms,
each chunk a module named from its own forms, as ``compile_forms`` names one); the code of
each chunk is generated here and handed to a child process (this file run as a script:
cffi + setuptools, no DOLFINx) that compiles it while the next chunk's code is generated.
Only the last chunk's compile is waited for in full.

Each chunk follows ``compile_forms`` step by step: the cache lookup (``get_cached_module``,
with the stale-entry recovery of :mod:`cellsim.ffcx_patches`), FFCx's code generation (with
its patches), cffi's ``set_source``/``cdef``/``compile`` with FFCx's compile arguments and
libraries into the cache folder, the ``.c.cached`` marker holding the compiler's log, and
``.c.failed`` for a compile that failed. A form's kernels are FFCx's code for that form either
way; its values equal those of DOLFINx's own one-form module (tests/unit/test_jit_batch.py).
Kernels repeated across chunks are not left out (:func:`cellsim.ffcx_patches.dedup_kernels`
works within a module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: a batch of at least this many forms is compiled in chunks (smaller ones: one module)
CHUNK_MIN_FORMS = 24
#: at most this many chunks (modules) per batch; each costs a fixed compile and link
#: (``CELLSIM_JIT_CHUNKS=1`` in the environment: one module per batch, one process)
MAX_CHUNKS = int(os.environ.get("CELLSIM_JIT_CHUNKS", "3"))


def chunks(n: int) -> list[slice]:
    """How a batch of ``n`` forms is split: consecutive slices in proportion k : k-1 : ... : 1,
    so that the last one, whose compile is waited for, is the smallest, and each compile
    has about the next chunk's code generation to run in."""
    # (the same on every machine: the module names, so a cache filled elsewhere, and what the
    # other ranks load after rank 0 compiled, do not depend on the core count)
    k = 1 if n < CHUNK_MIN_FORMS else min(MAX_CHUNKS, n // (CHUNK_MIN_FORMS // 2))
    if k <= 1:
        return [slice(0, n)]
    w = k * (k + 1) // 2
    sizes = [n * (k - i) // w for i in range(k)]
    sizes[0] += n - sum(sizes)
    out, start = [], 0
    for s in sizes:
        out.append(slice(start, start + s))
        start += s
    return out


def module_name(forms, p_ffcx: dict, p_jit: dict) -> str:
    """The name FFCx's ``compile_forms`` gives the module of ``forms`` with these options."""
    import ffcx.codegeneration.jit as fj
    import ffcx.naming

    sig = (fj._compute_option_signature(p_ffcx)
           + fj._compilation_signature(p_jit["cffi_extra_compile_args"], p_jit["cffi_debug"]))
    return "libffcx_forms_" + ffcx.naming.compute_signature(forms, sig)


def _mark_failed(cache: Path, module: str) -> None:
    """A failed compile's entry renamed ``.c.failed``, as FFCx does (else later runs wait for it)."""
    c = cache / f"{module}.c"
    if c.exists():
        os.replace(c, c.with_suffix(".c.failed"))


def _start(forms, p_ffcx: dict, p_jit: dict) -> dict:
    """Generate the code of ``forms`` (one module) and start its compile in a child process;
    or find the module in the cache."""
    import ffcx.codegeneration
    import ffcx.codegeneration.jit as fj
    import ffcx.compiler
    import ffcx.naming
    import numpy as np

    module = module_name(forms, p_ffcx, p_jit)
    names = [ffcx.naming.form_name(f, i, module) for i, f in enumerate(forms)]
    cache = Path(p_jit["cache_dir"])
    obj, mod = fj.get_cached_module(module, names, cache, p_jit["timeout"])
    if obj is not None:
        return {"module": module, "names": names, "loaded": (obj, mod), "compiled": False}
    decl = (fj.UFC_HEADER_DECL.format(np.dtype(p_ffcx["scalar_type"]).name) + fj.UFC_INTEGRAL_DECL
            + fj.UFC_FORM_DECL + "".join(f"extern ufcx_form {n};\n" for n in names))
    code, _ = ffcx.compiler.compile_ufl_objects(forms, namespace=module, options=p_ffcx)
    cache.mkdir(parents=True, exist_ok=True)
    job = {
        "module": module, "cache_dir": str(cache), "code": code[1], "decl": decl,
        "include_dirs": [ffcx.codegeneration.get_include_path()],
        "compile_args": ["-std=c17", *p_jit["cffi_extra_compile_args"]],
        "libraries": list(fj._libraries) + list(p_jit.get("cffi_libraries") or []),
        "debug": bool(p_jit["cffi_debug"]),
    }
    fd, path = tempfile.mkstemp(dir=cache, prefix=f".{module}.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(job, f)
    h = {"module": module, "names": names, "job": path, "cache": cache, "compiled": True}
    try:
        h["proc"] = subprocess.Popen([sys.executable, __file__, path], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
    except OSError:  # no interpreter to start (an embedded Python): compile here, now
        try:
            _compile_job(path)
        except Exception:
            _mark_failed(cache, module)
            raise
    return h


def _finish(h: dict):
    """Wait for a chunk's compile; its (ufcx forms, module)."""
    import ffcx.codegeneration.jit as fj

    if "loaded" in h:
        return h["loaded"]
    if "proc" not in h:  # compiled in this process
        Path(h["job"]).unlink(missing_ok=True)
        return fj._load_objects(h["cache"], h["module"], h["names"])
    log, _ = h["proc"].communicate()
    Path(h["job"]).unlink(missing_ok=True)
    if h["proc"].returncode != 0:
        _mark_failed(h["cache"], h["module"])
        raise RuntimeError(f"cellsim: compiling the forms of {h['module']} failed "
                           f"(exit {h['proc'].returncode}):\n{log[-4000:]}")
    return fj._load_objects(h["cache"], h["module"], h["names"])


def compile_chunked(forms: list, p_ffcx: dict, p_jit: dict) -> tuple[list, list[dict]]:
    """Compile ``forms`` in :func:`chunks`, compiles overlapping the code generation.
    Returns one (ufcx form, module) per form and, per chunk, its module name, form names
    and whether it was compiled here (False: found in the cache)."""
    handles = []
    try:
        for s in chunks(len(forms)):
            handles.append(_start(list(forms[s]), p_ffcx, p_jit))
        out = []
        for h in handles:
            objs, mod = _finish(h)
            out += [(o, mod) for o in objs]
    finally:  # an error or an interrupt: no child left running, no job file, no unfinished entry
        for h in handles:
            if "proc" in h and h["proc"].poll() is None:
                h["proc"].kill()
                h["proc"].wait()
                if not (h["cache"] / f"{h['module']}.c.cached").exists():  # else later runs wait for it
                    (h["cache"] / f"{h['module']}.c").unlink(missing_ok=True)
            if "job" in h:
                Path(h["job"]).unlink(missing_ok=True)
    return out, [{"module": h["module"], "names": h["names"], "compiled": h["compiled"]} for h in handles]


def _compile_job(path: str) -> None:
    """The child: cffi compiles one module into the cache folder, as FFCx's
    ``_compile_objects`` does after generating its code, and writes the ready marker."""
    import io
    import logging
    from contextlib import redirect_stdout

    import cffi

    job = json.loads(Path(path).read_text())
    ffi = cffi.FFI()
    ffi.set_source(job["module"], job["code"], include_dirs=job["include_dirs"],
                   extra_compile_args=job["compile_args"], libraries=job["libraries"])
    ffi.cdef(job["decl"])
    buf = io.StringIO()
    root = logging.getLogger()
    handlers, root.handlers = root.handlers, [logging.StreamHandler(buf)]  # cffi logs the compiler commands there
    try:
        with redirect_stdout(buf):
            ffi.compile(tmpdir=job["cache_dir"], verbose=True, debug=job["debug"])
    finally:
        root.handlers = handlers
    with open(Path(job["cache_dir"]) / f"{job['module']}.c.cached", "x") as f:
        f.write(buf.getvalue())


if __name__ == "__main__":
    _compile_job(sys.argv[1])
