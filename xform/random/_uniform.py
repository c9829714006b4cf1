"""Uniform floats and integers from random bits: `uniform`, `randint`, `bernoulli`.

The floats are JAX's: the top mantissa-many random bits m give 1.m - 1 = m * 2**-nmant,
computed here exactly in floating point (no bit casting), then `u * (maxval - minval) +
minval`, floored at `minval`. The integers are JAX's modulus of two draws of random bits.
"""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.core import Tracer, get_aval
from xform.custom import custom_jvp
from xform.primitives.elementwise import add, convert, le_p, mul, rem_p, select
from xform.random._keys import _hash, canonical_shape, check_key, random_bits, shift_right, split

__all__ = ["bernoulli", "randint", "uniform"]


def out(x):
    """A concrete result as an xform.numpy array (so `.at` works on it); traced ones as is."""
    return x if isinstance(x, Tracer) else xnp.asarray(x)


def float_dtype(dtype, name: str) -> np.dtype:
    """The float dtype a sampler draws (float64 by default, as every xform default)."""
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} draws float32 or float64 values, not {dtype}")
    return dtype


def as_dtype(x, dtype):
    """A parameter (number, array, traced value or nested list) converted to `dtype`."""
    if isinstance(x, Tracer):
        return convert(x, dtype)
    x = xnp.asarray(x)
    return convert(x, dtype) if isinstance(x, Tracer) else np.asarray(x, dtype)


def check_broadcast(name: str, shape: tuple, *params):
    """Parameters must broadcast to the requested shape (not enlarge it)."""
    shapes = [np.shape(p) for p in params]
    try:
        ok = np.broadcast_shapes(shape, *shapes) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: parameter shapes {shapes} do not broadcast to the sample "
                         f"shape {shape}")


def unit_floats(key, shape: tuple, dtype) -> object:
    """Uniform floats in [0, 1) of `shape`, bit for bit the ones JAX draws."""
    if dtype == np.float32:
        mantissa = shift_right(random_bits(key, 32, shape), 32 - 23)
        return mul(convert(mantissa, np.float32), np.float32(2.0 ** -23))
    # The top 52 of 64 bits: the 32 of the high word, then the top 20 of the low one.
    w1, w2 = _hash(key, shape)
    high = mul(convert(w1, np.float64), 2.0 ** 20)
    low = convert(shift_right(w2, 12), np.float64)
    return mul(add(high, low), 2.0 ** -52)


