"""Vectorisable exp, expm1, log, tanh, sin and cos for generated Numba loops.

Numba lowers `math.exp` and friends to scalar libm calls, which stop LLVM from vectorising a
fused loop. These versions are branch-free arithmetic (range reduction, a polynomial, bit
tricks for powers of two), so a loop calling them becomes SIMD code; each is within 2 ulp of
the correctly rounded float64 result (tests/test_vecmath.py checks it against numpy's extended
precision). float32 inputs are computed in float64 and rounded once, within 1 ulp. sin and cos
reduce their argument exactly only where `trig_reducible`; generated loops check it and rerun
with libm otherwise.
"""
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from xform.backends import cache_dir

_jit = numba.njit(cache=cache_dir() is not None, error_model="numpy", nogil=True)
# Internal steps are inlined into the functions above them by Numba itself: fewer functions
# to compile (each costs Numba a fixed overhead) on a cold cache.
_helper = numba.njit(inline="always")


_INT_OF = {types.float64: types.int64, types.float32: types.int32}
_FLOAT_OF = {types.int64: types.float64, types.int32: types.float32}


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64 (float32) as an int64 (int32): a no-op reinterpretation."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(signature.return_type.bitwidth))
    return _INT_OF[x](x), codegen


@intrinsic
def _from_bits(typingctx, n):
    """The float64 (float32) whose IEEE bits are the int64 (int32) `n`."""
    def codegen(context, builder, signature, args):
        width = signature.return_type.bitwidth
        return builder.bitcast(args[0], ir.DoubleType() if width == 64 else ir.FloatType())
    return _FLOAT_OF[n](n), codegen


# Adding then subtracting 1.5 * 2**52 rounds a float64 below 2**51 to the nearest integer, and
# leaves that integer in the low bits of the sum.
_ROUND = 6755399441055744.0
_ROUND_BITS = 0x4338000000000000


