"""Continuous samplers by transforming uniform draws, JAX's formulas: `exponential`, `laplace`,
`logistic`, `gumbel`, `cauchy`, `t`, `orthogonal`.
"""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform.random._gamma import _draw_loggamma
from xform.random._keys import canonical_shape, check_key, split
from xform.random._normal import draw_normal
from xform.random._uniform import as_dtype, check_broadcast, draw_uniform, float_dtype, out

__all__ = ["cauchy", "exponential", "gumbel", "laplace", "logistic", "orthogonal", "t"]


def _setup(key, shape, dtype, name):
    return (check_key(key, name), canonical_shape(shape, name), float_dtype(dtype, name))


def exponential(key, shape=(), dtype=None):
    """Exponential(1) values, -log(1 - U), as `jax.random.exponential`.

    >>> bool((exponential(PRNGKey(0), (4,)) >= 0).all())
    True
    """
    key, shape, dtype = _setup(key, shape, dtype, "exponential")
    return out(-xnp.log1p(-draw_uniform(key, shape, dtype)))


def laplace(key, shape=(), dtype=None):
    """Laplace(0, 1) values, sign(U) log(1 - |U|) for U uniform on (-1, 1), as
    `jax.random.laplace`.

    >>> laplace(PRNGKey(0), (2,)).shape
    (2,)
    """
    key, shape, dtype = _setup(key, shape, dtype, "laplace")
    u = draw_uniform(key, shape, dtype, dtype.type(-1) + np.finfo(dtype).epsneg, 1.0)
    return out(xnp.sign(u) * xnp.log1p(-xnp.abs(u)))


def logistic(key, shape=(), dtype=None):
    """Standard logistic values, log(U) - log(1 - U), as `jax.random.logistic`.

    >>> logistic(PRNGKey(0), (2,)).shape
    (2,)
    """
    key, shape, dtype = _setup(key, shape, dtype, "logistic")
    u = draw_uniform(key, shape, dtype, np.finfo(dtype).tiny, 1.0)
    return out(xnp.log(u) - xnp.log1p(-u))


def gumbel(key, shape=(), dtype=None, mode="low"):
    """Standard Gumbel values, -log(-log(U)), as `jax.random.gumbel`; mode "high" spends a
    second uniform draw on the resolution near 0 (larger values possible).

    >>> gumbel(PRNGKey(0), (2,)).shape
    (2,)
    """
    key, shape, dtype = _setup(key, shape, dtype, "gumbel")
    if mode not in ("low", "high"):
        raise ValueError(f"gumbel: mode must be 'low' or 'high', got {mode!r}")
    return out(draw_gumbel(key, shape, dtype, mode))


def draw_gumbel(key, shape, dtype, mode="low"):
    info = np.finfo(dtype)
    if mode == "low":
        return -xnp.log(-xnp.log(draw_uniform(key, shape, dtype, info.tiny, 1.0)))
    u = draw_uniform(key, (2, *shape), dtype)
    high, low = u[0], u[1]
    x = xnp.where(high >= 0.5, high, high + dtype.type(2.0 ** -info.nmant) * low + info.tiny)
    return -xnp.log(-xnp.log1p(-x))


def cauchy(key, shape=(), dtype=None):
    """Standard Cauchy values, tan(pi (U - 1/2)), as `jax.random.cauchy`.

    >>> cauchy(PRNGKey(0), (2,)).shape
    (2,)
    """
    key, shape, dtype = _setup(key, shape, dtype, "cauchy")
    u = draw_uniform(key, shape, dtype, np.finfo(dtype).eps, 1.0)
    return out(xnp.tan(dtype.type(math.pi) * (u - dtype.type(0.5))))


def t(key, df, shape=None, dtype=None):
    """Student's t values with `df` degrees of freedom, N sqrt(df / (2 G)) for G ~
    Gamma(df / 2), as `jax.random.t`; differentiable in `df`.

    >>> t(PRNGKey(0), 3.0, (2,)).shape
    (2,)
    """
    key = check_key(key, "t")
    dtype = float_dtype(dtype, "t")
    df = as_dtype(df, dtype)
    shape = np.shape(df) if shape is None else canonical_shape(shape, "t")
    check_broadcast("t", shape, df)
    key_n, key_g = split(key)
    n = draw_normal(key_n, shape, dtype)
    half = df / dtype.type(2)
    g = xnp.exp(_draw_loggamma(key_g, half, shape, dtype))
    return out(n * xnp.sqrt(half / g))


def orthogonal(key, n, shape=(), dtype=None, m=None):
    """Matrices of shape (*shape, n, m) (m = n by default) with orthonormal columns or rows,
    uniform on the orthogonal group (Haar measure) for m = n: the Q of a QR of a normal matrix
    with the signs of R's diagonal, as `jax.random.orthogonal`.

    >>> q = orthogonal(PRNGKey(0), 3)
    >>> bool(np.allclose(q @ q.T, np.eye(3)))
    True
    """
    key, shape, dtype = _setup(key, shape, dtype, "orthogonal")
    m = n if m is None else m
    n, m = int(n), int(m)
    z = draw_normal(key, (*shape, max(n, m), min(n, m)), dtype)
    q, r = xnp.linalg.qr(z)
    d = xnp.diagonal(r, axis1=-2, axis2=-1)
    x = q * xnp.sign(d)[..., None, :]
    return out(xnp.swapaxes(x, -1, -2) if n < m else x)
