"""Elementwise primitives (unary, binary, comparisons, select, dtype conversion) and their rules.

Primitives are strict: binary operands have equal shapes and dtypes (xform.numpy broadcasts and
promotes first), so no rule ever has to undo broadcasting.
"""
from __future__ import annotations

import math

import numpy as np

from xform.core import (Primitive, ShapedArray, UndefinedPrimal, Zero, batch_size, get_aval,
                        instantiate)
from xform.primitives import special_impl
from xform.primitives.lowering import Scalar

# ----------------------------------------------------------------------------- helpers


def _same_shape_aval(*avals, dtype=None, name=""):
    """The output aval of an elementwise primitive: its operands have one shape, except that
    0-d operands (scalars) broadcast against the others, and one dtype (unless `dtype` is the
    output's)."""
    out = max(avals, key=lambda a: len(a.shape))
    for a in avals:
        if a.shape and a.shape != out.shape:
            raise TypeError(f"{name} needs operands of equal shape (or 0-d ones), got "
                            f"{', '.join(str(a) for a in avals)}")
    if dtype is None:
        for a in avals:
            if a.dtype != out.dtype:
                raise TypeError(f"{name} needs operands of equal dtype, got "
                                f"{', '.join(str(a) for a in avals)}")
        return [out]  # avals are immutable, so the operand's serves as the output's
    return [ShapedArray(out.shape, dtype)]


_PYTHON_SCALARS = (int, float, bool)


def _typed(x, like):
    """A Python scalar operand of a strict op as a 0-d array of the other operand's dtype (of
    numpy's promotion of the two when both are Python scalars, e.g. primals of a grad taken
    at a Python float)."""
    if type(x) not in _PYTHON_SCALARS:
        return x
    dtype = np.result_type(x, like) if type(like) in _PYTHON_SCALARS else get_aval(like).dtype
    return np.asarray(x, dtype)


def _as_output(t, out):
    """A tangent given the output's shape: one coming from a 0-d operand alone is broadcast."""
    shape = get_aval(out).shape
    if isinstance(t, Zero) or get_aval(t).shape == shape:
        return t
    from xform.primitives.structural import broadcast_in_dim
    return broadcast_in_dim(t, shape, ())


def _unbroadcast(operand, ct):
    """The cotangent of a 0-d operand that was broadcast against the others: the sum of the
    output's cotangent."""
    aval = operand.aval if isinstance(operand, UndefinedPrimal) else get_aval(operand)
    if aval.shape == () and get_aval(ct).shape != ():
        from xform.primitives.reductions import reduce_sum
        return reduce_sum(ct, tuple(range(get_aval(ct).ndim)))
    return ct


def _elementwise_vmap(prim):
    """Batching rule shared by every elementwise primitive: batch dims at 0; unbatched 0-d
    operands stay scalars, batched per-example scalars are broadcast to the others' shape."""
    def rule(args, bdims, **params):
        from xform.primitives.structural import broadcast_in_dim, moveaxis
        size = batch_size(args, bdims)
        shapes = [get_aval(a).shape if d is None else
                  get_aval(a).shape[:d] + get_aval(a).shape[d + 1:] for a, d in zip(args, bdims)]
        shape = max(shapes, key=len)
        aligned = []
        for a, d, ex in zip(args, bdims, shapes):
            if d is None:
                aligned.append(a if ex == () else
                               broadcast_in_dim(a, (size, *ex), tuple(range(1, len(ex) + 1))))
            elif ex == () and shape:
                aligned.append(broadcast_in_dim(a, (size, *shape), (d,)))
            else:
                aligned.append(moveaxis(a, d, 0))
        outs = prim.bind(*aligned, **params)
        return outs, [0] * len(outs)
    return rule


def unary(name: str, impl, deriv=None, *, float_only=True, out_dtype=None) -> Primitive:
    """An elementwise unary primitive; `deriv(x, y)` gives dy/dx written with xform ops."""
    p = Primitive(name)
    p.impl = lambda x: [impl(x)]

    def abstract_eval(x):
        if float_only and not np.issubdtype(x.dtype, np.inexact):
            raise TypeError(f"{name} needs a floating-point operand, got {x}")
        return [ShapedArray(x.shape, out_dtype or x.dtype)]
    p.abstract_eval = abstract_eval
    if deriv is not None:
        def jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            y = p.bind1(x)
            return [y], [mul(t, deriv(x, y))]
        p.jvp = jvp
    p.vmap = _elementwise_vmap(p)
    return p


