"""`scipy.special`-compatible functions (logsumexp, erf, gammaln, gammainc, betainc, ndtri,
softmax, ...) for xform: elementwise special functions are primitives (xform.primitives.special
and elementwise), the rest composites of them."""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import (broadcast_operands, cast, is_traced, lists_as_arrays,
                               loop_dtypes, result_dtype, shape_of, wrap)
from xform.primitives import elementwise as ew
from xform.primitives import special as sp

__all__ = [
    "beta",
    "betainc",
    "betaln",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfcinv",
    "erfinv",
    "expit",
    "gamma",
    "gammainc",
    "gammaincc",
    "gammaln",
    "gammasgn",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "rgamma",
    "softmax",
    "xlog1py",
    "xlogy",
]


def _float(x):
    """`x` in the floating dtype numpy would compute a transcendental function of it in."""
    return cast(x, loop_dtypes(np.sin, x)[0])


def _floats(*args):
    """The operands in their common floating dtype (Python scalars weakly typed), with their
    shapes broadcast (0-d ones stay 0-d)."""
    args = [np.asarray(a) if type(a) in (list, tuple) else a for a in args]
    dt = loop_dtypes(np.sin, result_dtype(*args))[0]
    return broadcast_operands(*[cast(a, dt) for a in args], keep_scalars=True)


def _apply(prim, *args):
    out = prim.bind1(*(_floats(*args) if len(args) > 1 else [_float(args[0])]))
    return out if is_traced(*args) else wrap(out)


def _const(value, like):
    """A 0-d constant of `like`'s dtype."""
    return np.asarray(value, xnp.result_type(like))


@lists_as_arrays
def erf(x):
    """The error function, elementwise.

    >>> round(float(erf(1.0)), 6)
    0.842701
    """
    return _apply(ew.erf_p, x)


@lists_as_arrays
def erfc(x):
    """The complementary error function 1 - erf(x), elementwise.

    >>> round(float(erfc(1.0)), 6)
    0.157299
    """
    return _apply(sp.erfc_p, x)


@lists_as_arrays
def erfcx(x):
    """The scaled complementary error function exp(x**2) * erfc(x), accurate where erfc
    underflows.

    >>> round(float(erfcx(30.0)), 10)
    0.0187958889
    """
    return _apply(sp.erfcx_p, x)


@lists_as_arrays
def erfinv(y):
    """The inverse of `erf` on [-1, 1] (±inf at ±1, nan outside).

    >>> round(float(erfinv(0.5)), 6)
    0.476936
    """
    return _apply(sp.erf_inv_p, y)


@lists_as_arrays
def erfcinv(y):
    """The inverse of `erfc` on [0, 2] (+inf at 0, -inf at 2, nan outside), as
    -ndtri(y/2)/√2, accurate in both tails.

    >>> round(float(erfcinv(0.5)), 6)
    0.476936
    """
    y = _float(y)
    return ndtri(y * 0.5) * (-1.0 / math.sqrt(2.0))


@lists_as_arrays
def ndtr(x):
    """The standard normal distribution function: the area under the Gaussian density left of
    x, 1/2 erfc(-x/√2) (1/2 + erf(x/√2)/2 near 0, as scipy computes it).

    >>> round(float(ndtr(1.0)), 6)
    0.841345
    """
    x = _float(x)
    z = x * _const(math.sqrt(0.5), x)
    half = _const(0.5, x)
    tails = xnp.where(z > 0, 1 - half * erfc(z), half * erfc(-z))
    return xnp.where(xnp.abs(z) < math.sqrt(0.5), half + half * erf(z), tails)


@lists_as_arrays
def log_ndtr(x):
    """log(ndtr(x)), accurate in both tails: log(erfcx(-x/√2)/2) - x²/2 below x = -1,
    log1p(-erfc(x/√2)/2) above it.

    >>> round(float(log_ndtr(-40.0)), 6)
    -804.608442
    """
    x = _float(x)
    z = x * _const(math.sqrt(0.5), x)
    low = x < -1
    # Each branch gets arguments inside its own range, so that the other's overflow (and its
    # infinite derivative) never reaches a result or a derivative.
    edge = _const(-math.sqrt(0.5), x)
    z_low, z_high = xnp.where(low, z, edge), xnp.where(low, edge, z)
    lower = xnp.log(erfcx(-z_low) * _const(0.5, x)) - z_low * z_low
    upper = xnp.log1p(-erfc(z_high) * _const(0.5, x))
    return xnp.where(low, lower, upper)


@lists_as_arrays
def ndtri(p):
    """The inverse of `ndtr`: the standard normal quantile function (±inf at 0 and 1).

    >>> round(float(ndtri(0.975)), 6)
    1.959964
    """
    return _apply(sp.ndtri_p, p)


