"""The Numba backend: compile the generated source of a closed IR with njit, and cache it.

The source (see `xform.backends.codegen`) is written to a content-addressed file in the cache
directory, so that Numba's on-disk cache lets a second process skip compilation; the compiled
code Numba caches is loaded only when it matches the record written beside it
(`xform.backends.cached_code`).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings
from typing import Callable

import numpy as np

from xform.backends import cache_dir
from xform.backends.cached_code import guard, remove_files
from xform.backends.codegen import Unsupported, generate
from xform.core import IR, Literal, Var, at_root, eval_ir

# ----------------------------------------------------------------------------- compile + cache

_MODULES_KEPT = 256  # generated modules kept imported; older ones are dropped (FIFO)
_modules: dict[str, object] = {}


def _keep(name: str, module) -> None:
    """Remember an imported generated module, dropping the oldest beyond _MODULES_KEPT (its
    programs stay alive while a jitted function still holds them)."""
    while len(_modules) >= _MODULES_KEPT:
        old = next(iter(_modules))
        del _modules[old]
        sys.modules.pop(old, None)
    _modules[name] = module


def _code(source: str) -> str:
    """Generated source without the comment lines of its function bodies: they show the IR
    with its shapes, and a shape-generic module must be one file for every shape."""
    return "".join(line for line in source.splitlines(keepends=True)
                   if not (line[:1] == " " and line.lstrip().startswith("#")))


def module_name(source: str) -> str:
    """The content-addressed module name of generated source (of its code, see `_code`)."""
    return "xform_gen_" + hashlib.sha256(_code(source).encode()).hexdigest()[:24]


def write_source(directory: str, name: str, text: str) -> str:
    """The path of `name`.py in `directory` holding exactly `text`, (re)written atomically
    when it is missing or differs (a truncated or damaged file is replaced).

    Its modification time is a hash of `text`: Numba keys its cached code by the source's
    (modification time, size), so cached code that belongs to another source (files swapped
    or copied between programs) is seen as stale and recompiled, never run."""
    path = os.path.join(directory, name + ".py")
    stamp = 10 ** 9 + int(hashlib.sha256(text.encode()).hexdigest()[:7], 16)
    try:
        with open(path) as f:
            if f.read() == text:
                if os.stat(path).st_mtime != stamp:
                    os.utime(path, (stamp, stamp))
                return path
    except (OSError, UnicodeDecodeError):
        pass
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.utime(tmp, (stamp, stamp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


def import_path(name: str, path: str):
    """Import the generated module `name` from the file `path`; its functions load cached
    code only when it matches their record (see `xform.backends.cached_code`)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache re-imports it by name when loading
    spec.loader.exec_module(module)
    guard(module, warn_once)
    return module


def _in_memory(name: str, text: str):
    module = type(sys)(name)
    exec(compile(text, f"<xform {name}>", "exec"), module.__dict__)
    return module


def cached_source(source: str) -> str | None:
    """The path of the module of generated `source` in the disk cache, written if needed;
    None when the cache is off. Raises OSError when the cache cannot be written."""
    directory = cache_dir()
    if directory is None:
        return None
    return write_source(directory, module_name(source), "CACHE = True\n" + _code(source))


def load_module(source: str):
    """Import the generated source from a content-addressed file in the cache directory, or
    exec it in memory when the cache is off or cannot be written (with one warning). A long
    program's source calls this for each of its parts, which are modules of their own."""
    name = module_name(source)
    module = _modules.get(name)
    if module is not None:
        return module
    try:
        path = cached_source(source)
    except OSError as exc:
        warn_once(f"jit: the compile cache {cache_dir()!r} cannot be written ({exc}); "
                  "compiled programs are kept in memory only (set XFORM_CACHE_DIR to a "
                  "writable directory, or to 'off')")
        path = None
    module = import_path(name, path) if path else _in_memory(name, "CACHE = False\n" + source)
    _keep(name, module)
    return module


def _numba_functions(module) -> list:
    """The Numba functions a generated module runs: its kernel, or the parts its plain-Python
    kernel calls (which live in modules of their own)."""
    from numba.core.dispatcher import Dispatcher
    return [f for f in vars(module).values() if isinstance(f, Dispatcher)]


