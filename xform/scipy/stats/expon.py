"""The exponential distribution on [loc, inf) with mean `scale`, as scipy.stats.expon."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy.stats._common import LocScale, const, floats, log1mexp, nan_unless

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


@lists_as_arrays
def logpdf(x, loc=0, scale=1):
    """log(exp(-x)) = -x for x >= 0, -inf below.

    >>> float(logpdf(2.0))
    -2.0
    """
    d = LocScale(x, loc, scale)
    return d.density(xnp.where(d.z >= 0, -d.z, const(-np.inf, d.z)))


@lists_as_arrays
def pdf(x, loc=0, scale=1):
    """The exponential density.

    >>> round(float(pdf(1.0)), 6)
    0.367879
    """
    return xnp.exp(logpdf(x, loc, scale))


@lists_as_arrays
def cdf(x, loc=0, scale=1):
    """1 - exp(-x) (by expm1) for x >= 0, 0 below.

    >>> round(float(cdf(1.0)), 6)
    0.632121
    """
    d = LocScale(x, loc, scale)
    return d.finish(-xnp.expm1(-xnp.maximum(d.z, const(0, d.z))))


@lists_as_arrays
def logcdf(x, loc=0, scale=1):
    """log(1 - exp(-x)), accurate near 0 and far out.

    >>> round(float(logcdf(1e-10)), 6)
    -23.025851
    """
    d = LocScale(x, loc, scale)
    positive = d.z > 0
    z = xnp.where(positive, d.z, const(1, d.z))
    return d.finish(xnp.where(positive, log1mexp(-z), const(-np.inf, d.z)))


@lists_as_arrays
def sf(x, loc=0, scale=1):
    """exp(-x) for x >= 0, 1 below.

    >>> round(float(sf(1.0)), 6)
    0.367879
    """
    return xnp.exp(logsf(x, loc, scale))


@lists_as_arrays
def logsf(x, loc=0, scale=1):
    """-x for x >= 0, 0 below.

    >>> float(logsf(3.0))
    -3.0
    """
    d = LocScale(x, loc, scale)
    return d.finish(-xnp.maximum(d.z, const(0, d.z)))


@lists_as_arrays
def ppf(q, loc=0, scale=1):
    """The quantile function -log(1 - q) (nan outside [0, 1]).

    >>> round(float(ppf(0.5)), 6)
    0.693147
    """
    q, loc, scale = floats(q, loc, scale)
    inside = (q >= 0) & (q <= 1)
    with np.errstate(divide="ignore"):
        value = loc - scale * xnp.log1p(-xnp.where(inside, q, const(0, q)))
    return nan_unless((scale > 0) & inside, value)
