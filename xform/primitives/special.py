"""Special-function primitives and their rules: gamma, erfc, erfcx, erf_inv, ndtri, the scaled
Bessel functions i0e and i1e, and the regularized incomplete gamma and beta functions.

Each is elementwise (operands of one shape, or 0-d beside n-d ones) on float32 or float64. The
numpy implementations call scipy.special (imported when first used) except where libm is more
accurate (erfc) or scipy has no such function (the derivative of the incomplete gamma function
in its shape parameter); the Numba lowerings call the kernels of
xform.backends.special_kernels, which need no scipy.
"""
from __future__ import annotations

import math

import numpy as np

from xform.core import Primitive, Zero, get_aval
from xform.primitives import special_impl
from xform.primitives.elementwise import (_elementwise_vmap, _same_shape_aval, add,
                                          add_tangents, digamma, div, eq, exp, lgamma_p, log,
                                          log1p_p, mul, neg, select, sign, sub, unary)
from xform.primitives.lowering import Scalar

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _scipy(name: str):
    """scipy.special's `name`, computed in float64 (some of scipy's float32 loops compute in
    float32) and rounded to the operands' dtype (0-d stays an array)."""
    def impl(*args):
        import scipy.special
        dtype = np.result_type(*args)
        wide = [np.asarray(a, np.float64) for a in args]
        return np.asarray(getattr(scipy.special, name)(*wide), dtype)
    return impl


def _equals(x, value):
    """x == value, the constant 0-d of x's dtype."""
    return eq(x, np.asarray(value, get_aval(x).dtype))


def _lgamma(x):
    return lgamma_p.bind1(x)


def _log1p(x):
    return log1p_p.bind1(x)


# ----------------------------------------------------------------------------- unary

gamma_p = unary("gamma", _scipy("gamma"), lambda x, y: mul(y, digamma(x)))
erfc_p = unary("erfc", special_impl.erfc,
               lambda x, y: mul(-_TWO_OVER_SQRT_PI, exp(neg(mul(x, x)))))
# erfcx(x) = exp(x^2) erfc(x): d/dx = 2 x erfcx(x) - 2/√π.
erfcx_p = unary("erfcx", special_impl.erfcx,
                lambda x, y: sub(mul(mul(2, x), y), _TWO_OVER_SQRT_PI))
erf_inv_p = unary("erf_inv", _scipy("erfinv"),
                  lambda x, y: mul(0.5 * math.sqrt(math.pi), exp(mul(y, y))))
ndtri_p = unary("ndtri", _scipy("ndtri"),
                lambda x, y: mul(math.sqrt(2 * math.pi), exp(mul(0.5, mul(y, y)))))
bessel_i0e_p = unary("bessel_i0e", _scipy("i0e"),
                     lambda x, y: sub(bessel_i1e(x), mul(sign(x), y)))


def _i1e_derivative(x, y):
    """i0e(x) - sign(x) i1e(x) - i1e(x) / x, which is 1/2 at x = 0."""
    zero = _equals(x, 0)
    ratio = div(y, select(zero, 1, x))
    general = sub(sub(bessel_i0e(x), mul(sign(x), y)), ratio)
    return select(zero, 0.5, general)


bessel_i1e_p = unary("bessel_i1e", _scipy("i1e"), _i1e_derivative)


def bessel_i0e(x): return bessel_i0e_p.bind1(x)  # noqa: E704
def bessel_i1e(x): return bessel_i1e_p.bind1(x)  # noqa: E704


# ----------------------------------------------------------------------------- n-ary


def _nary(name: str, impl) -> Primitive:
    """An elementwise primitive of several float operands (equal shapes, or 0-d ones)."""
    p = Primitive(name)
    p.impl = lambda *args: [impl(*args)]

    def abstract_eval(*avals):
        if not all(np.issubdtype(a.dtype, np.floating) for a in avals):
            raise TypeError(f"{name} needs floating-point operands, got "
                            f"{', '.join(map(str, avals))}")
        return _same_shape_aval(*avals, name=name)
    p.abstract_eval = abstract_eval
    p.vmap = _elementwise_vmap(p)
    return p


