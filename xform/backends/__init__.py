"""Backends that run a closed IR on concrete arrays: the interpreter and the Numba compiler."""
from __future__ import annotations

from typing import Callable

from xform.core import IR, at_root, eval_ir

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


def _interpreted(ir: IR) -> Callable[[list], list]:
    def run(args):
        with at_root():
            return eval_ir(ir, args)
    return run
