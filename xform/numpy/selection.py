"""Picking elements of xform.numpy: take, take_along_axis, put_along_axis, select, piecewise,
nan_to_num.

Indices may be traced: these are numpy's advanced indexing (one gather) underneath, and the
choices are `where`s, so every transformation sees through them.
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer
from xform.numpy._core import (
    broadcast_operands,
    cast,
    dtype_of,
    holds_tracer,
    is_traced,
    lists_as_arrays,
    normalize_axis,
    numpy_function,
    shape_of,
    stack_nested,
    wrap,
)
from xform.numpy.creation import asarray, zeros_like
from xform.numpy.indexing import getitem
from xform.numpy.shape import broadcast_to, ravel, reshape
from xform.numpy.ufuncs import clip, isinf, isnan, logical_not, logical_or, mod, where

__all__ = ["nan_to_num", "piecewise", "put_along_axis", "select", "take", "take_along_axis"]


def _index(x, idx):
    """x[idx] for a traced `x` or traced indices (plain ones go to numpy)."""
    if is_traced(x, *(idx if isinstance(idx, tuple) else (idx,))):
        return getitem(x, idx)
    return np.asarray(x)[idx]


@numpy_function(np.take)
def take(a, indices, axis=None, out=None, mode=None):
    """Elements of `a` at `indices` along `axis` (of the flattened array when None), as
    `numpy.take`; mode "wrap" or "clip" maps indices into range, and traced indices out of
    range are clamped (they cannot raise).

    >>> take(np.array([4.0, 5.0, 6.0]), [2, -1, 0]).tolist()
    [6.0, 6.0, 4.0]
    """
    if mode not in (None, "raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    x = a
    if axis is None:
        x, axis = ravel(a), 0
    shape = shape_of(x)
    ax = normalize_axis(axis, len(shape))
    n = shape[ax]
    idx = indices if isinstance(indices, Tracer) else np.asarray(indices)
    if not np.issubdtype(dtype_of(idx), np.integer):
        raise TypeError(f"take: indices must be integers, got dtype {dtype_of(idx)}")
    if mode in ("wrap", "clip"):
        idx = mod(idx, n) if mode == "wrap" else clip(idx, 0, n - 1)
    elif not isinstance(idx, Tracer) and idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take: index {int(idx.max() if idx.max() >= n else idx.min())} is "
                         f"out of bounds for axis {ax} with size {n}")
    return _index(x, (slice(None),) * ax + (idx,))


def _along_axis_index(shape, indices, axis):
    """The advanced index picking `indices` along `axis` and everything along the others."""
    nd = len(shape)
    return tuple(indices if d == axis else
                 np.arange(shape[d]).reshape([-1 if k == d else 1 for k in range(nd)])
                 for d in range(nd))


def _along_axis(arr, indices, axis, name):
    if not np.issubdtype(dtype_of(indices), np.integer):
        raise IndexError(f"{name}: indices must be integers, got dtype {dtype_of(indices)}")
    if axis is None:
        arr, axis = ravel(arr), 0
    shape = shape_of(arr)
    if len(shape_of(indices)) != len(shape):
        raise ValueError(f"{name}: `indices` and `arr` must have the same number of "
                         f"dimensions, got shapes {shape_of(indices)} and {shape}")
    ax = normalize_axis(axis, len(shape))
    return arr, _along_axis_index(shape, indices, ax)


@numpy_function(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    """`arr` at `indices` along `axis`, the other axes matched up (the inverse of argsort's
    kind of result), as `numpy.take_along_axis`.

    >>> x = np.array([[3.0, 1.0], [2.0, 4.0]])
    >>> take_along_axis(x, np.argsort(x, axis=1), axis=1).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    arr, idx = _along_axis(arr, indices, axis, "take_along_axis")
    return _index(arr, idx)


@lists_as_arrays
def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    """A copy of `arr` with `values` written at `indices` along `axis`, as JAX's
    `put_along_axis` (arrays are values, so pass inplace=False: numpy's version writes into
    `arr` and returns None).

    >>> put_along_axis(np.zeros((2, 2)), np.array([[1], [0]]), 5.0, 1, inplace=False).tolist()
    [[0.0, 5.0], [5.0, 0.0]]
    """
    if inplace:
        raise ValueError("xform.numpy.put_along_axis cannot modify its argument (arrays are "
                         "immutable values); pass inplace=False to get the updated copy")
    if mode not in (None, "promise_in_bounds", "clip"):
        raise ValueError(f"put_along_axis: unsupported mode {mode!r}")
    x, idx = _along_axis(arr, indices, axis, "put_along_axis")
    out = asarray(x).at[idx].set(values)
    return reshape(out, shape_of(arr))


