"""PRNG keys and raw random bits: seeding, `split`, `fold_in` and `bits`, as JAX computes them.

A key is a uint32 array of shape (2,), JAX's "raw" key. Every operation hashes counters with
the key through threefry2x32 the way JAX does with `jax_threefry_partitionable=True` (its
default): element i of a sample of any shape hashes the counter pair (i >> 32, i & 0xFFFFFFFF),
and 32 random bits are the xor of the two words (64 bits: the high word, then the low one).
"""
from __future__ import annotations

import math
import operator

import numpy as np

import xform.numpy as xnp
from xform.core import Tracer, get_aval
from xform.primitives.bits import bitwise_xor, threefry2x32
from xform.primitives.elementwise import add, convert, floordiv_p, mul

__all__ = ["PRNGKey", "bits", "fold_in", "key", "key_data", "split", "wrap_key_data"]

_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def _is_array_like(x) -> bool:
    return isinstance(x, (Tracer, np.ndarray, np.generic, int, bool, float, list, tuple))


def check_key(key, name: str):
    """`key` as a uint32 array of shape (2,), or a clear error."""
    if not _is_array_like(key):
        raise TypeError(f"{name} needs a PRNG key (xform.random.PRNGKey(seed)), got "
                        f"{type(key).__name__}")
    aval = get_aval(key) if isinstance(key, Tracer) else get_aval(np.asarray(key))
    if aval.dtype != np.uint32 or aval.shape != (2,):
        hint = (" (a batch of keys: map over it with xf.vmap)"
                if aval.dtype == np.uint32 and aval.shape[-1:] == (2,) else "")
        raise TypeError(f"{name} needs a PRNG key, a uint32 array of shape (2,) as made by "
                        f"xform.random.PRNGKey(seed), got {aval}{hint}")
    return key if isinstance(key, Tracer) else np.asarray(key)


def canonical_shape(shape, name: str) -> tuple[int, ...]:
    """A shape argument as a tuple of non-negative Python ints."""
    try:
        dims = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(
            operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name}: shape must be a tuple of integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: shape must not have negative sizes, got {dims}")
    return dims


def _key_words(key):
    return key[0], key[1]


def _counters(shape):
    """The low and high words of each element's flat index (the high ones are all zero)."""
    size = math.prod(shape)
    if size >= 2 ** 32:
        raise ValueError(f"cannot draw {size} random values at once (at most 2**32 - 1)")
    return np.uint32(0), np.arange(size, dtype=np.uint32).reshape(shape)


def _hash(key, shape):
    """The two threefry words of every element of `shape`."""
    k1, k2 = _key_words(key)
    hi, lo = _counters(shape)
    return threefry2x32(k1, k2, hi, lo)


def random_bits(key, width: int, shape) -> object:
    """`width` random bits per element of `shape`, as unsigned integers of that width."""
    w1, w2 = _hash(key, shape)
    if width == 64:
        return add(mul(convert(w1, np.uint64), np.uint64(2 ** 32)), convert(w2, np.uint64))
    return convert(bitwise_xor(w1, w2), _UINT[width])


def shift_right(bits, n: int):
    """`bits >> n` for unsigned integers (a division by a power of two)."""
    dtype = get_aval(bits).dtype
    return floordiv_p.bind1(bits, np.asarray(2 ** n, dtype))


# ----------------------------------------------------------------------------- keys

def PRNGKey(seed) -> np.ndarray:
    """A PRNG key from an integer seed, as `jax.random.PRNGKey` with 64-bit integers enabled:
    the high and low 32 bits of the seed (a 32-bit seed gets a zero high word).

    >>> PRNGKey(42).tolist()
    [0, 42]
    """
    if isinstance(seed, Tracer):
        return _traced_seed(seed)
    if isinstance(seed, int) and not isinstance(seed, bool):
        value, wide = seed, True
    else:
        arr = np.asarray(seed)
        if arr.ndim:
            raise TypeError(f"PRNGKey needs a scalar seed, got an array of shape {arr.shape}; "
                            "map over seeds with xf.vmap")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"PRNGKey needs an integer seed, got {seed!r}")
        value, wide = int(arr), arr.dtype.itemsize == 8
    if not -2 ** 63 <= value < 2 ** 64:
        raise OverflowError(f"PRNGKey: the seed {value} does not fit in 64 bits")
    value &= 2 ** 64 - 1 if wide else 0xFFFFFFFF
    return xnp.asarray(np.array([value >> 32, value & 0xFFFFFFFF], np.uint32))


