"""Order statistics and correlations of xform.numpy: median, quantile, percentile, cov,
corrcoef (and the shared machinery of the NaN-ignoring quantiles).

Quantiles sort the reduced axes (the `sort` primitive), then pick and interpolate with
numpy's formulas, so they are differentiable through the sorting permutation and, for the
interpolating methods, in q too.
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer, concrete_or_none
from xform.numpy import ufuncs as uf
from xform.numpy._core import cast, dtype_of, normalize_axes, numpy_function, shape_of, stack_nested
from xform.numpy.contract import diag, dot
from xform.numpy.creation import array
from xform.numpy.reductions import average, mean
from xform.numpy.reductions import sum as sum_
from xform.numpy.selection import take_along_axis
from xform.numpy.shape import concatenate, squeeze
from xform.primitives import elementwise as ew
from xform.primitives.sorting import sort_p
from xform.primitives.structural import reshape, transpose

__all__ = ["corrcoef", "cov", "median", "percentile", "quantile"]

_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def reduced_last(a, axis):
    """`a` with the axes `axis` (None: all) moved last and flattened into one: returns the
    array (*kept, n), the axes and the input shape."""
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    kept = [d for d in range(len(shape)) if d not in axes]
    n = int(np.prod([shape[d] for d in axes], dtype=np.int64))
    x = reshape(transpose(a, (*kept, *axes)), (*(shape[d] for d in kept), n))
    return x, axes, shape


def keep_dims(y, shape, axes, lead: int = 0):
    """Put the reduced axes back as size-1 dimensions (after `lead` leading q dimensions)."""
    ys = shape_of(y)
    return reshape(y, (*ys[:lead], *(1 if d in axes else n for d, n in enumerate(shape))))


def _sorted_last(x):
    return sort_p.bind(x, dimension=len(shape_of(x)) - 1, num_keys=1)[0]


def take_last(x, idx):
    """x[..., idx] along the last axis with integer idx of shape (*q, *kept): the result has
    idx's shape (x's leading axes matched against idx's trailing ones)."""
    qnd = len(shape_of(idx)) - (len(shape_of(x)) - 1)
    xs = reshape(x, (*(1,) * qnd, *shape_of(x)))
    out = take_along_axis(xs, reshape(idx, (*shape_of(idx), 1)), axis=-1)
    return reshape(out, shape_of(idx))


def check_q(q, scale: float, name: str):
    """q as an array (divided by `scale`), checked to lie in [0, 1] when concrete."""
    weak = type(q) in (int, float)
    if isinstance(q, (list, tuple)):
        q = stack_nested(q)
    if not isinstance(q, Tracer):
        q = np.true_divide(q, scale) if scale != 1 else np.asanyarray(q)
    else:
        q = q / np.asarray(scale, dtype_of(q)) if scale != 1 else q
    value = concrete_or_none(q)
    if value is not None and np.size(value) and not (np.min(value) >= 0 and
                                                     np.max(value) <= 1):
        bound = "[0, 100]" if scale == 100 else "[0, 1]"
        raise ValueError(f"{name} must be in the range {bound}")
    if len(shape_of(q)) > 2:
        raise ValueError("q must be a scalar or 1d")
    return q, weak


def quantile_of_sorted(s, count, q, weak_q: bool, method: str):
    """The q-quantiles of the rows of `s` (*kept, n), sorted with NaN last, whose first
    `count` entries count (an int, or an int array of shape kept): shape (*q, *kept)."""
    if method not in _METHODS:
        raise NotImplementedError(f"xform.numpy quantile method {method!r} is not supported; "
                                  f"supported: {', '.join(_METHODS)}")
    kept = shape_of(s)[:-1]
    qshape = shape_of(q)
    q_b = reshape(q, (*qshape, *(1,) * len(kept)))
    last = count - 1
    if np.issubdtype(dtype_of(q), np.integer) and method == "linear":
        index = uf.clip(q_b * last, 0, None) + np.zeros((*qshape, *kept), np.intp)
        return take_last(s, index)
    virtual = q_b * cast(last, dtype_of(q))
    below = uf.floor(virtual)
    if method in ("lower", "higher", "nearest"):
        pick = {"lower": below, "higher": uf.ceil(virtual), "nearest": uf.round(virtual)}[method]
        index = uf.clip(cast(pick, np.intp), 0, None)
        index = uf.minimum(index, last) + np.zeros((*qshape, *kept), np.intp)
        return take_last(s, index)
    gamma = virtual - below
    if method == "midpoint":
        gamma = uf.where(gamma == 0, np.zeros((), dtype_of(gamma)),
                         np.full((), 0.5, dtype_of(gamma)))
    top = virtual >= last
    prev = uf.where(top, last, uf.clip(cast(below, np.intp), 0, None))
    nxt = uf.where(top, last, uf.clip(cast(below, np.intp) + 1, 0, None))
    full = np.zeros((*qshape, *kept), np.intp)
    lo, hi = take_last(s, prev + full), take_last(s, nxt + full)
    dt = np.result_type(dtype_of(s), 0.5 if weak_q else dtype_of(gamma))
    # numpy's lerp (the difference in the data's dtype), from the nearer end, so that t = 0
    # and t = 1 give the ends exactly.
    diff = cast(hi - lo, dt)
    lo, hi, t = cast(lo, dt), cast(hi, dt), cast(gamma, dt)
    return uf.where(t >= 0.5, hi - diff * (1 - t), lo + diff * t)