def _reciprocal_factorials(first, last, step=1):
    return tuple((-1.0 if step == 2 and (k // 2) % 2 else 1.0) / math.factorial(k)
                 for k in range(first, last + 1, step))


# exp(r) - 1 - r = r**2 * (1/2! + r/3! + ... + r**15/17!) for |r| <= ln 2.
_EXPM1_C = _reciprocal_factorials(2, 17)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts; n * _LN2_HI is exact for |n| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_TINY = 2.0 ** -28  # below this, tanh(x), sin(x) and expm1(x) round to x


@_helper
def _reduce_ln2(x):
    """x = n ln2 + r with |r| <= ln2/2: returns n (as int64) and r."""
    x = min(max(x, -746.0), 710.0)  # exp underflows to 0 and overflows to inf past these
    shifted = x * _LOG2E + _ROUND
    n = shifted - _ROUND
    return _bits(shifted) - _ROUND_BITS, (x - n * _LN2_HI) - n * _LN2_LO


@_helper
def _expm1_poly(r):
    """expm1(r) = r + r**2 * p for |r| <= ln 2: returns p and s, where p = 1/2 + r * s."""
    c = _EXPM1_C
    s = c[15]
    for k in range(14, 0, -1):
        s = s * r + c[k]
    return c[0] + r * s, s


@_helper
def _pow2(n):
    """2.0**n for -1022 <= n <= 1023, built from its exponent bits."""
    return _from_bits((n + 1023) << 52)


@_jit
def exp_f64(x):
    n, r = _reduce_ln2(x)
    p, _ = _expm1_poly(r)
    half = n >> 1  # two factors keep each power of two normal near underflow and overflow
    y = (1.0 + (r + r * r * p)) * _pow2(half) * _pow2(n - half)
    return y if x == x else x


# Written as single conditional expressions: LLVM vectorises those, not nested ones.
@_jit
def expm1_f64(x):
    n, r = _reduce_ln2(x)
    small = abs(x) < _LN2_HI  # then no reduction: 2**n - 1 would cancel against expm1(r)
    n = 0 if small else n
    r = x if small else r
    p, _ = _expm1_poly(r)
    em = r + r * r * p
    scale = _pow2(n)
    y = scale * em + (scale - 1.0)
    half = n >> 1
    large = (1.0 + em) * _pow2(half) * _pow2(n - half)
    y = large if x > 40.0 else y  # -1 is below rounding
    y = -1.0 if x < -40.0 else y
    return x if x == 0.0 or x != x else y  # keeps -0.0 and NaN


@_jit
def tanh_f64(x):
    """tanh|x| = e / (e + 2) with e = expm1(2|x|), and the sign of x. Below |x| = ln2/2 it is
    |x| + |x| r**2 (2 s - p) / (e + 2), from the parts of e = r + r**2 p, r = 2|x|, which avoids
    the rounding of e/(e + 2) near 0."""
    a = abs(x)
    r = min(2.0 * a, 40.0)  # tanh is 1 past |x| = 20
    n, reduced = _reduce_ln2(r)
    small = r < _LN2_HI
    n = 0 if small else n
    reduced = r if small else reduced
    p, s = _expm1_poly(reduced)
    scale = _pow2(n)
    e = scale * (reduced + reduced * reduced * p) + (scale - 1.0)
    y = e / (e + 2.0)
    near_zero = a + a * r * r * (2.0 * s - p) / (e + 2.0)
    y = near_zero if small else y
    y = -y if x < 0.0 else y
    return y if a > _TINY else x  # tanh(x) rounds to x; keeps -0.0 and NaN


@_jit
def logistic_f64(x):
    """1 / (1 + e**-x), written e**x / (1 + e**x) for x < 0 so that e**-x cannot overflow."""
    e = exp_f64(-abs(x))
    return e / (1.0 + e) if x < 0.0 else 1.0 / (1.0 + e)


# log(1 + f) = f - f**2/2 + s * (f**2/2 + R(s**2)), s = f / (2 + f), where
# R(z) = 2 z (1/3 + z/5 + z**2/7 + ...) sums the series of 2 atanh(s) - 2 s.
_LOG_C = tuple(2.0 / k for k in range(3, 26, 2))
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD


@_jit
def log_f64(x):
    tiny = x < 2.2250738585072014e-308
    scaled = x * 18014398509481984.0 if tiny else x  # subnormals: scale by 2**54 first
    bits = _bits(scaled) - _SQRT_HALF_BITS  # put the mantissa in [sqrt(1/2), sqrt(2))
    e = (bits >> 52) - (54 if tiny else 0)
    m = _from_bits((bits & 0x000FFFFFFFFFFFFF) + _SQRT_HALF_BITS)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    c = _LOG_C
    p = c[11]
    for k in range(10, -1, -1):
        p = p * z + c[k]
    half_f2 = 0.5 * f * f
    n = np.float64(e)
    y = n * _LN2_HI - ((half_f2 - (s * (half_f2 + z * p) + n * _LN2_LO)) - f)
    if x == 0.0:
        y = -np.inf
    elif x < 0.0 or x != x:
        y = np.nan
    elif x == np.inf:
        y = x
    return y


# pi/2 in three parts; k * each of the first two is exact for |k| < 2**20.
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624879595063154e-21
_TWO_OVER_PI = 0.6366197723675814
_REDUCIBLE = 823549.0  # below 2**19 * pi/2
_SIN_C = _reciprocal_factorials(3, 17, 2)  # -1/3!, 1/5!, ..., 1/17!
_COS_C = _reciprocal_factorials(2, 18, 2)  # -1/2!, 1/4!, ..., 1/18!


@_helper
def _sin_cos_reduced(x, quarter_turns):
    """sin(x + quarter_turns * pi/2) for |x| < _REDUCIBLE: reduce by multiples of pi/2 and pick
    the sine or cosine polynomial by quadrant. sin_f64 and cos_f64 of one value share this work once
    LLVM inlines both."""
    shifted = x * _TWO_OVER_PI + _ROUND
    k = shifted - _ROUND
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    z = r * r
    s = _SIN_C[7]
    for j in range(6, -1, -1):
        s = s * z + _SIN_C[j]
    sin_r = r + r * z * s
    c = _COS_C[8]
    for j in range(7, -1, -1):
        c = c * z + _COS_C[j]
    cos_r = 1.0 + z * c
    quadrant = (_bits(shifted) - _ROUND_BITS + quarter_turns) & 3
    y = sin_r if quadrant & 1 == 0 else cos_r
    return -y if quadrant & 2 else y


@_jit
def trig_reducible(x):
    """Whether sin_f64 and cos_f64 are accurate at x: |x| < _REDUCIBLE, or NaN. Elsewhere the caller
    uses math.sin and math.cos, whose exact reduction would keep the loop from vectorising."""
    return not abs(x) >= _REDUCIBLE


@_jit
def sin_f64(x):
    y = _sin_cos_reduced(x, 0)
    return y if abs(x) > _TINY else x


@_jit
def cos_f64(x):
    return _sin_cos_reduced(x, 1)


@_jit
def expm1_f32(x):
    return np.float32(expm1_f64(np.float64(x)))


@_jit
def logistic_f32(x):
    return np.float32(logistic_f64(np.float64(x)))


@_jit
def log_f32(x):
    return np.float32(log_f64(np.float64(x)))


@_jit
def sin_f32(x):
    return np.float32(sin_f64(np.float64(x)))


@_jit
def cos_f32(x):
    return np.float32(cos_f64(np.float64(x)))


# float32 exp and tanh (what float32 networks spend their time in) in float32 arithmetic, which
# has twice the SIMD lanes of float64; the same methods with shorter polynomials.
_F = np.float32
_ROUND_F = _F(12582912.0)  # 1.5 * 2**23
_ROUND_BITS_F = 0x4B400000
_LOG2E_F = _F(_LOG2E)
_LN2_HI_F = _F(0.693145751953125)  # 16 significant bits: n * it is exact for |n| < 2**8
_LN2_LO_F = _F(1.428606765330187e-06)
_EXPM1_C_F = tuple(_F(c) for c in _reciprocal_factorials(2, 9))  # for |r| <= ln 2
_TINY_F = _F(2.0 ** -13)  # below this, tanh(x) rounds to x in float32


@_helper
def _reduce_ln2_f32(x):
    shifted = x * _LOG2E_F + _ROUND_F
    n = shifted - _ROUND_F
    return _bits(shifted) - _ROUND_BITS_F, (x - n * _LN2_HI_F) - n * _LN2_LO_F


@_helper
def _expm1_poly_f32(r):
    c = _EXPM1_C_F
    s = c[7]
    for k in range(6, 0, -1):
        s = s * r + c[k]
    return c[0] + r * s, s


@_helper
def _pow2_f32(n):
    return _from_bits(np.int32((n + 127) << 23))


@_jit
def exp_f32(x):
    n, r = _reduce_ln2_f32(min(max(x, _F(-104.0)), _F(89.0)))
    p, _ = _expm1_poly_f32(r)
    half = n >> 1
    y = (_F(1.0) + (r + r * r * p)) * _pow2_f32(half) * _pow2_f32(n - half)
    return y if x == x else x


@_jit
def tanh_f32(x):
    """As tanh_f64."""
    a = abs(x)
    r = min(_F(2.0) * a, _F(20.0))
    n, reduced = _reduce_ln2_f32(r)
    small = r < _LN2_HI_F
    n = 0 if small else n
    reduced = r if small else reduced
    p, s = _expm1_poly_f32(reduced)
    scale = _pow2_f32(n)
    e = scale * (reduced + reduced * reduced * p) + (scale - _F(1.0))
    y = e / (e + _F(2.0))
    near_zero = a + a * r * r * (_F(2.0) * s - p) / (e + _F(2.0))
    y = near_zero if small else y
    y = -y if x < _F(0.0) else y
    return y if a > _TINY_F else x
