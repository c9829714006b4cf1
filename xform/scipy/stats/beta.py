"""The beta distribution with shapes `a` and `b` on [loc, loc + scale], as scipy.stats.beta.
cdf and sf are differentiable in x, loc and scale, not in a and b (see
xform.scipy.special.betainc)."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import LocScale, const, log_probability, where_safe

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


@lists_as_arrays
def logpdf(x, a, b, loc=0, scale=1):
    """The log of the beta density x^(a-1) (1-x)^(b-1) / B(a, b) on [0, 1], -inf outside.

    >>> round(float(logpdf(0.5, 2.0, 2.0)), 6)
    0.405465
    """
    d = LocScale(x, loc, scale, a, b)
    a, b = d.shapes
    inside = (d.z >= 0) & (d.z <= 1)
    z = where_safe(inside, d.z, 0.5)
    value = special.xlogy(a - 1, z) + special.xlog1py(b - 1, -z) - special.betaln(a, b)
    return d.density(xnp.where(inside, value, const(-np.inf, z)), (a > 0) & (b > 0))


@lists_as_arrays
def pdf(x, a, b, loc=0, scale=1):
    """The beta density.

    >>> round(float(pdf(0.5, 2.0, 2.0)), 9)
    1.5
    """
    return xnp.exp(logpdf(x, a, b, loc, scale))


def _clipped(x, a, b, loc, scale):
    d = LocScale(x, loc, scale, a, b)
    a, b = d.shapes
    return d, a, b, xnp.clip(d.z, const(0, d.z), const(1, d.z))


@lists_as_arrays
def cdf(x, a, b, loc=0, scale=1):
    """The regularized incomplete beta function I_x(a, b).

    >>> float(cdf(0.5, 2.0, 3.0))
    0.6875
    """
    d, a, b, z = _clipped(x, a, b, loc, scale)
    return d.finish(special.betainc(a, b, z), (a > 0) & (b > 0))


@lists_as_arrays
def logcdf(x, a, b, loc=0, scale=1):
    """log(cdf).

    >>> round(float(logcdf(0.5, 2.0, 3.0)), 6)
    -0.374693
    """
    return log_probability(cdf(x, a, b, loc, scale), sf(x, a, b, loc, scale))


@lists_as_arrays
def sf(x, a, b, loc=0, scale=1):
    """1 - cdf, as I_(1-x)(b, a).

    >>> float(sf(0.5, 2.0, 3.0))
    0.3125
    """
    d, a, b, z = _clipped(x, a, b, loc, scale)
    return d.finish(special.betainc(b, a, 1 - z), (a > 0) & (b > 0))


@lists_as_arrays
def logsf(x, a, b, loc=0, scale=1):
    """log(sf).

    >>> round(float(logsf(0.5, 2.0, 3.0)), 6)
    -1.163151
    """
    return log_probability(sf(x, a, b, loc, scale), cdf(x, a, b, loc, scale))
