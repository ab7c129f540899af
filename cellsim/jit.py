"""Batched form compilation: many forms in one compiled module, one C compiler call.

DOLFINx 0.11 compiles every form on its own: FFCx generates C for it and cffi builds one
shared library per form (gcc called through setuptools: compile, then link). A model
builds tens of forms (the half-cell's Newton alone: 6 residual blocks and 36 Jacobian
blocks), so a first run on an empty cache spends most of its set-up in that fixed
per-module cost. :func:`batch` compiles a list of forms into ONE module
(``ffcx.codegeneration.jit.compile_forms`` takes a list) before DOLFINx asks for them,
and, while the context is open, makes ``dolfinx.jit.ffcx_jit`` hand out the compiled
forms from that module instead of compiling each again::

    with cellsim.jit.batch(comm, residuals, unknowns):     # F blocks + derived J blocks
        problem = NonlinearProblem(residuals, unknowns, ...)

:func:`deferred` does the same for forms whose list is not known in advance: inside it,
``dolfinx.fem.form`` returns forms that compile on first use, all pending ones together
(and all that are still pending when the context closes). That first use is then
collective, as ``fem.form`` itself is (DOLFINx compiles on rank 0 and broadcasts).

Inside :func:`batch`, the NonlinearProblem's Jacobian is :func:`block_jacobian`: a block
J_ij whose residual row holds no integral with u_j is None (DOLFINx neither compiles nor
assembles it; it was an empty form before, so the matrix is the same), and a block is the
derivative of only those integrals of F_i that contain u_j (the same kernels, less for FFCx
to process). Three things in FFCx itself (:mod:`cellsim.ffcx_patches`, applied on import),
each with the same output: facet quadrature points are mapped onto the reference cell's
facets point-wise in one numpy expression, element tables are remembered by their inputs,
and a kernel whose C text repeats an earlier one's in the same module is left out
(:func:`dedup_kernels`; ``CELLSIM_JIT_DEDUP=0`` switches it off):
tests/unit/test_jit_batch.py compares the C code with FFCx's own and the assembled
matrices with DOLFINx's.

Cache: a form is looked up by the name DOLFINx would give its own module (FFCx's
signature of the form, the FFCx options and the compiler flags), so nothing else is keyed
differently. A batch module is named from the forms it holds (so a warm cache finds it and
compiles nothing); an index file per form (``cellsim-batch/<form module name>`` in the
cache folder: batch module, form name) lets a later batch with other forms reuse the ones
already compiled and compile only the rest. Forms compiled alone (outside any batch) are
found where DOLFINx puts them. ``CELLSIM_JIT_BATCH=0`` in the environment switches batching
off. In parallel rank 0 decides what is missing and compiles
(DOLFINx's ``mpi_jit_decorator``: rank 0 first, then the other ranks load the module from
the cache); the decision is broadcast, so every rank takes the same path.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .dolfinx_env import require_dolfinx

require_dolfinx()
import dolfinx.fem  # noqa: E402
import dolfinx.fem.forms  # noqa: E402
import dolfinx.jit  # noqa: E402
import ffcx  # noqa: E402
import ffcx.codegeneration.jit as _fj  # noqa: E402
import ffcx.naming  # noqa: E402
import ufl  # noqa: E402
from dolfinx import default_scalar_type  # noqa: E402
from mpi4py import MPI  # noqa: E402

from . import form_literals, jit_cc  # noqa: E402
from .ffcx_patches import dedup_kernels, ffcx_originals  # noqa: E402,F401  (re-exported)
from .ffcx_patches import stats as _patch_stats  # noqa: E402

INDEX = "cellsim-batch"
#: ``CELLSIM_JIT_BATCH=0`` switches batching off (DOLFINx compiles one module per form)
ENABLED = os.environ.get("CELLSIM_JIT_BATCH", "1").strip() not in ("0", "false", "no", "off")
_ORIG_FFCX_JIT = dolfinx.jit.ffcx_jit
form_literals.install()  # dolfinx.fem.form compiles forms with their numbers in a Constant
_ORIG_FORM = dolfinx.fem.form
#: form module name -> (ufcx form, cffi module) of forms compiled in a batch (this process)
_compiled: dict[str, tuple] = {}
#: counters for tests and benchmarks: batch modules compiled / loaded, forms served (and the
#: kernels ffcx_patches left out)
stats = _patch_stats
stats.update({"compiled_modules": 0, "compiled_forms": 0, "loaded_modules": 0, "served": 0})
_active = [0]  # open batch/deferred contexts (ffcx_jit is patched while > 0)




def _options(form_compiler_options=None, jit_options=None):
    return ffcx.get_options(form_compiler_options), dolfinx.jit.get_options(jit_options)


def form_key(form: ufl.Form, p_ffcx: dict, p_jit: dict) -> str:
    """The module name DOLFINx/FFCx would give ``form`` compiled alone with these options."""
    return jit_cc.module_name([form], p_ffcx, p_jit)


def _jit_kwargs(p_jit: dict, n: int) -> dict:
    kw = dict(p_jit)
    # another process compiling the same batch: wait for it longer than for one form
    kw["timeout"] = max(int(kw.get("timeout", 10)), 10 + 5 * n)
    return kw


def _write_index(cache: Path, entries: dict) -> None:
    folder = cache / INDEX
    folder.mkdir(parents=True, exist_ok=True)
    for key, (module, name) in entries.items():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(f"{module} {name}\n")
        os.replace(tmp, folder / key)


def _plan(keys: list[str], cache: Path) -> dict:
    """key -> "single" (a module of its own in the cache), (module, name) from the index,
    or None (to compile). Reads the cache folder only."""
    out = {}
    for key in keys:
        if key in _compiled:
            out[key] = "memory"
        elif (cache / f"{key}.c.cached").is_file():
            out[key] = "single"
        else:
            out[key] = None
            idx = cache / INDEX / key
            if idx.is_file():
                try:
                    module, name = idx.read_text().split()
                except ValueError:
                    continue
                if (cache / f"{module}.c.cached").is_file():
                    out[key] = (module, name)
    return out


def _load(cache: Path, module: str, names: list[str]):
    objs, mod = _fj._load_objects(cache, module, names)
    stats["loaded_modules"] += 1
    return objs, mod


def _compile_local(forms, keys, p_ffcx, p_jit) -> list[tuple]:
    """Compile ``forms`` into one module on this rank (or load it from the cache); a large
    batch into a few, each compiled while the next one's code is generated
    (:mod:`cellsim.jit_cc`). One (ufcx form, module) per form."""
    forms, kw = list(forms), _jit_kwargs(p_jit, len(forms))
    if len(jit_cc.chunks(len(forms))) > 1 and p_ffcx.get("part") != "diagonal":
        out, parts = jit_cc.compile_chunked(forms, p_ffcx, kw)
    else:
        objs, mod, code = _fj.compile_forms(forms, options=p_ffcx, **kw)
        out = [(o, mod) for o in objs]
        module = mod.__name__.rsplit(".", 1)[-1]
        parts = [{"module": module, "names": [ffcx.naming.form_name(f, i, module) for i, f in enumerate(forms)],
                  "compiled": code[0] is not None}]
    start = 0
    for part in parts:
        n = len(part["names"])
        if part["compiled"]:  # compiled here, not found in the cache
            stats["compiled_modules"] += 1
            stats["compiled_forms"] += n
            _write_index(Path(p_jit["cache_dir"]),
                         {k: (part["module"], nm) for k, nm in zip(keys[start:start + n], part["names"])})
        start += n
    return out


_mpi_compile = dolfinx.jit.mpi_jit_decorator(_compile_local)


def _ufl_forms(obj, out: list) -> list:
    """The ufl.Form objects (with integrals) in a form or nested list of forms."""
    if isinstance(obj, ufl.Form):
        if obj.integrals():
            out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _ufl_forms(o, out)
    return out


def compile_batch(comm, forms, form_compiler_options=None, jit_options=None, dtype=default_scalar_type) -> int:
    """Compile ``forms`` (a form or nested lists) that are not yet compiled in one module
    (collective on ``comm``). Returns the number of forms compiled here now."""
    fco = dict(form_compiler_options or {})
    fco["scalar_type"] = dtype
    p_ffcx, p_jit = _options(fco, jit_options)
    cache = Path(p_jit["cache_dir"])
    uniq = {}
    for f in _ufl_forms(forms, []):
        f = form_literals.lifted(f)  # what dolfinx.fem.form will compile (the same object)
        uniq.setdefault(form_key(f, p_ffcx, p_jit), f)
    keys = list(uniq)
    plan = _plan(keys, cache) if comm.rank == 0 else None
    plan = comm.bcast(plan, root=0)
    by_module = {}
    for key, where in plan.items():
        if isinstance(where, tuple):
            by_module.setdefault(where[0], []).append((key, where[1]))
    loaded, ok = {}, 1
    for module, entries in by_module.items():
        try:
            objs, mod = _load(cache, module, [n for _, n in entries])
        except (ImportError, OSError, AttributeError):  # this rank's cache lacks it (node-local caches)
            ok = 0
            break
        loaded.update({key: (obj, mod) for (key, _), obj in zip(entries, objs)})
    if comm.allreduce(ok, op=MPI.MIN):
        _compiled.update(loaded)
    else:  # compile them again, on every rank alike
        plan = {k: (None if isinstance(w, tuple) else w) for k, w in plan.items()}
    missing = [k for k in keys if plan[k] is None]
    if len(missing) < 2:  # one form: its own module, where DOLFINx would put it
        return 0
    for key, hit in zip(missing, _mpi_compile(comm, [uniq[k] for k in missing], missing, p_ffcx, p_jit)):
        _compiled[key] = hit
    return len(missing)


def _ffcx_jit(comm, ufl_object, form_compiler_options=None, jit_options=None):
    """``dolfinx.jit.ffcx_jit`` that serves forms compiled in a batch."""
    if isinstance(ufl_object, ufl.Form) and _compiled:
        hit = _compiled.get(form_key(ufl_object, *_options(form_compiler_options, jit_options)))
        if hit is not None:
            stats["served"] += 1
            return hit[0], hit[1], (None, None)
    return _ORIG_FFCX_JIT(comm, ufl_object, form_compiler_options=form_compiler_options,
                          jit_options=jit_options)


@contextlib.contextmanager
def _patched():
    _active[0] += 1
    dolfinx.jit.ffcx_jit = _ffcx_jit
    try:
        yield
    finally:
        _active[0] -= 1
        if not _active[0]:
            dolfinx.jit.ffcx_jit = _ORIG_FFCX_JIT


def _integrals_with(Fi: ufl.Form, uj, cache: dict):
    """``Fi`` itself, a form of those of its integrals that contain ``uj``, or None."""
    ints = Fi.integrals()
    keep = []
    for itg in ints:
        have = cache.get(id(itg))
        if have is None:
            have = cache[id(itg)] = (itg, set(ufl.algorithms.extract_coefficients(itg.integrand())))
        if uj in have[1]:
            keep.append(itg)
    if len(keep) == len(ints):
        return Fi
    return ufl.Form(keep) if keep else None


def block_jacobian(F, u) -> list:
    """The block Jacobian J_ij = dF_i/du_j of DOLFINx's ``derivative_block``, differentiating
    only the integrals of F_i that contain u_j (the others have a zero derivative, which
    UFL drops after processing all of them: the compiled kernels are the same), and None for
    a structurally zero block (no integral of F_i contains u_j): DOLFINx then neither
    compiles nor assembles it (an empty compiled form adds no matrix entry either)."""
    if not isinstance(F, (list, tuple)) or not isinstance(u, (list, tuple)):
        return dolfinx.fem.forms.derivative_block(F, u)
    du = [ufl.TrialFunction(uj.function_space) for uj in u]
    out, cache = [], {}
    for Fi in F:
        row = []
        for uj, duj in zip(u, du):
            part = _integrals_with(Fi, uj, cache)
            row.append(None if part is None else ufl.derivative(part, uj, duj))
        out.append(row)
    for k in range(len(u)):  # DOLFINx needs one block per row and column (its spaces); keep the zero one
        if all(row[k] is None for row in out):
            out[k][k] = ufl.derivative(F[k], u[k], du[k])
    for k, row in enumerate(out):
        if all(f is None for f in row):
            row[k] = ufl.derivative(F[k], u[k], du[k])
    return out


def residual_and_jacobian(F, u) -> list:
    """The forms a ``NonlinearProblem(F, u)`` compiles inside :func:`batch`: ``F`` and its
    derived Jacobian (structurally zero blocks None, :func:`block_jacobian`)."""
    return [F, block_jacobian(F, u)]


@contextlib.contextmanager
def _jacobian_of(F, J):
    """Make DOLFINx's NonlinearProblem take ``J`` as the Jacobian of ``F`` (this very list)."""
    import dolfinx.fem.petsc as fp

    orig = fp.derivative_block

    def derivative_block(F_, u_, du=None):
        return J if F_ is F and du is None else orig(F_, u_, du)

    fp.derivative_block = derivative_block
    try:
        yield
    finally:
        fp.derivative_block = orig


