"""Vectorising map: every primitive's `vmap` rule applied to values carrying a batch dimension."""
from __future__ import annotations

import numpy as np

from xform.core import (ConcretizationError, Interpreter, ShapedArray, Tracer, get_aval,
                        new_interpreter, using)
from xform.primitives.structural import broadcast_in_dim, moveaxis


class BatchTracer(Tracer):
    """A batch of values stacked along dimension `bdim` of `val`."""

    __slots__ = ("val", "bdim", "aval")

    def __init__(self, interp, val, bdim: int):
        self.interp = interp
        self.val = val
        self.bdim = bdim
        val_aval = get_aval(val)  # the aval of one example: read many times per operation
        shape = list(val_aval.shape)
        del shape[bdim]
        self.aval = ShapedArray(tuple(shape), val_aval.dtype)

    def concrete(self):
        raise ConcretizationError(
            f"this value ({self.aval}) differs across the batch of `{self.interp.name}`, so "
            "Python cannot branch on it (in `if`, `while`, `bool()`, `int()`). Use "
            "xnp.where or xf.lax.cond to choose per example.")


class BatchInterpreter(Interpreter):
    """Applies batching rules to operations on its own tracers; others pass to the parent."""

    def __init__(self, parent, axis_size: int, name: str = "vmap"):
        super().__init__(parent)
        self.axis_size = axis_size
        self.name = name

    def process(self, prim, args, params):
        vals, bdims, own = [], [], False
        for a in args:
            if isinstance(a, BatchTracer) and a.interp is self:
                own = True
                vals.append(a.val)
                bdims.append(a.bdim)
            else:
                vals.append(self.lift(a))
                bdims.append(None)
        with using(self.parent):
            if not own:
                return prim.bind(*vals, **params)
            outs, out_bdims = prim.rule("vmap")(vals, bdims, **params)
        return [o if d is None else BatchTracer(self, o, d) for o, d in zip(outs, out_bdims)]


def move_to(x, bdim, axis, size):
    """Put the batch dimension of a batched value at `axis`, broadcasting unbatched ones."""
    if bdim is None:
        shape = np.shape(x)
        axis = axis % (len(shape) + 1)
        x = broadcast_in_dim(x, (size, *shape), tuple(range(1, len(shape) + 1)))
        return moveaxis(x, 0, axis)
    return moveaxis(x, bdim, axis)


def vmap_flat(fun, args: list, in_dims: list, out_dims, axis_size: int, name: str = "vmap"):
    """Run `fun(*flat) -> list` over a batch; `in_dims` are batch axes (None: unbatched).
    Outputs get their batch axis at `out_dims` (a list, or a callable returning one once the
    function has run; None entries must be unbatched)."""
    with new_interpreter(BatchInterpreter, axis_size, name) as interp:
        ins = [a if d is None else BatchTracer(interp, a, d) for a, d in zip(args, in_dims)]
        outs = fun(*ins)
        if callable(out_dims):
            out_dims = out_dims()
        with using(interp.parent):
            results = []
            for i, o in enumerate(outs):
                if isinstance(o, BatchTracer) and o.interp is interp:
                    val, bdim = o.val, o.bdim
                else:
                    val, bdim = interp.lift(o), None
                want = out_dims[i]
                if want is None:
                    if bdim is not None:
                        raise ValueError(f"output {i} of the vmapped function varies across the "
                                         "batch, so its out_axes cannot be None")
                    results.append(val)
                else:
                    results.append(move_to(val, bdim, want, axis_size))
    return results
