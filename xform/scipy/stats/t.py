"""Student's t distribution with `df` degrees of freedom, as scipy.stats.t (df = inf is the
normal distribution). logpdf is differentiable in every argument; cdf and sf in x, loc and
scale, not in df (see xform.scipy.special.betainc)."""
from __future__ import annotations

import math

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays
from xform.scipy import special
from xform.scipy.stats._common import LocScale, const, log_probability, where_safe

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "sf"]


@lists_as_arrays
def logpdf(x, df, loc=0, scale=1):
    """-log(√df B(df/2, 1/2)) - (df + 1)/2 log(1 + x²/df), the normal's at df = inf.

    >>> round(float(logpdf(0.0, 1.0)), 6)
    -1.14473
    """
    d = LocScale(x, loc, scale, df)
    (df,) = d.shapes
    finite = xnp.isfinite(df)
    dfs = where_safe(finite, df, 1.0)
    value = (-special.betaln(dfs / 2, const(0.5, dfs)) - 0.5 * xnp.log(dfs)
             - (dfs + 1) / 2 * xnp.log1p(d.z * d.z / dfs))
    gaussian = -0.5 * d.z * d.z - const(0.5 * math.log(2 * math.pi), d.z)
    return d.density(xnp.where(finite, value, gaussian), df > 0)


@lists_as_arrays
def pdf(x, df, loc=0, scale=1):
    """Student's t density.

    >>> round(float(pdf(0.0, 1.0)), 6)
    0.31831
    """
    return xnp.exp(logpdf(x, df, loc, scale))


def _tail(z, df):
    """P(T > |z|) = I_w(df/2, 1/2) / 2 with w = df / (df + z²) for |z| > 1; below, where w
    rounds away what z holds, 1/2 - I_u(1/2, df/2) / 2 with u = 1 - w = z² / (df + z²) (then
    I_u is at most about 2/3, so the difference does not cancel). Each betainc sees only its
    own range, and z = 0 gets the first-order expansion 1/2 - pdf(0) |z|, so that derivatives
    stay finite there."""
    zero = z == 0
    zs = where_safe(xnp.logical_not(zero), z, 1.0)
    r = zs * zs / df
    w = 1 / (1 + r)
    far = xnp.abs(z) > 1
    half = const(0.5, z)
    small = half * special.betainc(df / 2, half, where_safe(far, w, 0.25))
    near = half - half * special.betainc(half, df / 2,
                                         where_safe(xnp.logical_not(far), r * w, 0.25))
    at_zero = half - xnp.exp(logpdf(const(0, z), df)) * xnp.abs(z)
    return xnp.where(zero, at_zero, xnp.where(far, small, near))


def _cdf(x, df, loc, scale, lower):
    d = LocScale(x, loc, scale, df)
    (df,) = d.shapes
    finite = xnp.isfinite(df)
    tail = _tail(d.z, where_safe(finite, df, 1.0))
    value = xnp.where(d.z < 0 if lower else d.z > 0, tail, 1 - tail)
    gaussian = special.ndtr(d.z if lower else -d.z)
    return d.finish(xnp.where(finite, value, gaussian), df > 0)


@lists_as_arrays
def cdf(x, df, loc=0, scale=1):
    """Student's t distribution function.

    >>> round(float(cdf(1.0, 1.0)), 6)
    0.75
    """
    return _cdf(x, df, loc, scale, True)


@lists_as_arrays
def logcdf(x, df, loc=0, scale=1):
    """log(cdf).

    >>> round(float(logcdf(-50.0, 3.0)), 6)
    -11.639785
    """
    return log_probability(cdf(x, df, loc, scale), sf(x, df, loc, scale))


@lists_as_arrays
def sf(x, df, loc=0, scale=1):
    """1 - cdf, accurate in the right tail.

    >>> round(float(sf(1.0, 1.0)), 6)
    0.25
    """
    return _cdf(x, df, loc, scale, False)


@lists_as_arrays
def logsf(x, df, loc=0, scale=1):
    """log(sf).

    >>> round(float(logsf(50.0, 3.0)), 6)
    -11.639785
    """
    return log_probability(sf(x, df, loc, scale), cdf(x, df, loc, scale))
