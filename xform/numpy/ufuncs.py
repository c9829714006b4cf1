"""Elementwise functions of xform.numpy, with numpy's broadcasting and dtype rules."""
from __future__ import annotations

import numpy as np

from xform.core import is_float_dtype
from xform.custom import custom_jvp
from xform.numpy._core import (broadcast_operands, cast, dtype_of, is_traced, lists_as_arrays,
                               loop_dtypes, numpy_function, result_dtype, shape_of, ufunc_apply,
                               wrap)
from xform.primitives import elementwise as ew

__all__ = [
    "allclose",
    "isclose",
    "abs",
    "absolute",
    "add",
    "angle",
    "iscomplex",
    "isreal",
    "real_if_close",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "around",
    "cbrt",
    "ceil",
    "clip",
    "conj",
    "conjugate",
    "copysign",
    "cos",
    "cosh",
    "deg2rad",
    "degrees",
    "divide",
    "equal",
    "exp",
    "exp2",
    "expm1",
    "fabs",
    "fix",
    "float_power",
    "floor",
    "floor_divide",
    "fmax",
    "fmin",
    "greater",
    "greater_equal",
    "heaviside",
    "hypot",
    "imag",
    "isfinite",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "logaddexp2",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "not_equal",
    "positive",
    "power",
    "rad2deg",
    "radians",
    "real",
    "reciprocal",
    "remainder",
    "round",
    "sign",
    "signbit",
    "sin",
    "sinc",
    "sinh",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "trunc",
    "where",
]


def _unary(ufunc, prim):
    @lists_as_arrays
    def fn(x, /):
        return ufunc_apply(ufunc, prim, x)
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"Elementwise `numpy.{ufunc.__name__}`, traceable and differentiable."
    return fn


def _binary(ufunc, prim):
    @lists_as_arrays
    def fn(x, y, /):
        return ufunc_apply(ufunc, prim, x, y)
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"Elementwise `numpy.{ufunc.__name__}` with broadcasting, traceable."
    return fn


sin = _unary(np.sin, ew.sin_p)
cos = _unary(np.cos, ew.cos_p)
tan = _unary(np.tan, ew.tan_p)
arcsin = _unary(np.arcsin, ew.asin_p)
arccos = _unary(np.arccos, ew.acos_p)
arctan = _unary(np.arctan, ew.atan_p)
sinh = _unary(np.sinh, ew.sinh_p)
cosh = _unary(np.cosh, ew.cosh_p)
tanh = _unary(np.tanh, ew.tanh_p)
arcsinh = _unary(np.arcsinh, ew.asinh_p)
arccosh = _unary(np.arccosh, ew.acosh_p)
arctanh = _unary(np.arctanh, ew.atanh_p)
exp = _unary(np.exp, ew.exp_p)
exp2 = _unary(np.exp2, ew.exp2_p)
expm1 = _unary(np.expm1, ew.expm1_p)
log = _unary(np.log, ew.log_p)
log1p = _unary(np.log1p, ew.log1p_p)
sqrt = _unary(np.sqrt, ew.sqrt_p)
cbrt = _unary(np.cbrt, ew.cbrt_p)
negative = _unary(np.negative, ew.neg_p)
absolute = _unary(np.absolute, ew.abs_p)
abs = absolute  # noqa: A001  (numpy's own name)
sign = _unary(np.sign, ew.sign_p)
floor = _unary(np.floor, ew.floor_p)
ceil = _unary(np.ceil, ew.ceil_p)
isfinite = _unary(np.isfinite, ew.is_finite_p)
isnan = _unary(np.isnan, ew.is_nan_p)
logical_not = _unary(np.logical_not, ew.not_p)

add = _binary(np.add, ew.add_p)
subtract = _binary(np.subtract, ew.sub_p)
multiply = _binary(np.multiply, ew.mul_p)
divide = _binary(np.true_divide, ew.div_p)
true_divide = divide
floor_divide = _binary(np.floor_divide, ew.floordiv_p)
mod = _binary(np.mod, ew.rem_p)
remainder = mod
maximum = _binary(np.maximum, ew.max_p)
minimum = _binary(np.minimum, ew.min_p)
arctan2 = _binary(np.arctan2, ew.atan2_p)
equal = _binary(np.equal, ew.eq_p)
not_equal = _binary(np.not_equal, ew.ne_p)
less = _binary(np.less, ew.lt_p)
less_equal = _binary(np.less_equal, ew.le_p)
greater = _binary(np.greater, ew.gt_p)
greater_equal = _binary(np.greater_equal, ew.ge_p)
logical_and = _binary(np.logical_and, ew.and_p)
logical_or = _binary(np.logical_or, ew.or_p)
logical_xor = _binary(np.logical_xor, ew.xor_p)


