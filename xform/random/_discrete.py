"""Discrete samplers: `rademacher`, `categorical`, `permutation`, `shuffle`, `choice`, `poisson`.

Shuffles are JAX's: sort by fresh 32-bit random keys, stably, for as many rounds as JAX takes.
Without a sort primitive the stable order comes from ranks (how many keys are smaller, or equal
and earlier), which costs O(n**2) comparisons for n elements along the shuffled axis: fine for
thousands of elements, not for millions.
"""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform import lax
from xform.core import Tracer, get_aval
from xform.random._continuous import draw_gumbel
from xform.random._keys import canonical_shape, check_key, random_bits, split
from xform.random._uniform import (
    _randint,
    as_dtype,
    bernoulli,
    check_broadcast,
    draw_uniform,
    float_dtype,
    out,
)
from xform.scipy.special import gammaln

__all__ = ["categorical", "choice", "permutation", "poisson", "rademacher", "shuffle"]


def rademacher(key, shape=(), dtype=None):
    """-1 or +1 with equal probability (int64 by default), as `jax.random.rademacher`.

    >>> sorted(set(rademacher(PRNGKey(0), (20,)).tolist()))
    [-1, 1]
    """
    key = check_key(key, "rademacher")
    dtype = np.dtype(np.int64 if dtype is None else dtype)
    flips = bernoulli(key, 0.5, canonical_shape(shape, "rademacher"))
    return out(xnp.asarray(2 * xnp.asarray(flips).astype(dtype) - 1).astype(dtype))


# ----------------------------------------------------------------------------- orders

def _order_onehot(keys, descending=False):
    """onehot[..., i, r]: element i of the last axis has rank r in the stable order of
    `keys` (ascending, or descending)."""
    n = np.shape(keys)[-1]
    mine, other = keys[..., :, None], keys[..., None, :]
    ahead = other > mine if descending else other < mine
    earlier = np.tri(n, n, -1, bool)
    rank = xnp.sum(ahead | ((other == mine) & earlier), axis=-1)
    return rank[..., :, None] == np.arange(n)


def _reorder(onehot, x):
    """x (..., n) rearranged so that position r holds the element of rank r."""
    zero = np.zeros((), get_aval(x).dtype if isinstance(x, Tracer) else np.asarray(x).dtype)
    return xnp.sum(xnp.where(onehot, x[..., :, None], zero), axis=-2)


def _shuffle(key, x, axis: int):
    """x with each slice along `axis` shuffled, as JAX's `_shuffle`."""
    size = max(1, math.prod(np.shape(x)))
    rounds = math.ceil(3 * math.log(size) / math.log(2 ** 32 - 1))
    x = xnp.moveaxis(x, axis, -1)
    for _ in range(rounds):
        key, subkey = split(key)
        sort_keys = xnp.moveaxis(random_bits(subkey, 32, _moved_back(x, axis)), axis, -1)
        x = _reorder(_order_onehot(sort_keys), x)
    return xnp.moveaxis(x, -1, axis)


def _moved_back(x, axis):
    shape = list(np.shape(x))
    shape.insert(axis % len(shape), shape.pop())
    return tuple(shape)


def _take(x, index, axis: int):
    return xnp.moveaxis(xnp.moveaxis(x, axis, 0)[index], 0, axis)


def _axis(axis, ndim, name):
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of bounds for {max(ndim, 1)} dimensions")
    return axis % max(ndim, 1)


def permutation(key, x, axis=0, independent=False):
    """A random permutation of range(x) (integer x) or of x along `axis`, the same as
    `jax.random.permutation` for the same key; `independent=True` shuffles every slice along
    `axis` on its own. Costs O(n**2) for n elements (see the module docstring).

    >>> sorted(permutation(PRNGKey(0), 5).tolist())
    [0, 1, 2, 3, 4]
    """
    key = check_key(key, "permutation")
    if np.ndim(x) == 0:
        if isinstance(x, Tracer) or np.asarray(x).dtype.kind not in "iu":
            raise TypeError("permutation needs a concrete integer or an array with at least "
                            f"one dimension, got {x!r}")
        return out(_shuffle(key, np.arange(int(x)), 0))
    x = x if isinstance(x, Tracer) else xnp.asarray(x)
    axis = _axis(axis, np.ndim(x), "permutation")
    if independent or np.ndim(x) == 1:
        return out(_shuffle(key, x, axis))
    return out(_take(x, _shuffle(key, np.arange(np.shape(x)[axis]), 0), axis))


