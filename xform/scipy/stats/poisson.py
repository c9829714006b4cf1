"""The Poisson distribution with mean `mu`, as scipy.stats.poisson. Differentiable in mu."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import (const, floats, is_integer, log_probability, nan_unless,
                                       where_safe)

__all__ = ["cdf", "logcdf", "logpmf", "logsf", "pmf", "sf"]


@lists_as_arrays
def logpmf(k, mu, loc=0):
    """k log(mu) - log(k!) - mu at the integers k >= 0, -inf elsewhere.

    >>> round(float(logpmf(2, 3.0)), 6)
    -1.495923
    """
    k, mu, loc = floats(k, mu, loc)
    k = k - loc
    inside = (k >= 0) & is_integer(k)
    ks = where_safe(inside, k, 0.0)
    value = special.xlogy(ks, mu) - special.gammaln(ks + 1) - mu
    return nan_unless(mu >= 0, xnp.where(inside, value, const(-np.inf, value)))


@lists_as_arrays
def pmf(k, mu, loc=0):
    """The Poisson probability mass function.

    >>> round(float(pmf(0, 2.0)), 6)
    0.135335
    """
    return xnp.exp(logpmf(k, mu, loc))


def _regularized(fn, outside, k, mu, loc):
    """fn(floor(k) + 1, mu) for k >= 0 (Q for the cdf, P for sf), `outside` below."""
    k, mu, loc = floats(k, mu, loc)
    j = xnp.floor(k - loc)
    inside = j >= 0
    value = fn(where_safe(inside, j, 0.0) + 1, mu)
    return nan_unless(mu >= 0, xnp.where(inside, value, const(outside, value)))


@lists_as_arrays
def cdf(k, mu, loc=0):
    """P(K <= k) = Q(floor(k) + 1, mu).

    >>> round(float(cdf(1, 2.0)), 6)
    0.406006
    """
    return _regularized(special.gammaincc, 0.0, k, mu, loc)


@lists_as_arrays
def logcdf(k, mu, loc=0):
    """log(cdf).

    >>> round(float(logcdf(1, 2.0)), 6)
    -0.901388
    """
    return log_probability(cdf(k, mu, loc), sf(k, mu, loc))


@lists_as_arrays
def sf(k, mu, loc=0):
    """P(K > k) = P(floor(k) + 1, mu), accurate in the right tail.

    >>> round(float(sf(1, 2.0)), 6)
    0.593994
    """
    return _regularized(special.gammainc, 1.0, k, mu, loc)


@lists_as_arrays
def logsf(k, mu, loc=0):
    """log(sf).

    >>> round(float(logsf(1, 2.0)), 6)
    -0.520886
    """
    return log_probability(sf(k, mu, loc), cdf(k, mu, loc))
