"""NaN-ignoring reductions of xform.numpy: nansum, nanmean, nanvar, nanmax, nanmedian,
nanquantile, ...

NaNs are replaced by the reduction's neutral value (and counted out of means), so the
derivative of every NaN entry is zero; a slice of NaNs only gives NaN where numpy does (max,
min, mean, var, median and quantiles). Integer arrays have no NaN and reduce as usual.
"""
from __future__ import annotations

import numpy as np

from xform.numpy import reductions as red
from xform.numpy import ufuncs as uf
from xform.numpy._core import cast, dtype_of, numpy_function, shape_of
from xform.numpy.statistics import (
    check_q,
    keep_dims,
    median,
    quantile_of,
    quantile_of_sorted,
    reduced_last,
    take_last,
)
from xform.primitives.sorting import sort_p

__all__ = [
    "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmedian",
    "nanmin", "nanpercentile", "nanprod", "nanquantile", "nanstd", "nansum", "nanvar",
]


def _floats(a) -> bool:
    return np.issubdtype(dtype_of(a), np.inexact)


def _filled(a, value):
    """`a` with NaN replaced by `value` (integer arrays unchanged)."""
    if not _floats(a):
        return a
    return uf.where(uf.isnan(a), np.full((), value, dtype_of(a)), a)


def _where(mask, values, other=0):
    """`values` where `mask` holds, else `other` (in values' dtype)."""
    return uf.where(mask, values, np.full((), other, dtype_of(values)))


def _with_where(kwargs, where_):
    return kwargs if where_ is None else {**kwargs, "where": where_}


@numpy_function(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """The sum over `axis` treating NaN as zero, as `numpy.nansum`.

    >>> float(nansum(np.array([1.0, np.nan, 2.0])))
    3.0
    """
    return red.sum(_filled(a, 0), axis, dtype, keepdims=keepdims,
                   **_with_where({"initial": initial}, where))


@numpy_function(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """The product over `axis` treating NaN as one, as `numpy.nanprod`.

    >>> float(nanprod(np.array([2.0, np.nan, 3.0])))
    6.0
    """
    return red.prod(_filled(a, 1), axis, dtype, keepdims=keepdims,
                    **_with_where({"initial": initial}, where))


def _count(a, axis, keepdims, where_=None):
    """How many non-NaN entries each slice has (intp)."""
    valid = uf.logical_not(uf.isnan(a)) if _floats(a) else np.ones(shape_of(a), bool)
    if where_ is not None:
        valid = valid & where_
    return red.sum(valid, axis, np.intp, keepdims=keepdims)


@numpy_function(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """The mean over `axis` of the non-NaN entries (NaN for a slice of NaNs), as
    `numpy.nanmean`.

    >>> float(nanmean(np.array([1.0, np.nan, 2.0])))
    1.5
    """
    if not _floats(a):
        return red.mean(a, axis, dtype, keepdims=keepdims, **_with_where({}, where))
    total = nansum(a, axis, dtype, keepdims=keepdims, where=where)
    return total / cast(_count(a, axis, keepdims, where), dtype_of(total))


@numpy_function(np.nanvar)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
           mean=None, correction=None):
    """The variance over `axis` of the non-NaN entries, with `ddof` delta degrees of freedom
    (NaN where no degrees of freedom remain), as `numpy.nanvar`.

    >>> float(nanvar(np.array([1.0, np.nan, 3.0])))
    1.0
    """
    if mean is not None:
        raise NotImplementedError("xform.numpy.nanvar: mean= is not supported")
    ddof = ddof if correction is None else correction
    if not _floats(a):
        return red.var(a, axis, dtype, ddof=ddof, keepdims=keepdims, **_with_where({}, where))
    avg = nanmean(a, axis, dtype, keepdims=True, where=where)
    centered = a - avg
    valid = uf.logical_not(uf.isnan(a))
    if where is not None:
        valid = valid & where
    squares = _where(valid, centered * centered)
    total = red.sum(squares, axis, keepdims=keepdims)
    dof = cast(_count(a, axis, keepdims, where), dtype_of(total)) - np.asarray(ddof,
                                                                              dtype_of(total))
    dof = _where(dof > 0, dof, np.nan)
    return total / dof


@numpy_function(np.nanstd)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
           mean=None, correction=None):
    """The standard deviation over `axis` of the non-NaN entries, as `numpy.nanstd`.

    >>> float(nanstd(np.array([1.0, np.nan, 3.0])))
    1.0
    """
    v = nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
               correction=correction)
    zero = v == 0  # the derivative of sqrt there is taken as 0, as std does
    return _where(uf.logical_not(zero), uf.sqrt(uf.where(zero, np.ones((), dtype_of(v)), v)))