def _float_dtype(x):
    """The floating dtype numpy computes a transcendental function of `x` in."""
    return loop_dtypes(np.sin, x)[0]


@numpy_function(np.power)
def power(x, y, /):
    """`numpy.power`; a static integer exponent uses an exactly differentiable integer power."""
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        dt = loop_dtypes(np.power, x, y)[0]
        if is_float_dtype(dt) or y >= 0:
            xc = cast(x, dt)
            if y < 0:
                return divide(np.ones((), dt), ew.integer_pow(xc, -int(y)))
            return ew.integer_pow(xc, int(y))
    return ufunc_apply(np.power, ew.pow_p, x, y)


@numpy_function(np.square)
def square(x, /):
    return ew.integer_pow(cast(x, loop_dtypes(np.square, x)[0]), 2)


@numpy_function(np.reciprocal)
def reciprocal(x, /):
    dt = loop_dtypes(np.reciprocal, x)[0]
    return divide(np.ones((), dt), cast(x, dt))


@numpy_function(np.log2)
def log2(x, /):
    x = cast(x, _float_dtype(x))
    return log(x) * np.asarray(1 / np.log(2), dtype_of(x))


@numpy_function(np.log10)
def log10(x, /):
    x = cast(x, _float_dtype(x))
    return log(x) * np.asarray(1 / np.log(10), dtype_of(x))


@numpy_function(np.round)
def round(a, decimals=0):  # noqa: A001  (numpy's own name)
    """`numpy.round` (half to even)."""
    if decimals == 0:
        return ew.round_p.bind1(a) if np.issubdtype(dtype_of(a), np.inexact) else a
    scale = np.asarray(10.0 ** decimals, dtype_of(a))
    return ew.round_p.bind1(a * scale) / scale


around = round


