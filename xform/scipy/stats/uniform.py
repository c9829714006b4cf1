"""The uniform distribution on [loc, loc + scale], as scipy.stats.uniform."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy.stats._common import LocScale, const, floats, log_of, nan_unless

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]


@lists_as_arrays
def logpdf(x, loc=0, scale=1):
    """-log(scale) on [loc, loc + scale], -inf outside.

    >>> float(logpdf(0.5))
    0.0
    """
    d = LocScale(x, loc, scale)
    inside = (d.z >= 0) & (d.z <= 1)
    return d.density(xnp.where(inside, const(0, d.z), const(-np.inf, d.z)))


@lists_as_arrays
def pdf(x, loc=0, scale=1):
    """1/scale on [loc, loc + scale], 0 outside.

    >>> float(pdf(0.5, 0.0, 2.0))
    0.5
    """
    return xnp.exp(logpdf(x, loc, scale))


@lists_as_arrays
def cdf(x, loc=0, scale=1):
    """(x - loc) / scale clipped to [0, 1].

    >>> float(cdf(0.25))
    0.25
    """
    d = LocScale(x, loc, scale)
    return d.finish(xnp.clip(d.z, const(0, d.z), const(1, d.z)))


@lists_as_arrays
def logcdf(x, loc=0, scale=1):
    """log(cdf).

    >>> round(float(logcdf(0.5)), 6)
    -0.693147
    """
    return log_of(cdf(x, loc, scale))


@lists_as_arrays
def sf(x, loc=0, scale=1):
    """1 - cdf.

    >>> float(sf(0.25))
    0.75
    """
    d = LocScale(x, loc, scale)
    return d.finish(xnp.clip(1 - d.z, const(0, d.z), const(1, d.z)))


@lists_as_arrays
def logsf(x, loc=0, scale=1):
    """log(sf).

    >>> round(float(logsf(0.5)), 6)
    -0.693147
    """
    return log_of(sf(x, loc, scale))


@lists_as_arrays
def ppf(q, loc=0, scale=1):
    """loc + scale q for q in [0, 1], nan outside.

    >>> float(ppf(0.5, 1.0, 2.0))
    2.0
    """
    q, loc, scale = floats(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc + scale * q)
