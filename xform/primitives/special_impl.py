"""Numpy implementations of special functions that neither numpy nor scipy.special provides as
accurately: erf, erfc, lgamma (libm's), digamma, polygamma, erfcx, and the derivative of the
regularized incomplete gamma function in its shape parameter."""
from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _lgamma_or_inf(x):
    """libm's lgamma, inf at the poles and where it overflows (as scipy's gammaln), where
    Python's math.lgamma raises."""
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf


_lgamma = np.frompyfunc(_lgamma_or_inf, 1, 1)

# Bernoulli numbers B_2, B_4, ..., B_16 for the asymptotic series of the polygamma functions.
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510]
_SHIFT_TO = 12.0


def _apply(fn, x):
    x = np.asarray(x)
    # frompyfunc hands back a Python float (not an array) for 0-d input.
    out = np.asarray(fn(x.astype(np.float64)), dtype=np.float64)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


def erf(x):
    return _apply(_erf, x)


def erfc(x):
    """libm's erfc: scipy's loses up to 5e-14 (relative) for large x."""
    return _apply(_erfc, x)


def lgamma(x):
    return _apply(_lgamma, x)


def logistic(x):
    """1 / (1 + exp(-x)), computed without overflow for either sign of x."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def polygamma(n: int, x):
    """The n-th derivative of digamma: recurrence up to x >= 12, then the asymptotic series."""
    x = np.asarray(x)
    z = x.astype(np.float64)
    acc = np.zeros_like(z)
    fact = math.factorial(n)
    poles = (z <= 0) & (z == np.floor(z))
    pole_value = _polygamma_at_poles(n, z)
    z = np.where(poles, np.nan, z)
    while True:
        small = z < _SHIFT_TO
        if not small.any():
            break
        # psi^(n)(z) = psi^(n)(z + 1) - (-1)^n n! / z^(n+1)
        term = np.where(small, (-1.0) ** n * fact / np.where(small, z, 1.0) ** (n + 1), 0.0)
        acc -= term
        z = np.where(small, z + 1, z)
    inv = 1.0 / z
    if n == 0:
        series = np.log(z) - 0.5 * inv
        for k, b in enumerate(_BERNOULLI, start=1):
            series -= b / (2 * k) * inv ** (2 * k)
    else:
        series = math.factorial(n - 1) * inv ** n + 0.5 * fact * inv ** (n + 1)
        for k, b in enumerate(_BERNOULLI, start=1):
            series += b * math.factorial(2 * k + n - 1) / math.factorial(2 * k) * \
                inv ** (2 * k + n)
        if n % 2 == 0:
            series = -series   # the series carries the sign (-1)**(n + 1)
    out = np.where(poles, pole_value, series + acc)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


def _polygamma_at_poles(n: int, z):
    """scipy's values at the poles 0, -1, -2, ...: digamma is -inf at +0, +inf at -0 and NaN at
    the negative integers; polygamma(n >= 1) is +inf for odd n and -inf for even n."""
    if n == 0:
        return np.where(z == 0, np.copysign(np.inf, -np.copysign(1.0, z)), np.nan)
    return np.full_like(z, np.inf if n % 2 else -np.inf)


def digamma(x):
    return polygamma(0, x)


def erfcx(x):
    """exp(x^2) erfc(x), the square's rounding error compensated (Dekker's product) so that
    exp(x^2) is accurate for large |x|; an asymptotic series beyond x = 26, where erfc
    underflows."""
    x = np.asarray(x)
    z = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        hi = z * z
        c = 134217729.0 * z
        zh = c - (c - z)
        zl = z - zh
        lo = ((zh * zh - hi) + 2.0 * zh * zl) + zl * zl
        middle = np.exp(hi) * (1.0 + lo) * np.asarray(_erfc(z), np.float64)
        y = 0.5 / z / z
        total, term = np.ones_like(z), np.ones_like(z)
        for k in range(1, 9):
            term = term * -(2 * k - 1) * y
            total = total + term
        out = np.where(z < 26.0, middle, total / (z * math.sqrt(math.pi)))
        out = np.where(z < -26.7, np.inf, out)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


_EPS = 2.0 ** -53
_CONVERGED = 4 * _EPS  # a step of two ulps ends an iteration (rounding noise may hide less)
_MAX_STEPS = 100000


def _gamma_series_grad(a, x, prefix, digamma):
    """dP/da from the series P = prefix / a · Σ x^n / ((a + 1) ... (a + n)), term by term."""
    term, total = np.ones_like(a), np.ones_like(a)
    dterm, dtotal = np.zeros_like(a), np.zeros_like(a)
    for n in range(1, _MAX_STEPS):
        dterm = (dterm - term / (a + n)) * x / (a + n)
        term = term * x / (a + n)
        total = total + term
        dtotal = dtotal + dterm
        if np.all((term <= _EPS * total) & (np.abs(dterm) <= _EPS * np.abs(dtotal))):
            break
    return prefix / a * (total * (np.log(x) - digamma(a + 1)) + dtotal)


def _gamma_fraction_grad(a, x, prefix, digamma):
    """dQ/da from the continued fraction Q = prefix · K, K = 1/(x + 1 - a - 1(1 - a)/(x + 3 - a
    - ...)), its convergents A/B and their derivatives in a by the three-term recurrence."""
    one, zero = np.ones_like(a), np.zeros_like(a)
    a2, a1, b2, b1 = one, zero, zero, one
    da2, da1, db2, db1 = zero, zero, zero, zero
    value, dvalue = zero, zero
    done, settled = np.zeros(a.shape, bool), np.zeros(a.shape, bool)
    for k in range(1, _MAX_STEPS):
        bk = x + 2.0 * k - 1.0 - a
        ak = one if k == 1 else (k - 1.0) * (a - (k - 1.0))
        dak = 0.0 if k == 1 else k - 1.0
        a_new, b_new = bk * a1 + ak * a2, bk * b1 + ak * b2
        da_new = -a1 + bk * da1 + dak * a2 + ak * da2
        db_new = -b1 + bk * db1 + dak * b2 + ak * db2
        a2, a1, b2, b1 = a1, a_new, b1, b_new
        da2, da1, db2, db1 = da1, da_new, db1, db_new
        scale = np.abs(b1)
        a2, a1, b2, b1, da2, da1, db2, db1 = (v / scale for v in (a2, a1, b2, b1, da2, da1,
                                                                  db2, db1))
        new = a1 / b1
        dnew = (da1 - new * db1) / b1
        # Each element keeps the value it converged to (the recurrence is not carried on).
        done |= (np.abs(new - value) <= _CONVERGED * np.abs(new)) & \
            (np.abs(dnew - dvalue) <= _CONVERGED * np.abs(dnew))
        value, dvalue = np.where(settled, value, new), np.where(settled, dvalue, dnew)
        settled = done.copy()
        if np.all(settled):
            break
    return prefix * (value * (np.log(x) - digamma(a)) + dvalue)


def igamma_grad_a(a, x):
    """dP(a, x)/da for the regularized lower incomplete gamma function P (scipy's gammainc):
    the series for x <= max(a, 1), else minus the derivative of Q's continued fraction."""
    from scipy.special import digamma, gammaln, xlogy
    dtype = np.result_type(a, x)
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    # P is constant along the edges (x = 0, x = inf, a = inf), except at a = 0, where only
    # one side exists.
    undefined = ~((a > 0) & (x >= 0)) | ((a == np.inf) & (x == np.inf))
    out = np.where(undefined, np.nan, 0.0)
    regular = (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)
    series = regular & ((x <= 1) | (x <= a))
    for mask, grad, sign in [(series, _gamma_series_grad, 1.0),
                             (regular & ~series, _gamma_fraction_grad, -1.0)]:
        if mask.any():
            am, xm = a[mask], x[mask]
            prefix = np.exp(xlogy(am, xm) - xm - gammaln(am))
            out[mask] = sign * grad(am, xm, prefix, digamma)
    return out.astype(dtype)
