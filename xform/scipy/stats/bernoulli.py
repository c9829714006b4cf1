"""The Bernoulli distribution (1 with probability p, else 0), as scipy.stats.bernoulli."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import const, floats, log_of, nan_unless

__all__ = ["cdf", "logcdf", "logpmf", "logsf", "pmf", "ppf", "sf"]


def _valid(p):
    return (p >= 0) & (p <= 1)


@lists_as_arrays
def logpmf(k, p, loc=0):
    """log p at k = 1, log(1 - p) at k = 0, -inf elsewhere.

    >>> round(float(logpmf(1, 0.25)), 6)
    -1.386294
    """
    k, p, loc = floats(k, p, loc)
    k = k - loc
    inside = (k == 0) | (k == 1)
    ks = xnp.where(inside, k, const(0, k))
    value = special.xlogy(ks, p) + special.xlog1py(1 - ks, -p)
    return nan_unless(_valid(p), xnp.where(inside, value, const(-np.inf, value)))


@lists_as_arrays
def pmf(k, p, loc=0):
    """The Bernoulli probability mass function.

    >>> float(pmf(0, 0.25))
    0.75
    """
    return xnp.exp(logpmf(k, p, loc))


@lists_as_arrays
def cdf(k, p, loc=0):
    """0 below 0, 1 - p on [0, 1), 1 from 1 on.

    >>> float(cdf(0.5, 0.25))
    0.75
    """
    k, p, loc = floats(k, p, loc)
    k = k - loc
    value = xnp.where(k < 0, const(0, k), xnp.where(k < 1, 1 - p, const(1, k)))
    return nan_unless(_valid(p), value)


@lists_as_arrays
def logcdf(k, p, loc=0):
    """log(cdf).

    >>> round(float(logcdf(0.0, 0.25)), 6)
    -0.287682
    """
    return log_of(cdf(k, p, loc))


@lists_as_arrays
def sf(k, p, loc=0):
    """1 below 0, p on [0, 1), 0 from 1 on.

    >>> float(sf(0.5, 0.25))
    0.25
    """
    k, p, loc = floats(k, p, loc)
    k = k - loc
    value = xnp.where(k < 0, const(1, k), xnp.where(k < 1, p, const(0, k)))
    return nan_unless(_valid(p), value)


@lists_as_arrays
def logsf(k, p, loc=0):
    """log(sf).

    >>> round(float(logsf(0.0, 0.25)), 6)
    -1.386294
    """
    return log_of(sf(k, p, loc))


@lists_as_arrays
def ppf(q, p, loc=0):
    """The smallest k with cdf(k) >= q: -1 at q = 0, 0 up to q = 1 - p, then 1 (nan outside
    [0, 1]).

    >>> float(ppf(0.9, 0.25))
    1.0
    """
    q, p, loc = floats(q, p, loc)
    value = xnp.where(q == 0, const(-1, q), xnp.where(q <= 1 - p, const(0, q), const(1, q)))
    return nan_unless(_valid(p) & (q >= 0) & (q <= 1), value + loc)