igamma_p = _nary("igamma", _scipy("gammainc"))
igammac_p = _nary("igammac", _scipy("gammaincc"))
igamma_grad_a_p = _nary("igamma_grad_a", special_impl.igamma_grad_a)
betainc_p = _nary("betainc", _scipy("betainc"))


def _xlogy_at_one(a, x):
    """(a - 1) log x, taken as 0 where a == 1 (also at x == 0)."""
    return select(_equals(a, 1), 0, mul(sub(a, 1), log(x)))


def _gamma_density(a, x):
    """x^(a-1) e^-x / Γ(a): the derivative of P(a, x) in x."""
    return exp(sub(sub(_xlogy_at_one(a, x), x), _lgamma(a)))


def _scaled(t, d):
    return Zero(get_aval(d)) if isinstance(t, Zero) else mul(t, d)


def _igamma_jvp(sign_):
    def jvp(primals, tangents):
        (a, x), (ta, tx) = primals, tangents
        out = (igamma_p if sign_ > 0 else igammac_p).bind1(a, x)
        dx = _scaled(tx, _gamma_density(a, x))
        da = _scaled(ta, igamma_grad_a(a, x))
        t = add_tangents(da, dx)
        return [out], [t if sign_ > 0 or isinstance(t, Zero) else neg(t)]
    return jvp


def igamma_grad_a(a, x):
    return igamma_grad_a_p.bind1(a, x)


def _igamma_grad_a_jvp(primals, tangents):
    (a, x), (ta, tx) = primals, tangents
    if not isinstance(ta, Zero):
        raise NotImplementedError(
            "second derivatives of gammainc and gammaincc with respect to the shape parameter "
            "a are not supported (first derivatives in a, and all derivatives in x, are)")
    out = igamma_grad_a(a, x)
    # d/dx dP/da = d/da (x^(a-1) e^-x / Γ(a)) = that density times (log x - ψ(a)).
    d = mul(_gamma_density(a, x), sub(log(x), digamma(a)))
    return [out], [_scaled(tx, d)]


def _betainc_jvp(primals, tangents):
    (a, b, x), (ta, tb, tx) = primals, tangents
    if not (isinstance(ta, Zero) and isinstance(tb, Zero)):
        raise NotImplementedError(
            "betainc is differentiable only in x: derivatives with respect to a and b are not "
            "supported (as in JAX); keep a and b constant, e.g. with xf.stop_gradient")
    out = betainc_p.bind1(a, b, x)
    # x^(a-1) (1-x)^(b-1) / B(a, b)
    log_beta = sub(add(_lgamma(a), _lgamma(b)), _lgamma(add(a, b)))
    log_density = sub(add(_xlogy_at_one(a, x), _xlog1py_at_one(b, x)), log_beta)
    return [out], [_scaled(tx, exp(log_density))]


def _xlog1py_at_one(b, x):
    """(b - 1) log(1 - x), taken as 0 where b == 1 (also at x == 1)."""
    return select(_equals(b, 1), 0, mul(sub(b, 1), _log1p(neg(x))))


igamma_p.jvp = _igamma_jvp(1)
igammac_p.jvp = _igamma_jvp(-1)
igamma_grad_a_p.jvp = _igamma_grad_a_jvp
betainc_p.jvp = _betainc_jvp

# ----------------------------------------------------------------------------- Numba lowerings

def _kernel(name: str):
    """The template calling K.<name> on float64 operands (the kernels compute in float64):
    one compiled kernel serves float32 programs too."""
    def expr(*operands, t):
        return f"K.{name}({', '.join(f'np.float64({x})' for x in operands)})"
    return expr


gamma_p.numba = Scalar("math.gamma({0})")
erfc_p.numba = Scalar("math.erfc({0})")
for _p, _name in [(erfcx_p, "erfcx"), (erf_inv_p, "erf_inv"), (ndtri_p, "ndtri"),
                  (bessel_i0e_p, "i0e"), (bessel_i1e_p, "i1e"), (igamma_p, "igamma"),
                  (igammac_p, "igammac"), (igamma_grad_a_p, "igamma_grad_a"),
                  (betainc_p, "betainc")]:
    _p.numba = Scalar(_kernel(_name))
