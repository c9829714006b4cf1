"""The geometric distribution (trials up to the first success, success probability p), as
scipy.stats.geom. Differentiable in p."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import (const, floats, is_integer, log1m, log1mexp, nan_unless,
                                       where_safe)

__all__ = ["cdf", "logcdf", "logpmf", "logsf", "pmf", "sf"]


def _valid(p):
    return (p > 0) & (p <= 1)


@lists_as_arrays
def logpmf(k, p, loc=0):
    """(k - 1) log(1 - p) + log p at the integers k >= 1, -inf elsewhere.

    >>> round(float(logpmf(2, 0.3)), 6)
    -1.560648
    """
    k, p, loc = floats(k, p, loc)
    k = k - loc
    inside = is_integer(k) & (k >= 1)
    ks = where_safe(inside, k, 1.0)
    ps = where_safe(_valid(p), p, 0.5)
    value = special.xlog1py(ks - 1, -ps) + xnp.log(ps)
    return nan_unless(_valid(p), xnp.where(inside, value, const(-np.inf, value)))


@lists_as_arrays
def pmf(k, p, loc=0):
    """The geometric probability mass function.

    >>> round(float(pmf(2, 0.3)), 6)
    0.21
    """
    return xnp.exp(logpmf(k, p, loc))


def _log_tail(k, p, loc):
    """(log P(K > k), whether k >= 1, p): floor(k) log(1 - p) from k = 1 on."""
    k, p, loc = floats(k, p, loc)
    j = xnp.floor(k - loc)
    inside = j >= 1
    return where_safe(inside, j, 1.0) * log1m(p), inside, p


@lists_as_arrays
def logsf(k, p, loc=0):
    """floor(k) log(1 - p) for k >= 1, 0 below.

    >>> round(float(logsf(2, 0.3)), 6)
    -0.71335
    """
    log_tail, inside, p = _log_tail(k, p, loc)
    return nan_unless(_valid(p), xnp.where(inside, log_tail, const(0, log_tail)))


@lists_as_arrays
def sf(k, p, loc=0):
    """(1 - p)^floor(k) for k >= 1, 1 below.

    >>> round(float(sf(2, 0.3)), 6)
    0.49
    """
    return xnp.exp(logsf(k, p, loc))


@lists_as_arrays
def logcdf(k, p, loc=0):
    """log(1 - (1 - p)^floor(k)) for k >= 1, -inf below.

    >>> round(float(logcdf(1, 0.3)), 6)
    -1.203973
    """
    log_tail, inside, p = _log_tail(k, p, loc)
    value = log1mexp(xnp.where(inside, log_tail, const(-1, log_tail)))
    return nan_unless(_valid(p), xnp.where(inside, value, const(-np.inf, value)))


@lists_as_arrays
def cdf(k, p, loc=0):
    """1 - (1 - p)^floor(k) for k >= 1, 0 below.

    >>> round(float(cdf(2, 0.3)), 6)
    0.51
    """
    log_tail, inside, p = _log_tail(k, p, loc)
    value = -xnp.expm1(xnp.where(inside, log_tail, const(0, log_tail)))
    return nan_unless(_valid(p), value)