def nondiff_jvp(p: Primitive):
    """JVP rule for primitives whose output is piecewise constant (zero derivative)."""
    def jvp(primals, tangents, **params):
        outs = p.bind(*primals, **params)
        return outs, [Zero(get_aval(o)) for o in outs]
    p.jvp = jvp
    return p


# ----------------------------------------------------------------------------- unary ops

def neg(x):
    return neg_p.bind1(x)


neg_p = unary("neg", np.negative, float_only=False)
neg_p.jvp = lambda primals, tangents: ([neg(primals[0])], [neg(tangents[0])])
neg_p.transpose = lambda cts, x: [Zero(x.aval) if isinstance(cts[0], Zero) else neg(cts[0])]

sin_p = unary("sin", np.sin, lambda x, y: cos(x))
cos_p = unary("cos", np.cos, lambda x, y: neg(sin(x)))
tan_p = unary("tan", np.tan, lambda x, y: add(1, mul(y, y)))
asin_p = unary("asin", np.arcsin, lambda x, y: rsqrt(sub(1, mul(x, x))))
acos_p = unary("acos", np.arccos, lambda x, y: neg(rsqrt(sub(1, mul(x, x)))))
atan_p = unary("atan", np.arctan, lambda x, y: div(1, add(1, mul(x, x))))
sinh_p = unary("sinh", np.sinh, lambda x, y: cosh(x))
cosh_p = unary("cosh", np.cosh, lambda x, y: sinh(x))
tanh_p = unary("tanh", np.tanh, lambda x, y: sub(1, mul(y, y)))
asinh_p = unary("asinh", np.arcsinh, lambda x, y: rsqrt(add(mul(x, x), 1)))
acosh_p = unary("acosh", np.arccosh, lambda x, y: rsqrt(sub(mul(x, x), 1)))
atanh_p = unary("atanh", np.arctanh, lambda x, y: div(1, sub(1, mul(x, x))))
exp_p = unary("exp", np.exp, lambda x, y: y)
exp2_p = unary("exp2", np.exp2, lambda x, y: mul(y, math.log(2)))
expm1_p = unary("expm1", np.expm1, lambda x, y: add(y, 1))
log_p = unary("log", np.log, lambda x, y: div(1, x))
log1p_p = unary("log1p", np.log1p, lambda x, y: div(1, add(1, x)))
sqrt_p = unary("sqrt", np.sqrt, lambda x, y: div(0.5, y))
rsqrt_p = unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda x, y: div(mul(-0.5, y), x))
cbrt_p = unary("cbrt", np.cbrt, lambda x, y: div(1, mul(3, mul(y, y))))
logistic_p = unary("logistic", special_impl.logistic, lambda x, y: mul(y, sub(1, y)))
erf_p = unary("erf", special_impl.erf,
              lambda x, y: mul(2 / math.sqrt(math.pi), exp(neg(mul(x, x)))))
lgamma_p = unary("lgamma", special_impl.lgamma, lambda x, y: digamma(x))
digamma_p = unary("digamma", special_impl.digamma, lambda x, y: polygamma(1, x))
abs_p = unary("abs", np.abs, lambda x, y: sign(x), float_only=False)
sign_p = nondiff_jvp(unary("sign", np.sign, float_only=False))
floor_p = nondiff_jvp(unary("floor", np.floor))
ceil_p = nondiff_jvp(unary("ceil", np.ceil))
round_p = nondiff_jvp(unary("round", np.round))
is_finite_p = nondiff_jvp(unary("is_finite", np.isfinite, out_dtype=np.bool_))
is_nan_p = nondiff_jvp(unary("is_nan", np.isnan, out_dtype=np.bool_))
not_p = nondiff_jvp(unary("not", np.logical_not, float_only=False))
not_p.abstract_eval = lambda x: _same_shape_aval(x, dtype=np.bool_)

# stop_gradient: the identity, with a zero derivative.
stop_gradient_p = nondiff_jvp(unary("stop_gradient", lambda x: x, float_only=False))

polygamma_p = Primitive("polygamma")
polygamma_p.impl = lambda x, *, n: [special_impl.polygamma(n, x)]
polygamma_p.abstract_eval = lambda x, *, n: [x]


def _polygamma_jvp(primals, tangents, *, n):
    (x,), (t,) = primals, tangents
    return [polygamma(n, x)], [mul(t, polygamma(n + 1, x))]


