"""Weight initializers of `jax.nn.initializers`: each builder returns `init(key, shape,
dtype=float64)`, drawing with `xform.random`.

Fan-in and fan-out follow JAX: `in_axis` (default -2) and `out_axis` (default -1) name the
input and output axes, `batch_axis` axes that are ignored, and every other axis is a receptive
field (a convolution kernel's spatial axes) that multiplies both fans. Since the draws are
`xform.random`'s, an initializer gives JAX's values for the same key where the sampler does
(uniform ones bit for bit, normal ones to within a few ulps).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

import xform.numpy as xnp
from xform import random
from xform.random._keys import canonical_shape

__all__ = ["constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
           "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform", "normal",
           "ones", "orthogonal", "truncated_normal", "uniform", "variance_scaling",
           "xavier_normal", "xavier_uniform", "zeros"]

# The standard deviation of a standard normal truncated to (-2, 2).
_TRUNCATED_STDDEV = 0.87962566103423978


def _dtype(dtype):
    return np.dtype(np.float64 if dtype is None else dtype)


def zeros(key, shape, dtype=None):
    """An array of zeros (the key is not used).

    >>> zeros(None, (2,)).tolist()
    [0.0, 0.0]
    """
    return xnp.zeros(canonical_shape(shape, "zeros"), _dtype(dtype))


def ones(key, shape, dtype=None):
    """An array of ones (the key is not used).

    >>> ones(None, (2,)).tolist()
    [1.0, 1.0]
    """
    return xnp.ones(canonical_shape(shape, "ones"), _dtype(dtype))


def constant(value, dtype=None):
    """An initializer filling arrays with `value`.

    >>> constant(0.5)(None, (2,)).tolist()
    [0.5, 0.5]
    """
    def init(key, shape, dtype=dtype):
        return xnp.full(canonical_shape(shape, "constant"), value, _dtype(dtype))
    return init


def uniform(scale=1e-2, dtype=None):
    """An initializer drawing uniformly from [0, scale).

    >>> float(uniform(1.0)(random.PRNGKey(0), ())) < 1
    True
    """
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype)
        return random.uniform(key, shape, dtype) * dtype.type(scale)
    return init


def normal(stddev=1e-2, dtype=None):
    """An initializer drawing from a normal distribution with mean 0 and `stddev`.

    >>> normal(1.0)(random.PRNGKey(0), (2, 3)).shape
    (2, 3)
    """
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype)
        return random.normal(key, shape, dtype) * dtype.type(stddev)
    return init


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0):
    """An initializer drawing stddev * (a standard normal truncated to (lower, upper)); the
    standard deviation of the result is below `stddev` (as in JAX).

    >>> truncated_normal(1.0)(random.PRNGKey(0), (4,)).shape
    (4,)
    """
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype)
        return random.truncated_normal(key, lower, upper, shape, dtype) * dtype.type(stddev)
    return init


def _size(shape, axes) -> int:
    return shape[axes] if isinstance(axes, int) else math.prod(shape[a] for a in axes)


def compute_fans(shape: Sequence[int], in_axis=-2, out_axis=-1, batch_axis=()):
    """(fan_in, fan_out) of a weight array: the sizes of the input and output axes, each
    times the receptive field (the product of the other axes, batch axes excepted)."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(f"cannot compute the fans of a {len(shape)}-dimensional weight array "
                         "with the default in_axis: give in_axis explicitly, or use a shape "
                         "with at least two axes")
    in_size, out_size = _size(shape, in_axis), _size(shape, out_axis)
    receptive = math.prod(shape) / in_size / out_size / _size(shape, batch_axis)
    return in_size * receptive, out_size * receptive


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=None):
    """An initializer whose draws have variance scale / n, n by `mode`: "fan_in", "fan_out",
    "fan_avg" or "fan_geo_avg"; `distribution` is "truncated_normal" (truncated to two
    standard deviations and rescaled), "normal" or "uniform".

    >>> w = variance_scaling(2.0, "fan_in", "normal")(random.PRNGKey(0), (400, 300))
    >>> round(float(w.var() * 400), 1)
    2.0
    """
    if mode not in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg"):
        raise ValueError(f"variance_scaling: invalid mode {mode!r}; use 'fan_in', 'fan_out', "
                         "'fan_avg' or 'fan_geo_avg'")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError(f"variance_scaling: invalid distribution {distribution!r}; use "
                         "'truncated_normal', 'normal' or 'uniform'")

    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype)
        shape = canonical_shape(shape, "variance_scaling")
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
             "fan_geo_avg": (fan_in * fan_out) ** 0.5}[mode]
        variance = dtype.type(scale / n)
        if distribution == "truncated_normal":
            stddev = np.sqrt(variance) / dtype.type(_TRUNCATED_STDDEV)
            return random.truncated_normal(key, -2, 2, shape, dtype) * stddev
        if distribution == "normal":
            return random.normal(key, shape, dtype) * np.sqrt(variance)
        return random.uniform(key, shape, dtype, -1) * np.sqrt(dtype.type(3) * variance)
    return init


def _scaled(scale, mode, distribution, doc):
    def builder(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis,
                                dtype)
    builder.__doc__ = doc
    return builder


glorot_uniform = xavier_uniform = _scaled(
    1.0, "fan_avg", "uniform", "Glorot (Xavier) uniform: variance 2 / (fan_in + fan_out).")
glorot_normal = xavier_normal = _scaled(
    1.0, "fan_avg", "truncated_normal",
    "Glorot (Xavier) normal: truncated normal of variance 2 / (fan_in + fan_out).")
lecun_uniform = _scaled(1.0, "fan_in", "uniform", "LeCun uniform: variance 1 / fan_in.")
lecun_normal = _scaled(1.0, "fan_in", "truncated_normal",
                       "LeCun normal: truncated normal of variance 1 / fan_in.")
he_uniform = kaiming_uniform = _scaled(2.0, "fan_in", "uniform",
                                       "He (Kaiming) uniform: variance 2 / fan_in.")
he_normal = kaiming_normal = _scaled(2.0, "fan_in", "truncated_normal",
                                     "He (Kaiming) normal: truncated normal of variance "
                                     "2 / fan_in.")


def orthogonal(scale=1.0, column_axis=-1, dtype=None):
    """An initializer of matrices (reshaped to `shape`) with orthonormal columns or rows,
    times `scale`, as `jax.nn.initializers.orthogonal`.

    >>> w = orthogonal()(random.PRNGKey(0), (3, 3))
    >>> bool(np.allclose(w.T @ w, np.eye(3)))
    True
    """
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype)
        shape = canonical_shape(shape, "orthogonal")
        if len(shape) < 2:
            raise ValueError("the orthogonal initializer needs a shape with at least two axes")
        if 0 in shape:
            return xnp.zeros(shape, dtype)
        n_cols = shape[column_axis]
        q = random.orthogonal(key, math.prod(shape) // n_cols, (), dtype, n_cols)
        q = xnp.reshape(q, tuple(np.delete(shape, column_axis)) + (n_cols,))
        return xnp.moveaxis(q, -1, column_axis) * dtype.type(scale)
    return init
