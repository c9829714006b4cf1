"""lax's elementwise operations: one primitive each, with lax's strict operand rules.

Operands share one dtype and shape (0-d arrays and Python scalars stand beside any shape);
`lax.div` truncates integers towards zero and `lax.rem` takes the sign of the dividend, as
C (and JAX) do, unlike numpy's `//` and `%`.
"""
from __future__ import annotations

import enum

import numpy as np

from xform import tree
from xform.core import Tracer, get_aval
from xform.lax_ops._strict import as_operand, bind, result, strict
from xform.primitives import elementwise as ew
from xform.primitives import special

__all__ = [
    "RoundingMethod", "abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2",
    "atanh", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "cbrt", "ceil",
    "clamp", "cos", "cosh", "digamma", "div", "eq", "erf", "erfc", "exp", "exp2", "expm1",
    "floor", "ge", "gt", "integer_pow", "is_finite", "le", "lgamma", "log", "log1p",
    "logistic", "lt", "max", "min", "mul", "ne", "neg", "polygamma", "pow",
    "reciprocal", "rem", "round", "rsqrt", "select", "select_n", "sign", "sin", "sinh",
    "sqrt", "square", "stop_gradient", "sub", "tan", "tanh",
]


def _unary(name: str, prim, doc: str):
    def fn(x):
        (x,) = strict(name, x)
        return bind(prim, x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {doc}, as `jax.lax.{name}` (no promotion: the result has "
                  f"the operand's dtype, and functions of floats refuse integers).\n\n"
                  f"    >>> import numpy as np, xform as xf\n"
                  f"    >>> xf.lax.{name}(np.ones(2, np.float32)).shape\n    (2,)\n")
    return fn


def _binary(name: str, prim, doc: str):
    def fn(x, y):
        return bind(prim, *strict(name, x, y))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {doc} of operands of one dtype and shape, as "
                  f"`jax.lax.{name}`.\n\n    >>> import xform as xf\n"
                  f"    >>> xf.lax.{name}(2.0, 1.0).shape\n    ()\n")
    return fn


neg = _unary("neg", ew.neg_p, "negation")
abs = _unary("abs", ew.abs_p, "absolute value")  # noqa: A001  (lax's own name)
sign = _unary("sign", ew.sign_p, "sign (-1, 0 or 1)")
floor = _unary("floor", ew.floor_p, "floor")
ceil = _unary("ceil", ew.ceil_p, "ceiling")
is_finite = _unary("is_finite", ew.is_finite_p, "finiteness test")
exp = _unary("exp", ew.exp_p, "exponential")
exp2 = _unary("exp2", ew.exp2_p, "base-2 exponential")
expm1 = _unary("expm1", ew.expm1_p, "exp(x) - 1, accurate near 0")
log = _unary("log", ew.log_p, "natural logarithm")
log1p = _unary("log1p", ew.log1p_p, "log(1 + x), accurate near 0")
sin = _unary("sin", ew.sin_p, "sine")
cos = _unary("cos", ew.cos_p, "cosine")
tan = _unary("tan", ew.tan_p, "tangent")
asin = _unary("asin", ew.asin_p, "arcsine")
acos = _unary("acos", ew.acos_p, "arccosine")
atan = _unary("atan", ew.atan_p, "arctangent")
sinh = _unary("sinh", ew.sinh_p, "hyperbolic sine")
cosh = _unary("cosh", ew.cosh_p, "hyperbolic cosine")
tanh = _unary("tanh", ew.tanh_p, "hyperbolic tangent")
asinh = _unary("asinh", ew.asinh_p, "inverse hyperbolic sine")
acosh = _unary("acosh", ew.acosh_p, "inverse hyperbolic cosine")
atanh = _unary("atanh", ew.atanh_p, "inverse hyperbolic tangent")
sqrt = _unary("sqrt", ew.sqrt_p, "square root")
rsqrt = _unary("rsqrt", ew.rsqrt_p, "reciprocal square root")
cbrt = _unary("cbrt", ew.cbrt_p, "cube root")
logistic = _unary("logistic", ew.logistic_p, "logistic sigmoid 1 / (1 + exp(-x))")
erf = _unary("erf", ew.erf_p, "error function")
lgamma = _unary("lgamma", ew.lgamma_p, "log |Gamma(x)|")
digamma = _unary("digamma", ew.digamma_p, "digamma function")
erfc = _unary("erfc", special.erfc_p, "complementary error function 1 - erf(x)")

