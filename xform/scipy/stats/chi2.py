"""The chi-squared distribution with `df` degrees of freedom, as scipy.stats.chi2: the gamma
distribution with shape df/2 and scale 2."""
from __future__ import annotations

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy.stats import gamma
from xform.scipy.stats._common import floats

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


def _as_gamma(x, df, loc, scale):
    x, df, loc, scale = floats(x, df, loc, scale)
    return x, df / 2, loc, 2 * scale


@lists_as_arrays
def logpdf(x, df, loc=0, scale=1):
    """The log of the chi-squared density.

    >>> round(float(logpdf(1.0, 2.0)), 6)
    -1.193147
    """
    return gamma.logpdf(*_as_gamma(x, df, loc, scale))


@lists_as_arrays
def pdf(x, df, loc=0, scale=1):
    """The chi-squared density.

    >>> round(float(pdf(2.0, 2.0)), 6)
    0.18394
    """
    return xnp.exp(logpdf(x, df, loc, scale))


@lists_as_arrays
def cdf(x, df, loc=0, scale=1):
    """P(df/2, x/2).

    >>> round(float(cdf(3.84, 1.0)), 4)
    0.95
    """
    return gamma.cdf(*_as_gamma(x, df, loc, scale))


@lists_as_arrays
def logcdf(x, df, loc=0, scale=1):
    """log(cdf).

    >>> round(float(logcdf(2.0, 2.0)), 6)
    -0.458675
    """
    return gamma.logcdf(*_as_gamma(x, df, loc, scale))


@lists_as_arrays
def sf(x, df, loc=0, scale=1):
    """Q(df/2, x/2), accurate in the right tail.

    >>> round(float(sf(3.84, 1.0)), 4)
    0.05
    """
    return gamma.sf(*_as_gamma(x, df, loc, scale))


@lists_as_arrays
def logsf(x, df, loc=0, scale=1):
    """log(sf).

    >>> round(float(logsf(2.0, 2.0)), 9)
    -1.0
    """
    return gamma.logsf(*_as_gamma(x, df, loc, scale))
