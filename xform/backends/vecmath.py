"""Vectorisable exp, expm1, log, log1p, tanh, logistic, sin and cos for generated Numba loops.

Numba lowers `math.exp` and friends to scalar libm calls, which stop LLVM from vectorising a
fused loop. These versions are branch-free arithmetic (range reduction, a polynomial, bit
tricks for powers of two), so a loop calling them becomes SIMD code; each is within 2 ulp of
the correctly rounded float64 result (tests/test_vecmath.py checks it against numpy's extended
precision). float32 exp and tanh run the same methods in float32 arithmetic; the other float32
functions are computed in float64 and rounded once; all are within 1 ulp. sin and cos reduce
their argument exactly only where `trig_reducible`; generated loops check it and rerun with
libm otherwise.
"""
import math
from typing import NamedTuple

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


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64 (float32) as an int64 (int32): a no-op reinterpretation."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(signature.return_type.bitwidth))
    return _INT_OF[x](x), codegen


@intrinsic
def _from_bits(typingctx, n, like):
    """The float of `like`'s type (float64 or float32) whose IEEE bits are the low bits of the
    integer `n`."""
    def codegen(context, builder, signature, args):
        width = signature.return_type.bitwidth
        bits = builder.trunc(args[0], ir.IntType(width)) if n.bitwidth > width else \
            builder.sext(args[0], ir.IntType(width)) if n.bitwidth < width else args[0]
        return builder.bitcast(bits, ir.DoubleType() if width == 64 else ir.FloatType())
    return like(n, like), codegen