add = _binary("add", ew.add_p, "sum")
sub = _binary("sub", ew.sub_p, "difference")
mul = _binary("mul", ew.mul_p, "product")
max = _binary("max", ew.max_p, "maximum (NaN-propagating)")  # noqa: A001  (lax's own name)
min = _binary("min", ew.min_p, "minimum (NaN-propagating)")  # noqa: A001
atan2 = _binary("atan2", ew.atan2_p, "two-argument arctangent")
eq = _binary("eq", ew.eq_p, "equality test")
ne = _binary("ne", ew.ne_p, "inequality test")
lt = _binary("lt", ew.lt_p, "less-than test")
le = _binary("le", ew.le_p, "less-or-equal test")
gt = _binary("gt", ew.gt_p, "greater-than test")
ge = _binary("ge", ew.ge_p, "greater-or-equal test")


def polygamma(m, x):
    """The polygamma function of integer order `m` (a Python int), as `jax.lax.polygamma`.

    >>> import xform as xf
    >>> f"{float(xf.lax.polygamma(1, 1.0)):.6f}"  # pi**2 / 6
    '1.644934'
    """
    (x,) = strict("polygamma", x, float_only=True)
    return bind(ew.polygamma_p, x, n=int(m))


def integer_pow(x, y: int):
    """x ** y for a Python int `y` (negative for floats only), as `jax.lax.integer_pow`.

    >>> import xform as xf
    >>> int(xf.lax.integer_pow(3, 4))
    81
    """
    (x,) = strict("integer_pow", x)
    if y < 0 and not np.issubdtype(get_aval(x).dtype, np.inexact):
        raise TypeError(f"lax.integer_pow of an integer needs a non-negative exponent, got {y}")
    return bind(ew.integer_pow_p, x, y=int(y))


def square(x):
    """x * x, as `jax.lax.square`.

    >>> import xform as xf
    >>> float(xf.lax.square(3.0))
    9.0
    """
    return integer_pow(x, 2)


def reciprocal(x):
    """1 / x for floats, as `jax.lax.reciprocal`.

    >>> import xform as xf
    >>> float(xf.lax.reciprocal(4.0))
    0.25
    """
    (x,) = strict("reciprocal", x, float_only=True)
    return bind(ew.div_p, np.ones((), get_aval(x).dtype), x)


def pow(x, y):  # noqa: A001  (lax's own name)
    """x ** y for a float `x`; an integer array `y` is converted to x's dtype, as in
    `jax.lax.pow`.

    >>> import xform as xf
    >>> float(xf.lax.pow(2.0, 0.5)) == 2 ** 0.5
    True
    """
    y = as_operand(y)
    if type(y) is not int and np.issubdtype(get_aval(y).dtype, np.integer):
        (x,) = strict("pow", x, float_only=True)
        y = ew.convert(y, get_aval(x).dtype)
    x, y = strict("pow", x, y, float_only=True)
    return bind(ew.pow_p, x, y)


def div(x, y):
    """x / y; integers divide truncating towards zero (C's rule), as `jax.lax.div`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.div(np.array([-7, 7]), np.array([2, 2])).tolist()
    [-3, 3]
    """
    x, y = strict("div", x, y)
    if np.issubdtype(get_aval(x).dtype, np.inexact):
        return bind(ew.div_p, x, y)
    q = bind(ew.floordiv_p, x, y)
    inexact = ew.ne_p.bind1(ew.sub(x, ew.mul(q, y)), np.zeros((), get_aval(x).dtype))
    signs_differ = ew.ne_p.bind1(_negative(x), _negative(y))
    return result(ew.select(ew.and_p.bind1(inexact, signs_differ), ew.add(q, 1), q))


def rem(x, y):
    """The remainder of x / y with the sign of the dividend x (C's fmod), as `jax.lax.rem`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.rem(np.array([-7.0, 7.0]), np.array([2.0, -2.0])).tolist()
    [-1.0, 1.0]
    """
    x, y = strict("rem", x, y)
    r = bind(ew.rem_p, x, y)
    zero = np.zeros((), get_aval(r).dtype)
    wrong_sign = ew.and_p.bind1(ew.ne_p.bind1(r, zero),
                                ew.ne_p.bind1(_negative(r), _negative(x)))
    return result(ew.select(wrong_sign, ew.sub(r, y), r))


def _negative(x):
    return ew.lt_p.bind1(x, np.zeros((), get_aval(x).dtype))


class RoundingMethod(enum.IntEnum):
    """How `lax.round` breaks ties: away from zero (the default) or to the nearest even."""
    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1


def round(x, rounding_method=RoundingMethod.AWAY_FROM_ZERO):  # noqa: A001  (lax's name)
    """Round to the nearest integer, ties away from zero unless `rounding_method` is
    `RoundingMethod.TO_NEAREST_EVEN`, as `jax.lax.round`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.round(np.array([0.5, 1.5, -2.5])).tolist()
    [1.0, 2.0, -3.0]
    """
    (x,) = strict("round", x, float_only=True)
    even = bind(ew.round_p, x)
    if RoundingMethod(rounding_method) == RoundingMethod.TO_NEAREST_EVEN:
        return even
    dt = get_aval(x).dtype
    trunc = ew.select(_negative(x), ew.ceil_p.bind1(x), ew.floor_p.bind1(x))
    tie = ew.eq_p.bind1(bind(ew.abs_p, ew.sub(x, trunc)), np.asarray(0.5, dt))
    return result(ew.select(tie, ew.add(trunc, bind(ew.sign_p, x)), even))