def quantile_of(a, q, axis, method, keepdims, weak_q):
    if np.issubdtype(dtype_of(a), np.complexfloating):
        raise TypeError("a must be an array of real numbers")
    x, axes, shape = reduced_last(a, axis)
    n = shape_of(x)[-1]
    if n == 0:
        raise IndexError("index -1 is out of bounds for axis 0 with size 0")
    s = _sorted_last(x)
    out = quantile_of_sorted(s, n, q, weak_q, method)
    if np.issubdtype(dtype_of(s), np.inexact):
        out = uf.where(uf.isnan(s[..., -1]), np.full((), np.nan, dtype_of(out)), out)
    return keep_dims(out, shape, axes, len(shape_of(q))) if keepdims else out


@numpy_function(np.quantile)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):
    """The q-th quantiles (q in [0, 1], a scalar or 1-D, may be traced) of `a` over `axis`,
    as `numpy.quantile`; methods "linear" (the default), "lower", "higher", "nearest",
    "midpoint". A NaN in a slice gives NaN.

    >>> float(quantile(np.array([1.0, 2.0, 3.0, 4.0]), 0.5))
    2.5
    """
    if weights is not None:
        raise NotImplementedError("xform.numpy.quantile: weights= is not supported")
    q, weak = check_q(q, 1, "Quantiles")
    return quantile_of(a, q, axis, method, keepdims, weak)


@numpy_function(np.percentile)
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
    """The q-th percentiles (q in [0, 100]) of `a` over `axis`, as `numpy.percentile`.

    >>> float(percentile(np.array([1.0, 2.0, 3.0, 4.0]), 50))
    2.5
    """
    if weights is not None:
        raise NotImplementedError("xform.numpy.percentile: weights= is not supported")
    q, weak = check_q(q, 100, "Percentiles")
    return quantile_of(a, q, axis, method, keepdims, weak)


@numpy_function(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median of `a` over `axis` (the mean of the two middle values for an even count;
    NaN if the slice holds NaN), as `numpy.median`.

    >>> float(median(np.array([3.0, 1.0, 4.0, 2.0])))
    2.5
    """
    x, axes, shape = reduced_last(a, axis)
    n = shape_of(x)[-1]
    s = _sorted_last(x)
    middle = s[..., (n - 1) // 2:n // 2 + 1]
    out = mean(middle, axis=-1)
    if np.issubdtype(dtype_of(s), np.inexact) and n:
        out = uf.where(uf.isnan(s[..., -1]), np.full((), np.nan, dtype_of(out)), out)
    return keep_dims(out, shape, axes) if keepdims else out


@numpy_function(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """The covariance matrix of the variables in the rows (or columns, with rowvar=False) of
    `m` (and `y`), as `numpy.cov`, with frequency and analytic weights; at least float64,
    as numpy.

    >>> cov(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])).tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    if len(shape_of(m)) > 2 or (y is not None and len(shape_of(y)) > 2):
        raise ValueError("m and y can have at most 2 dimensions")
    dt = np.dtype(dtype) if dtype is not None else np.result_type(
        dtype_of(m), *(() if y is None else (dtype_of(y),)), np.float64)
    x = array(m, ndmin=2, dtype=dt)
    if not rowvar and len(shape_of(m)) != 1:
        x = x.T
    if shape_of(x)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        yy = array(y, ndmin=2, dtype=dt)
        if not rowvar and shape_of(yy)[0] != 1:
            yy = yy.T
        x = concatenate([x, yy], axis=0)
    ddof = (0 if bias else 1) if ddof is None else int(ddof)
    n = shape_of(x)[1]
    w = None
    for name, weights in (("fweights", fweights), ("aweights", aweights)):
        if weights is not None:
            weights = cast(weights, np.float64)
            if shape_of(weights) != (n,):
                raise RuntimeError(f"incompatible numbers of samples and {name}")
            w = weights if w is None else w * weights
    avg, w_sum = average(x, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact = n - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * sum_(w * cast(aweights, np.float64)) / w_sum
    if not isinstance(fact, Tracer) and fact <= 0:
        fact = 0.0
    xc = x - avg[:, None]
    c = dot(xc, (xc if w is None else xc * w).T)
    return squeeze(c * ew.div(np.ones((), dtype_of(c)), cast(fact, dtype_of(c))))


@numpy_function(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Pearson correlation coefficients of the variables in the rows of `x` (and `y`), as
    `numpy.corrcoef` (clipped to [-1, 1]).

    >>> corrcoef(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.5]])).round(3).tolist()
    [[1.0, -0.982], [-0.982, 1.0]]
    """
    c = cov(x, y, rowvar, dtype=dtype)
    if len(shape_of(c)) != 2:
        return c / c
    stddev = uf.sqrt(diag(c))
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    return uf.clip(c, -1, 1)