def _clear_cached_code(module):
    """Delete Numba's cache files of a generated module and of its parts' modules, and forget
    those modules (used when the files are unreadable), wherever Numba keeps them (beside the
    source, or under NUMBA_CACHE_DIR)."""
    owners = {module.__name__: (module, getattr(module.kernel, "_cache", None))}
    for function in _numba_functions(module):
        owners[function.py_func.__module__] = (sys.modules.get(function.py_func.__module__),
                                               function._cache)
    for name, (owner, cache) in owners.items():
        path = getattr(owner, "__file__", None)
        directory = getattr(cache, "_cache_path", None) or (
            path and os.path.join(os.path.dirname(path), "__pycache__"))
        if directory:
            remove_files(directory, name)
        _modules.pop(name, None)


def compile_kernel(kernel, signature: tuple) -> None:
    """Compile a generated kernel for the argument types `signature`. A kernel cut into parts
    is a plain function: Numba's type inference of it compiles each part for the types it is
    called with, and nothing else."""
    if hasattr(kernel, "compile"):
        kernel.compile(signature)
        return
    from numba.core import compiler, typed_passes
    from numba.core.registry import cpu_target
    cpu_target.typing_context.refresh()  # installs the typing of array subscripts and the like
    cpu_target.target_context.refresh()
    typed_passes.type_inference_stage(cpu_target.typing_context, cpu_target.target_context,
                                      compiler.run_frontend(kernel), signature, None)


stats = {"compiled": 0, "loaded": 0, "reused": 0}  # programs, by where their code came from


def _code_counts(module) -> tuple[int, int]:
    """(compiled signatures, loads from the disk cache) of a generated module's functions."""
    functions = _numba_functions(module)
    return (sum(len(f.overloads) for f in functions),
            sum(sum(f.stats.cache_hits.values()) for f in functions))


class CompiledProgram:
    """A compiled IR behind a generated Python wrapper that converts at the boundary: 0-d
    array inputs become scalars, scalar results become numpy scalars of the right dtype, and
    literal outputs (which the kernel does not return) are put back."""

    def __init__(self, ir: IR, generated: tuple | None = None):
        source, self.consts, buffers = generated or generate(ir)
        self.source, self.in_avals, self.buffers = source, ir.in_avals, buffers
        self.module = load_module(source)
        self.kernel = self.module.kernel
        self.run = self._first_call
        self.wrapper_source = _wrapper_source(ir, len(self.consts), buffers)
        self.namespace = {"ndarray": np.ndarray, "empty": np.empty, "consts": self.consts, **{
            f"t{j}": a.aval.dtype.type for j, a in enumerate(ir.outs) if isinstance(a, Var)},
            **{f"lit{j}": np.asarray(a.val) for j, a in enumerate(ir.outs)
               if isinstance(a, Literal)}}

    def __call__(self, args) -> list:
        return self.run(args)

    def compile(self):
        """Compile (or load from the disk cache) now, for contiguous arguments of the IR's
        avals, rather than at the first call."""
        signature = numba_signature(argument_specs(self.consts, self.buffers, self.in_avals))
        self._loaded(lambda: compile_kernel(self.kernel, signature))
        self._bind_wrapper()

    def _first_call(self, args):
        """The first call loads or compiles, unless `compile` has."""
        return self._loaded(lambda: self._bind_wrapper()(args))

    def _loaded(self, step: Callable):
        """`step()`, which compiles or loads the kernel; an unreadable cache entry is
        recompiled. Counts the program as compiled, loaded, or reused (code this process
        already had: the parts or shape-generic kernel of another program)."""
        before = _code_counts(self.module)
        try:
            with warnings.catch_warnings():
                # Numba's advice about non-contiguous operands is not actionable by users.
                warnings.simplefilter("ignore", _performance_warning())
                # A host callback (xf.debug.print) holds the GIL while it runs, as it must.
                warnings.filterwarnings("ignore", ".*Code running in object mode won't allow")
                result = step()
        except Exception as exc:
            if not _looks_like_cache_failure(exc):
                raise
            _clear_cached_code(self.module)
            self.module = load_module(self.source)
            self.kernel = self.module.kernel
            result = step()
        overloads, hits = _code_counts(self.module)
        stats["reused" if overloads == before[0] else "loaded" if hits > before[1]
              else "compiled"] += 1
        return result

    def _bind_wrapper(self):
        namespace = dict(self.namespace, kernel=self.kernel)
        exec(self.wrapper_source, namespace)
        self.run = namespace["run"]
        return self.run


