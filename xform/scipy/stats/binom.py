"""The binomial distribution of n trials with success probability p, as scipy.stats.binom.
Differentiable in p (n is an integer)."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import (const, floats, is_integer, log_probability, nan_unless,
                                       where_safe)

__all__ = ["cdf", "logcdf", "logpmf", "logsf", "pmf", "sf"]


def _valid(n, p):
    return (n >= 0) & is_integer(n) & (p >= 0) & (p <= 1)


@lists_as_arrays
def logpmf(k, n, p, loc=0):
    """log(C(n, k) p^k (1-p)^(n-k)) at the integers 0 <= k <= n, -inf elsewhere; C(n, k) by
    the beta function, accurate for large n.

    >>> round(float(logpmf(2, 5, 0.3)), 6)
    -1.175385
    """
    k, n, p, loc = floats(k, n, p, loc)
    k = k - loc
    valid = _valid(n, p)
    inside = is_integer(k) & (k >= 0) & (k <= n)
    ns = where_safe(valid, n, 1.0)
    ks = where_safe(inside & valid, k, 0.0)
    log_comb = -xnp.log1p(ns) - special.betaln(ns - ks + 1, ks + 1)
    value = log_comb + special.xlogy(ks, p) + special.xlog1py(ns - ks, -p)
    return nan_unless(valid, xnp.where(inside, value, const(-np.inf, value)))


@lists_as_arrays
def pmf(k, n, p, loc=0):
    """The binomial probability mass function.

    >>> round(float(pmf(2, 5, 0.3)), 6)
    0.3087
    """
    return xnp.exp(logpmf(k, n, p, loc))


def _tails(k, n, p, loc, lower):
    """P(K <= k) (or P(K > k)) by the incomplete beta function of floor(k)."""
    k, n, p, loc = floats(k, n, p, loc)
    valid = _valid(n, p)
    j = xnp.floor(k - loc)
    inside = (j >= 0) & (j < n)
    ns = where_safe(valid, n, 1.0)
    js = where_safe(inside & valid, j, 0.0)
    if lower:
        value = special.betainc(ns - js, js + 1, 1 - p)
        below, above = 0.0, 1.0
    else:
        value = special.betainc(js + 1, ns - js, p)
        below, above = 1.0, 0.0
    value = xnp.where(j < 0, const(below, value), xnp.where(inside, value, const(above, value)))
    return nan_unless(valid, value)


@lists_as_arrays
def cdf(k, n, p, loc=0):
    """P(K <= k).

    >>> round(float(cdf(2, 5, 0.3)), 5)
    0.83692
    """
    return _tails(k, n, p, loc, True)


@lists_as_arrays
def logcdf(k, n, p, loc=0):
    """log(cdf).

    >>> round(float(logcdf(2, 5, 0.3)), 6)
    -0.178027
    """
    return log_probability(cdf(k, n, p, loc), sf(k, n, p, loc))


@lists_as_arrays
def sf(k, n, p, loc=0):
    """P(K > k), accurate in the right tail.

    >>> round(float(sf(2, 5, 0.3)), 5)
    0.16308
    """
    return _tails(k, n, p, loc, False)


@lists_as_arrays
def logsf(k, n, p, loc=0):
    """log(sf).

    >>> round(float(logsf(2, 5, 0.3)), 6)
    -1.813514
    """
    return log_probability(sf(k, n, p, loc), cdf(k, n, p, loc))