@contextlib.contextmanager
def batch(comm, F, u=None, **kw):
    """Compile ``F`` (and, with ``u``, the Jacobian a NonlinearProblem derives from it, its
    structurally zero blocks left out) in one module; inside the context DOLFINx finds them
    compiled and a ``NonlinearProblem(F, u)`` gets that Jacobian (collective)."""
    if not ENABLED:
        yield
        return
    forms = residual_and_jacobian(F, u) if u is not None else F
    compile_batch(comm, forms, **kw)
    with _patched(), (_jacobian_of(F, forms[1]) if u is not None else contextlib.nullcontext()):
        yield


#: forms made inside :func:`deferred` and not compiled yet
_pending: list = []


class _LazyForm(dolfinx.fem.Form):
    """A ``dolfinx.fem.Form`` whose compilation waits for its first use: then every pending
    form is compiled in one batch. Everything a Form has is read from the compiled one."""

    def __init__(self, form, kwargs):  # noqa: D107 - Form.__init__ runs on the real one
        self._lazy = (form, kwargs)
        self._real = None
        _pending.append(self)

    def _force(self):
        if self._real is None:
            flush()
        return self._real

    @property
    def _cpp_object(self):
        return self._force()._cpp_object

    def __getattr__(self, name):  # _ufcx_form, _code, _module (instance attributes of a Form)
        if name in ("_lazy", "_real") or name.startswith("__"):  # protocol probes do not compile
            raise AttributeError(name)
        return getattr(self._force(), name)


