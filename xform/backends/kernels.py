"""Numba kernels that generated programs call for what is not a fused loop or a numpy call.

Each kernel works on a canonical layout (rows of a contiguous 2-D array) that the primitive's
lowering rule arranges with transposes and reshapes, so one compiled kernel serves every rank.
"""
import math

import numba
import numpy as np

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)

# Bernoulli numbers B_2, B_4, ..., B_16 for the asymptotic series of the polygamma functions.
_BERNOULLI = np.array([1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510])


@_jit
def _polygamma64(n, z):
    if z <= 0 and z == math.floor(z):
        return np.nan
    acc = 0.0
    fact = math.gamma(n + 1.0)
    sign = -1.0 if n % 2 else 1.0
    while z < 12.0:
        # psi^(n)(z) = psi^(n)(z + 1) - (-1)^n n! / z^(n+1)
        acc -= sign * fact / z ** (n + 1)
        z += 1.0
    inv = 1.0 / z
    if n == 0:
        series = math.log(z) - 0.5 * inv
        for k in range(1, 9):
            series -= _BERNOULLI[k - 1] / (2 * k) * inv ** (2 * k)
    else:
        series = math.gamma(n * 1.0) * inv ** n + 0.5 * fact * inv ** (n + 1)
        for k in range(1, 9):
            series += (_BERNOULLI[k - 1] * math.gamma(2.0 * k + n) / math.gamma(2.0 * k + 1)
                       * inv ** (2 * k + n))
        if n % 2 == 0:
            series = -series
    return series + acc


@_jit
def polygamma(n, x):
    return _polygamma64(n, np.float64(x))


@_jit
def digamma(x):
    return _polygamma64(0, np.float64(x))


@_jit
def argmax_rows(x, largest):
    """Index of the largest (or smallest) entry of each row; the first NaN wins, as in numpy."""
    out = np.empty(x.shape[0], np.int64)
    for r in range(x.shape[0]):
        best = 0
        for c in range(x.shape[1]):
            v = x[r, c]
            if v != v:
                best = c
                break
            if (v > x[r, best]) if largest else (v < x[r, best]):
                best = c
        out[r] = best
    return out


@_jit
def cumulate_rows(x, product, reverse):
    """Running sum (or product) along each row, from the end when `reverse`."""
    out = np.empty_like(x)
    n = x.shape[1]
    if n == 0:
        return out
    for r in range(x.shape[0]):
        c = n - 1 if reverse else 0
        acc = x[r, c]
        out[r, c] = acc
        for step in range(1, n):
            c = n - 1 - step if reverse else step
            acc = acc * x[r, c] if product else acc + x[r, c]
            out[r, c] = acc
    return out


@_jit
def _row_of(idx, b, dims):
    r = 0
    for j in range(idx.shape[1]):
        i = idx[b, j]
        n = dims[j]
        if i < 0:
            i += n
        if i < 0 or i >= n:
            raise IndexError("index out of bounds")
        r = r * n + i
    return r


@_jit
def gather_rows(x, idx, dims):
    """Rows of `x` (leading dims `dims` flattened) picked by the index tuples in `idx`."""
    out = np.empty((idx.shape[0], x.shape[1]), x.dtype)
    for b in range(idx.shape[0]):
        out[b, :] = x[_row_of(idx, b, dims), :]
    return out


@_jit
def scatter_rows(x, idx, dims, updates, accumulate):
    """A copy of `x` with rows replaced by (or incremented by) `updates`; last write wins."""
    out = x.copy()
    for b in range(idx.shape[0]):
        r = _row_of(idx, b, dims)
        if accumulate:
            out[r, :] += updates[b, :]
        else:
            out[r, :] = updates[b, :]
    return out


@_jit
def matmul_batched(a, b):
    """(B, M, K) @ (B, K, N) for dtypes BLAS does not cover (integers, booleans)."""
    out = np.zeros((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    for n in range(a.shape[0]):
        for i in range(a.shape[1]):
            for k in range(a.shape[2]):
                aik = a[n, i, k]
                for j in range(b.shape[2]):
                    out[n, i, j] += aik * b[n, k, j]
    return out