def shuffle(key, x, axis=0):
    """x shuffled along `axis`, every slice on its own (JAX's deprecated `shuffle`; prefer
    `permutation(key, x, axis, independent=True)`, which it equals).

    >>> sorted(shuffle(PRNGKey(1), np.arange(4.0)).tolist())
    [0.0, 1.0, 2.0, 3.0]
    """
    return permutation(key, x, axis, independent=True)


def choice(key, a, shape=(), replace=True, p=None, axis=0, mode=None):
    """Random elements of `a` (an array, or range(a) for an integer), as `jax.random.choice`:
    with replacement and no `p` the same draws as JAX (randint); without replacement a
    prefix of `permutation`; with probabilities `p`, inverse-CDF (with replacement) or the
    Gumbel top-k trick (without).

    >>> choice(PRNGKey(0), 10, (3,), replace=False).shape
    (3,)
    """
    key = check_key(key, "choice")
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"choice: shape must be a sequence, got {shape!r}")
    shape = canonical_shape(shape, "choice")
    arr = a if isinstance(a, Tracer) else xnp.asarray(a)
    if np.ndim(arr) == 0:
        if isinstance(a, Tracer):
            raise TypeError("choice needs a concrete integer a (or an array)")
        n_inputs = int(a)
    else:
        axis = _axis(axis, np.ndim(arr), "choice")
        n_inputs = np.shape(arr)[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return out(xnp.zeros(shape, get_aval(arr).dtype))
    if n_inputs <= 0:
        raise ValueError("choice: a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"choice: cannot take a larger sample (size {n_draws}) than the "
                         f"population (size {n_inputs}) when replace=False")
    ind = _choice_indices(key, n_inputs, n_draws, shape, replace, p, mode)
    if np.ndim(arr) == 0:
        return out(xnp.reshape(ind, shape))
    result = _take(arr, xnp.reshape(ind, (n_draws,)), axis)
    full = np.shape(arr)
    return out(xnp.reshape(result, (*full[:axis], *shape, *full[axis + 1:])))


def _choice_indices(key, n_inputs, n_draws, shape, replace, p, mode):
    if p is None:
        if replace:
            return _randint(key, shape, np.int64(0), np.int64(n_inputs), np.dtype(np.int64))
        return _shuffle(key, np.arange(n_inputs), 0)[:n_draws]
    p = xnp.asarray(p)
    dtype = np.result_type(get_aval(p).dtype, np.float32)
    p = as_dtype(p, float_dtype(dtype, "choice"))
    if np.shape(p) != (n_inputs,):
        raise ValueError(f"choice: p must be a vector of the size of a along axis "
                         f"({n_inputs}), got shape {np.shape(p)}")
    if replace:
        cdf = xnp.cumsum(p)
        r = cdf[-1] * (1 - draw_uniform(key, shape, get_aval(cdf).dtype))
        return xnp.sum(cdf < r[..., None], axis=-1)
    g = draw_gumbel(key, (n_inputs,), get_aval(p).dtype, mode or "low") + xnp.log(p)
    return _reorder(_order_onehot(g, descending=True), np.arange(n_inputs))[:n_draws]


def categorical(key, logits, axis=-1, shape=None, replace=True, mode=None):
    """Indices drawn with probabilities softmax(logits) along `axis`, by the Gumbel-max trick
    (with replacement) or Gumbel top-k (without), as `jax.random.categorical`.

    >>> categorical(PRNGKey(0), np.log(np.array([0.2, 0.8])), shape=(5,)).shape
    (5,)
    """
    key = check_key(key, "categorical")
    logits = logits if isinstance(logits, Tracer) else xnp.asarray(logits)
    dtype = float_dtype(get_aval(logits).dtype, "categorical")
    ndim = np.ndim(logits)
    axis = _axis(axis, ndim, "categorical") - ndim
    batch = tuple(np.delete(np.shape(logits), axis))
    shape = batch if shape is None else canonical_shape(shape, "categorical")
    check_broadcast("categorical", shape, np.empty(batch))
    prefix = shape[:len(shape) - len(batch)]
    mode = mode or "low"
    if replace:
        drawn = list(shape[len(prefix):])
        drawn.insert(axis % ndim, np.shape(logits)[axis])
        g = draw_gumbel(key, (*prefix, *drawn), dtype, mode)
        return out(xnp.argmax(g + logits, axis=axis))
    k = math.prod(prefix)
    if k > np.shape(logits)[axis]:
        raise ValueError(f"categorical: cannot draw {k} samples without replacement from "
                         f"{np.shape(logits)[axis]} categories")
    scores = xnp.moveaxis(logits + draw_gumbel(key, np.shape(logits), dtype, mode), axis, -1)
    top = _reorder(_order_onehot(scores, descending=True),
                   np.arange(np.shape(scores)[-1]))[..., :k]
    return out(xnp.reshape(xnp.moveaxis(top, -1, 0), shape))


# ----------------------------------------------------------------------------- poisson

def _poisson_knuth(key, lam, shape, dtype):
    def body(state):
        key, k, log_prod = state
        key, subkey = split(key)
        k = xnp.where(log_prod > -lam, k + 1, k)
        return key, k, log_prod + xnp.log(draw_uniform(subkey, shape, np.dtype(np.float32)))

    state = (key, xnp.zeros(shape, dtype), xnp.zeros(shape, np.float32))
    return lax.while_loop(lambda s: xnp.any(s[2] > -lam), body, state)[1] - 1


def _poisson_rejection(key, lam, shape, dtype):
    """Hormann's transformed rejection with squeeze (PTRS), as JAX's."""
    log_lam = xnp.log(lam)
    b = 0.931 + 2.53 * xnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)

    def body(state):
        key, k_out, accepted = state
        key, key_u, key_v = split(key, 3)
        u = draw_uniform(key_u, shape, get_aval(lam).dtype) - 0.5
        v = draw_uniform(key_v, shape, get_aval(lam).dtype)
        u_shifted = 0.5 - xnp.abs(u)
        k = xnp.floor((2 * a / u_shifted + b) * u + lam + 0.43)
        s = xnp.log(v * inv_alpha / (a / (u_shifted * u_shifted) + b))
        t = -lam + k * log_lam - gammaln(xnp.maximum(k, 0.0) + 1)
        accept1 = (u_shifted >= 0.07) & (v <= v_r)
        reject = (k < 0) | ((u_shifted < 0.013) & (v > u_shifted))
        accept = accept1 | (~reject & (s <= t))
        return key, xnp.where(accept & ~accepted, k, k_out), accepted | accept

    state = (key, xnp.full(shape, -1.0, get_aval(lam).dtype), xnp.zeros(shape, bool))
    return lax.while_loop(lambda s: ~xnp.all(s[2]), body, state)[1].astype(dtype)


def poisson(key, lam, shape=None, dtype=None):
    """Poisson(lam) counts (int64 by default): Knuth's method below lam = 10, Hormann's
    transformed rejection above, as `jax.random.poisson`.

    >>> poisson(PRNGKey(0), 3.0, (4,)).dtype
    dtype('int64')
    """
    key = check_key(key, "poisson")
    dtype = np.dtype(np.int64 if dtype is None else dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"poisson draws integers, not {dtype}")
    lam = lam if isinstance(lam, Tracer) else xnp.asarray(lam)
    lam = as_dtype(lam, np.result_type(get_aval(lam).dtype, np.float32))
    shape = np.shape(lam) if shape is None else canonical_shape(shape, "poisson")
    check_broadcast("poisson", shape, lam)
    lam = xnp.broadcast_to(lam, shape)
    small = xnp.isnan(lam) | (lam < 10)
    knuth = _poisson_knuth(key, xnp.where(small, lam, 0.0), shape, dtype)
    rejection = _poisson_rejection(key, xnp.where(small, 1e5, lam), shape, dtype)
    result = xnp.where(small, knuth, rejection)
    return out(xnp.where(lam == 0, xnp.zeros_like(result), result))
