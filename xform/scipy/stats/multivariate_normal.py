"""The multivariate normal distribution, as scipy.stats.multivariate_normal: x has the
components along its last axis (for a 1-d distribution, a plain array of points), mean is 1-d
(default zeros), cov a matrix, a vector (its diagonal) or a scalar (times the identity).
Evaluated through the Cholesky factor of cov; cov must be positive definite
(allow_singular=True is not supported)."""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays, shape_of
from xform.scipy import linalg
from xform.scipy.stats._common import const, floats

__all__ = ["entropy", "logpdf", "pdf"]


def _dimension(mean, cov, x):
    if mean is not None:
        return max(int(np.prod(shape_of(mean))), 1)
    cov_shape = shape_of(cov)
    if cov_shape:
        return cov_shape[0]
    return 1


def _parameters(x, mean, cov):
    """x as (..., k), mean (k,) and the k x k covariance matrix, in one float dtype."""
    k = _dimension(mean, cov, x)
    if mean is None:
        mean = np.zeros(k, xnp.result_type(x, cov))
    x, mean, cov = floats(x, mean, cov)
    mean = xnp.reshape(mean, (k,))
    if k == 1 and (not shape_of(x) or shape_of(x)[-1] != 1):
        x = xnp.expand_dims(x, -1)
    if shape_of(x)[-1] != k:
        raise ValueError(f"multivariate_normal: x of shape {shape_of(x)} does not have the "
                         f"dimension {k} of mean and cov along its last axis")
    ndim = len(shape_of(cov))
    if ndim == 0:
        cov = cov * xnp.eye(k, dtype=xnp.result_type(cov))
    elif ndim == 1:
        cov = xnp.diag(cov)
    if shape_of(cov) != (k, k):
        raise ValueError(f"multivariate_normal: cov of shape {shape_of(cov)} does not match "
                         f"the dimension {k}")
    return x, mean, cov, k


@lists_as_arrays
def logpdf(x, mean=None, cov=1, allow_singular=False):
    """-(k log 2π + log det cov + (x - mean)ᵀ cov⁻¹ (x - mean)) / 2, for each point of x.

    >>> round(float(logpdf(np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.eye(2))), 6)
    -2.837877
    """
    if allow_singular:
        raise NotImplementedError("multivariate_normal: allow_singular=True is not supported; "
                                  "pass a positive-definite covariance")
    x, mean, cov, k = _parameters(x, mean, cov)
    chol = xnp.linalg.cholesky(cov)
    batch = shape_of(x)[:-1]
    diff = xnp.reshape(x - mean, (-1, k)).T
    y = linalg.solve_triangular(chol, diff, lower=True)
    mahalanobis = xnp.reshape(xnp.sum(y * y, 0), batch)
    log_det = 2 * xnp.sum(xnp.log(xnp.diagonal(chol)))
    return -0.5 * (const(k * math.log(2 * math.pi), mahalanobis) + log_det + mahalanobis)


@lists_as_arrays
def pdf(x, mean=None, cov=1, allow_singular=False):
    """The multivariate normal density.

    >>> round(float(pdf(np.zeros(2), np.zeros(2), np.eye(2))), 6)
    0.159155
    """
    return xnp.exp(logpdf(x, mean, cov, allow_singular))


@lists_as_arrays
def entropy(mean=None, cov=1):
    """The differential entropy (k (1 + log 2π) + log det cov) / 2.

    >>> round(float(entropy(np.zeros(2), np.eye(2))), 6)
    2.837877
    """
    like = cov if mean is None else xnp.result_type(mean, cov)
    point = np.zeros(_dimension(mean, cov, None), xnp.result_type(like))
    _, _, cov, k = _parameters(point, mean, cov)
    log_det = 2 * xnp.sum(xnp.log(xnp.diagonal(xnp.linalg.cholesky(cov))))
    return 0.5 * (const(k * (1.0 + math.log(2 * math.pi)), log_det) + log_det)
