"""Gamma-family samplers with implicit reparameterisation gradients: `gamma`, `loggamma`,
`beta`, `dirichlet`.

Samples come from Marsaglia and Tsang's rejection method ("A simple method for generating gamma
variables", 2000), as in JAX, run as one loop over the whole array until every element is
accepted (alpha < 1 is boosted to alpha + 1 and scaled by U**(1/alpha), in log space). Their
derivative with respect to alpha is the implicit one (Figurnov et al., "Implicit
reparameterization gradients", 2018), as JAX's: for x = F^-1(u; alpha) with F the gamma CDF,
dx/dalpha = -(dF/dalpha) / (dF/dx), with dF/dalpha from the series of the regularised
incomplete gamma function (x < alpha + 1) or its continued fraction (otherwise), each
differentiated term by term.
"""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform import lax
from xform.core import get_aval
from xform.custom import custom_jvp
from xform.primitives.elementwise import stop_gradient_p
from xform.random._keys import canonical_shape, check_key, split
from xform.random._normal import draw_normal
from xform.random._uniform import as_dtype, check_broadcast, draw_uniform, float_dtype, out
from xform.scipy.special import digamma, softmax

__all__ = ["beta", "dirichlet", "gamma", "loggamma"]

_MAX_TERMS = 2000


def _marsaglia_tsang(key, alpha, shape, dtype):
    """log of Gamma(alpha) samples (alpha held constant: no derivative flows through here)."""
    one = dtype.type(1)
    boosted = alpha < one
    a = xnp.where(boosted, alpha + one, alpha)
    d = a - dtype.type(1 / 3)
    c = dtype.type(1 / 3) / xnp.sqrt(d)
    key, boost_key = split(key)

    def body(state):
        key, v, done = state
        key, x_key, u_key = split(key, 3)
        x = draw_normal(x_key, shape, dtype)
        u = draw_uniform(u_key, shape, dtype)
        y = one + c * x
        y3 = xnp.where(y > 0, y * y * y, one)
        squeeze = u < one - dtype.type(0.0331) * (x * x) * (x * x)
        exact = xnp.log(u) < dtype.type(0.5) * x * x + d * (one - y3 + xnp.log(y3))
        accept = (y > 0) & (squeeze | exact)
        return key, xnp.where(accept & ~done, y3, v), done | accept

    _, v, _ = lax.while_loop(lambda s: ~xnp.all(s[2]), body,
                             (key, xnp.ones(shape, dtype), xnp.zeros(shape, bool)))
    # -Exponential() = log(1 - U): the log of the boost factor's uniform, never log(0).
    log_u = xnp.log1p(-draw_uniform(boost_key, shape, dtype))
    log_boost = xnp.where(boosted & (log_u != 0), log_u / alpha, dtype.type(0))
    return xnp.log(d) + xnp.log(v) + log_boost


def _series_dlogx(a, log_x, x):
    """d log x / d alpha for x < alpha + 1: minus the sum over n of
    x**n / (a (a+1) ... (a+n)) * (log x - digamma(a + n + 1))."""
    dtype = get_aval(a).dtype
    term, psi = 1 / a, digamma(a) + 1 / a
    total = term * (log_x - psi)

    def body(state):
        n, term, psi, total, _ = state
        term = term * x / (a + n)
        psi = psi + 1 / (a + n)
        step = term * (log_x - psi)
        return n + 1, term, psi, total + step, step

    def going(state):
        n, _, _, total, step = state
        big = xnp.abs(step) > np.finfo(dtype).eps * xnp.abs(total)
        return xnp.any(big) & (n < _MAX_TERMS)

    state = (dtype.type(1), term, psi, total, total)
    return -lax.while_loop(going, body, state)[3]


def _fraction_dlogx(a, log_x, x):
    """d log x / d alpha for x >= alpha + 1, from the continued fraction h of Q(a, x) =
    x**a e**-x / Gamma(a) * h (modified Lentz, carrying derivatives in a): (log x - digamma(a))
    h + dh/da."""
    dtype = get_aval(a).dtype
    tiny = dtype.type(np.finfo(dtype).tiny * 1e3)
    b = x + 1 - a
    d = 1 / b
    # (i, b, d, dd/da, c, dc/da, h, dh/da, the last factor of h: none yet)
    state = (dtype.type(1), b, d, d * d, xnp.full_like(x, 1 / tiny), xnp.zeros_like(x),
             d, d * d, xnp.zeros_like(x))

    def body(state):
        i, b, d, dd, c, dc, h, dh, _ = state
        an, dan = -i * (i - a), i
        b = b + 2
        d, dd = an * d + b, dan * d + an * dd - 1
        d = xnp.where(xnp.abs(d) < tiny, tiny, d)
        c, dc = b + an / c, -1 + (dan - an * dc / c) / c
        c = xnp.where(xnp.abs(c) < tiny, tiny, c)
        d, dd = 1 / d, -dd / (d * d)
        delta, ddelta = d * c, dd * c + d * dc
        return i + 1, b, d, dd, c, dc, h * delta, dh * delta + h * ddelta, delta

    def going(state):
        return xnp.any(xnp.abs(state[8] - 1) > np.finfo(dtype).eps) & (state[0] < _MAX_TERMS)

    _, _, _, _, _, _, h, dh, _ = lax.while_loop(going, body, state)
    return (log_x - digamma(a)) * h + dh


