"""Normal samplers by inversion: `normal`, `truncated_normal`, `multivariate_normal`.

`normal` is JAX's: sqrt(2) * erfinv(u) for u uniform on (-1, 1), with XLA's erfinv (Giles'
polynomials, "Approximating the erfinv function", 2010). The uniform draws are bit for bit
JAX's; erfinv takes log1p, which XLA computes with its own approximation, so the samples agree
with JAX's to within a few ulps rather than bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform.core import get_aval
from xform.custom import custom_jvp
from xform.primitives.elementwise import convert, stop_gradient_p
from xform.random._keys import canonical_shape, check_key
from xform.random._uniform import as_dtype, check_broadcast, draw_uniform, float_dtype, out
from xform.scipy.special import erf

__all__ = ["multivariate_normal", "normal", "truncated_normal"]

# Giles' single-precision coefficients (highest power first), for w < 5 and w >= 5.
_ERFINV32 = (
    (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
     -0.00125372503, -0.00417768164, 0.246640727, 1.50140941),
    (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
     -0.0076224613, 0.00943887047, 1.00167406, 2.83297682))
# Giles' double-precision coefficients, for w < 6.25, w < 16 and w >= 16.
_ERFINV64 = (
    (-3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
     1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
     6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
     2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
     1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
     4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
     0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
     0.24015818242558961693, 1.6536545626831027356),
    (2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
     1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
     2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
     6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
     0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
     -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
     3.0838856104922207635),
    (-2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
     -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
     2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
     -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
     7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
     1.0103004648645343977, 4.8499064014085844221))


def _horner(coefficients, w, dtype):
    p = dtype.type(coefficients[0])
    for c in coefficients[1:]:
        p = dtype.type(c) + p * w
    return p


def _log1p_neg_square(x, dtype):
    """log1p(-x * x); for float32 through float64, whose log1p rounds to the same float32
    under the interpreter and under jit (their float32 log1p differ in the last bit)."""
    square = x * -x
    if dtype == np.float32:
        return convert(xnp.log1p(convert(square, np.float64)), np.float32)
    return xnp.log1p(square)


@custom_jvp
def erfinv(x):
    """The inverse error function on (-1, 1) (±inf at ±1), as XLA computes it."""
    dtype = get_aval(x).dtype
    w = -_log1p_neg_square(x, dtype)
    if dtype == np.float32:
        small = w < 5.0
        shifted = xnp.where(small, w - dtype.type(2.5), xnp.sqrt(w) - dtype.type(3.0))
        p = dtype.type(0)
        for a, b in zip(*_ERFINV32):
            p = xnp.where(small, dtype.type(a), dtype.type(b)) + p * shifted
    else:
        root = xnp.sqrt(w)
        p = xnp.where(w < 6.25, _horner(_ERFINV64[0], w - 3.125, dtype),
                      xnp.where(w < 16.0, _horner(_ERFINV64[1], root - 3.25, dtype),
                                _horner(_ERFINV64[2], root - 5.0, dtype)))
    return xnp.where(xnp.abs(x) == 1, x * dtype.type(np.inf), p * x)


@erfinv.defjvp
def _erfinv_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = erfinv(x)
    return y, t * (get_aval(y).dtype.type(math.sqrt(math.pi) / 2) * xnp.exp(y * y))


def draw_normal(key, shape: tuple, dtype):
    """`normal` on a checked key, shape and dtype."""
    lo = np.nextafter(dtype.type(-1), dtype.type(0))
    u = draw_uniform(key, shape, dtype, lo, dtype.type(1))
    return dtype.type(math.sqrt(2)) * erfinv(u)


def normal(key, shape=(), dtype=None):
    """Standard normal values (float64 by default), the same draws as `jax.random.normal`
    to within a few ulps (see the module docstring).

    >>> normal(PRNGKey(0), (2, 3)).shape
    (2, 3)
    """
    key = check_key(key, "normal")
    return out(draw_normal(key, canonical_shape(shape, "normal"), float_dtype(dtype, "normal")))


def _just_inside(bound, toward):
    """The float next to `bound` toward ±inf, for clipping into the open interval."""
    if isinstance(bound, np.ndarray):
        return np.nextafter(bound, toward * np.inf).astype(bound.dtype)
    step = xnp.maximum(xnp.abs(bound) * np.finfo(get_aval(bound).dtype).eps,
                       np.finfo(get_aval(bound).dtype).tiny)
    return bound + toward * step


def truncated_normal(key, lower, upper, shape=None, dtype=None):
    """Standard normal values conditioned on (lower, upper), as `jax.random.truncated_normal`
    (by inversion; differentiable in the bounds).

    >>> v = truncated_normal(PRNGKey(0), -1.0, 1.0, (100,))
    >>> bool((abs(v) < 1).all())
    True
    """
    key = check_key(key, "truncated_normal")
    dtype = float_dtype(dtype, "truncated_normal")
    lower, upper = as_dtype(lower, dtype), as_dtype(upper, dtype)
    shape = (np.broadcast_shapes(np.shape(lower), np.shape(upper)) if shape is None
             else canonical_shape(shape, "truncated_normal"))
    check_broadcast("truncated_normal", shape, lower, upper)
    sqrt2 = dtype.type(math.sqrt(2))
    a, b = erf(lower / sqrt2), erf(upper / sqrt2)
    x = sqrt2 * erfinv(draw_uniform(key, shape, dtype, a, b))
    low, high = (_just_inside(stop_gradient_p.bind1(v), s) for v, s in ((lower, 1), (upper, -1)))
    return out(xnp.clip(x, low, high))


def multivariate_normal(key, mean, cov, shape=None, dtype=None, method="cholesky"):
    """Normal vectors with mean `mean` (..., n) and covariance `cov` (..., n, n), as
    `jax.random.multivariate_normal`: mean + factor @ z, the factor by `method` ("cholesky",
    "eigh" or "svd"); differentiable in mean and cov.

    >>> multivariate_normal(PRNGKey(0), np.zeros(2), np.eye(2), (5,)).shape
    (5, 2)
    """
    key = check_key(key, "multivariate_normal")
    if method not in ("cholesky", "eigh", "svd"):
        raise ValueError(f"multivariate_normal: method must be 'cholesky', 'eigh' or 'svd', "
                         f"got {method!r}")
    mean, cov = xnp.asarray(mean), xnp.asarray(cov)
    default = np.result_type(get_aval(mean).dtype, get_aval(cov).dtype, np.float32)
    dtype = float_dtype(default if dtype is None else dtype, "multivariate_normal")
    mean, cov = as_dtype(mean, dtype), as_dtype(cov, dtype)
    if np.ndim(mean) < 1 or np.ndim(cov) < 2:
        raise ValueError(f"multivariate_normal needs mean.ndim >= 1 and cov.ndim >= 2, got "
                         f"shapes {np.shape(mean)} and {np.shape(cov)}")
    n = np.shape(mean)[-1]
    if np.shape(cov)[-2:] != (n, n):
        raise ValueError(f"multivariate_normal needs cov of shape (..., {n}, {n}) for a mean "
                         f"of shape {np.shape(mean)}, got {np.shape(cov)}")
    batch = np.broadcast_shapes(np.shape(mean)[:-1], np.shape(cov)[:-2])
    shape = batch if shape is None else canonical_shape(shape, "multivariate_normal")
    check_broadcast("multivariate_normal", shape, np.empty(batch))
    if method == "cholesky":
        factor = xnp.linalg.cholesky(cov)
    elif method == "eigh":
        w, v = xnp.linalg.eigh(cov)
        factor = v * xnp.sqrt(w)[..., None, :]
    else:
        u, s, _ = xnp.linalg.svd(cov)
        factor = u * xnp.sqrt(s)[..., None, :]
    z = draw_normal(key, (*shape, n), dtype)
    return out(mean + xnp.einsum("...ij,...j->...i", factor, z))