polygamma_p.jvp = _polygamma_jvp
polygamma_p.vmap = _elementwise_vmap(polygamma_p)


def sin(x): return sin_p.bind1(x)  # noqa: E704
def cos(x): return cos_p.bind1(x)  # noqa: E704
def sinh(x): return sinh_p.bind1(x)  # noqa: E704
def cosh(x): return cosh_p.bind1(x)  # noqa: E704
def exp(x): return exp_p.bind1(x)  # noqa: E704
def log(x): return log_p.bind1(x)  # noqa: E704
def rsqrt(x): return rsqrt_p.bind1(x)  # noqa: E704
def sign(x): return sign_p.bind1(x)  # noqa: E704
def digamma(x): return digamma_p.bind1(x)  # noqa: E704
def polygamma(n, x): return polygamma_p.bind1(x, n=n)  # noqa: E704


# integer_pow: x ** n for a static integer n, with a derivative that is exact at x == 0.
integer_pow_p = Primitive("integer_pow")
integer_pow_p.impl = lambda x, *, y: [_integer_pow_impl(x, y)]
integer_pow_p.abstract_eval = lambda x, *, y: [x]


def _integer_pow_impl(x, y):
    x = np.asarray(x)
    if y == 2:
        return x * x
    return np.power(x, x.dtype.type(y))


def integer_pow(x, y: int):
    return integer_pow_p.bind1(x, y=y)


