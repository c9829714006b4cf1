"""`scipy.special`-compatible functions (logsumexp, erf, gammaln, softmax, ...) for xform."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import (cast, is_traced, lists_as_arrays, loop_dtypes, result_dtype,
                               shape_of, wrap)
from xform.primitives import elementwise as ew

__all__ = [
    "digamma",
    "entr",
    "erf",
    "erfc",
    "expit",
    "gammaln",
    "log_softmax",
    "logit",
    "logsumexp",
    "softmax",
    "xlogy",
]


def _float(x):
    """`x` in the floating dtype numpy would compute a transcendental function of it in."""
    return cast(x, loop_dtypes(np.sin, x)[0])


def _apply(prim, x):
    out = prim.bind1(_float(x))
    return out if is_traced(x) else wrap(out)


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
    return 1 - erf(x)


@lists_as_arrays
def gammaln(x):
    """The logarithm of the absolute value of the gamma function, elementwise.

    >>> round(float(gammaln(5.0)), 6)
    3.178054
    """
    return _apply(ew.lgamma_p, x)


@lists_as_arrays
def digamma(x):
    """The logarithmic derivative of the gamma function, elementwise.

    >>> round(float(digamma(1.0)), 6)
    -0.577216
    """
    return _apply(ew.digamma_p, x)


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
