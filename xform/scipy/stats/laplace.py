"""The Laplace (double exponential) distribution, as scipy.stats.laplace."""
from __future__ import annotations

import math

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy.stats._common import LocScale, const

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


@lists_as_arrays
def logpdf(x, loc=0, scale=1):
    """-|x| - log 2.

    >>> round(float(logpdf(1.0)), 6)
    -1.693147
    """
    d = LocScale(x, loc, scale)
    return d.density(-xnp.abs(d.z) - const(math.log(2), d.z))


@lists_as_arrays
def pdf(x, loc=0, scale=1):
    """exp(-|x|) / 2.

    >>> round(float(pdf(0.0)), 6)
    0.5
    """
    return xnp.exp(logpdf(x, loc, scale))


def _halves(z):
    """The halves left and right of 0, each clipped to its side (so exp never overflows)."""
    zero = const(0, z)
    return xnp.minimum(z, zero), xnp.maximum(z, zero)


def _logcdf(z):
    low, high = _halves(z)
    half = const(0.5, z)
    return xnp.where(z < 0, low + xnp.log(half), xnp.log1p(-half * xnp.exp(-high)))


@lists_as_arrays
def cdf(x, loc=0, scale=1):
    """exp(x)/2 left of 0, 1 - exp(-x)/2 right of it.

    >>> round(float(cdf(1.0)), 6)
    0.81606
    """
    d = LocScale(x, loc, scale)
    return d.finish(xnp.exp(_logcdf(d.z)))


@lists_as_arrays
def logcdf(x, loc=0, scale=1):
    """log(cdf), exact in the left tail (x - log 2).

    >>> round(float(logcdf(-800.0)), 6)
    -800.693147
    """
    d = LocScale(x, loc, scale)
    return d.finish(_logcdf(d.z))


@lists_as_arrays
def sf(x, loc=0, scale=1):
    """1 - cdf, the mirror image of `cdf`.

    >>> round(float(sf(-1.0)), 6)
    0.81606
    """
    d = LocScale(x, loc, scale)
    return d.finish(xnp.exp(_logcdf(-d.z)))


@lists_as_arrays
def logsf(x, loc=0, scale=1):
    """log(sf), exact in the right tail.

    >>> round(float(logsf(800.0)), 6)
    -800.693147
    """
    d = LocScale(x, loc, scale)
    return d.finish(_logcdf(-d.z))