def _nan_extremum(reduce, fill, a, axis, keepdims, initial, where_arg):
    kwargs = {} if initial is None else {"initial": initial}
    if where_arg is not None:
        kwargs["where"] = where_arg
    if not _floats(a):
        return reduce(a, axis, keepdims=keepdims, **kwargs)
    out = reduce(_filled(a, fill), axis, keepdims=keepdims, **kwargs)
    all_nan = red.all(uf.isnan(a), axis, keepdims=keepdims)
    return uf.where(all_nan, np.full((), np.nan, dtype_of(out)), out)


@numpy_function(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """The maximum over `axis` ignoring NaN (NaN for a slice of NaNs), as `numpy.nanmax`.

    >>> float(nanmax(np.array([1.0, np.nan, 2.0])))
    2.0
    """
    return _nan_extremum(red.max, -np.inf, a, axis, keepdims, initial, where)


@numpy_function(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """The minimum over `axis` ignoring NaN (NaN for a slice of NaNs), as `numpy.nanmin`.

    >>> float(nanmin(np.array([1.0, np.nan, 2.0])))
    1.0
    """
    return _nan_extremum(red.min, np.inf, a, axis, keepdims, initial, where)


@numpy_function(np.nanargmax)
def nanargmax(a, axis=None, out=None, *, keepdims=False):
    """The index of the maximum ignoring NaN, as `numpy.nanargmax` (a slice of NaNs gives 0
    on traced values, where numpy raises).

    >>> int(nanargmax(np.array([1.0, np.nan, 2.0])))
    2
    """
    return red.argmax(_filled(a, -np.inf), axis, keepdims=keepdims)


@numpy_function(np.nanargmin)
def nanargmin(a, axis=None, out=None, *, keepdims=False):
    """The index of the minimum ignoring NaN, as `numpy.nanargmin` (a slice of NaNs gives 0
    on traced values, where numpy raises).

    >>> int(nanargmin(np.array([1.0, np.nan, 0.5])))
    2
    """
    return red.argmin(_filled(a, np.inf), axis, keepdims=keepdims)


@numpy_function(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    """The running sum treating NaN as zero, as `numpy.nancumsum`.

    >>> nancumsum(np.array([1.0, np.nan, 2.0])).tolist()
    [1.0, 1.0, 3.0]
    """
    return red.cumsum(_filled(a, 0), axis, dtype)


@numpy_function(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    """The running product treating NaN as one, as `numpy.nancumprod`.

    >>> nancumprod(np.array([2.0, np.nan, 3.0])).tolist()
    [2.0, 2.0, 6.0]
    """
    return red.cumprod(_filled(a, 1), axis, dtype)


def _sorted_valid(a, axis):
    """The reduced axes last and sorted (NaN last), the count of non-NaN entries per slice,
    the axes and the input shape."""
    x, axes, shape = reduced_last(a, axis)
    s = sort_p.bind(x, dimension=len(shape_of(x)) - 1, num_keys=1)[0]
    count = _count(x, -1, False) if _floats(x) else shape_of(x)[-1]
    return s, count, axes, shape


def _nanquantile(a, q, axis, method, keepdims, weak_q):
    if not _floats(a):
        return quantile_of(a, q, axis, method, keepdims, weak_q)
    s, count, axes, shape = _sorted_valid(a, axis)
    out = quantile_of_sorted(s, count, q, weak_q, method)
    return keep_dims(out, shape, axes, len(shape_of(q))) if keepdims else out


@numpy_function(np.nanquantile)
def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None):
    """The q-th quantiles of the non-NaN entries of `a` over `axis` (NaN for a slice of
    NaNs), as `numpy.nanquantile`.

    >>> float(nanquantile(np.array([1.0, np.nan, 2.0, 3.0]), 0.5))
    2.0
    """
    if weights is not None:
        raise NotImplementedError("xform.numpy.nanquantile: weights= is not supported")
    q, weak = check_q(q, 1, "Quantiles")
    return _nanquantile(a, q, axis, method, keepdims, weak)


@numpy_function(np.nanpercentile)
def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, weights=None):
    """The q-th percentiles of the non-NaN entries of `a` over `axis`, as
    `numpy.nanpercentile`.

    >>> float(nanpercentile(np.array([1.0, np.nan, 2.0, 3.0]), 50))
    2.0
    """
    if weights is not None:
        raise NotImplementedError("xform.numpy.nanpercentile: weights= is not supported")
    q, weak = check_q(q, 100, "Percentiles")
    return _nanquantile(a, q, axis, method, keepdims, weak)


@numpy_function(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median of the non-NaN entries of `a` over `axis` (NaN for a slice of NaNs), as
    `numpy.nanmedian`.

    >>> float(nanmedian(np.array([3.0, np.nan, 1.0, 2.0])))
    2.0
    """
    if not _floats(a):
        return median(a, axis, keepdims=keepdims)
    s, count, axes, shape = _sorted_valid(a, axis)
    lo = take_last(s, (count - 1) // 2)
    hi = take_last(s, count // 2)
    out = (lo + hi) / np.asarray(2, dtype_of(lo))
    return keep_dims(out, shape, axes) if keepdims else out