def _two_sum(a, b):
    """s + t == a + b exactly, s the rounded sum (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a, dtype):
    """hi + lo == a with half the mantissa bits each (Veltkamp)."""
    c = a * dtype.type(2.0 ** ((np.finfo(dtype).nmant + 2) // 2) + 1)
    hi = c - (c - a)
    return hi, a - hi


@custom_jvp
def _fma(a, b, c):
    """a * b + c rounded once, as XLA's fused multiply-add on the CPU: the exact product by
    Dekker's splitting, then the exact sum; wrong only when the exact result lies within about
    2**-50 ulp of a rounding midpoint."""
    dtype = get_aval(a).dtype
    p = a * b
    (ah, al), (bh, bl) = _split(a, dtype), _split(b, dtype)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s, t = _two_sum(p, c)
    return xnp.where(xnp.isfinite(p), s + (t + e), p + c)


@_fma.defjvp
def _fma_jvp(primals, tangents):
    (a, b, c), (ta, tb, tc) = primals, tangents
    return _fma(a, b, c), ta * b + a * tb + tc


def draw_uniform(key, shape: tuple, dtype, minval=0.0, maxval=1.0):
    """`uniform` on a checked key, shape and dtype."""
    minval, maxval = as_dtype(minval, dtype), as_dtype(maxval, dtype)
    check_broadcast("uniform", shape, minval, maxval)
    u = unit_floats(key, shape, dtype)
    span, lo = xnp.broadcast_to(maxval - minval, shape), xnp.broadcast_to(minval, shape)
    return xnp.maximum(lo, _fma(u, span, lo))


def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
    """Uniform values in [minval, maxval), bit for bit those of `jax.random.uniform` for the
    same key (float64 by default; differentiable in `minval` and `maxval`).

    >>> float(uniform(PRNGKey(0), minval=2.0, maxval=3.0)) < 3.0
    True
    """
    key = check_key(key, "uniform")
    dtype = float_dtype(dtype, "uniform")
    return out(draw_uniform(key, canonical_shape(shape, "uniform"), dtype, minval, maxval))


def bernoulli(key, p=0.5, shape=None, mode="low"):
    """Booleans that are True with probability `p`, as `jax.random.bernoulli` (the uniform
    draws are in `p`'s float dtype: float64 for a Python float).

    >>> bernoulli(PRNGKey(0), 0.3, (4,)).dtype
    dtype('bool')
    """
    key = check_key(key, "bernoulli")
    if mode not in ("low", "high"):
        raise ValueError(f"bernoulli: mode must be 'low' or 'high', got {mode!r}")
    p = p if isinstance(p, Tracer) else xnp.asarray(p)
    dtype = get_aval(p).dtype
    if dtype.kind != "f":
        raise TypeError(f"bernoulli needs a floating-point probability p, got {dtype}")
    shape = np.shape(p) if shape is None else canonical_shape(shape, "bernoulli")
    check_broadcast("bernoulli", shape, p)
    if mode == "low":
        return out(draw_uniform(key, shape, dtype) < p)
    u = draw_uniform(key, (2, *shape), dtype)
    return out(u[1] * dtype.type(2.0 ** -np.finfo(dtype).nmant) < p - u[0])


# ----------------------------------------------------------------------------- randint

def _clip_convert(x, dtype):
    """`x` converted to the integer `dtype`, clipped to its range instead of wrapping."""
    src, dst = np.iinfo(get_aval(x).dtype), np.iinfo(dtype)
    lo, hi = max(src.min, dst.min), min(src.max, dst.max)
    return convert(xnp.clip(x, get_aval(x).dtype.type(lo), get_aval(x).dtype.type(hi)), dtype)


def _integer(x):
    x = x if isinstance(x, Tracer) else xnp.asarray(x)
    return x if get_aval(x).dtype.kind in "iu" else convert(x, np.int64)


def randint(key, shape, minval, maxval, dtype=None):
    """Uniform integers in [minval, maxval), bit for bit those of `jax.random.randint` (int64
    by default, as JAX with 64-bit integers enabled).

    >>> randint(PRNGKey(0), (3,), 0, 10).dtype
    dtype('int64')
    """
    key = check_key(key, "randint")
    shape = canonical_shape(shape, "randint")
    dtype = np.dtype(np.int64 if dtype is None else dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"randint draws integers, not {dtype}")
    minval, maxval = _integer(minval), _integer(maxval)
    check_broadcast("randint", shape, minval, maxval)
    info = np.iinfo(dtype)
    if info.bits < 32:  # sampled with 32 bits, as JAX does, for less bias
        minval = xnp.clip(convert(minval, np.int32), int(info.min), int(info.max))
        maxval = xnp.clip(convert(maxval, np.int32), int(info.min), int(info.max) + 1)
        return out(convert(_randint(key, shape, minval, maxval, np.dtype(np.int32)), dtype))
    return out(_randint(key, shape, minval, maxval, dtype))


def _randint(key, shape, minval, maxval, dtype):
    info = np.iinfo(dtype)
    unsigned = np.dtype(f"uint{info.bits}")
    top = np.asarray(min(info.max, np.iinfo(get_aval(maxval).dtype).max),
                     get_aval(maxval).dtype)
    maxval_out_of_range = xnp.broadcast_to(maxval > top, shape)
    minval = xnp.broadcast_to(_clip_convert(minval, dtype), shape)
    maxval = xnp.broadcast_to(_clip_convert(maxval, dtype), shape)
    k1, k2 = split(key)
    higher, lower = random_bits(k1, info.bits, shape), random_bits(k2, info.bits, shape)
    # The span wraps like JAX's: 1 when the range is empty, one more when maxval was clipped.
    span = convert(maxval - minval, unsigned)
    empty = le_p.bind1(maxval, minval)
    span = select(empty, unsigned.type(1), span)
    span = select(maxval_out_of_range & ~empty, add(span, unsigned.type(1)), span)

    def rem(x, y):
        return rem_p.bind1(x, y)
    # 2**nbits mod span, squared from 2**(nbits/2) without overflow.
    multiplier = rem(xnp.full(shape, 2 ** (info.bits // 2), unsigned), span)
    multiplier = rem(mul(multiplier, multiplier), span)
    offset = rem(add(mul(rem(higher, span), multiplier), rem(lower, span)), span)
    return add(minval, convert(offset, dtype))
