"""The Numba backend: compile the generated source of a closed IR with njit, and cache it.

The source (see `xform.backends.codegen`) is written to a content-addressed file in the cache
directory, so that Numba's on-disk cache lets a second process skip compilation.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from typing import Callable

import numpy as np

from xform.backends import cache_dir
from xform.backends.codegen import Unsupported, generate
from xform.core import IR, Literal, Var, at_root, eval_ir

# ----------------------------------------------------------------------------- compile + cache

_modules: dict[str, object] = {}


def _load_module(source: str):
    """Import the generated source from a content-addressed file (or exec it, cache off)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    mod_name = f"xform_gen_{digest}"
    module = _modules.get(mod_name)
    if module is not None:
        return module
    directory = cache_dir()
    header = f"CACHE = {directory is not None}\n"
    if directory is None:
        module = type(sys)(mod_name)
        exec(compile(header + source, f"<xform {mod_name}>", "exec"), module.__dict__)
    else:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, mod_name + ".py")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(header + source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module  # Numba's cache re-imports it by name when loading
        spec.loader.exec_module(module)
    _modules[mod_name] = module
    return module


def _clear_cached_code(module):
    """Delete Numba's cache files of a generated module (used when they are unreadable)."""
    path = getattr(module, "__file__", None)
    if not path:
        return
    pycache = os.path.join(os.path.dirname(path), "__pycache__")
    stem = os.path.splitext(os.path.basename(path))[0]
    if os.path.isdir(pycache):
        for name in os.listdir(pycache):
            if name.startswith(stem + "."):
                try:
                    os.remove(os.path.join(pycache, name))
                except OSError:
                    pass


stats = {"compiled": 0, "loaded": 0}  # programs compiled vs loaded from the disk cache


class CompiledProgram:
    """A compiled IR behind a generated Python wrapper that converts at the boundary: 0-d
    array inputs become scalars, scalar results become numpy scalars of the right dtype, and
    literal outputs (which the kernel does not return) are put back."""

    def __init__(self, ir: IR):
        source, self.consts, buffers = generate(ir)
        self.source, self.in_avals, self.buffers = source, ir.in_avals, buffers
        self.module = _load_module(source)
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
        from numba import typeof
        examples = [*self.consts, *(np.empty(shape, dtype) for shape, dtype in self.buffers),
                    *(np.zeros(a.shape, a.dtype)[()] if a.shape == () else
                      np.empty(a.shape, a.dtype) for a in self.in_avals)]
        signature = tuple(typeof(x) for x in examples)
        self._loaded(lambda: self.kernel.compile(signature))
        self._bind_wrapper()

    def _first_call(self, args):
        """The first call loads or compiles, unless `compile` has."""
        return self._loaded(lambda: self._bind_wrapper()(args))

    def _loaded(self, step: Callable):
        """`step()`, which compiles or loads the kernel; an unreadable cache entry is
        recompiled. Counts the program as compiled or loaded."""
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
            _modules.pop(self.module.__name__, None)
            self.module = _load_module(self.source)
            self.kernel = self.module.kernel
            result = step()
        hits = sum(self.kernel.stats.cache_hits.values())
        stats["loaded" if hits else "compiled"] += 1
        return result

    def _bind_wrapper(self):
        namespace = dict(self.namespace, kernel=self.kernel)
        exec(self.wrapper_source, namespace)
        self.run = namespace["run"]
        return self.run


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
    return isinstance(exc, (EOFError, pickle.UnpicklingError, ImportError))


_warned: set[str] = set()


def compile_ir(ir: IR) -> Callable[[list], list]:
    """A callable running `ir` compiled by Numba; an IR with an unsupported primitive runs in
    the interpreter instead, with a warning naming the primitive."""
    try:
        return CompiledProgram(ir)
    except Unsupported as exc:
        msg = str(exc)
        if msg not in _warned:
            _warned.add(msg)
            warnings.warn(f"jit: {msg}; this program runs in the interpreter instead",
                          RuntimeWarning, stacklevel=3)

        def run(args):
            with at_root():
                return eval_ir(ir, args)
        return run