def select(condlist, choicelist, default=0):
    """Elementwise, the choice of the first true condition (else `default`), as
    `numpy.select`.

    >>> x = np.arange(4.0)
    >>> select([x < 1, x > 2], [x, -x], 9.0).tolist()
    [0.0, 9.0, 9.0, -3.0]
    """
    conds = [stack_nested(c) if isinstance(c, (list, tuple)) else c for c in condlist]
    choices = [stack_nested(c) if isinstance(c, (list, tuple)) else c for c in choicelist]
    default = stack_nested(default) if isinstance(default, (list, tuple)) else default
    if not is_traced(*conds, *choices, default):
        return wrap(np.select(conds, choices, default))
    if len(conds) != len(choices):
        raise ValueError("list of cases must be same length as list of conditions")
    if not conds:
        raise ValueError("select with an empty condition list is not possible")
    weak = (int, float, complex)
    keys = [c if type(c) in weak else (c.aval.dtype if isinstance(c, Tracer) else np.asarray(c))
            for c in (*choices, default)]
    dt = np.result_type(*keys)
    for i, c in enumerate(conds):
        if dtype_of(c) != np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    conds = broadcast_operands(*conds)
    out = cast(default, dt)
    for cond, choice in zip(reversed(conds), reversed(choices)):
        out = where(cond, cast(choice, dt), out)
    shape = np.broadcast_shapes(shape_of(conds[0]), *(shape_of(c) for c in choices))
    return broadcast_to(out, shape)


def piecewise(x, condlist, funclist, *args, **kw):
    """`funclist[i](x)` (or the constant `funclist[i]`) where `condlist[i]` holds, later
    conditions winning, and an extra last function where none holds, as `numpy.piecewise`.
    On traced values every function is evaluated on the whole of `x`.

    >>> x = np.array([-2.0, 0.5, 3.0])
    >>> piecewise(x, [x < 0, x > 1], [lambda v: -v, lambda v: v * 10, 0.0]).tolist()
    [2.0, 0.0, 30.0]
    """
    x = stack_nested(x) if isinstance(x, (list, tuple)) else x
    if not holds_tracer(condlist) and not is_traced(x):
        return wrap(np.piecewise(np.asarray(x), condlist, funclist, *args, **kw))
    # numpy's reading of condlist: one condition unless it is a sequence of arrays.
    if isinstance(condlist, (Tracer, np.ndarray)):
        conds = [condlist] if np.ndim(condlist) <= 1 else list(condlist)
    elif np.isscalar(condlist) or not isinstance(condlist[0], (list, np.ndarray, Tracer)):
        conds = [stack_nested(condlist)]
    else:
        conds = [stack_nested(c) for c in condlist]
    if len(funclist) == len(conds) + 1:
        none = conds[0]
        for c in conds[1:]:
            none = logical_or(none, c)
        conds = [*conds, logical_not(none)]
    elif len(funclist) != len(conds):
        raise ValueError(f"with {len(conds)} condition(s), either {len(conds)} or "
                         f"{len(conds) + 1} functions are expected")
    dt = dtype_of(x)
    out = zeros_like(x)
    for cond, func in zip(conds, funclist):
        value = func(x, *args, **kw) if callable(func) else func
        out = where(cast(cond, np.bool_), cast(value, dt), out)
    return out


@numpy_function(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """`x` with NaN replaced by `nan` and infinities by `posinf`/`neginf` (the largest finite
    values by default), as `numpy.nan_to_num`; integers pass through.

    >>> nan_to_num(np.array([np.nan, np.inf, 1.0]), posinf=9.0).tolist()
    [0.0, 9.0, 1.0]
    """
    dt = dtype_of(x)
    if not np.issubdtype(dt, np.inexact):
        return x
    if np.issubdtype(dt, np.complexfloating):
        raise NotImplementedError("xform.numpy.nan_to_num does not support complex arrays")
    info = np.finfo(dt)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    out = where(isnan(x), cast(nan, dt), x)
    out = where(isinf(x) & (x > 0), cast(big, dt), out)
    return where(isinf(x) & (x < 0), cast(small, dt), out)
