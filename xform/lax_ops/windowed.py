"""lax's windowed reductions: `reduce_window` (pooling).

A sum, max or min (lax.add, lax.max, lax.min or their xform.numpy twins) is one primitive
(`reduce_window_sum`, `_max`, `_min`), combined with `init_value` unless that is the identity.
Any other computation folds each window's taps into `init_value` one by one. As in JAX, taps
that fall on padding or on the holes of the base dilation are skipped.
"""
from __future__ import annotations

import itertools

import numpy as np

from xform.core import Tracer, get_aval
from xform.lax_ops import elementwise as lx
from xform.lax_ops._strict import as_operand, bind, result
from xform.lax_ops.convolution import padtype_to_pads
from xform.primitives import conv as cv
from xform.primitives.elementwise import select
from xform.primitives.structural import broadcast_in_dim, pad, slice_

__all__ = ["reduce_window"]


def _monoids() -> dict:
    from xform.numpy import ufuncs
    return {lx.add: "sum", lx.max: "max", lx.min: "min", ufuncs.add: "sum",
            ufuncs.maximum: "max", ufuncs.minimum: "min"}


def _ints(values, n: int, default: int, name: str) -> tuple[int, ...]:
    values = (default,) * n if values is None else tuple(int(v) for v in values)
    if len(values) != n:
        raise TypeError(f"reduce_window: {name} {values} need one entry per dimension of the "
                        f"operand ({n})")
    return values


def reduce_window(operand, init_value, computation, window_dimensions, window_strides,
                  padding, base_dilation=None, window_dilation=None):
    """Reduce each window of `operand` with `computation(x, y)` from `init_value`, as
    `jax.lax.reduce_window`: windows of `window_dimensions` (one entry per dimension of the
    operand) every `window_strides`, taps `window_dilation` apart, over the operand dilated by
    `base_dilation` and padded by `padding` ('VALID', 'SAME', 'SAME_LOWER' or (lo, hi)
    pairs). Max pooling is `reduce_window(x, -inf, lax.max, ...)`, sum pooling
    `reduce_window(x, 0., lax.add, ...)`.

    >>> import numpy as np, xform as xf
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> xf.lax.reduce_window(x, -np.inf, xf.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
    ...                      "VALID")[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    if not callable(computation):
        raise TypeError(f"reduce_window's computation must be a function, got {computation!r}")
    if isinstance(init_value, (tuple, list, dict)):
        raise NotImplementedError("xform's reduce_window takes one operand array, not a "
                                  "pytree of them")
    x = as_operand(operand)
    aval = get_aval(x)
    nd = aval.ndim
    windows = _ints(window_dimensions, nd, 1, "window_dimensions")
    strides = _ints(window_strides, nd, 1, "window_strides")
    base = _ints(base_dilation, nd, 1, "base_dilation")
    dilation = _ints(window_dilation, nd, 1, "window_dilation")
    if isinstance(padding, str):
        padding = padtype_to_pads(aval.shape, [cv.dilate(k, r) for k, r in zip(windows,
                                                                                dilation)],
                                  strides, padding)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    cv.check_window("reduce_window", aval.shape, windows, strides, padding, base, dilation,
                    empty_windows=False)
    init = _init(init_value, aval.dtype)
    params = {"window_dimensions": windows, "window_strides": strides, "padding": padding,
              "base_dilation": base, "window_dilation": dilation}
    kind = _monoids().get(computation)
    if kind is None or aval.dtype == np.bool_:
        return result(_fold(x, init, computation, **params))
    out = bind(cv.REDUCE_WINDOW[kind], x, **params)
    if not isinstance(init, Tracer) and np.asarray(init) == cv.identity(kind, aval.dtype):
        return out
    return result(computation(out, broadcast_in_dim(init, get_aval(out).shape, ())))


def _init(value, dtype):
    """The initial value as a 0-d operand of the operand's dtype (Python scalars take it)."""
    if type(value) in (bool, int, float):
        return np.asarray(value, dtype)
    value = as_operand(value)
    if get_aval(value).shape != () or get_aval(value).dtype != dtype:
        raise TypeError(f"reduce_window's init_value must be a scalar of the operand's dtype "
                        f"{dtype}, got {get_aval(value)}")
    return value


def _fold(x, init, computation, *, window_dimensions, window_strides, padding,
          base_dilation, window_dilation):
    """init combined with the taps of each window that read the operand, tap by tap."""
    shape = get_aval(x).shape
    geometry = list(zip(shape, window_dimensions, window_strides, padding, base_dilation,
                        window_dilation))
    tables = [cv.source_table(*g) for g in geometry]
    out = tuple(len(t) for t in tables)
    acc = broadcast_in_dim(init, out, ())
    if 0 in out:
        return acc
    padded = pad(x, init, [p[0] for p in padding], [p[1] for p in padding],
                 [a - 1 for a in base_dilation])
    for taps in itertools.product(*(range(k) for k in window_dimensions)):
        reads = np.ones(out, bool)
        for d, (table, j) in enumerate(zip(tables, taps)):
            reads &= np.expand_dims(table[:, j] >= 0, tuple(e for e in range(len(out))
                                                             if e != d))
        if not reads.any():
            continue
        start = [j * r for j, r in zip(taps, window_dilation)]
        limit = [b + (m - 1) * s + 1 for b, m, s in zip(start, out, window_strides)]
        combined = as_operand(computation(acc, slice_(padded, start, limit, window_strides)))
        acc = combined if reads.all() else select(reads, combined, acc)
    return acc