def _integer_pow_jvp(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    out = integer_pow(x, y)
    if y == 0:
        return [out], [Zero(get_aval(out))]
    d = mul(y, x if y == 2 else integer_pow(x, y - 1))
    return [out], [mul(t, d)]


integer_pow_p.jvp = _integer_pow_jvp
integer_pow_p.vmap = _elementwise_vmap(integer_pow_p)


# ----------------------------------------------------------------------------- binary ops

def binary(name: str, impl, *, out_dtype=None, float_only=False) -> Primitive:
    """A strict elementwise binary primitive (equal shapes and dtypes)."""
    p = Primitive(name)
    p.impl = lambda x, y: [impl(x, y)]

    def abstract_eval(x, y):
        if float_only and not np.issubdtype(x.dtype, np.inexact):
            raise TypeError(f"{name} needs floating-point operands, got {x} and {y}")
        out = _same_shape_aval(x, y, name=name)
        if out_dtype is not None:
            out = [ShapedArray(out[0].shape, out_dtype)]
        return out
    p.abstract_eval = abstract_eval
    p.vmap = _elementwise_vmap(p)
    return p


# The strict ops that rules are written with: equal shapes and dtypes, but a Python scalar
# operand becomes a 0-d constant of the other's dtype (which the primitive broadcasts).
def add(x, y): return add_p.bind1(_typed(x, y), _typed(y, x))  # noqa: E704
def sub(x, y): return sub_p.bind1(_typed(x, y), _typed(y, x))  # noqa: E704
def mul(x, y): return mul_p.bind1(_typed(x, y), _typed(y, x))  # noqa: E704
def div(x, y): return div_p.bind1(_typed(x, y), _typed(y, x))  # noqa: E704


def select(pred, on_true, on_false):
    return select_p.bind1(pred, _typed(on_true, on_false), _typed(on_false, on_true))


def add_tangents(a, b):
    """Sum of two tangents, skipping symbolic zeros."""
    if isinstance(a, Zero):
        return b
    if isinstance(b, Zero):
        return a
    return add(a, b)


add_p = binary("add", np.add)


def _add_jvp(primals, tangents):
    out = add(*primals)
    return [out], [_as_output(add_tangents(*tangents), out)]


def _add_transpose(cts, x, y):
    (ct,) = cts
    return [_unbroadcast(x, ct) if isinstance(x, UndefinedPrimal) else None,
            _unbroadcast(y, ct) if isinstance(y, UndefinedPrimal) else None]


add_p.jvp = _add_jvp
add_p.transpose = _add_transpose

sub_p = binary("sub", np.subtract)


def _sub_jvp(primals, tangents):
    tx, ty = tangents
    if isinstance(ty, Zero):
        t = tx
    elif isinstance(tx, Zero):
        t = neg(ty)
    else:
        t = sub(tx, ty)
    out = sub(*primals)
    return [out], [_as_output(t, out)]


def _sub_transpose(cts, x, y):
    (ct,) = cts
    return [_unbroadcast(x, ct) if isinstance(x, UndefinedPrimal) else None,
            _unbroadcast(y, neg(ct)) if isinstance(y, UndefinedPrimal) else None]


sub_p.jvp = _sub_jvp
sub_p.transpose = _sub_transpose

mul_p = binary("mul", np.multiply)


def _mul_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = mul(x, y)
    a = Zero(get_aval(out)) if isinstance(tx, Zero) else mul(tx, y)
    b = Zero(get_aval(out)) if isinstance(ty, Zero) else mul(x, ty)
    return [out], [_as_output(add_tangents(a, b), out)]


def _mul_transpose(cts, x, y):
    (ct,) = cts
    if isinstance(x, UndefinedPrimal) and isinstance(y, UndefinedPrimal):
        raise NotImplementedError("mul is not linear in both operands at once")
    if isinstance(x, UndefinedPrimal):
        return [_unbroadcast(x, mul(ct, y)), None]
    return [None, _unbroadcast(y, mul(x, ct))]


mul_p.jvp = _mul_jvp
mul_p.transpose = _mul_transpose

div_p = binary("div", np.true_divide)


def _div_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = div(x, y)
    a = Zero(get_aval(out)) if isinstance(tx, Zero) else div(tx, y)
    b = Zero(get_aval(out)) if isinstance(ty, Zero) else neg(mul(ty, div(out, y)))
    return [out], [_as_output(add_tangents(a, b), out)]


def _div_transpose(cts, x, y):
    (ct,) = cts
    if isinstance(y, UndefinedPrimal):
        raise NotImplementedError("div is not linear in its divisor")
    return [_unbroadcast(x, div(ct, y)), None]


div_p.jvp = _div_jvp
div_p.transpose = _div_transpose

pow_p = binary("pow", np.power, float_only=True)


def _pow_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = pow_p.bind1(x, y)
    if isinstance(tx, Zero):
        a = Zero(get_aval(out))
    else:
        # d/dx x**y = y x**(y-1), which is 0 at x == y == 0 (where the formula reads
        # 0 * inf); the exponent is made safe there so that no nan reaches higher derivatives
        # through the branch not taken.
        both_zero = and_p.bind1(eq(x, _typed(0, x)), eq(y, _typed(0, y)))
        safe_y = select(both_zero, 1, y)
        a = mul(tx, select(both_zero, 0, mul(safe_y, pow_p.bind1(x, sub(safe_y, 1)))))
    if isinstance(ty, Zero):
        b = Zero(get_aval(out))
    else:
        # d/dy x**y = x**y log(x); defined as 0 where x == 0 (the limit for y > 0).
        is_zero = eq(x, _typed(0, x))
        b = mul(ty, select(is_zero, 0, mul(out, log(select(is_zero, 1, x)))))
    return [out], [_as_output(add_tangents(a, b), out)]


pow_p.jvp = _pow_jvp

max_p = binary("max", np.maximum)
min_p = binary("min", np.minimum)


def _minmax_jvp(p, pick_x_op):
    def jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        out = p.bind1(x, y)
        # At ties the derivative is shared equally, so max(x, y) stays symmetric in x and y.
        pick_x = pick_x_op(x, y)
        tie = eq(x, y)
        tx, ty = instantiate(tx), instantiate(ty)
        t = select(tie, mul(add(tx, ty), 0.5), select(pick_x, tx, ty))
        return [out], [_as_output(t, out)]
    return jvp


max_p.jvp = _minmax_jvp(max_p, lambda x, y: gt_p.bind1(x, y))
min_p.jvp = _minmax_jvp(min_p, lambda x, y: lt_p.bind1(x, y))

atan2_p = binary("atan2", np.arctan2, float_only=True)


def _atan2_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = atan2_p.bind1(x, y)
    denom = add(mul(x, x), mul(y, y))
    a = Zero(get_aval(out)) if isinstance(tx, Zero) else mul(tx, div(y, denom))
    b = Zero(get_aval(out)) if isinstance(ty, Zero) else mul(ty, div(neg(x), denom))
    return [out], [_as_output(add_tangents(a, b), out)]


atan2_p.jvp = _atan2_jvp

rem_p = binary("rem", np.mod)


def _rem_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = rem_p.bind1(x, y)
    # (x - out) / y is the integer quotient up to rounding (e.g. -3.0000000000000004), so
    # round it: floor could land one below.
    b = Zero(get_aval(out)) if isinstance(ty, Zero) else \
        neg(mul(ty, round_p.bind1(div(sub(x, out), y))))
    return [out], [_as_output(add_tangents(tx, b), out)]


rem_p.jvp = _rem_jvp
floordiv_p = nondiff_jvp(binary("floordiv", np.floor_divide))

and_p = nondiff_jvp(binary("and", np.logical_and, out_dtype=np.bool_))
or_p = nondiff_jvp(binary("or", np.logical_or, out_dtype=np.bool_))
xor_p = nondiff_jvp(binary("xor", np.logical_xor, out_dtype=np.bool_))
eq_p = nondiff_jvp(binary("eq", np.equal, out_dtype=np.bool_))
ne_p = nondiff_jvp(binary("ne", np.not_equal, out_dtype=np.bool_))
lt_p = nondiff_jvp(binary("lt", np.less, out_dtype=np.bool_))
le_p = nondiff_jvp(binary("le", np.less_equal, out_dtype=np.bool_))
gt_p = nondiff_jvp(binary("gt", np.greater, out_dtype=np.bool_))
ge_p = nondiff_jvp(binary("ge", np.greater_equal, out_dtype=np.bool_))

# ----------------------------------------------------------------------------- select

select_p = Primitive("select")
select_p.impl = lambda pred, on_true, on_false: [np.where(pred, on_true, on_false)]


def _select_abstract_eval(pred, on_true, on_false):
    if pred.dtype != np.bool_:
        raise TypeError(f"select needs a boolean predicate, got {pred}")
    out = _same_shape_aval(on_true, on_false, name="select")
    return _same_shape_aval(pred, *out, dtype=out[0].dtype, name="select")


def _select_jvp(primals, tangents):
    pred, a, b = primals
    _, ta, tb = tangents
    out = select(pred, a, b)
    if isinstance(ta, Zero) and isinstance(tb, Zero):
        return [out], [Zero(get_aval(out))]
    return [out], [_as_output(select(pred, instantiate(ta), instantiate(tb)), out)]


def _select_transpose(cts, pred, a, b):
    (ct,) = cts
    if isinstance(pred, UndefinedPrimal):
        raise NotImplementedError("select is not linear in its predicate")
    return [None,
            _unbroadcast(a, select(pred, ct, 0)) if isinstance(a, UndefinedPrimal) else None,
            _unbroadcast(b, select(pred, 0, ct)) if isinstance(b, UndefinedPrimal) else None]


select_p.abstract_eval = _select_abstract_eval
select_p.jvp = _select_jvp
select_p.transpose = _select_transpose
select_p.vmap = _elementwise_vmap(select_p)

# ----------------------------------------------------------------------------- dtype conversion

convert_p = Primitive("convert_element_type")
convert_p.impl = lambda x, *, new_dtype: [np.asarray(x).astype(new_dtype)]
convert_p.abstract_eval = lambda x, *, new_dtype: [ShapedArray(x.shape, new_dtype)]


def convert(x, dtype):
    dtype = np.dtype(dtype)
    if get_aval(x).dtype == dtype:
        return x
    return convert_p.bind1(x, new_dtype=dtype)


def _convert_jvp(primals, tangents, *, new_dtype):
    (x,), (t,) = primals, tangents
    out = convert(x, new_dtype)
    if not (np.issubdtype(new_dtype, np.inexact) and np.issubdtype(get_aval(x).dtype,
                                                                   np.inexact)):
        return [out], [Zero(get_aval(out))]
    return [out], [convert(t, new_dtype)]


def _convert_transpose(cts, x, *, new_dtype):
    (ct,) = cts
    return [convert(ct, x.aval.dtype)]


convert_p.jvp = _convert_jvp
convert_p.transpose = _convert_transpose
convert_p.vmap = _elementwise_vmap(convert_p)


def eq(x, y): return eq_p.bind1(x, y)  # noqa: E704

# ----------------------------------------------------------------------------- Numba lowerings
# `math` functions rather than numpy ufuncs where the semantics agree: Numba types and compiles
# them several times faster, and compile time is what a first call waits for.

_MAX = "{0} if ({0} > {1} or {0} != {0}) else {1}"  # NaN-propagating, as np.maximum
_MIN = "{0} if ({0} < {1} or {0} != {0}) else {1}"
# +0 for either zero and NaN for NaN, as np.sign (and unsigned values are never below zero).
_SIGN = "{t}(1) if {0} > 0 else ({t}(-1) if {0} < 0 else ({t}(0) if {0} == 0 else {0}))"
# The order as a typed int64, not a literal: one compiled kernel serves every order.
_POLYGAMMA = "K.polygamma(np.int64({n}), {0})"


def _integer_pow_numba(x, *, y, t):
    if y == 0:
        return f"{t}(1)"
    power = " * ".join([x] * abs(y)) if abs(y) <= 4 else f"{x} ** {abs(y)}"
    return f"({power})" if y > 0 else f"{t}(1) / ({power})"


def _floordiv_numba(x, y, *, t):
    # MIN // -1 overflows: numpy wraps it round to MIN, Numba's signed division gives 0.
    if t.startswith("np.int"):
        return f"(-{x} if {y} == -1 else {x} // {y})"
    return f"{x} // {y}"


def _vectorised(name: str, other: str | None = None):
    """The vectorisable V.<name>_f64/_f32 of xform.backends.vecmath on float64 and float32, the
    template `other` (default libm's `math.<name>`) on other dtypes."""
    other = other or f"math.{name}({{0}})"

    def expr(x, *, t):
        bits = {"np.float64": "f64", "np.float32": "f32"}.get(t)
        return f"V.{name}_{bits}({x})" if bits else other.format(x, t=t)
    return expr


# Arithmetic that keeps a float dtype needs no cast in the generated code.
_KEEPS_FLOAT = {neg_p, add_p, sub_p, mul_p, div_p, max_p, min_p, select_p, stop_gradient_p}
for _p, _template in [
        (neg_p, "-{0}"), (tan_p, "math.tan({0})"),
        (asin_p, "math.asin({0})"), (acos_p, "math.acos({0})"), (atan_p, "math.atan({0})"),
        (sinh_p, "math.sinh({0})"), (cosh_p, "math.cosh({0})"),
        (tanh_p, _vectorised("tanh")),
        (asinh_p, "math.asinh({0})"), (acosh_p, "math.acosh({0})"),
        (atanh_p, "math.atanh({0})"), (exp_p, _vectorised("exp")),
        (exp2_p, "np.exp2({0})"), (expm1_p, _vectorised("expm1")),
        (log_p, _vectorised("log")), (log1p_p, _vectorised("log1p")),
        (sqrt_p, "math.sqrt({0})"), (rsqrt_p, "{t}(1) / math.sqrt({0})"), (cbrt_p, "np.cbrt({0})"),
        (logistic_p, _vectorised("logistic", "{t}(1) / ({t}(1) + math.exp(-{0}))")),
        (erf_p, "math.erf({0})"),
        (lgamma_p, "math.lgamma({0})"), (digamma_p, "K.digamma({0})"),
        (polygamma_p, _POLYGAMMA), (abs_p, "abs({0})"), (sign_p, _SIGN),
        (floor_p, "np.floor({0})"), (ceil_p, "np.ceil({0})"), (round_p, "np.rint({0})"),
        (is_finite_p, "np.isfinite({0})"), (is_nan_p, "np.isnan({0})"),
        (not_p, "not {0}"), (stop_gradient_p, "{0}"),
        (integer_pow_p, _integer_pow_numba), (convert_p, "{0}"),
        (add_p, "{0} + {1}"), (sub_p, "{0} - {1}"), (mul_p, "{0} * {1}"), (div_p, "{0} / {1}"),
        (pow_p, "{0} ** {1}"), (max_p, _MAX), (min_p, _MIN),
        (atan2_p, "math.atan2({0}, {1})"), (rem_p, "{0} % {1}"), (floordiv_p, _floordiv_numba),
        (and_p, "bool({0}) and bool({1})"), (or_p, "bool({0}) or bool({1})"),
        (xor_p, "bool({0}) != bool({1})"), (eq_p, "{0} == {1}"), (ne_p, "{0} != {1}"),
        (lt_p, "{0} < {1}"), (le_p, "{0} <= {1}"), (gt_p, "{0} > {1}"), (ge_p, "{0} >= {1}"),
        (select_p, "{1} if {0} else {2}")]:
    _p.numba = Scalar(_template, keeps_float=_p in _KEEPS_FLOAT)
# Fast sine and cosine reduce their argument exactly only below about 8e5 (vecmath).
for _p, _name in [(sin_p, "sin"), (cos_p, "cos")]:
    _p.numba = Scalar(_vectorised(_name), exact=f"math.{_name}({{0}})",
                      guard="V.trig_reducible({0})")
