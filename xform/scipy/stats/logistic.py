"""The logistic distribution, as scipy.stats.logistic."""
from __future__ import annotations

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import LocScale, const, floats, nan_unless

__all__ = ["cdf", "isf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


def _softplus(z):
    """log(1 + exp(z)) without overflow."""
    return xnp.maximum(z, const(0, z)) + xnp.log1p(xnp.exp(-xnp.abs(z)))


@lists_as_arrays
def logpdf(x, loc=0, scale=1):
    """-x - 2 log(1 + exp(-x)), computed without overflow.

    >>> round(float(logpdf(0.0)), 6)
    -1.386294
    """
    d = LocScale(x, loc, scale)
    a = xnp.abs(d.z)
    return d.density(-a - 2 * xnp.log1p(xnp.exp(-a)))


@lists_as_arrays
def pdf(x, loc=0, scale=1):
    """The logistic density.

    >>> float(pdf(0.0))
    0.25
    """
    return xnp.exp(logpdf(x, loc, scale))


@lists_as_arrays
def cdf(x, loc=0, scale=1):
    """The logistic sigmoid of x.

    >>> float(cdf(0.0))
    0.5
    """
    d = LocScale(x, loc, scale)
    return d.finish(special.expit(d.z))


@lists_as_arrays
def logcdf(x, loc=0, scale=1):
    """-log(1 + exp(-x)).

    >>> float(logcdf(-800.0))
    -800.0
    """
    d = LocScale(x, loc, scale)
    return d.finish(-_softplus(-d.z))


@lists_as_arrays
def sf(x, loc=0, scale=1):
    """1 - cdf = the sigmoid of -x.

    >>> float(sf(0.0))
    0.5
    """
    d = LocScale(x, loc, scale)
    return d.finish(special.expit(-d.z))


@lists_as_arrays
def logsf(x, loc=0, scale=1):
    """-log(1 + exp(x)).

    >>> float(logsf(800.0))
    -800.0
    """
    d = LocScale(x, loc, scale)
    return d.finish(-_softplus(d.z))


@lists_as_arrays
def ppf(q, loc=0, scale=1):
    """The quantile function log(q / (1 - q)) (nan outside [0, 1]).

    >>> float(ppf(0.5))
    0.0
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * special.logit(q))


@lists_as_arrays
def isf(q, loc=0, scale=1):
    """The inverse of `sf`.

    >>> float(isf(0.5))
    0.0
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * special.logit(q))