def _dlogx_dalpha(a, log_x):
    x = xnp.exp(log_x)
    series = x < a + 1
    # Each branch gets harmless arguments where the other one is used.
    low = _series_dlogx(a, xnp.where(series, log_x, xnp.log(a)), xnp.where(series, x, a))
    far = a + 2
    high = _fraction_dlogx(a, xnp.where(series, xnp.log(far), log_x), xnp.where(series, far, x))
    return xnp.where(series, low, high)


@custom_jvp
def _implicit(alpha, log_x):
    """log_x, whose derivative in alpha is the implicit reparameterisation gradient."""
    return log_x


@_implicit.defjvp
def _implicit_jvp(primals, tangents):
    (alpha, log_x), (t, _) = primals, tangents
    return log_x, t * _dlogx_dalpha(alpha, log_x)


def _draw_loggamma(key, a, shape, dtype):
    alpha = xnp.broadcast_to(as_dtype(a, dtype), shape)
    log_x = _marsaglia_tsang(key, stop_gradient_p.bind1(alpha), shape, dtype)
    return _implicit(alpha, stop_gradient_p.bind1(log_x))


def _shape_of(name, shape, *params):
    shape = (np.broadcast_shapes(*(np.shape(p) for p in params)) if shape is None
             else canonical_shape(shape, name))
    check_broadcast(name, shape, *params)
    return shape


def loggamma(key, a, shape=None, dtype=None):
    """log of Gamma(a, 1) samples, accurate where the samples underflow (small a), as
    `jax.random.loggamma`; differentiable in `a`.

    >>> loggamma(PRNGKey(0), 0.01, (3,)).shape
    (3,)
    """
    key = check_key(key, "loggamma")
    dtype = float_dtype(dtype, "loggamma")
    return out(_draw_loggamma(key, a, _shape_of("loggamma", shape, a), dtype))


def gamma(key, a, shape=None, dtype=None):
    """Gamma(a, 1) samples (shape a, unit scale), as `jax.random.gamma`; differentiable in
    `a` (implicit reparameterisation).

    >>> bool((gamma(PRNGKey(0), 2.0, (5,)) > 0).all())
    True
    """
    key = check_key(key, "gamma")
    dtype = float_dtype(dtype, "gamma")
    return out(xnp.exp(_draw_loggamma(key, a, _shape_of("gamma", shape, a), dtype)))


def beta(key, a, b, shape=None, dtype=None):
    """Beta(a, b) samples as Ga / (Ga + Gb) of two gamma draws (in log space), as
    `jax.random.beta`; differentiable in `a` and `b`.

    >>> bool(((0 <= beta(PRNGKey(0), 2.0, 3.0, (5,))) <= 1).all())
    True
    """
    key = check_key(key, "beta")
    dtype = float_dtype(dtype, "beta")
    shape = _shape_of("beta", shape, a, b)
    key_a, key_b = split(key)
    log_a = _draw_loggamma(key_a, a, shape, dtype)
    log_b = _draw_loggamma(key_b, b, shape, dtype)
    top = xnp.maximum(log_a, log_b)
    ga, gb = xnp.exp(log_a - top), xnp.exp(log_b - top)
    return out(ga / (ga + gb))


def dirichlet(key, alpha, shape=None, dtype=None):
    """Dirichlet(alpha) vectors along the last axis, as `jax.random.dirichlet` (normalised
    gamma draws, in log space); differentiable in `alpha`.

    >>> dirichlet(PRNGKey(0), np.ones(3), (4,)).shape
    (4, 3)
    """
    key = check_key(key, "dirichlet")
    dtype = float_dtype(dtype, "dirichlet")
    if np.ndim(alpha) < 1:
        raise ValueError(f"dirichlet needs alpha with at least one axis, got shape "
                         f"{np.shape(alpha)}")
    batch = np.shape(alpha)[:-1] if shape is None else canonical_shape(shape, "dirichlet")
    check_broadcast("dirichlet", batch, np.empty(np.shape(alpha)[:-1]))
    log_g = _draw_loggamma(key, alpha, (*batch, np.shape(alpha)[-1]), dtype)
    return out(softmax(log_g, axis=-1))
