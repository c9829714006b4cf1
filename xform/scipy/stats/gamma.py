"""The gamma distribution with shape `a`, as scipy.stats.gamma. Differentiable in x, a, loc and
scale (cdf and sf in a to first order: see xform.scipy.special.gammainc)."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import LocScale, const, log_probability, where_safe

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


def _log_density(a, z):
    """(a - 1) log z - z - log Γ(a) for z >= 0, -inf below."""
    inside = z >= 0
    zs = where_safe(inside, z, 1.0)
    value = special.xlogy(a - 1, zs) - zs - special.gammaln(a)
    return xnp.where(inside, value, const(-np.inf, z))


@lists_as_arrays
def logpdf(x, a, loc=0, scale=1):
    """The log of the gamma density x^(a-1) e^-x / Γ(a).

    >>> round(float(logpdf(1.0, 2.0)), 6)
    -1.0
    """
    d = LocScale(x, loc, scale, a)
    (a,) = d.shapes
    return d.density(_log_density(a, d.z), a > 0)


@lists_as_arrays
def pdf(x, a, loc=0, scale=1):
    """The gamma density.

    >>> round(float(pdf(1.0, 2.0)), 6)
    0.367879
    """
    return xnp.exp(logpdf(x, a, loc, scale))


def _regularized(fn, x, a, loc, scale):
    d = LocScale(x, loc, scale, a)
    (a,) = d.shapes
    return d.finish(fn(a, xnp.maximum(d.z, const(0, d.z))), a > 0)


@lists_as_arrays
def cdf(x, a, loc=0, scale=1):
    """The regularized lower incomplete gamma function P(a, x).

    >>> round(float(cdf(1.0, 2.0)), 6)
    0.264241
    """
    return _regularized(special.gammainc, x, a, loc, scale)


@lists_as_arrays
def logcdf(x, a, loc=0, scale=1):
    """log(cdf).

    >>> round(float(logcdf(1.0, 2.0)), 6)
    -1.330893
    """
    return log_probability(cdf(x, a, loc, scale), sf(x, a, loc, scale))


@lists_as_arrays
def sf(x, a, loc=0, scale=1):
    """The regularized upper incomplete gamma function Q(a, x), accurate in the right tail.

    >>> round(float(sf(1.0, 2.0)), 6)
    0.735759
    """
    return _regularized(special.gammaincc, x, a, loc, scale)


@lists_as_arrays
def logsf(x, a, loc=0, scale=1):
    """log(sf).

    >>> round(float(logsf(1.0, 2.0)), 6)
    -0.306853
    """
    return log_probability(sf(x, a, loc, scale), cdf(x, a, loc, scale))