def _reciprocal_factorials(first, last, step=1):
    return tuple((-1.0 if step == 2 and (k // 2) % 2 else 1.0) / math.factorial(k)
                 for k in range(first, last + 1, step))


class _Format(NamedTuple):
    """The constants of one floating-point format for the exp family, typed in that format so
    that float32 code stays float32."""
    one: float
    two: float
    round: float  # 1.5 * 2**mantissa: adding and subtracting it rounds to an integer, which
    round_bits: int  # is then in the low bits of the sum, whose bits are round_bits + integer
    log2e: float
    ln2_hi: float  # ln 2 in two parts; n * ln2_hi is exact for the n that occur
    ln2_lo: float
    expm1: tuple  # 1/2!, 1/3!, ...: exp(r) - 1 - r = r**2 * polynomial, for |r| <= ln 2
    bias: int  # of the exponent
    mantissa: int  # bits
    lowest: float  # exp is 0 below this and inf above `highest`
    highest: float
    tanh_one: float  # tanh(x) is 1 past |x| = tanh_one / 2
    tiny: float  # below this, tanh(x), sin(x) and expm1(x) round to x


_F64 = _Format(one=1.0, two=2.0, round=6755399441055744.0, round_bits=0x4338000000000000,
               log2e=1.4426950408889634, ln2_hi=6.93147180369123816490e-01,
               ln2_lo=1.90821492927058770002e-10, expm1=_reciprocal_factorials(2, 17),
               bias=1023, mantissa=52, lowest=-746.0, highest=710.0, tanh_one=40.0,
               tiny=2.0 ** -28)
# float32: twice the SIMD lanes of float64, and shorter polynomials.
_f = np.float32
_F32 = _Format(one=_f(1.0), two=_f(2.0), round=_f(12582912.0), round_bits=0x4B400000,
               log2e=_f(1.4426950408889634), ln2_hi=_f(0.693145751953125),
               ln2_lo=_f(1.428606765330187e-06),
               expm1=tuple(_f(c) for c in _reciprocal_factorials(2, 9)), bias=127,
               mantissa=23, lowest=_f(-104.0), highest=_f(89.0), tanh_one=_f(20.0),
               tiny=_f(2.0 ** -13))


@_helper
def _reduce_ln2(x, f):
    """x = n ln2 + r with |r| <= ln2/2: returns n (as an integer) and r."""
    shifted = x * f.log2e + f.round
    n = shifted - f.round
    return _bits(shifted) - f.round_bits, (x - n * f.ln2_hi) - n * f.ln2_lo


@_helper
def _expm1_poly(r, f):
    """expm1(r) = r + r**2 * p for |r| <= ln 2: returns p and s, where p = 1/2 + r * s."""
    c = f.expm1
    s = c[len(c) - 1]
    for k in range(len(c) - 2, 0, -1):
        s = s * r + c[k]
    return c[0] + r * s, s


@_helper
def _pow2(n, f):
    """2**n in f's format, for n in its normal exponent range, built from the exponent bits."""
    return _from_bits((n + f.bias) << f.mantissa, f.one)


@_helper
def _exp(x, f):
    n, r = _reduce_ln2(min(max(x, f.lowest), f.highest), f)
    p, _ = _expm1_poly(r, f)
    half = n >> 1  # two factors keep each power of two normal near underflow and overflow
    y = (f.one + (r + r * r * p)) * _pow2(half, f) * _pow2(n - half, f)
    return y if x == x else x


@_helper
def _tanh(x, f):
    """tanh|x| = e / (e + 2) with e = expm1(2|x|), and the sign of x. Below |x| = ln2/2 it is
    |x| + |x| r**2 (2 s - p) / (e + 2), from the parts of e = r + r**2 p, r = 2|x|, which avoids
    the rounding of e/(e + 2) near 0."""
    a = abs(x)
    r = min(f.two * a, f.tanh_one)
    n, reduced = _reduce_ln2(r, f)
    small = r < f.ln2_hi
    n = 0 if small else n
    reduced = r if small else reduced
    p, s = _expm1_poly(reduced, f)
    scale = _pow2(n, f)
    e = scale * (reduced + reduced * reduced * p) + (scale - f.one)
    y = e / (e + f.two)
    near_zero = a + a * r * r * (f.two * s - p) / (e + f.two)
    y = near_zero if small else y
    y = -y if x < 0 else y
    return y if a > f.tiny else x  # tanh(x) rounds to x; keeps -0.0 and NaN


@_jit
def exp_f64(x):
    return _exp(x, _F64)


@_jit
def exp_f32(x):
    return _exp(x, _F32)


@_jit
def tanh_f64(x):
    return _tanh(x, _F64)


@_jit
def tanh_f32(x):
    return _tanh(x, _F32)


# Written as single conditional expressions: LLVM vectorises those, not nested ones.
@_jit
def expm1_f64(x):
    f = _F64
    n, r = _reduce_ln2(min(max(x, f.lowest), f.highest), f)
    small = abs(x) < f.ln2_hi  # then no reduction: 2**n - 1 would cancel against expm1(r)
    n = 0 if small else n
    r = x if small else r
    p, _ = _expm1_poly(r, f)
    em = r + r * r * p
    scale = _pow2(n, f)
    y = scale * em + (scale - 1.0)
    half = n >> 1
    large = (1.0 + em) * _pow2(half, f) * _pow2(n - half, f)
    y = large if x > 40.0 else y  # -1 is below rounding
    y = -1.0 if x < -40.0 else y
    return x if x == 0.0 or x != x else y  # keeps -0.0 and NaN


@_jit
def logistic_f64(x):
    """1 / (1 + e**-x), written e**x / (1 + e**x) for x < 0 so that e**-x cannot overflow.
    e = e**-|x| and 1 + e are carried with their rounding errors (e + e_lo, d + d_lo), which
    the division then corrects for: within 1 ulp, where the plain quotients reach 2.3."""
    f = _F64
    n, r = _reduce_ln2(max(-abs(x), f.lowest), f)
    p, _ = _expm1_poly(r, f)
    em = r + r * r * p
    t = 1.0 + em
    t_lo = (1.0 - t) + em  # t + t_lo = 1 + em exactly, as |em| < 1
    half = n >> 1  # two factors keep each power of two normal near underflow
    scale_a, scale_b = _pow2(half, f), _pow2(n - half, f)
    e = t * scale_a * scale_b
    e_lo = t_lo * scale_a * scale_b
    d = 1.0 + e
    d_lo = ((1.0 - d) + e) + e_lo  # d + d_lo = 1 + e + e_lo, as e <= 1
    num = e if x < 0.0 else 1.0
    num_lo = e_lo if x < 0.0 else 0.0
    q = num / d
    y = q + (num_lo - q * d_lo) / d
    return y if x == x else x


# log(1 + f) = f - f**2/2 + s * (f**2/2 + R(s**2)), s = f / (2 + f), where
# R(z) = 2 z (1/3 + z/5 + z**2/7 + ...) sums the series of 2 atanh(s) - 2 s.
_LOG_C = tuple(2.0 / k for k in range(3, 26, 2))
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD


@_helper
def _log_finite(x):
    """log x for finite positive x (the special values are the caller's)."""
    tiny = x < 2.2250738585072014e-308
    scaled = x * 18014398509481984.0 if tiny else x  # subnormals: scale by 2**54 first
    bits = _bits(scaled) - _SQRT_HALF_BITS  # put the mantissa in [sqrt(1/2), sqrt(2))
    e = (bits >> 52) - (54 if tiny else 0)
    m = _from_bits((bits & 0x000FFFFFFFFFFFFF) + _SQRT_HALF_BITS, 1.0)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    c = _LOG_C
    p = c[11]
    for k in range(10, -1, -1):
        p = p * z + c[k]
    half_f2 = 0.5 * f * f
    n = np.float64(e)
    return n * _F64.ln2_hi - ((half_f2 - (s * (half_f2 + z * p) + n * _F64.ln2_lo)) - f)


# The special values come last, in one chain of conditions: LLVM vectorises that, not a
# conditional expression after the inlined body of another function.
@_jit
def log_f64(x):
    y = _log_finite(x)
    if x == 0.0:
        y = -np.inf
    elif x < 0.0 or x != x:
        y = np.nan
    elif x == np.inf:
        y = x
    return y


# Inlined by Numba into each loop that calls it (as `_helper`s are): LLVM would not inline a
# function this size, and a loop with a call in it does not vectorise.
@_helper
def log1p_f64(x):
    """log(u) + err / u, u = 1 + x rounded and err = x - (u - 1) its rounding error (exact
    wherever it matters): the first-order correction of log(u) to log(1 + x)."""
    u = 1.0 + x
    y = _log_finite(u) + (x - (u - 1.0)) / (u if u != 0.0 else 1.0)  # any error model
    if u == 1.0:  # |x| < 2**-53: log1p(x) rounds to x (and keeps -0.0)
        y = x
    elif u == 0.0:
        y = -np.inf
    elif u < 0.0 or u != u:
        y = np.nan
    elif u == np.inf:
        y = u
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
    shifted = x * _TWO_OVER_PI + _F64.round
    k = shifted - _F64.round
    # r + r_lo = x - k pi/2: the first two products are exact, and the two roundings of the
    # subtractions are kept in r_lo (half an ulp of r is up to an ulp of sin r).
    r1 = x - k * _PIO2_1
    w = k * _PIO2_2
    r2 = r1 - w
    w3 = k * _PIO2_3
    r = r2 - w3
    r_lo = ((r1 - r2) - w) + ((r2 - r) - w3)
    z = r * r
    s = _SIN_C[7]
    for j in range(6, -1, -1):
        s = s * z + _SIN_C[j]
    sin_r = r + (r * z * s + r_lo * (1.0 - 0.5 * z))
    c = _COS_C[8]
    for j in range(7, -1, -1):
        c = c * z + _COS_C[j]
    cos_r = 1.0 + (z * c - r * r_lo)
    quadrant = (_bits(shifted) - _F64.round_bits + quarter_turns) & 3
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
    return y if abs(x) > _F64.tiny else x


@_jit
def cos_f64(x):
    return _sin_cos_reduced(x, 1)


@_jit
def expm1_f32(x):
    return np.float32(expm1_f64(np.float64(x)))


# exp to about 2e-10 in float64 arithmetic (the series to 1/8!, |r| <= ln2/2): far inside
# float32's half ulp, so that a float32 result rounded once from it is within 1 ulp.
_F64_SHORT = _F64._replace(expm1=_reciprocal_factorials(2, 8))


@_jit
def logistic_f32(x):
    """1 / (1 + e**-x) in float64 arithmetic, rounded once: e = e**-|x| from the short series
    (below -150 the float32 result is 0 or 1 either way) and one division, about twice as fast
    as logistic_f64's carried rounding errors, which float32 does not need."""
    f = _F64_SHORT
    d = np.float64(x)
    n, r = _reduce_ln2(max(-abs(d), -150.0), f)
    p, _ = _expm1_poly(r, f)
    e = (1.0 + (r + r * r * p)) * _pow2(n, f)
    y = (e if d < 0.0 else 1.0) / (1.0 + e)
    return np.float32(y) if x == x else x


@_helper
def log1p_f32(x):
    return np.float32(log1p_f64(np.float64(x)))


@_jit
def log_f32(x):
    return np.float32(log_f64(np.float64(x)))


@_jit
def sin_f32(x):
    return np.float32(sin_f64(np.float64(x)))


@_jit
def cos_f32(x):
    return np.float32(cos_f64(np.float64(x)))