@numpy_function(np.clip)
def clip(a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002  (numpy's names)
    """`numpy.clip`: a_min and a_max (or the keywords `min` and `max`, as in JAX and numpy 2)
    may be arrays or None."""
    if min is not None or max is not None:
        if a_min is not None or a_max is not None:
            raise ValueError("clip: pass the bounds either as a_min/a_max or as min/max")
        a_min, a_max = min, max
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


@numpy_function(np.where)
def where(condition, x=None, y=None, /):
    """`numpy.where(condition, x, y)`; the one-argument form needs a concrete condition."""
    if x is None and y is None:
        if is_traced(condition):
            raise TypeError("xnp.where(condition) with one argument returns data-dependent "
                            "shapes, which cannot be traced; use where(condition, x, y)")
        return np.where(condition)
    if x is None or y is None:
        raise TypeError("where needs both x and y, or neither")
    dt = result_dtype(x, y)
    cond = cast(condition, np.bool_)
    c, a, b = broadcast_operands(cond, cast(x, dt), cast(y, dt), keep_scalars=True)
    return ew.select(c, a, b)


@numpy_function(np.logaddexp)
def logaddexp(x, y, /):
    """log(exp(x) + exp(y)) without overflow, with derivatives that are right at x == y."""
    dt = loop_dtypes(np.logaddexp, x, y)[0]
    return _logaddexp(*broadcast_operands(cast(x, dt), cast(y, dt), keep_scalars=True))


@custom_jvp
def _logaddexp(x, y):
    m = maximum(x, y)
    # Where both are -inf (or equal infinities) the difference is nan; use the maximum alone.
    finite = isfinite(m)
    safe_m = where(finite, m, np.zeros((), dtype_of(m)))
    return where(finite, safe_m + log1p(exp(-absolute(x - y))), m)


@_logaddexp.defjvp
def _logaddexp_jvp(primals, tangents):
    # The formula's max and |x - y| have kinks at x == y that the function does not have:
    # its derivatives are the smooth weights exp(x - out) = logistic(x - y).
    (x, y), (tx, ty) = primals, tangents
    d = x - y
    nan = isnan(d)  # equal infinities: split evenly
    half = np.asarray(0.5, dtype_of(d))
    wx = where(nan, half, ew.logistic_p.bind1(d))
    wy = where(nan, half, ew.logistic_p.bind1(-d))
    return _logaddexp(x, y), tx * wx + ty * wy


@numpy_function(np.hypot)
def hypot(x, y, /):
    """sqrt(x**2 + y**2), scaled to avoid overflow, with derivatives that are right at
    |x| == |y|."""
    dt = loop_dtypes(np.hypot, x, y)[0]
    return _hypot(*broadcast_operands(cast(x, dt), cast(y, dt)))


@custom_jvp
def _hypot(x, y):
    dt = dtype_of(x)
    x, y = absolute(x), absolute(y)
    big, small = maximum(x, y), minimum(x, y)
    safe = where(big == 0, np.ones((), dt), big)
    r = small / safe
    return where(big == 0, np.zeros((), dt), big * sqrt(1 + r * r))


@_hypot.defjvp
def _hypot_jvp(primals, tangents):
    # The scaling's max and min have kinks at |x| == |y| that the function does not have:
    # its derivative is (x dx + y dy) / r, taken as 0 at the origin.
    (x, y), (tx, ty) = primals, tangents
    r = _hypot(x, y)
    dt = dtype_of(r)
    zero = r == 0
    safe_r = where(zero, np.ones((), dt), r)
    return r, where(zero, np.zeros((), dt), (x * tx + y * ty) / safe_r)


@numpy_function(np.sinc)
def sinc(x, /):
    """sin(pi x) / (pi x), with the value 1 at 0 and derivatives that are exact there."""
    dt = _float_dtype(x)
    x = cast(x, dt)
    is_zero = x == 0
    safe = where(is_zero, np.ones((), dt), x) * np.asarray(np.pi, dt)
    # At 0 use the Taylor series in z = pi x up to z**8, so derivatives up to the ninth are
    # right there.
    z2 = square(x * np.asarray(np.pi, dt))
    series = np.asarray(1 / 362880, dt)
    for c in (-1 / 5040, 1 / 120, -1 / 6, 1):
        series = series * z2 + np.asarray(c, dt)
    return where(is_zero, series, sin(safe) / safe)


@numpy_function(np.heaviside)
def heaviside(x1, x2, /):
    dt = loop_dtypes(np.heaviside, x1, x2)[0]
    x1, x2 = cast(x1, dt), cast(x2, dt)
    return where(x1 < 0, np.zeros((), dt), where(x1 > 0, np.ones((), dt), x2))


@numpy_function(np.copysign)
def copysign(x1, x2, /):
    return where(signbit(x2), -absolute(x1), absolute(x1))


@numpy_function(np.signbit)
def signbit(x, /):
    x = ew.stop_gradient_p.bind1(cast(x, _float_dtype(x)))
    return arctan2(wrap(np.zeros((), dtype_of(x))), x) > 0


@numpy_function(np.fmax)
def fmax(x, y, /):
    return where(isnan(y), x, where(isnan(x), y, maximum(x, y)))


@numpy_function(np.fmin)
def fmin(x, y, /):
    return where(isnan(y), x, where(isnan(x), y, minimum(x, y)))


@numpy_function(np.isinf)
def isinf(x, /):
    return logical_not(isfinite(x) | isnan(x))


@numpy_function(np.deg2rad)
def deg2rad(x, /):
    """Degrees to radians, as `numpy.deg2rad` (and `numpy.radians`)."""
    x = cast(x, _float_dtype(x))
    return x * np.asarray(np.pi / 180, dtype_of(x))


@numpy_function(np.rad2deg)
def rad2deg(x, /):
    """Radians to degrees, as `numpy.rad2deg` (and `numpy.degrees`)."""
    x = cast(x, _float_dtype(x))
    return x * np.asarray(180 / np.pi, dtype_of(x))


radians = deg2rad
degrees = rad2deg


@numpy_function(np.fabs)
def fabs(x, /):
    """The absolute value as a float (integers become float64), as `numpy.fabs`.

    >>> fabs(np.array([-2, 3])).tolist()
    [2.0, 3.0]
    """
    return absolute(cast(x, loop_dtypes(np.fabs, x)[0]))


@numpy_function(np.logaddexp2)
def logaddexp2(x, y, /):
    """log2(2**x + 2**y) without overflow, as `numpy.logaddexp2`.

    >>> float(logaddexp2(1.0, 1.0))
    2.0
    """
    dt = loop_dtypes(np.logaddexp2, x, y)[0]
    ln2 = np.asarray(np.log(2), dt)
    return logaddexp(cast(x, dt) * ln2, cast(y, dt) * ln2) / ln2


def _real_only(name, x):
    if np.issubdtype(dtype_of(x), np.complexfloating):
        raise NotImplementedError(f"xform.numpy.{name} of a complex array is not supported "
                                  "(complex values are not traced)")


@numpy_function(np.real)
def real(val):
    """The real part: a real array itself, as `numpy.real` (complex arrays are not traced).

    >>> real(np.array([1.5, -2.0])).tolist()
    [1.5, -2.0]
    """
    _real_only("real", val)
    return val


@numpy_function(np.imag)
def imag(val):
    """The imaginary part: zeros of a real array's dtype, as `numpy.imag`.

    >>> imag(np.array([1.5, -2.0])).tolist()
    [0.0, 0.0]
    """
    _real_only("imag", val)
    return wrap(np.zeros(shape_of(val), dtype_of(val)))


@numpy_function(np.conjugate)
def conjugate(x, /):
    """The complex conjugate: a real array itself, as `numpy.conjugate`.

    >>> conjugate(np.array([1.5, -2.0])).tolist()
    [1.5, -2.0]
    """
    _real_only("conjugate", x)
    return x


conj = conjugate


@numpy_function(np.real_if_close)
def real_if_close(a, tol=100):
    """A real array itself, as `numpy.real_if_close` (complex arrays are not traced).

    >>> real_if_close(np.array([1.5, -2.0])).tolist()
    [1.5, -2.0]
    """
    _real_only("real_if_close", a)
    return a


@numpy_function(np.angle)
def angle(z, deg=False):
    """The argument of real numbers: 0 for x >= +0, pi for x < 0 and -0 (derivative 0), as
    `numpy.angle` (complex arrays are not traced).

    >>> angle(np.array([2.0, -1.0])).tolist()
    [0.0, 3.141592653589793]
    """
    _real_only("angle", z)
    dt = loop_dtypes(np.arctan2, z, z)[0]
    out = arctan2(wrap(np.zeros((), dt)), ew.stop_gradient_p.bind1(cast(z, dt)))
    return out * np.asarray(180.0 / np.pi, dt) if deg else out


@numpy_function(np.iscomplex)
def iscomplex(x):
    """All False for a real array, as `numpy.iscomplex` (complex arrays are not traced).

    >>> iscomplex(np.array([1.0, 2.0])).tolist()
    [False, False]
    """
    _real_only("iscomplex", x)
    return wrap(np.zeros(shape_of(x), np.bool_))


@numpy_function(np.isreal)
def isreal(x):
    """All True for a real array, as `numpy.isreal` (complex arrays are not traced).

    >>> isreal(np.array([1.0, 2.0])).tolist()
    [True, True]
    """
    _real_only("isreal", x)
    return wrap(np.ones(shape_of(x), np.bool_))


@lists_as_arrays
def positive(x, /):
    return wrap(np.positive(x)) if not is_traced(x) else x


@numpy_function(np.float_power)
def float_power(x, y, /):
    return power(cast(x, np.float64), cast(y, np.float64) if not isinstance(y, int) else y)


@numpy_function(np.trunc)
def trunc(x, /):
    return where(x < 0, ceil(x), floor(x))


fix = trunc


@numpy_function(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """`numpy.isclose`: |a - b| <= atol + rtol * |b|, elementwise."""
    dt = loop_dtypes(np.subtract, a, b)[0]
    a, b = cast(a, dt), cast(b, dt)
    close = absolute(a - b) <= atol + rtol * absolute(b)
    close = close | (a == b)  # equal infinities
    if equal_nan:
        close = close | (isnan(a) & isnan(b))
    return close


@lists_as_arrays
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """`numpy.allclose`; on traced values the result is a traced boolean scalar."""
    if not is_traced(a, b):
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    from xform.numpy.reductions import all as all_
    return all_(isclose(a, b, rtol, atol, equal_nan))