def argument_specs(consts: list, buffers: list[tuple], in_avals: list) -> list[tuple]:
    """A kernel's arguments as Numba types them, in a picklable form: (shape, dtype, layout,
    writeable) of an array, (None, dtype) of a scalar; inputs are taken contiguous."""
    def spec(x):
        layout = "C" if x.flags.c_contiguous else "F" if x.flags.f_contiguous else "A"
        return (x.shape, x.dtype.str, layout, x.flags.writeable)
    return [*map(spec, consts), *((shape, np.dtype(dtype).str, "C", True)
                                  for shape, dtype in buffers),
            *((None, a.dtype.str) if a.shape == () else (a.shape, a.dtype.str, "C", True)
              for a in in_avals)]


def numba_signature(specs: list[tuple]) -> tuple:
    """The Numba types of arguments described by `CompiledProgram.argument_specs`."""
    from numba import typeof

    def example(spec):
        if spec[0] is None:
            return np.zeros((), spec[1])[()]
        shape, dtype, layout, writeable = spec
        if layout == "A":  # a strided view: every other element of a larger array
            x = np.empty((*shape[:-1], 2 * shape[-1]), dtype)[..., ::2]
        else:
            x = np.empty(shape, dtype, order=layout)
        x.flags.writeable = writeable
        return x
    return tuple(typeof(example(s)) for s in specs)


def _wrapper_source(ir: IR, n_consts: int, buffers: list[tuple]) -> str:
    lines, call = ["def run(args):"], [f"consts[{c}]" for c in range(n_consts)]
    call += [f"empty({shape!r}, '{dtype.str}')" for shape, dtype in buffers]
    for k, v in enumerate(ir.in_vars):
        if v.aval.shape == ():
            lines.append(f"    a{k} = args[{k}]")
            lines.append(f"    if type(a{k}) is ndarray:")
            lines.append(f"        a{k} = a{k}[()]")
            call.append(f"a{k}")
        else:
            call.append(f"args[{k}]")
    lines.append(f"    r = kernel({', '.join(call)})")
    outs, position = [], 0
    for j, a in enumerate(ir.outs):
        if isinstance(a, Literal):
            outs.append(f"lit{j}")
            continue
        outs.append(f"t{j}(r[{position}])" if a.aval.shape == () else f"r[{position}]")
        position += 1
    lines.append(f"    return [{', '.join(outs)}]")
    return "\n".join(lines) + "\n"


def _performance_warning():
    from numba.core.errors import NumbaPerformanceWarning
    return NumbaPerformanceWarning


def _looks_like_cache_failure(exc: Exception) -> bool:
    """An unreadable cache entry (Numba recovers from most by itself); errors raised by the
    program, such as a LinAlgError on a singular matrix, are not."""
    import pickle
    if isinstance(exc, RuntimeError):  # e.g. "LLVM bitcode parsing error": a damaged file
        return "bitcode" in str(exc).lower() or "llvm" in str(exc).lower()
    return isinstance(exc, (EOFError, pickle.UnpicklingError, ImportError))


_warned: set[str] = set()


def warn_once(msg: str) -> None:
    """A RuntimeWarning, given once per process for each message (faults and fallbacks of the
    compile path repeat on every program)."""
    if msg not in _warned:
        _warned.add(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)


def compile_ir(ir: IR) -> Callable[[list], list]:
    """A callable running `ir` compiled by Numba; an IR with an unsupported primitive runs in
    the interpreter instead, with a warning naming the primitive."""
    try:
        return CompiledProgram(ir)
    except Unsupported as exc:
        warn_once(f"jit: {exc}; this program runs in the interpreter instead")

        def run(args):
            with at_root():
                return eval_ir(ir, args)
        return run