@lists_as_arrays
def gammaln(x):
    """The logarithm of the absolute value of the gamma function, elementwise.

    >>> round(float(gammaln(5.0)), 6)
    3.178054
    """
    return _apply(ew.lgamma_p, x)


@lists_as_arrays
def gamma(x):
    """The gamma function, elementwise (inf at 0, nan at the negative integers).

    >>> float(gamma(5.0))
    24.0
    """
    return _apply(sp.gamma_p, x)


@lists_as_arrays
def gammasgn(x):
    """The sign of the gamma function, as scipy: 1 for x > 0 and +0, -1 at -0, alternating
    between the poles below 0, nan at the poles, -inf and nan (derivative 0).

    >>> gammasgn(np.array([2.0, -0.5, -1.5])).tolist()
    [1.0, -1.0, 1.0]
    """
    x = _float(x)
    one = xnp.ones_like(x)
    k = xnp.floor(xnp.where(xnp.isfinite(x), x, 0.0))
    below = xnp.where(xnp.mod(k, 2.0) == 1.0, -one, one)
    sign = xnp.where(x > 0, one, xnp.where(xnp.signbit(x), -one, one))
    sign = xnp.where(x < 0, below, sign)
    return xnp.where(_is_pole(x) & (x != 0) | xnp.isnan(x) | (x == -np.inf), np.nan, sign)


@lists_as_arrays
def rgamma(x):
    """The reciprocal of the gamma function, 0 at its poles (and at +inf), as scipy.

    >>> float(rgamma(5.0))
    0.041666666666666664
    """
    x = _float(x)
    return xnp.where(_is_pole(x), xnp.zeros_like(x), 1.0 / gamma(x))


def _is_pole(x):
    """Whether x is 0 or a negative integer (a pole of the gamma function)."""
    return (x <= 0) & (xnp.floor(x) == x)


def _stirling(z):
    """lgamma(z) - ((z - 1/2) log z - z + log(2π)/2) by its asymptotic series, for z >= 10
    (only read there)."""
    inv = 1 / xnp.maximum(z, _const(10.0, z))
    inv2 = inv * inv
    # B_2k / (2k (2k - 1)) for k = 1 .. 8, evaluated by Horner's rule in 1/z^2.
    coefs = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
             -3617 / 122400]
    total = _const(coefs[-1], z)
    for c in coefs[-2::-1]:
        total = total * inv2 + _const(c, z)
    return total * inv


@lists_as_arrays
def betaln(a, b):
    """log|B(a, b)|, the logarithm of the beta function, without the cancellation of
    gammaln(a) + gammaln(b) - gammaln(a + b) when a or b is large.

    >>> round(float(betaln(1e6, 2.0)), 6)
    -27.631022
    """
    a, b = _floats(a, b)
    small, large = xnp.minimum(a, b), xnp.maximum(a, b)
    naive = gammaln(a) + gammaln(b) - gammaln(a + b)
    # Stirling's formula for the large argument(s); each branch only ever sees its own range.
    ten = _const(10.0, a)
    stirling_ok = (small > 0) & (large >= 10)
    s, big = xnp.where(stirling_ok, small, ten), xnp.maximum(large, ten)
    c = s + big
    one_large = (gammaln(s) - s * xnp.log(big) - (c - 0.5) * xnp.log1p(s / big) + s
                 + _stirling(big) - _stirling(c))
    s2 = xnp.maximum(s, ten)
    c2 = s2 + big
    both_large = ((s2 - 0.5) * xnp.log(s2 / c2) + (big - 0.5) * xnp.log1p(-s2 / c2)
                  - 0.5 * xnp.log(c2) + _const(0.5 * math.log(2 * math.pi), a)
                  + _stirling(s2) + _stirling(big) - _stirling(c2))
    stirling = xnp.where(s >= 10, both_large, one_large)
    return xnp.where(stirling_ok, stirling, naive)


@lists_as_arrays
def beta(a, b):
    """The beta function Γ(a) Γ(b) / Γ(a + b).

    >>> float(beta(2.0, 3.0))
    0.08333333333333333
    """
    a, b = _floats(a, b)
    # Where Γ of a, b and a + b is finite (below 170, or 34 in float32), the ratio of gammas.
    big = 170 if xnp.result_type(a) == np.float64 else 34
    moderate = (xnp.abs(a) < big) & (xnp.abs(b) < big) & (xnp.abs(a + b) < big)
    one = _const(1.0, a)
    ma, mb = xnp.where(moderate, a, one), xnp.where(moderate, b, one)
    ratio = gamma(ma) * (gamma(mb) / gamma(ma + mb))
    # 0 where a + b (only) is a pole of Γ.
    ratio = xnp.where(_is_pole(ma + mb) & ~_is_pole(ma) & ~_is_pole(mb),
                      _const(0.0, a), ratio)
    sign = _gamma_sign(a) * _gamma_sign(b) * _gamma_sign(a + b)
    return xnp.where(moderate, ratio, sign * xnp.exp(betaln(a, b)))


