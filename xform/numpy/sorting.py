"""Sorting and searching of xform.numpy: sort, argsort, lexsort, searchsorted, digitize,
interp, unique.

Sorting binds the `sort` primitive (stable, NaN last, as numpy); sorted values differentiate
through the permutation. Searching counts comparisons, so it needs no primitive of its own.
`unique` has a value-dependent shape: it needs a concrete input (which it has under grad,
not under jit or vmap).
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer, concrete_or_none
from xform.numpy import ufuncs as uf
from xform.numpy._core import (
    broadcast_to_shape,
    cast,
    dtype_of,
    lists_as_arrays,
    normalize_axis,
    numpy_function,
    result_dtype,
    shape_of,
    wrap,
)
from xform.numpy.indexing import getitem
from xform.numpy.selection import take
from xform.numpy.shape import broadcast_arrays, concatenate, flip
from xform.primitives import elementwise as ew
from xform.primitives.reductions import reduce_sum
from xform.primitives.sorting import iota_like, sort_p
from xform.primitives.structural import broadcast_in_dim, reshape

__all__ = ["argpartition", "argsort", "digitize", "interp", "lexsort", "partition",
           "searchsorted", "sort", "unique"]


def _sort_axis(a, axis, name):
    """The array and axis numpy sorts along: the flattened array when `axis` is None."""
    if np.issubdtype(dtype_of(a), np.complexfloating):
        raise NotImplementedError(f"xform.numpy.{name} does not support complex arrays")
    if axis is None:
        return reshape(a, (int(np.prod(shape_of(a), dtype=np.int64)),)), 0
    return a, normalize_axis(axis, len(shape_of(a)))


def _no_order(order, name):
    if order is not None:
        raise NotImplementedError(f"xform.numpy.{name}: order= (structured arrays) is not "
                                  "supported")


@numpy_function(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """`a` sorted along `axis` (flattened when None), NaN last, as `numpy.sort`; the sorted
    values are differentiable (their derivatives follow the permutation).

    >>> sort(np.array([3.0, 1.0, 2.0])).tolist()
    [1.0, 2.0, 3.0]
    """
    _no_order(order, "sort")
    x, ax = _sort_axis(a, axis, "sort")
    return sort_p.bind(x, dimension=ax, num_keys=1)[0]


@numpy_function(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """The indices that sort `a` along `axis` (flattened when None), as `numpy.argsort`; on
    traced values the sort is always stable (equal values keep their order).

    >>> argsort(np.array([3.0, 1.0, 2.0])).tolist()
    [1, 2, 0]
    """
    _no_order(order, "argsort")
    x, ax = _sort_axis(a, axis, "argsort")
    return sort_p.bind(x, iota_like(shape_of(x), ax, np.intp), dimension=ax, num_keys=1)[1]


def _check_kth(a, kth, axis, name):
    n = shape_of(a)[axis]
    for k in np.atleast_1d(np.asarray(kth)).tolist():
        if not isinstance(k, int) or not -n <= k < n:
            raise ValueError(f"xform.numpy.{name}: kth={kth!r} is not a valid index along an "
                             f"axis of length {n}")


@numpy_function(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """`a` partitioned along `axis` around the element(s) at `kth`, as `numpy.partition`: on
    traced values the whole axis is sorted, which satisfies the contract (the order within
    each side is unspecified in numpy too) and differentiates like `sort`.

    >>> float(partition(np.array([3.0, 1.0, 2.0]), 1)[1])
    2.0
    """
    _no_order(order, "partition")
    x, ax = _sort_axis(a, axis, "partition")
    _check_kth(x, kth, ax, "partition")
    return sort(x, axis=ax)


@numpy_function(np.argpartition)
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """The indices that partition `a` around `kth` along `axis`, as `numpy.argpartition` (on
    traced values: the stable sorting permutation, which satisfies the contract).

    >>> int(argpartition(np.array([3.0, 1.0, 2.0]), 0)[0])
    1
    """
    _no_order(order, "argpartition")
    x, ax = _sort_axis(a, axis, "argpartition")
    _check_kth(x, kth, ax, "argpartition")
    return argsort(x, axis=ax)


@numpy_function(np.lexsort)
def lexsort(keys, axis=-1):
    """The indices that sort by several keys, the last key the primary one, as
    `numpy.lexsort`.

    >>> lexsort((np.array([2, 1, 0]), np.array([1, 0, 1]))).tolist()
    [1, 2, 0]
    """
    ks = list(broadcast_arrays(*keys)) if isinstance(keys, (list, tuple)) else list(keys)
    if not ks:
        raise TypeError("need sequence of keys with len > 0 in lexsort")
    shape = shape_of(ks[0])
    ax = normalize_axis(axis, len(shape))
    out = sort_p.bind(*reversed(ks), iota_like(shape, ax, np.intp), dimension=ax,
                      num_keys=len(ks))
    return out[-1]


def _sorts_before(a, b):
    """Elementwise: `a` sorts strictly before `b` in numpy's order (NaN last)."""
    before = ew.lt_p.bind1(a, b)
    if np.issubdtype(dtype_of(a), np.inexact):
        before = ew.or_p.bind1(before, ew.and_p.bind1(ew.is_nan_p.bind1(b),
                                                      ew.not_p.bind1(ew.is_nan_p.bind1(a))))
    return before


