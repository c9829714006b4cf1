"""Reductions of xform.numpy (sum, mean, var, max, argmax, cumsum, ...) with numpy's axis rules."""
from __future__ import annotations

import math

import numpy as np

from xform.numpy._core import (broadcast_to_shape, cast, dtype_of, normalize_axes, normalize_axis,
                               numpy_function, result_dtype, shape_of, wrap)
from xform.primitives import reductions as red
from xform.primitives.structural import reshape

__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "average",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "max",
    "mean",
    "min",
    "prod",
    "ptp",
    "std",
    "sum",
    "var",
]


def _keep(y, shape, axes, keepdims):
    """Reinsert the reduced axes as size-1 dimensions when `keepdims` asks for it."""
    if not keepdims:
        return y
    return reshape(y, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _axes(axis, ndim) -> tuple[int, ...]:
    # Like numpy, a 0-d array may be reduced along "axis 0" (or -1), which is no axis at all.
    if ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return ()
    return normalize_axes(axis, ndim)


def _count(shape, axes) -> int:
    return math.prod([shape[i] for i in axes])


def _accumulate_dtype(dtype, requested, reducer):
    """The dtype numpy's `reducer` (np.sum, np.prod, np.cumsum...) returns for `dtype` inputs."""
    if requested is not None:
        return np.dtype(requested)
    return reducer(np.zeros(1, dtype)).dtype


def _reduce(prim_fn, a, axis, keepdims, dtype):
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    return _keep(prim_fn(cast(a, dtype), axes), shape, axes, keepdims)


def _masked(a, where, fill):
    """`a` with the entries outside the mask `where` (None: none) set to `fill`."""
    if where is None or where is True:
        return a
    from xform.numpy.ufuncs import where as where_
    mask = broadcast_to_shape(cast(where, np.bool_), shape_of(a))
    return where_(mask, a, np.full((), fill, dtype_of(a)))


def _with_initial(y, initial, combine):
    """The reduction's result combined with `initial` (None: not given)."""
    if initial is None:
        return y
    return combine(y, cast(initial, dtype_of(y)))


@numpy_function(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Sum over `axis` (None, int or tuple) of the entries where `where` holds, plus
    `initial`, as `numpy.sum`.

    >>> float(sum(np.arange(4.0)))
    6.0
    """
    from xform.numpy.ufuncs import add
    dt = _accumulate_dtype(dtype_of(a), dtype, np.sum)
    y = _reduce(red.reduce_sum, _masked(cast(a, dt), where, 0), axis, keepdims, dt)
    return _with_initial(y, initial, add)


@numpy_function(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Product over `axis` of the entries where `where` holds, times `initial`, as
    `numpy.prod`.

    >>> float(prod(np.arange(1.0, 5.0)))
    24.0
    """
    from xform.numpy.ufuncs import multiply
    dt = _accumulate_dtype(dtype_of(a), dtype, np.prod)
    y = _reduce(red.reduce_prod, _masked(cast(a, dt), where, 1), axis, keepdims, dt)
    return _with_initial(y, initial, multiply)


def _mean_dtype(dtype, requested):
    return np.mean(np.zeros(1, dtype), dtype=requested).dtype


def _where_count(shape, axis, where, keepdims, dtype):
    """How many entries each slice reduces: a constant, or counted from the mask."""
    if where is None or where is True:
        return np.asarray(_count(shape, _axes(axis, len(shape))), dtype)
    mask = broadcast_to_shape(cast(where, dtype), shape)
    return sum(mask, axis, dtype, keepdims=keepdims)


@numpy_function(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """Arithmetic mean over `axis` (of the entries where `where` holds); integers average in
    float64, as `numpy.mean`.

    >>> float(mean(np.array([1, 2, 3, 4])))
    2.5
    """
    dt = _mean_dtype(dtype_of(a), dtype)
    count = _where_count(shape_of(a), axis, where, keepdims, dt)
    return sum(a, axis, dt, keepdims=keepdims, where=where) / count


_mean = mean  # var's `mean` keyword shadows the function there


@numpy_function(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):
    """Variance over `axis` (of the entries where `where` holds) with `ddof` (or
    `correction`) delta degrees of freedom, as `numpy.var`.

    >>> float(var(np.array([1.0, 3.0])))
    1.0
    """
    if mean is not None:
        raise NotImplementedError("xform.numpy.var: mean= is not supported")
    ddof = ddof if correction is None else correction
    dt = _mean_dtype(dtype_of(a), dtype)
    centered = cast(a, dt) - _mean(a, axis, dt, keepdims=True, where=where)
    # numpy divides by max(n - ddof, 0): a non-positive count gives inf or nan, not an error.
    count = _where_count(shape_of(a), axis, where, keepdims, dt) - np.asarray(ddof, dt)
    from xform.numpy.ufuncs import maximum
    count = maximum(count, np.zeros((), dt))
    return sum(centered * centered, axis, keepdims=keepdims, where=where) / count


@numpy_function(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):
    """Standard deviation over `axis` (of the entries where `where` holds), as `numpy.std`.

    >>> float(std(np.array([1.0, 3.0])))
    1.0
    """
    from xform.numpy.ufuncs import sqrt
    from xform.numpy.ufuncs import where as where_
    v = var(a, axis, dtype, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
            correction=correction)
    # Where the variance is 0 (equal values, an axis of length 1) the derivative is taken as 0,
    # not sqrt's inf times 0; sqrt gets a safe argument there so that no nan leaks through.
    zero = v == 0
    dt = dtype_of(v)
    return where_(zero, np.zeros((), dt), sqrt(where_(zero, np.ones((), dt), v)))


def _extremum(prim_fn, name, a, axis, keepdims, initial, where):
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    if where is not None and where is not True:
        if initial is None:
            raise ValueError(f"reduction operation '{name}' does not have an identity, so to "
                             "use a where mask one has to specify 'initial'")
        a = _masked(a, where, initial)
    if _count(shape, axes) == 0 and axes:
        if initial is None:
            raise ValueError(f"zero-size array of shape {shape} to reduction operation {name} "
                             "which has no identity")
        out_shape = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdims \
            else tuple(n for i, n in enumerate(shape) if i not in axes)
        return wrap(np.full(out_shape, initial, dtype_of(a)))
    from xform.numpy import ufuncs
    combine = ufuncs.maximum if name == "maximum" else ufuncs.minimum
    return _with_initial(_keep(prim_fn(a, axes), shape, axes, keepdims), initial, combine)


@numpy_function(np.max)
def max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Maximum over `axis` (of the entries where `where` holds, and `initial`), as
    `numpy.max`.

    >>> float(max(np.array([1.0, 3.0, 2.0])))
    3.0
    """
    return _extremum(red.reduce_max, "maximum", a, axis, keepdims, initial, where)


@numpy_function(np.min)
def min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Minimum over `axis` (of the entries where `where` holds, and `initial`), as
    `numpy.min`.

    >>> float(min(np.array([1.0, 3.0, 2.0])))
    1.0
    """
    return _extremum(red.reduce_min, "minimum", a, axis, keepdims, initial, where)


amax = max
amin = min


@numpy_function(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    """Range (maximum minus minimum) over `axis`, as `numpy.ptp`.

    >>> float(ptp(np.array([1.0, 3.0, 2.0])))
    2.0
    """
    return max(a, axis, keepdims=keepdims) - min(a, axis, keepdims=keepdims)


def _arg_extremum(prim, name, a, axis, keepdims):
    shape = shape_of(a)
    x = a
    if axis is None or not shape:
        x, ax = reshape(a, (_count(shape, range(len(shape))),)), normalize_axis(axis or 0, 1)
    else:
        ax = normalize_axis(axis, len(shape))
    if shape_of(x)[ax] == 0:
        raise ValueError(f"attempt to get {name} of an empty sequence (shape {shape})")
    y = prim.bind1(x, axis=ax, index_dtype=np.dtype(np.intp))
    if not keepdims:
        return y
    return reshape(y, (1,) * len(shape) if axis is None else
                   tuple(1 if i == ax else n for i, n in enumerate(shape)))


@numpy_function(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    """Index of the maximum along `axis` (of the flattened array when None), as numpy.

    >>> int(argmax(np.array([1.0, 3.0, 2.0])))
    1
    """
    return _arg_extremum(red.argmax_p, "argmax", a, axis, keepdims)


@numpy_function(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    """Index of the minimum along `axis` (of the flattened array when None), as numpy.

    >>> int(argmin(np.array([1.0, 3.0, 2.0])))
    0
    """
    return _arg_extremum(red.argmin_p, "argmin", a, axis, keepdims)


def _cumulative(prim_fn, np_fn, a, axis, dtype):
    dt = _accumulate_dtype(dtype_of(a), dtype, np_fn)
    shape = shape_of(a)
    x = cast(a, dt)
    if axis is None or not shape:
        x, axis = reshape(x, (_count(shape, range(len(shape))),)), axis or 0
    return prim_fn(x, normalize_axis(axis, len(shape_of(x))))


@numpy_function(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along `axis` (of the flattened array when None), as `numpy.cumsum`.

    >>> cumsum(np.array([1, 2, 3])).tolist()
    [1, 3, 6]
    """
    return _cumulative(red.cumsum, np.cumsum, a, axis, dtype)


@numpy_function(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product along `axis` (of the flattened array when None), as `numpy.cumprod`.

    >>> cumprod(np.array([1, 2, 3])).tolist()
    [1, 2, 6]
    """
    return _cumulative(red.cumprod, np.cumprod, a, axis, dtype)


def _logical(prim_fn, empty, a, axis, keepdims, where):
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    a = _masked(cast(a, np.bool_), where, empty)
    if _count(shape, axes) == 0 and axes:
        out_shape = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdims \
            else tuple(n for i, n in enumerate(shape) if i not in axes)
        return wrap(np.full(out_shape, empty))
    return _keep(prim_fn(cast(a, np.bool_), axes), shape, axes, keepdims)


@numpy_function(np.any)
def any(a, axis=None, out=None, keepdims=False, *, where=None):
    """Whether any element along `axis` (where `where` holds) is true, as `numpy.any`.

    >>> bool(any(np.array([0.0, 2.0])))
    True
    """
    return _logical(red.reduce_max, False, a, axis, keepdims, where)


@numpy_function(np.all)
def all(a, axis=None, out=None, keepdims=False, *, where=None):
    """Whether every element along `axis` (where `where` holds) is true, as `numpy.all`.

    >>> bool(all(np.array([0.0, 2.0])))
    False
    """
    return _logical(red.reduce_min, True, a, axis, keepdims, where)


@numpy_function(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    """Number of non-zero elements along `axis`, as `numpy.count_nonzero`.

    >>> int(count_nonzero(np.array([0.0, 2.0, 3.0])))
    2
    """
    return sum(cast(a, np.bool_), axis, np.intp, keepdims=keepdims)


@numpy_function(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """Weighted average along `axis`, as `numpy.average`; with `returned`, also the sum of
    the weights.

    >>> float(average(np.array([1.0, 3.0]), weights=np.array([3.0, 1.0])))
    1.5
    """
    from xform.numpy.shape import broadcast_to
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        count = np.asarray(_count(shape, axes), dtype_of(avg))
        return (avg, broadcast_to(count, shape_of(avg))) if returned else avg
    dt = dtype_of(a)
    dt = result_dtype(dt, dtype_of(weights), *(("f8",) if not np.issubdtype(dt, np.inexact)
                                                else ()))
    w = cast(weights, dt)
    wshape = shape_of(w)
    if wshape != shape:
        if axis is None:
            raise TypeError(f"axis must be specified when the shapes of a {shape} and weights "
                            f"{wshape} differ")
        if len(wshape) != len(axes) or wshape != tuple(shape[i] for i in axes):
            raise ValueError(f"shape of weights {wshape} must match the shape of a {shape} "
                             f"along axis {axis}")
        from xform.primitives.structural import broadcast_in_dim
        w = broadcast_in_dim(w, shape, axes)
    scale = sum(w, axis, keepdims=keepdims)
    avg = sum(cast(a, dt) * w, axis, keepdims=keepdims) / scale
    return (avg, broadcast_to(scale, shape_of(avg))) if returned else avg
