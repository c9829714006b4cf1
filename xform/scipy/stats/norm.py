"""The normal distribution with mean `loc` and standard deviation `scale`, as scipy.stats.norm."""
from __future__ import annotations

import math

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import LocScale, const, floats, nan_unless

__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


@lists_as_arrays
def logpdf(x, loc=0, scale=1):
    """The log of the normal density.

    >>> round(float(logpdf(0.0)), 6)
    -0.918939
    """
    d = LocScale(x, loc, scale)
    return d.density(-0.5 * d.z * d.z - const(0.5 * math.log(2 * math.pi), d.z))


@lists_as_arrays
def pdf(x, loc=0, scale=1):
    """The normal density.

    >>> round(float(pdf(0.0)), 6)
    0.398942
    """
    return xnp.exp(logpdf(x, loc, scale))


@lists_as_arrays
def cdf(x, loc=0, scale=1):
    """The normal distribution function.

    >>> round(float(cdf(1.0)), 6)
    0.841345
    """
    d = LocScale(x, loc, scale)
    return d.finish(special.ndtr(d.z))


@lists_as_arrays
def logcdf(x, loc=0, scale=1):
    """log(cdf), accurate far into the left tail.

    >>> round(float(logcdf(-40.0)), 6)
    -804.608442
    """
    d = LocScale(x, loc, scale)
    return d.finish(special.log_ndtr(d.z))


@lists_as_arrays
def sf(x, loc=0, scale=1):
    """The survival function 1 - cdf, accurate in the right tail.

    >>> round(float(sf(1.0)), 6)
    0.158655
    """
    d = LocScale(x, loc, scale)
    return d.finish(special.ndtr(-d.z))


@lists_as_arrays
def logsf(x, loc=0, scale=1):
    """log(sf), accurate far into the right tail.

    >>> round(float(logsf(40.0)), 6)
    -804.608442
    """
    d = LocScale(x, loc, scale)
    return d.finish(special.log_ndtr(-d.z))


@lists_as_arrays
def ppf(q, loc=0, scale=1):
    """The quantile function, the inverse of `cdf` (nan outside [0, 1]).

    >>> round(float(ppf(0.975)), 6)
    1.959964
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * special.ndtri(q))


@lists_as_arrays
def isf(q, loc=0, scale=1):
    """The inverse of `sf`, accurate for small q.

    >>> round(float(isf(0.025)), 6)
    1.959964
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * special.ndtri(q))
