"""Numpy implementations of the special functions numpy lacks (erf, lgamma, digamma, polygamma)."""
from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)
_lgamma = np.frompyfunc(math.lgamma, 1, 1)

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
    out = series + acc
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


def digamma(x):
    return polygamma(0, x)
