"""Reductions of xform.numpy (sum, mean, var, max, argmax, cumsum, ...) with numpy's axis rules."""
from __future__ import annotations

import builtins
import math

import numpy as np

from xform.numpy._core import (
    cast,
    dtype_of,
    is_traced,
    lists_as_arrays,
    normalize_axes,
    normalize_axis,
    result_dtype,
    shape_of,
    wrap,
)
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


def _no_out(out, name):
    if out is not None:
        raise NotImplementedError(f"xform.numpy.{name}: out= is not supported; arrays are "
                                  "immutable, use the returned value")


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


@lists_as_arrays
def sum(a, axis=None, dtype=None, out=None, keepdims=False):
    """Sum over `axis` (None, int or tuple), as `numpy.sum`.

    >>> float(sum(np.arange(4.0)))
    6.0
    """
    _no_out(out, "sum")
    if not is_traced(a):
        return wrap(np.sum(a, axis=axis, dtype=dtype, keepdims=keepdims))
    dt = _accumulate_dtype(dtype_of(a), dtype, np.sum)
    return _reduce(red.reduce_sum, a, axis, keepdims, dt)


@lists_as_arrays
def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """Product over `axis`, as `numpy.prod`.

    >>> float(prod(np.arange(1.0, 5.0)))
    24.0
    """
    _no_out(out, "prod")
    if not is_traced(a):
        return wrap(np.prod(a, axis=axis, dtype=dtype, keepdims=keepdims))
    dt = _accumulate_dtype(dtype_of(a), dtype, np.prod)
    return _reduce(red.reduce_prod, a, axis, keepdims, dt)


def _mean_dtype(dtype, requested):
    return np.mean(np.zeros(1, dtype), dtype=requested).dtype


@lists_as_arrays
def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """Arithmetic mean over `axis`; integers average in float64, as `numpy.mean`.

    >>> float(mean(np.array([1, 2, 3, 4])))
    2.5
    """
    _no_out(out, "mean")
    if not is_traced(a):
        return wrap(np.mean(a, axis=axis, dtype=dtype, keepdims=keepdims))
    dt = _mean_dtype(dtype_of(a), dtype)
    shape = shape_of(a)
    n = _count(shape, _axes(axis, len(shape)))
    return sum(a, axis, dt, keepdims=keepdims) / np.asarray(n, dt)


@lists_as_arrays
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Variance over `axis` with `ddof` delta degrees of freedom, as `numpy.var`.

    >>> float(var(np.array([1.0, 3.0])))
    1.0
    """
    _no_out(out, "var")
    if not is_traced(a):
        return wrap(np.var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))
    dt = _mean_dtype(dtype_of(a), dtype)
    shape = shape_of(a)
    n = _count(shape, _axes(axis, len(shape)))
    centered = cast(a, dt) - mean(a, axis, dt, keepdims=True)
    # numpy divides by max(n - ddof, 0): a non-positive count gives inf or nan, not an error.
    count = np.asarray(builtins.max(n - ddof, 0), dt)
    return sum(centered * centered, axis, keepdims=keepdims) / count


@lists_as_arrays
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Standard deviation over `axis`, as `numpy.std`.

    >>> float(std(np.array([1.0, 3.0])))
    1.0
    """
    _no_out(out, "std")
    if not is_traced(a):
        return wrap(np.std(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))
    from xform.numpy.ufuncs import sqrt, where
    v = var(a, axis, dtype, ddof=ddof, keepdims=keepdims)
    # Where the variance is 0 (equal values, an axis of length 1) the derivative is taken as 0,
    # not sqrt's inf times 0; sqrt gets a safe argument there so that no nan leaks through.
    zero = v == 0
    dt = dtype_of(v)
    return where(zero, np.zeros((), dt), sqrt(where(zero, np.ones((), dt), v)))


def _extremum(prim_fn, np_fn, name, a, axis, out, keepdims):
    _no_out(out, name)
    if not is_traced(a):
        return wrap(np_fn(a, axis=axis, keepdims=keepdims))
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    if _count(shape, axes) == 0 and axes:
        raise ValueError(f"zero-size array of shape {shape} to reduction operation {name} "
                         "which has no identity")
    return _keep(prim_fn(a, axes), shape, axes, keepdims)


@lists_as_arrays
def max(a, axis=None, out=None, keepdims=False):
    """Maximum over `axis`, as `numpy.max`.

    >>> float(max(np.array([1.0, 3.0, 2.0])))
    3.0
    """
    return _extremum(red.reduce_max, np.max, "maximum", a, axis, out, keepdims)


@lists_as_arrays
def min(a, axis=None, out=None, keepdims=False):
    """Minimum over `axis`, as `numpy.min`.

    >>> float(min(np.array([1.0, 3.0, 2.0])))
    1.0
    """
    return _extremum(red.reduce_min, np.min, "minimum", a, axis, out, keepdims)