def _comm_of(form: ufl.Form):
    (domain,) = list(form.subdomain_data().keys())
    return domain.ufl_cargo().comm


def flush() -> None:
    """Compile every pending deferred form in one module (collective: every rank holds the
    same pending forms, made in the same order)."""
    while _pending:
        todo = list(_pending)
        _pending.clear()
        compile_batch(_comm_of(todo[0]._lazy[0]), [p._lazy[0] for p in todo])
        with _patched():
            for p in todo:
                form, kwargs = p._lazy
                p._real = _ORIG_FORM(form, **kwargs)


def _deferred_form(form, *args, **kwargs):
    """``dolfinx.fem.form`` inside :func:`deferred`: a single form with the default
    options is returned uncompiled (a :class:`_LazyForm`); anything else compiles now."""
    if args or set(kwargs) - {"entity_maps"} or not isinstance(form, ufl.Form) or not form.integrals():
        return _ORIG_FORM(form, *args, **kwargs)
    return _LazyForm(form, kwargs)


@contextlib.contextmanager
def deferred():
    """Inside: ``dolfinx.fem.form`` defers compilation; on leaving (or at the first use of
    a deferred form), every deferred form is compiled in one module (collective)."""
    if not ENABLED:
        yield
        return
    outer = dolfinx.fem.form is _deferred_form
    dolfinx.fem.form = _deferred_form
    try:
        yield
        flush()
    finally:
        if not outer:
            dolfinx.fem.form = _ORIG_FORM
            _pending.clear()


def deferring(init):
    """Decorator: run ``init`` (a model's ``__init__``) inside :func:`deferred`."""
    import functools

    @functools.wraps(init)
    def wrapped(*args, **kwargs):
        with deferred():
            return init(*args, **kwargs)

    return wrapped
