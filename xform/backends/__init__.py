"""Backends that run a closed IR on concrete arrays: the interpreter and the Numba compiler."""
from __future__ import annotations

import os
from typing import Callable

from xform.core import IR, at_root, eval_ir
from xform.higher_order.call import RUNNERS

BACKENDS = ("numba", "interpreter")
COMPILE_MODES = ("background", "sync", "never")


def runner_key(backend: str, compile: str | None) -> str:
    """The name a `call` equation runs its IR by: "interpreter", or "numba" with a compile
    mode ("numba" alone: the mode of XFORM_COMPILE when the program is first run)."""
    if backend not in BACKENDS:
        raise ValueError(f"jit backend must be one of {BACKENDS}, got {backend!r}")
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"jit: compile must be one of {COMPILE_MODES}, got {compile!r}")
    if backend == "interpreter" or compile == "never":
        return "interpreter"
    return backend if compile is None else f"{backend}:{compile}"


def default_compile_mode() -> str:
    """XFORM_COMPILE: "background" (the default), "sync" or "never"."""
    mode = os.environ.get("XFORM_COMPILE", "").strip().lower() or "background"
    if mode not in COMPILE_MODES:
        raise ValueError(f"XFORM_COMPILE must be one of {COMPILE_MODES}, got {mode!r}")
    return mode


def executable(ir: IR, key: str) -> Callable[[list], list]:
    """A callable running `ir` on a list of concrete arrays, built once per (ir, runner key);
    see `runner_key`."""
    exe = ir.derived.get(("executable", key))
    if exe is None:
        backend, _, mode = key.partition(":")
        mode = "never" if backend == "interpreter" else mode or default_compile_mode()
        if mode == "never":
            exe = interpreted(ir)
        elif mode == "sync":
            from xform.backends.numba import compile_ir
            exe = compile_ir(ir)
        else:
            from xform.backends.tiered import TieredProgram
            exe = TieredProgram(ir)
        ir.derived[("executable", key)] = exe
    return exe


for _name in BACKENDS:  # how the call primitive runs an IR, by its runner key
    RUNNERS[_name] = executable


def interpreted(ir: IR) -> Callable[[list], list]:
    """A callable running `ir` on the interpreter."""
    def run(args):
        with at_root():
            return eval_ir(ir, args)
    return run


def cache_dir() -> str | None:
    """Where compiled programs are cached on disk (None: the on-disk cache is disabled).

    `XFORM_CACHE_DIR` moves it, or disables it when set to `off`; the default is
    `$XDG_CACHE_HOME/xform` (usually ~/.cache/xform)."""
    env = os.environ.get("XFORM_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("off", "0", "none", "") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xform")
