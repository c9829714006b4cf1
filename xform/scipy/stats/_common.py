"""What the distributions of xform.scipy.stats share: dtype promotion, scipy's handling of invalid
parameters (nan) and of values outside the support, location and scale."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import cast, loop_dtypes, result_dtype


def floats(*args):
    """The arguments in their common floating dtype, Python scalars weakly typed (so float32
    stays float32), as scipy.stats computes them."""
    args = [np.asarray(a) if type(a) in (list, tuple) else a for a in args]
    dt = loop_dtypes(np.sin, result_dtype(*args))[0]
    return [cast(a, dt) for a in args]


def const(value, like):
    """A 0-d constant of `like`'s dtype."""
    return np.asarray(value, xnp.result_type(like))


def nan_unless(valid, value):
    """`value` where the parameters are `valid`, nan elsewhere (scipy's answer to invalid
    parameters)."""
    return xnp.where(valid, value, const(np.nan, value))


def where_safe(keep, x, fill: float):
    """`x` where `keep`, the number `fill` elsewhere: the argument a branch gets, so that the
    values it computes but never returns cannot make nan or infinite derivatives."""
    return xnp.where(keep, x, const(fill, x))


def is_integer(k):
    return xnp.floor(k) == k


def log_of(p):
    """log(p) that is -inf (not a warning) at p == 0."""
    with np.errstate(divide="ignore"):
        return xnp.log(p)


def log_probability(p, q):
    """log(p) given p and q = 1 - p, both accurate: log1p(-q) where p is near 1 (so that
    logcdf keeps the digits of a small sf, and logsf those of a small cdf)."""
    big = p > 0.5
    with np.errstate(divide="ignore"):
        return xnp.where(big, xnp.log1p(-where_safe(big, q, 0.5)),
                         xnp.log(where_safe(xnp.logical_not(big), p, 0.5)))


def log1m(p):
    """log(1 - p), accurate for small p."""
    with np.errstate(divide="ignore"):
        return xnp.log1p(-p)


def log1mexp(x):
    """log(1 - exp(x)) for x <= 0, accurate at both ends (Mächler's switch at -log 2)."""
    near = x > -np.log(2)
    x_near, x_far = where_safe(near, x, -1.0), where_safe(xnp.logical_not(near), x, -1.0)
    with np.errstate(divide="ignore"):
        return xnp.where(near, xnp.log(-xnp.expm1(x_near)), xnp.log1p(-xnp.exp(x_far)))


class LocScale:
    """A continuous distribution met through its standard form (loc 0, scale 1): the variable
    z = (x - loc) / scale, the shape parameters promoted with it, and the finishing touches
    (nan where scale <= 0 or a shape parameter is invalid, the log-density's -log(scale))."""

    def __init__(self, x, loc, scale, *shapes):
        *self.shapes, x, loc, self.scale = floats(*shapes, x, loc, scale)
        self.z = (x - loc) / self.scale

    def valid(self, valid=None):
        return self.scale > 0 if valid is None else (self.scale > 0) & valid

    def density(self, log_standard, valid=None):
        """log pdf(x) = log pdf_standard(z) - log(scale)."""
        ok = self.valid(valid)
        return nan_unless(ok, log_standard - xnp.log(where_safe(ok, self.scale, 1.0)))

    def finish(self, value, valid=None):
        """A probability (or its log), nan for invalid parameters."""
        return nan_unless(self.valid(valid), value)
