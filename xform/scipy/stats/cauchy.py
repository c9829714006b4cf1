"""The Cauchy distribution, as scipy.stats.cauchy."""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy.stats._common import LocScale, const, floats, nan_unless, where_safe

__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


@lists_as_arrays
def logpdf(x, loc=0, scale=1):
    """-log(π (1 + x²)).

    >>> round(float(logpdf(0.0)), 6)
    -1.14473
    """
    d = LocScale(x, loc, scale)
    return d.density(-xnp.log1p(d.z * d.z) - const(math.log(math.pi), d.z))


@lists_as_arrays
def pdf(x, loc=0, scale=1):
    """1 / (π (1 + x²)).

    >>> round(float(pdf(0.0)), 6)
    0.31831
    """
    return xnp.exp(logpdf(x, loc, scale))


def _cdf(z):
    """1/2 + atan(z)/π, as atan(1/|z|)/π in the left tail (where the sum would cancel)."""
    one = const(1, z)
    return xnp.where(z <= 0, xnp.arctan2(one, -z) / math.pi,
                     1 - xnp.arctan2(one, z) / math.pi)


@lists_as_arrays
def cdf(x, loc=0, scale=1):
    """1/2 + atan(x)/π, accurate in the left tail.

    >>> round(float(cdf(1.0)), 6)
    0.75
    """
    d = LocScale(x, loc, scale)
    return d.finish(_cdf(d.z))


@lists_as_arrays
def logcdf(x, loc=0, scale=1):
    """log(cdf).

    >>> round(float(logcdf(-1e20)), 6)
    -47.196432
    """
    d = LocScale(x, loc, scale)
    return d.finish(xnp.log(_cdf(d.z)))


@lists_as_arrays
def sf(x, loc=0, scale=1):
    """1/2 - atan(x)/π, accurate in the right tail.

    >>> round(float(sf(1.0)), 6)
    0.25
    """
    d = LocScale(x, loc, scale)
    return d.finish(_cdf(-d.z))


@lists_as_arrays
def logsf(x, loc=0, scale=1):
    """log(sf).

    >>> round(float(logsf(1e20)), 6)
    -47.196432
    """
    d = LocScale(x, loc, scale)
    return d.finish(xnp.log(_cdf(-d.z)))


def _ppf(q):
    """tan(π (q - 1/2)) as -cot(π q) (or cot(π (1 - q))), accurate near 0 and 1; ±inf there
    and nan outside [0, 1]."""
    low = q < 0.5
    with np.errstate(divide="ignore"):
        left = -1 / xnp.tan(math.pi * where_safe(low, q, 0.25))
        right = 1 / xnp.tan(math.pi * (1 - where_safe(xnp.logical_not(low), q, 0.75)))
    return nan_unless((q >= 0) & (q <= 1), xnp.where(low, left, right))


@lists_as_arrays
def ppf(q, loc=0, scale=1):
    """The quantile function tan(π (q - 1/2)).

    >>> round(float(ppf(0.75)), 9)
    1.0
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * _ppf(q))


@lists_as_arrays
def isf(q, loc=0, scale=1):
    """The inverse of `sf`.

    >>> round(float(isf(0.25)), 9)
    1.0
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * _ppf(q))
