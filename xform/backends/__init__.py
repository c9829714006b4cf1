"""Backends that run a closed IR on concrete arrays: the interpreter and the Numba compiler."""
from __future__ import annotations

import os
from typing import Callable

from xform.core import IR, at_root, eval_ir
from xform.higher_order.call import RUNNERS

BACKENDS = ("numba", "interpreter")


def executable(ir: IR, backend: str) -> Callable[[list], list]:
    """A callable running `ir` on a list of concrete arrays, built once per (ir, backend)."""
    key = ("executable", backend)
    exe = ir.derived.get(key)
    if exe is None:
        if backend == "interpreter":
            exe = _interpreted(ir)
        else:
            from xform.backends.numba import compile_ir
            exe = compile_ir(ir)
        ir.derived[key] = exe
    return exe


for _name in BACKENDS:  # how the call primitive runs an IR on each backend
    RUNNERS[_name] = lambda ir, backend=_name: executable(ir, backend)


def _interpreted(ir: IR) -> Callable[[list], list]:
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
