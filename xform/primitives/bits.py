"""Integer bit primitives: bitwise xor and the threefry2x32 hash behind `xform.random`.

threefry2x32 is the counter-based block cipher of Salmon et al. ("Parallel random numbers: as
easy as 1, 2, 3", SC 2011) with 20 rounds, as JAX's default PRNG computes it: a key pair and a
pair of counters, all uint32 (0-d operands broadcast), hash to a pair of uint32 words. Both
primitives have integer outputs, so their derivatives are zero.
"""
from __future__ import annotations

import numpy as np

from xform.core import Primitive, ShapedArray
from xform.primitives.elementwise import _elementwise_vmap, _same_shape_aval, binary, nondiff_jvp
from xform.primitives.lowering import Scalar, from_flat

# ----------------------------------------------------------------------------- bitwise xor

bitwise_xor_p = nondiff_jvp(binary("bitwise_xor", np.bitwise_xor))
_xor_avals = bitwise_xor_p.abstract_eval


def _bitwise_xor_abstract_eval(x, y):
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise TypeError(f"bitwise_xor needs integer or boolean operands, got {x} and {y}")
    return _xor_avals(x, y)


bitwise_xor_p.abstract_eval = _bitwise_xor_abstract_eval
bitwise_xor_p.numba = Scalar("{0} ^ {1}")


def bitwise_xor(x, y):
    return bitwise_xor_p.bind1(x, y)


# ----------------------------------------------------------------------------- threefry2x32

# Rotation distances of the even and odd groups of four rounds, and the key-schedule parity.
ROTATIONS = np.array([[13, 15, 26, 6], [17, 29, 16, 24]], np.uint32)
PARITY = np.uint32(0x1BD11BDA)

threefry2x32_p = Primitive("threefry2x32")


def _rotate_left(x, r):
    return (x << r) | (x >> (np.uint32(32) - r))


def _threefry2x32_impl(k1, k2, x1, x2):
    shape = np.broadcast_shapes(*(np.shape(a) for a in (k1, k2, x1, x2)))
    k1, k2, x1, x2 = (np.broadcast_to(np.asarray(a, np.uint32), shape).ravel()
                      for a in (k1, k2, x1, x2))
    keys = [k1, k2, k1 ^ k2 ^ PARITY]
    with np.errstate(over="ignore"):
        x = [x1 + keys[0], x2 + keys[1]]
        for block in range(5):
            for r in ROTATIONS[block % 2]:
                x[0] = x[0] + x[1]
                x[1] = _rotate_left(x[1], r) ^ x[0]
            x[0] = x[0] + keys[(block + 1) % 3]
            x[1] = x[1] + keys[(block + 2) % 3] + np.uint32(block + 1)
    return [x[0].reshape(shape), x[1].reshape(shape)]


def _threefry2x32_abstract_eval(k1, k2, x1, x2):
    if any(a.dtype != np.uint32 for a in (k1, k2, x1, x2)):
        raise TypeError(f"threefry2x32 needs uint32 operands, got {k1}, {k2}, {x1}, {x2}")
    (out,) = _same_shape_aval(k1, k2, x1, x2, name="threefry2x32")
    return [ShapedArray(out.shape, np.uint32)] * 2


def _threefry2x32_numba(em, ins, outs):
    flat = [f"np.ascontiguousarray({a.expr}).reshape(-1)" if a.aval.shape
            else f"np.full(1, {a.expr}, np.uint32)" for a in ins]
    words = [em.fresh("word"), em.fresh("word")]
    em.line(f"{words[0]}, {words[1]} = {em.kernels.threefry2x32}({', '.join(flat)})")
    for out, word in zip(outs, words):
        from_flat(em, out, word)


threefry2x32_p.impl = _threefry2x32_impl
threefry2x32_p.abstract_eval = _threefry2x32_abstract_eval
nondiff_jvp(threefry2x32_p)
threefry2x32_p.vmap = _elementwise_vmap(threefry2x32_p)
threefry2x32_p.numba = _threefry2x32_numba


def threefry2x32(k1, k2, x1, x2):
    """The two uint32 words that the key (k1, k2) hashes the counters (x1, x2) to."""
    return threefry2x32_p.bind(k1, k2, x1, x2)