def _count_before(a, v, side):
    """For each element of v, how many elements of the 1-D `a` sort before it (side
    'left') or not after it (side 'right'), as intp."""
    dt = result_dtype(a, v)
    a, v = cast(a, dt), cast(v, dt)
    n, vshape = shape_of(a)[0], shape_of(v)
    grid = (*vshape, n)
    ab = broadcast_in_dim(a, grid, (len(vshape),))
    vb = broadcast_in_dim(v, grid, tuple(range(len(vshape))))
    hit = _sorts_before(ab, vb) if side == "left" else ew.not_p.bind1(_sorts_before(vb, ab))
    return reduce_sum(ew.convert(hit, np.intp), (len(vshape),))


@numpy_function(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    """Where the values `v` would be inserted into the sorted 1-D `a` to keep it sorted
    (before equal values for side 'left', after them for 'right'), as `numpy.searchsorted`.
    On traced values every pair of `a` and `v` is compared (memory len(a) * v.size).

    >>> searchsorted(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.5]), side="right").tolist()
    [2, 0]
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if len(shape_of(a)) != 1:
        raise ValueError(f"searchsorted needs a 1-D array to search, got shape {shape_of(a)}")
    if sorter is not None:
        a = take(a, sorter)
    return _count_before(a, v, side)


@numpy_function(np.digitize)
def digitize(x, bins, right=False):
    """The index of the bin each value of `x` falls in, for monotonic 1-D `bins`
    (increasing or decreasing), as `numpy.digitize`.

    >>> digitize(np.array([0.5, 1.0, 2.5]), np.array([1.0, 2.0])).tolist()
    [0, 1, 2]
    """
    if len(shape_of(bins)) != 1:
        raise ValueError("object too deep for desired array: bins must be 1-D")
    side = "left" if right else "right"
    n = shape_of(bins)[0]
    up = _count_before(bins, x, side)
    if n < 2:
        return up
    down = ew.sub(np.asarray(n, np.intp), _count_before(flip(bins), x, side))
    concrete = concrete_or_none(bins)
    if concrete is not None:
        diffs = np.diff(np.asarray(concrete))
        if not ((diffs >= 0).all() or (diffs <= 0).all()):
            raise ValueError("bins must be monotonically increasing or decreasing")
        return up if concrete[-1] >= concrete[0] else down
    increasing = ew.ge_p.bind1(getitem(bins, -1), getitem(bins, 0))
    return ew.select(increasing, up, down)


@numpy_function(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation of the points (xp, fp), xp increasing, at `x`, as
    `numpy.interp` (float64 results; `left`/`right` outside, or a `period`); differentiable
    with respect to x, xp and fp.

    >>> interp(np.array([0.5, 2.0, 9.0]), np.array([0.0, 1.0, 3.0]),
    ...        np.array([0.0, 2.0, 3.0])).tolist()
    [1.0, 2.5, 3.0]
    """
    if np.issubdtype(dtype_of(fp), np.complexfloating):
        raise NotImplementedError("xform.numpy.interp does not support complex fp")
    x, xp, fp = (cast(v, np.float64) for v in (x, xp, fp))
    if len(shape_of(xp)) != 1 or shape_of(xp) != shape_of(fp):
        raise ValueError(f"fp and xp are not of the same length: shapes {shape_of(xp)} and "
                         f"{shape_of(fp)} (both must be 1-D)")
    if shape_of(xp)[0] == 0:
        raise ValueError("array of sample points is empty")
    if period is not None:
        if period == 0:
            raise ValueError("period must be a non-zero value")
        period = uf.absolute(cast(period, np.float64))
        left = right = None
        x, xp = uf.mod(x, period), uf.mod(xp, period)
        order = argsort(xp)
        xp, fp = take(xp, order), take(fp, order)
        xp = concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = concatenate([fp[-1:], fp, fp[:1]])
    n = shape_of(xp)[0]
    j = ew.sub(_count_before(xp, x, "right"), np.asarray(1, np.intp))
    lo = uf.clip(j, 0, max(n - 2, 0))
    hi = uf.minimum(lo + 1, n - 1)
    x0, x1, y0, y1 = take(xp, lo), take(xp, hi), take(fp, lo), take(fp, hi)
    slope = (y1 - y0) / (x1 - x0)
    inside = slope * (x - x0) + y0
    # numpy's fallbacks for non-finite slopes: interpolate from the right end, keep equal ends.
    inside = uf.where(uf.isnan(inside), slope * (x - x1) + y1, inside)
    inside = uf.where(uf.isnan(inside) & (y0 == y1), y0, inside)
    inside = uf.where((x == x0) & uf.logical_not(uf.isfinite(inside)), y0, inside)
    # At the last point numpy returns fp[-1] exactly: interpolating from it gives that value
    # and keeps the derivative.
    res = uf.where(j >= n - 1, slope * (x - x1) + y1, inside) if n > 1 else \
        broadcast_to_shape(fp[0], shape_of(x))
    res = uf.where(x > xp[-1], fp[-1] if right is None else cast(right, np.float64), res)
    res = uf.where(x < xp[0], fp[0] if left is None else cast(left, np.float64), res)
    return uf.where(uf.isnan(x), x, res)


@lists_as_arrays
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, sorted=True):
    """The sorted unique elements of `ar` (along `axis`), as `numpy.unique`. Their number
    depends on the values, so `ar` must be concrete: it is under grad (then the values are
    differentiable), not under jit or vmap.

    >>> unique(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    options = dict(return_index=return_index, return_inverse=return_inverse,
                   return_counts=return_counts, axis=axis, equal_nan=equal_nan, sorted=sorted)
    if not isinstance(ar, Tracer):
        res = np.unique(ar, **options)
        return tuple(map(wrap, res)) if isinstance(res, tuple) else wrap(res)
    value = concrete_or_none(ar)
    if value is None:
        raise TypeError(
            f"xform.numpy.unique needs a concrete array: the number of unique elements "
            f"decides the result's shape, and {ar.aval} is abstract under `{ar.interp.name}` "
            "(jit or vmap). Compute it outside, or pass the array as a static argument.")
    res = np.unique(np.asarray(value), **{**options, "return_index": True})
    index = res[1]
    values = take(ar, index, axis=axis)
    extra = list(res[1 if return_index else 2:])
    return (values, *map(wrap, extra)) if extra else values