def _gamma_sign(x):
    """The sign of Γ(x): -1 on (-1, 0), (-3, -2), ..., +1 elsewhere."""
    negative = (x < 0) & (xnp.floor(x) != x) & (xnp.floor(x) % 2 != 0)
    return xnp.where(negative, _const(-1.0, x), _const(1.0, x))


@lists_as_arrays
def multigammaln(a, d):
    """The log of the multivariate gamma function of dimension `d` (an int):
    d (d - 1)/4 log π + Σ_{j<d} gammaln(a - j/2). As in scipy, a <= (d - 1)/2 is a
    ValueError (checked on concrete values).

    >>> round(float(multigammaln(3.0, 2)), 6)
    1.550195
    """
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"multigammaln: d must be a positive integer, got {d!r}")
    a = _float(a)
    if not is_traced(a) and np.any(np.asarray(a) <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({a}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    total = _const(d * (d - 1) / 4 * math.log(math.pi), a)
    for j in range(d):
        total = total + gammaln(a - _const(j / 2, a))
    return total


@lists_as_arrays
def polygamma(n, x):
    """The n-th derivative of the digamma function; the order n is a concrete integer (or an
    array of them, broadcast against x); non-integer or negative orders give nan, as in scipy.

    >>> round(float(polygamma(1, 1.0)), 6)
    1.644934
    """
    if is_traced(n):
        raise TypeError("polygamma: the order n must be a concrete integer (or an array of "
                        "them), not a traced value; nothing is differentiable in n")
    n = np.asarray(n)
    x = _float(x)
    if n.ndim == 0 and n == np.floor(n) and n >= 0:
        return _apply_order(int(n), x)
    shape = np.broadcast_shapes(n.shape, shape_of(x))
    x = xnp.broadcast_to(x, shape)
    n = np.broadcast_to(n, shape)
    out = xnp.full(shape, np.nan, xnp.result_type(x))
    for k in np.unique(n[(n == np.floor(n)) & (n >= 0)]):
        out = xnp.where(n == k, _apply_order(int(k), x), out)
    return out


def _apply_order(n, x):
    out = ew.polygamma(n, x)
    return out if is_traced(x) else wrap(out)


@lists_as_arrays
def gammainc(a, x):
    """The regularized lower incomplete gamma function P(a, x) = γ(a, x) / Γ(a). Derivatives:
    in x exactly; in a to first order (the series and continued fraction differentiated
    term by term, as in JAX); a second derivative in a raises NotImplementedError.

    >>> round(float(gammainc(2.0, 1.0)), 6)
    0.264241
    """
    return _apply(sp.igamma_p, a, x)


@lists_as_arrays
def gammaincc(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), computed
    directly (accurate where it is tiny). Derivatives as for `gammainc`.

    >>> round(float(gammaincc(2.0, 1.0)), 6)
    0.735759
    """
    return _apply(sp.igammac_p, a, x)


@lists_as_arrays
def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b). Differentiable in x only (as in
    JAX): a derivative with respect to a or b raises NotImplementedError.

    >>> round(float(betainc(2.0, 3.0, 0.5)), 6)
    0.6875
    """
    return _apply(sp.betainc_p, a, b, x)


@lists_as_arrays
def i0e(x):
    """The exponentially scaled modified Bessel function of order 0, exp(-|x|) I0(x).

    >>> round(float(i0e(1.0)), 6)
    0.46576
    """
    return _apply(sp.bessel_i0e_p, x)


@lists_as_arrays
def i1e(x):
    """The exponentially scaled modified Bessel function of order 1, exp(-|x|) I1(x).

    >>> round(float(i1e(1.0)), 6)
    0.20791
    """
    return _apply(sp.bessel_i1e_p, x)


@lists_as_arrays
def i0(x):
    """The modified Bessel function of order 0, exp(|x|) * i0e(x).

    >>> round(float(i0(1.0)), 6)
    1.266066
    """
    x = _float(x)
    return xnp.exp(xnp.abs(x)) * i0e(x)


@lists_as_arrays
def i1(x):
    """The modified Bessel function of order 1, exp(|x|) * i1e(x).

    >>> round(float(i1(1.0)), 6)
    0.565159
    """
    x = _float(x)
    return xnp.exp(xnp.abs(x)) * i1e(x)


@lists_as_arrays
def digamma(x):
    """The logarithmic derivative of the gamma function, elementwise.

    >>> round(float(digamma(1.0)), 6)
    -0.577216
    """
    return _apply(ew.digamma_p, x)


psi = digamma


@lists_as_arrays
def expit(x):
    """The logistic sigmoid 1 / (1 + exp(-x)), without overflow.

    >>> float(expit(0.0))
    0.5
    """
    return _apply(ew.logistic_p, x)


@lists_as_arrays
def logit(p):
    """The inverse of `expit`: log(p / (1 - p)).

    >>> float(logit(0.5))
    0.0
    """
    p = _float(p)
    return xnp.log(p) - xnp.log1p(-p)


@lists_as_arrays
def xlogy(x, y):
    """x * log(y), defined as 0 where x == 0 (unless y is nan), as `scipy.special.xlogy`.

    >>> float(xlogy(0.0, 0.0))
    0.0
    """
    dt = loop_dtypes(np.log, result_dtype(x, y))[0]
    x, y = cast(x, dt), cast(y, dt)
    # Where x == 0 and log(y) is not finite the result is 0 all the same; log gets a safe
    # argument there so that no nan leaks into derivatives. Elsewhere x * log(y) stands
    # as it is, so that d/dx is log(y) at x == 0 too.
    log_finite = (y > 0) & xnp.isfinite(y)
    zero = (x == 0) & xnp.logical_not(log_finite | xnp.isnan(y))
    safe_y = xnp.where(zero, np.ones((), dt), y)
    return xnp.where(zero, np.zeros((), dt), x * xnp.log(safe_y))


@lists_as_arrays
def xlog1py(x, y):
    """x * log1p(y), defined as 0 where x == 0 (unless y is nan), as `scipy.special.xlog1py`.

    >>> float(xlog1py(0.0, -1.0))
    0.0
    """
    x, y = _floats(x, y)
    dt = xnp.result_type(x)
    log_finite = (y > -1) & xnp.isfinite(y)
    zero = (x == 0) & xnp.logical_not(log_finite | xnp.isnan(y))
    safe_y = xnp.where(zero, np.zeros((), dt), y)
    return xnp.where(zero, np.zeros((), dt), x * xnp.log1p(safe_y))


@lists_as_arrays
def entr(x):
    """-x * log(x) for x > 0, 0 at 0 and -inf for x < 0, as `scipy.special.entr`.

    >>> float(entr(1.0))
    -0.0
    """
    x = _float(x)
    dt = x.dtype
    pos = x > 0
    safe = xnp.where(pos, x, np.ones((), dt))
    inner = xnp.where(x == 0, np.zeros((), dt), np.asarray(-np.inf, dt))
    return xnp.where(pos, -x * xnp.log(safe), xnp.where(xnp.isnan(x), x, inner))


@lists_as_arrays
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over `axis`, computed stably, as `scipy.special.logsumexp`;
    with `return_sign`, returns (log|sum|, sign of the sum).

    >>> round(float(logsumexp(np.array([1000.0, 1000.0]))), 6)
    1000.693147
    """
    a = _float(a)
    if b is not None:
        dt = result_dtype(a, b)
        a, b = cast(a, dt), cast(b, dt)
    dt = a.dtype
    # Rows whose maximum is infinite (all -inf, or some +inf) are shifted by 0 instead.
    m = xnp.max(a, axis, keepdims=True)
    m = xnp.where(xnp.isfinite(m), m, np.zeros((), dt))
    if is_traced(m):  # any constant shift gives the same value and derivatives: skip the max's
        m = ew.stop_gradient_p.bind1(m)
    e = xnp.exp(a - m)
    if b is not None:
        e = e * b
    s = xnp.sum(e, axis, keepdims=keepdims)
    sgn = None
    if return_sign:
        sgn = xnp.sign(s)
        s = xnp.abs(s)
    with np.errstate(divide="ignore"):
        out = xnp.log(s) + xnp.reshape(m, shape_of(s))
    return (out, sgn) if return_sign else out


@lists_as_arrays
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis` (None: all axes), computed stably.

    >>> softmax(np.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    x = _float(x)
    e = xnp.exp(x - xnp.max(x, axis, keepdims=True))
    return e / xnp.sum(e, axis, keepdims=True)


@lists_as_arrays
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis` (None: all axes), computed stably.

    >>> log_softmax(np.array([0.0, 0.0])).tolist() == [-np.log(2)] * 2
    True
    """
    x = _float(x)
    shifted = x - xnp.max(x, axis, keepdims=True)
    with np.errstate(divide="ignore"):
        return shifted - xnp.log(xnp.sum(xnp.exp(shifted), axis, keepdims=True))