def _traced_seed(seed):
    aval = get_aval(seed)
    if aval.shape or not np.issubdtype(aval.dtype, np.integer):
        raise TypeError(f"PRNGKey needs a scalar integer seed, got {aval}")
    if aval.dtype.itemsize < 8:
        return xnp.stack([np.uint32(0), convert(seed, np.uint32)])
    high = floordiv_p.bind1(seed, np.asarray(2 ** 32, aval.dtype))
    return xnp.stack([convert(high, np.uint32), convert(seed, np.uint32)])


def key(seed) -> np.ndarray:
    """A PRNG key from an integer seed: the same key as `PRNGKey(seed)` (xform keys are
    always JAX's raw uint32 keys).

    >>> key(0).tolist()
    [0, 0]
    """
    return PRNGKey(seed)


def key_data(keys):
    """The uint32 words of a key or array of keys (xform keys are their own data).

    >>> key_data(PRNGKey(7)).tolist()
    [0, 7]
    """
    aval = get_aval(keys) if isinstance(keys, Tracer) else get_aval(np.asarray(keys))
    if aval.dtype != np.uint32 or aval.shape[-1:] != (2,):
        raise TypeError(f"key_data needs keys (uint32 arrays whose last axis has size 2), "
                        f"got {aval}")
    return keys


def wrap_key_data(key_bits_array, *, impl=None):
    """Keys from their uint32 words (shape (..., 2)); only the threefry2x32 implementation.

    >>> wrap_key_data(np.array([0, 7], np.uint32)).tolist()
    [0, 7]
    """
    if impl not in (None, "threefry2x32"):
        raise ValueError(f"xform.random only implements threefry2x32 keys, not {impl!r}")
    return key_data(key_bits_array if isinstance(key_bits_array, Tracer)
                    else xnp.asarray(key_bits_array))


def split(key, num=2):
    """`num` new keys (an int or a shape) from one, as `jax.random.split`.

    >>> split(PRNGKey(0)).shape
    (2, 2)
    """
    key = check_key(key, "split")
    shape = canonical_shape(num, "split")
    w1, w2 = _hash(key, shape)
    return xnp.stack([w1, w2], axis=-1)


def fold_in(key, data):
    """A new key from a key and a 32-bit integer, as `jax.random.fold_in` (it equals
    `split(key, n)[data]` for any n > data).

    >>> bool((fold_in(PRNGKey(0), 3) == split(PRNGKey(0), 4)[3]).all())
    True
    """
    key = check_key(key, "fold_in")
    if np.ndim(data):
        raise TypeError(f"fold_in needs a scalar integer, got shape {np.shape(data)}; map "
                        "over data with xf.vmap")
    if isinstance(data, Tracer):
        if not np.issubdtype(get_aval(data).dtype, np.integer):
            raise TypeError(f"fold_in needs integer data, got {get_aval(data)}")
        word = convert(data, np.uint32)
    else:
        value = operator.index(data)
        if isinstance(data, int) and not 0 <= value < 2 ** 32:
            raise OverflowError(f"fold_in: the Python integer {value} is out of bounds for "
                                "uint32")
        word = np.uint32(value & 0xFFFFFFFF)
    k1, k2 = _key_words(key)
    w1, w2 = threefry2x32(k1, k2, np.uint32(0), word)
    return xnp.stack([w1, w2])


def bits(key, shape=(), dtype=None):
    """Uniformly random unsigned integers (uint64 unless `dtype` says otherwise), the same as
    `jax.random.bits` with 64-bit integers enabled.

    >>> bits(PRNGKey(0), (3,), np.uint32).dtype
    dtype('uint32')
    """
    key = check_key(key, "bits")
    dtype = np.dtype(np.uint64 if dtype is None else dtype)
    if dtype.kind != "u":
        raise ValueError(f"bits needs an unsigned integer dtype, got {dtype}")
    return random_bits(key, dtype.itemsize * 8, canonical_shape(shape, "bits"))
