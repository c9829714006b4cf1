"""The negative binomial distribution (failures before the n-th success, success probability
p), as scipy.stats.nbinom; n may be any positive real. logpmf is differentiable in n and p, cdf
and sf in p."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import (const, floats, is_integer, log_probability, nan_unless,
                                       where_safe)

__all__ = ["cdf", "logcdf", "logpmf", "logsf", "pmf", "sf"]


def _valid(n, p):
    return (n > 0) & (p > 0) & (p <= 1)


@lists_as_arrays
def logpmf(k, n, p, loc=0):
    """log(Γ(n + k) / (Γ(n) k!) p^n (1-p)^k) at the integers k >= 0, -inf elsewhere.

    >>> round(float(logpmf(1, 2.5, 0.3)), 6)
    -2.450316
    """
    k, n, p, loc = floats(k, n, p, loc)
    k = k - loc
    valid = _valid(n, p)
    inside = is_integer(k) & (k >= 0)
    ns = where_safe(valid, n, 1.0)
    ks = where_safe(inside, k, 0.0)
    # Γ(n + k) / (Γ(n) k!) = 1 / ((n + k) B(n, k + 1))
    log_comb = -xnp.log(ns + ks) - special.betaln(ns, ks + 1)
    value = log_comb + special.xlogy(ns, p) + special.xlog1py(ks, -p)
    return nan_unless(valid, xnp.where(inside, value, const(-np.inf, value)))


@lists_as_arrays
def pmf(k, n, p, loc=0):
    """The negative binomial probability mass function.

    >>> round(float(pmf(0, 2.0, 0.5)), 6)
    0.25
    """
    return xnp.exp(logpmf(k, n, p, loc))


def _tails(k, n, p, loc, lower):
    """P(K <= k) = I_p(n, floor(k) + 1) (or P(K > k) = I_(1-p)(floor(k) + 1, n))."""
    k, n, p, loc = floats(k, n, p, loc)
    valid = _valid(n, p)
    j = xnp.floor(k - loc)
    inside = j >= 0
    ns = where_safe(valid, n, 1.0)
    js = where_safe(inside, j, 0.0)
    if lower:
        value = xnp.where(inside, special.betainc(ns, js + 1, p), const(0, p))
    else:
        value = xnp.where(inside, special.betainc(js + 1, ns, 1 - p), const(1, p))
    return nan_unless(valid, value)


@lists_as_arrays
def cdf(k, n, p, loc=0):
    """P(K <= k).

    >>> round(float(cdf(0, 2.0, 0.5)), 6)
    0.25
    """
    return _tails(k, n, p, loc, True)


@lists_as_arrays
def logcdf(k, n, p, loc=0):
    """log(cdf).

    >>> round(float(logcdf(0, 2.0, 0.5)), 6)
    -1.386294
    """
    return log_probability(cdf(k, n, p, loc), sf(k, n, p, loc))


@lists_as_arrays
def sf(k, n, p, loc=0):
    """P(K > k), accurate in the right tail.

    >>> round(float(sf(0, 2.0, 0.5)), 6)
    0.75
    """
    return _tails(k, n, p, loc, False)


@lists_as_arrays
def logsf(k, n, p, loc=0):
    """log(sf).

    >>> round(float(logsf(0, 2.0, 0.5)), 6)
    -0.287682
    """
    return log_probability(sf(k, n, p, loc), cdf(k, n, p, loc))
