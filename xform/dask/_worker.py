"""What Dask tasks run on a worker: a shipped program, compiled once per worker process.

Each worker keeps its compiled programs by the hash of their IR, so a program is compiled (or
loaded from xform's disk cache) once per worker and reused by every task that names it. The
workers of one machine share the disk cache: a file lock per program lets one of them compile
it while the others wait and then load it, instead of all compiling it at once.
"""
from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from xform.api import jit
from xform.backends import cache_dir
from xform.core import eval_ir
from xform.dask._ship import Program

_PROGRAMS: dict = {}
_LOCK = threading.Lock()


def compiled(program: Program, compile: str, leaves):
    """The jitted function running `program`'s IR on flat arrays like `leaves`, built (and
    compiled, unless `compile` is "never") at its first use in this process."""
    key = (program.key, compile)
    fun = _PROGRAMS.get(key)
    if fun is None:
        with _LOCK:
            fun = _PROGRAMS.get(key)
            if fun is None:
                ir = program.load()
                fun = jit(lambda *flat: eval_ir(ir, list(flat)), compile=compile)
                if compile != "never":
                    with _machine_lock(program.key):
                        fun.lower(*leaves).compile()
                _PROGRAMS[key] = fun
    return fun


@contextlib.contextmanager
def _machine_lock(name: str):
    """Held by one process of this machine at a time (nothing when there is no disk cache
    to share, it cannot be written, or there is no `fcntl`)."""
    directory = cache_dir()
    try:
        import fcntl
        if directory is None:
            raise OSError("no disk cache")
        os.makedirs(os.path.join(directory, "locks"), exist_ok=True)
        handle = open(os.path.join(directory, "locks", name + ".lock"), "w")  # noqa: SIM115
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def status() -> dict:
    """This worker's programs (their hashes) and how many Numba programs it compiled and
    loaded from the disk cache (for tests and diagnostics: `client.run(status)`)."""
    from xform.backends.numba import stats
    return {"programs": sorted(key for key, _ in _PROGRAMS), **stats}


def run(program: Program, compile: str, *leaves) -> tuple:
    """`program` on these leaves: its flat outputs."""
    return tuple(compiled(program, compile, leaves)(*leaves))


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """`x` grown to `size` rows by repeating its last row (rows are independent examples)."""
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)])


def run_block(program: Program, compile: str, size: int, mapped: tuple, *leaves) -> tuple:
    """A vmapped `program` on one block of rows: blocks shorter than the `size` it was traced
    for are padded and their outputs cut back, so that one program serves every block."""
    n = next(len(x) for x, m in zip(leaves, mapped) if m)
    if n < size:
        leaves = [_pad(x, size) if m else x for x, m in zip(leaves, mapped)]
    outs = run(program, compile, *leaves)
    return tuple(o[:n] for o in outs) if n < size else outs


def run_weighted(program: Program, compile: str, weight: float, *leaves) -> list:
    """`program` on one partition, its outputs scaled by `weight` (1 for a sum; the
    partition's share of the rows for a mean)."""
    outs = run(program, compile, *leaves)
    if weight == 1:
        return list(outs)
    return [np.asarray(o * np.asarray(weight, o.dtype)) for o in outs]


def add(*parts: list) -> list:
    """The leafwise sum of several partial results (one level of a tree reduction)."""
    total = [np.array(x, copy=True) for x in parts[0]]
    for part in parts[1:]:
        for t, x in zip(total, part):
            t += x
    return total
