"""Host callbacks: `debug_callback` runs a Python function on its operands' values, for its effect.

The primitive returns nothing and has an effect, so simplification never drops or merges its
equations. Its operands carry `batch_ndim` leading batch axes (one per enclosing `vmap`) and the
callback runs once per example, in order. Under differentiation it sees the primal values and
contributes no tangent. Compiled by Numba, each run calls a helper kernel that leaves native code
through `numba.objmode` and finds the callback by the key the generated source names it by.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from xform.core import Primitive, batch_size, get_aval
from xform.primitives.lowering import dtype_expr
from xform.primitives.structural import broadcast_in_dim, moveaxis


class Callback:
    """A host function of one example's operands, held as a param: hashed by identity, printed
    by its label, and named in generated source by `key` (equal keys behave alike)."""

    __slots__ = ("fn", "label", "key")
    _ids = itertools.count()

    def __init__(self, fn: Callable, label: str, key: str | None = None):
        self.fn, self.label = fn, label
        self.key = key if key is not None else f"{label} #{next(Callback._ids)}"

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return self.label


# key -> callback, for compiled programs; filled as their source is generated (in every process)
_REGISTERED: dict[str, Callback] = {}

debug_callback_p = Primitive("debug_callback")
debug_callback_p.has_effect = True


def debug_callback(args, callback: Callback) -> None:
    """Bind one run of `callback` on the arrays `args`."""
    debug_callback_p.bind(*args, callback=callback, batch_ndim=0)


def _run(callback: Callable, batch_ndim: int, args) -> None:
    args = [np.asarray(a) for a in args]
    batch = args[0].shape[:batch_ndim] if args else ()
    for idx in np.ndindex(*batch):
        callback(*[a[idx] for a in args])


def run_registered(key: str, batch_ndim: int, dtypes: str, *args) -> None:
    """Run the callback a compiled program names by `key` on `args` of the space-separated
    `dtypes` (called from `numba.objmode`, where scalars arrive as Python numbers)."""
    _run(_REGISTERED[key], batch_ndim, [np.asarray(a, d) for a, d in zip(args, dtypes.split())])


def _debug_callback_impl(*args, callback, batch_ndim):
    _run(callback, batch_ndim, args)
    return []


def _debug_callback_abstract_eval(*avals, callback, batch_ndim):
    batches = {a.shape[:batch_ndim] for a in avals}
    if len(batches) > 1 or any(a.ndim < batch_ndim for a in avals):
        raise TypeError(f"debug_callback: operands {list(avals)} do not share {batch_ndim} "
                        "leading batch axes")
    return []


def _debug_callback_jvp(primals, tangents, *, callback, batch_ndim):
    debug_callback_p.bind(*primals, callback=callback, batch_ndim=batch_ndim)
    return [], []


def _debug_callback_vmap(args, bdims, *, callback, batch_ndim):
    size = batch_size(args, bdims)
    moved = []
    for a, d in zip(args, bdims):
        shape = get_aval(a).shape
        moved.append(moveaxis(a, d, 0) if d is not None else
                     broadcast_in_dim(a, (size, *shape), tuple(range(1, len(shape) + 1))))
    debug_callback_p.bind(*moved, callback=callback, batch_ndim=batch_ndim + 1)
    return [], []


def _debug_callback_numba(em, ins, outs, *, callback, batch_ndim):
    _REGISTERED[callback.key] = callback
    dtypes = " ".join(x.aval.dtype.name for x in ins)
    args = "".join(f", {dtype_expr(x.aval.dtype)}({x.expr})" if x.aval.shape == () else
                   f", {x.expr}" for x in ins)
    em.line(f"{em.kernels.host_callback}({callback.key!r}, {batch_ndim}, {dtypes!r}{args})")


debug_callback_p.impl = _debug_callback_impl
debug_callback_p.abstract_eval = _debug_callback_abstract_eval
debug_callback_p.jvp = _debug_callback_jvp
debug_callback_p.vmap = _debug_callback_vmap
debug_callback_p.numba = _debug_callback_numba