amax = max
amin = min


@lists_as_arrays
def ptp(a, axis=None, out=None, keepdims=False):
    """Range (maximum minus minimum) over `axis`, as `numpy.ptp`.

    >>> float(ptp(np.array([1.0, 3.0, 2.0])))
    2.0
    """
    _no_out(out, "ptp")
    if not is_traced(a):
        return wrap(np.ptp(a, axis=axis, keepdims=keepdims))
    return max(a, axis, keepdims=keepdims) - min(a, axis, keepdims=keepdims)


def _arg_extremum(prim, np_fn, name, a, axis, out, keepdims):
    _no_out(out, name)
    if not is_traced(a):
        return wrap(np_fn(a, axis=axis, keepdims=keepdims))
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


@lists_as_arrays
def argmax(a, axis=None, out=None, *, keepdims=False):
    """Index of the maximum along `axis` (of the flattened array when None), as numpy.

    >>> int(argmax(np.array([1.0, 3.0, 2.0])))
    1
    """
    return _arg_extremum(red.argmax_p, np.argmax, "argmax", a, axis, out, keepdims)


@lists_as_arrays
def argmin(a, axis=None, out=None, *, keepdims=False):
    """Index of the minimum along `axis` (of the flattened array when None), as numpy.

    >>> int(argmin(np.array([1.0, 3.0, 2.0])))
    0
    """
    return _arg_extremum(red.argmin_p, np.argmin, "argmin", a, axis, out, keepdims)


def _cumulative(prim_fn, np_fn, name, a, axis, dtype, out):
    _no_out(out, name)
    if not is_traced(a):
        return wrap(np_fn(a, axis=axis, dtype=dtype))
    dt = _accumulate_dtype(dtype_of(a), dtype, np_fn)
    shape = shape_of(a)
    x = cast(a, dt)
    if axis is None or not shape:
        x, axis = reshape(x, (_count(shape, range(len(shape))),)), axis or 0
    return prim_fn(x, normalize_axis(axis, len(shape_of(x))))


@lists_as_arrays
def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along `axis` (of the flattened array when None), as `numpy.cumsum`.

    >>> cumsum(np.array([1, 2, 3])).tolist()
    [1, 3, 6]
    """
    return _cumulative(red.cumsum, np.cumsum, "cumsum", a, axis, dtype, out)


@lists_as_arrays
def cumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product along `axis` (of the flattened array when None), as `numpy.cumprod`.

    >>> cumprod(np.array([1, 2, 3])).tolist()
    [1, 2, 6]
    """
    return _cumulative(red.cumprod, np.cumprod, "cumprod", a, axis, dtype, out)


def _logical(prim_fn, np_fn, empty, a, axis, out, keepdims):
    _no_out(out, np_fn.__name__)
    if not is_traced(a):
        return wrap(np_fn(a, axis=axis, keepdims=keepdims))
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    if _count(shape, axes) == 0 and axes:
        out_shape = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdims \
            else tuple(n for i, n in enumerate(shape) if i not in axes)
        return wrap(np.full(out_shape, empty))
    return _keep(prim_fn(cast(a, np.bool_), axes), shape, axes, keepdims)


@lists_as_arrays
def any(a, axis=None, out=None, keepdims=False):
    """Whether any element along `axis` is true, as `numpy.any`.

    >>> bool(any(np.array([0.0, 2.0])))
    True
    """
    return _logical(red.reduce_max, np.any, False, a, axis, out, keepdims)


@lists_as_arrays
def all(a, axis=None, out=None, keepdims=False):
    """Whether every element along `axis` is true, as `numpy.all`.

    >>> bool(all(np.array([0.0, 2.0])))
    False
    """
    return _logical(red.reduce_min, np.all, True, a, axis, out, keepdims)


@lists_as_arrays
def count_nonzero(a, axis=None, *, keepdims=False):
    """Number of non-zero elements along `axis`, as `numpy.count_nonzero`.

    >>> int(count_nonzero(np.array([0.0, 2.0, 3.0])))
    2
    """
    if not is_traced(a):
        return wrap(np.count_nonzero(a, axis=axis, keepdims=keepdims))
    return sum(cast(a, np.bool_), axis, np.intp, keepdims=keepdims)


@lists_as_arrays
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """Weighted average along `axis`, as `numpy.average`; with `returned`, also the sum of
    the weights.

    >>> float(average(np.array([1.0, 3.0]), weights=np.array([3.0, 1.0])))
    1.5
    """
    from xform.numpy.shape import broadcast_to
    if not is_traced(a, weights):
        return wrap(np.average(a, axis=axis, weights=weights, returned=returned,
                               keepdims=keepdims))
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