def _bitwise(name: str, prim):
    def fn(x, y):
        x, y = strict(name, x, y)
        if get_aval(x).dtype != np.bool_:
            raise TypeError(f"xform's lax.{name} supports boolean operands only, got "
                            f"{get_aval(x).dtype}")
        return bind(prim, x, y)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {name.split('_')[1]} of boolean arrays, as "
                  f"`jax.lax.{name}` (integer operands are not supported).\n\n"
                  f"    >>> import xform as xf\n    >>> bool(xf.lax.{name}(True, False)) in "
                  f"(True, False)\n    True\n")
    return fn


bitwise_and = _bitwise("bitwise_and", ew.and_p)
bitwise_or = _bitwise("bitwise_or", ew.or_p)
bitwise_xor = _bitwise("bitwise_xor", ew.xor_p)


def bitwise_not(x):
    """Elementwise negation of a boolean array, as `jax.lax.bitwise_not` (booleans only).

    >>> import xform as xf
    >>> bool(xf.lax.bitwise_not(True))
    False
    """
    (x,) = strict("bitwise_not", x)
    if get_aval(x).dtype != np.bool_:
        raise TypeError(f"xform's lax.bitwise_not supports boolean operands only, got "
                        f"{get_aval(x).dtype}")
    return bind(ew.not_p, x)


def select(pred, on_true, on_false):
    """`on_true` where the boolean `pred` holds, else `on_false`; `pred` is 0-d or of their
    shape, as `jax.lax.select`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.select(np.array([True, False]), np.ones(2), np.zeros(2)).tolist()
    [1.0, 0.0]
    """
    on_true, on_false = strict("select", on_true, on_false)
    (pred,) = strict("select", pred)
    if get_aval(pred).dtype != np.bool_:
        raise TypeError(f"lax.select needs a boolean predicate, got {get_aval(pred).dtype}")
    shapes = {get_aval(a).shape for a in (on_true, on_false)} - {()}
    if get_aval(pred).shape not in ({()} | shapes):
        raise TypeError(f"lax.select needs a 0-d predicate or one of the operands' shape, got "
                        f"{get_aval(pred).shape} for operands of shape {shapes}")
    return bind(ew.select_p, pred, on_true, on_false)


def select_n(which, *cases):
    """`cases[which]` elementwise: `which` is boolean (two cases) or an integer array, as
    `jax.lax.select_n`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.select_n(np.array([0, 2, 1]), np.zeros(3), np.ones(3), np.full(3, 2.0)).tolist()
    [0.0, 2.0, 1.0]
    """
    if not cases:
        raise ValueError("lax.select_n needs at least one case")
    cases = strict("select_n", *cases)
    (which,) = strict("select_n", which)
    dt = get_aval(which).dtype
    if dt == np.bool_:
        if len(cases) != 2:
            raise TypeError(f"lax.select_n with a boolean selector needs two cases, got "
                            f"{len(cases)}")
        return select(which, cases[1], cases[0])
    if not np.issubdtype(dt, np.integer):
        raise TypeError(f"lax.select_n needs a boolean or integer selector, got {dt}")
    out = cases[-1]
    for k in range(len(cases) - 2, -1, -1):
        out = select(ew.eq_p.bind1(which, np.asarray(k, dt)), cases[k], out)
    return result(out)


def clamp(min, x, max):  # noqa: A002  (lax's own names)
    """x clipped to [min, max], each bound 0-d or of x's shape, as `jax.lax.clamp`; the
    derivative with respect to x is 1 inside the bounds and 0 outside.

    >>> import xform as xf, numpy as np
    >>> xf.lax.clamp(0.0, np.array([-1.0, 0.5, 2.0]), 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    lo, x, hi = strict("clamp", min, x, max)
    shape = get_aval(x).shape
    if any(get_aval(b).shape not in ((), shape) for b in (lo, hi)):
        raise TypeError(f"lax.clamp needs bounds that are 0-d or of x's shape {shape}, got "
                        f"{get_aval(lo).shape} and {get_aval(hi).shape}")
    inside = ew.select(ew.gt_p.bind1(x, hi), hi, x)
    return result(ew.select(ew.lt_p.bind1(x, lo), lo, inside))


def stop_gradient(x):
    """The identity on values with a zero derivative, for every leaf of a pytree, as
    `jax.lax.stop_gradient`.

    >>> import xform as xf
    >>> float(xf.grad(lambda x: x * xf.lax.stop_gradient(x))(3.0))
    3.0
    """
    return tree.map(lambda v: ew.stop_gradient_p.bind1(v) if isinstance(v, Tracer) else v, x)
