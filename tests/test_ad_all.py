"""Derivatives of every registered primitive against finite differences, at random points.

`AD_TABLE` has one check per primitive in `xform.core.registry`. Most bind the primitive alone
with random operands and static params from the vmap table (tests/test_vmap.py) — linear
algebra with batch dimensions, indexing with random integer indices — and run `check_grads` in
forward and reverse mode to second order, in float64. Primitives with integer or boolean
outputs have a zero derivative; they are checked inside a small differentiable composite that
uses their output (a select, a product), so that a wrong "zero" would show.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_numpy import rand
from test_vmap import NO_OP, HIGHER_ORDER, VMAP_TABLE, example, index_operands, shape_of

import xform as xf
import xform.numpy as xnp
from xform.core import Zero, get_aval, registry
from xform.test_util import check_grads


def bind(name, *args, **params):
    return registry[name].bind1(*args, **params)


def bind_all(name, *args, **params):
    return registry[name].bind(*args, **params)


def _split_float(args):
    """(float operands, rebuild) where rebuild(floats) puts them back among the fixed others."""
    is_float = [np.asarray(a).dtype.kind == "f" for a in args]

    def rebuild(floats):
        it = iter(floats)
        return [next(it) if f else a for a, f in zip(args, is_float)]
    return [a for a, f in zip(args, is_float) if f], rebuild


def primitive(name, order=2, **tol):
    """check_grads of the primitive alone on a float64 example of its vmap row; integer
    operands (indices) and boolean ones (predicates) stay fixed."""
    def check(seed):
        args, params = example(VMAP_TABLE[name], seed, (0,), np.float64)
        floats, rebuild = _split_float(args)
        check_grads(lambda *fl: registry[name].bind(*rebuild(fl), **params), floats,
                    order=order, **tol)
    return check


def composite(fn, *domains, order=2, **tol):
    """check_grads of `fn` on operands of one random shape, one per domain."""
    def check(seed):
        s, v = np.random.default_rng(seed), np.random.default_rng([seed, 1])
        shape = shape_of(s)
        check_grads(fn, [rand(v, shape, np.float64, d) for d in domains], order=order, **tol)
    return check


def _times_itself(name):
    """x · p(x): p is piecewise constant, so the derivative is p(x)."""
    return composite(lambda x: bind("mul", x, bind(name, x)), "offgrid")


def _choose(pred, x, y):
    """x·y where pred holds, x − y elsewhere: wrong branches or tangents would show."""
    return bind("select", pred, bind("mul", x, y), bind("sub", x, y))


def _positive(x):
    return bind("gt", x, np.zeros(np.shape(x)))


def _compare(name):
    return composite(lambda x, y: _choose(bind(name, x, y), x, y), "real", "real")


def _compare_floors(name):
    """Equality tests on floors, so that both outcomes occur at random points."""
    return composite(lambda x, y: _choose(bind(name, bind("floor", x), bind("floor", y)), x, y),
                     "offgrid", "offgrid")


def _logical(name):
    return composite(lambda x, y: _choose(bind(name, _positive(x), _positive(y)), x, y),
                     "real", "real")


def _arg_reduction(name):
    """max(x) · argmax(x) along the row's axis."""
    def check(seed):
        (x,), params = example(VMAP_TABLE[name], seed, (0,), np.float64)

        def f(x):
            idx = registry["convert_element_type"].bind1(bind(name, x, **params),
                                                         new_dtype=np.dtype(np.float64))
            return bind("mul", bind("reduce_max", x, axes=(params["axis"],)), idx)
        check_grads(f, [x], order=2)
    return check


def _convert(x):
    """A float32 round trip (derivative 1) times the integer part (derivative 0)."""
    def to(y, dt):
        return registry["convert_element_type"].bind1(y, new_dtype=np.dtype(dt))
    return bind("mul", to(to(x, np.float32), np.float64), to(to(x, np.int32), np.float64))


def _times_words(name, x, n):
    """x times the (piecewise constant) words that uint32 operands made from x hash to; the
    words change at multiples of 0.5, which the "offgrid" domain keeps well away from."""
    words = bind("convert_element_type", bind("floor", bind("mul", bind("abs", x), 2.0)),
                 new_dtype=np.dtype(np.uint32))
    out = registry[name].bind(*[words] * n)[0]
    return bind("mul", x, bind("convert_element_type", out, new_dtype=np.dtype(np.float64)))


def _in_last_operand(name, first_order_in_all=False):
    """check_grads to second order in the last operand (the others fixed), and to first order
    in every operand when the leading ones (shape parameters) have first derivatives only."""
    def check(seed):
        args, params = example(VMAP_TABLE[name], seed, (0,), np.float64)
        *lead, last = args
        check_grads(lambda x: bind(name, *lead, x, **params), [last], order=2)
        if first_order_in_all:
            check_grads(lambda *a: bind(name, *a, **params), args, order=1)
    return check


def _check_lu(seed):
    """The packed factors of lu (its pivots and permutation are locally constant)."""
    (a,), _ = example(VMAP_TABLE["lu"], seed, (0,), np.float64)
    check_grads(lambda a: bind("lu", a), [a], order=2)


def _check_stop_gradient(seed):
    """stop_gradient has value x and derivative 0 (finite differences would say 1)."""
    x = rand(np.random.default_rng(seed), shape_of(np.random.default_rng(seed)), np.float64)

    def f(x):
        return bind("mul", x, bind("stop_gradient", x))
    t = np.ones_like(x)
    out, t_out = xf.jvp(lambda x: bind("stop_gradient", x), (x,), (t,))
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(t_out, np.zeros_like(x))
    np.testing.assert_allclose(xf.jvp(f, (x,), (t,))[1], x)
    np.testing.assert_allclose(xf.vjp(f, x)[1](t)[0], x)


def _check_scatter(seed):
    """scatter at unique indices (the vmap row), then at indices that may repeat: only the
    write that lands may receive a cotangent."""
    primitive("scatter")(seed)
    (x, idx, u), _ = index_operands(np.random.default_rng(seed),
                                    np.random.default_rng([seed, 1]), np.float64, updates=True)
    check_grads(lambda x, u: bind("scatter", x, idx, u), [x, u], order=2)


def _check_call(seed):
    """A jitted function under AD is one `call` equation whose IR is differentiated."""
    f = xf.jit(lambda x, y: xnp.sin(x) * y + x ** 3, backend="interpreter")
    composite(f, "real", "real")(seed)


PRIMITIVE_ROWS = [
    # elementwise
    "neg", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "exp", "exp2", "expm1", "log", "log1p", "sqrt", "rsqrt", "cbrt",
    "logistic", "erf", "lgamma", "digamma", "polygamma", "abs", "integer_pow", "add", "sub",
    "mul", "div", "pow", "max", "min", "atan2", "rem", "select",
    # structural and reductions
    "broadcast_in_dim", "reshape", "transpose", "rev", "slice", "pad", "concatenate",
    "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "cumsum", "cumprod",
    # indexing
    "gather", "scatter_add",
    # linear algebra
    "dot_general", "triangular_solve", "cholesky", "solve", "det", "slogdet", "eigh", "qr",
    "svd",
    # special functions
    "gamma", "erfc", "erfcx", "erf_inv", "ndtri", "bessel_i0e", "bessel_i1e",
    # sorting (random floats: no ties, so the permutation is locally constant)
    "sort",
    # convolutions, windowed sums and the selections of windowed maxima
    "conv_general_dilated", "reduce_window_sum", "window_select_gather",
    "window_select_scatter",
]


def _windowed_extremum(name):
    """check_grads of a windowed max or min, its windows of padding only (infinite) zeroed."""
    def check(seed):
        (x,), params = example(VMAP_TABLE[name], seed, (0,), np.float64)

        def f(x):
            y = bind(name, x, **params)
            return bind("select", bind("is_finite", y), y, np.zeros(np.shape(y)))
        check_grads(f, [x], order=2)
    return check


AD_TABLE = {
    **{name: primitive(name) for name in PRIMITIVE_ROWS},
    **{name: _times_itself(name) for name in ("sign", "floor", "ceil", "round")},
    "is_finite": composite(lambda x: bind("select", bind("is_finite", x), bind("mul", x, x),
                                          bind("sin", x)), "real"),
    "is_nan": composite(lambda x: bind("select", bind("is_nan", x), bind("sin", x),
                                       bind("mul", x, x)), "real"),
    "not": composite(lambda x: _choose(bind("not", _positive(x)), x, bind("sin", x)), "real"),
    **{name: _logical(name) for name in ("and", "or", "xor")},
    **{name: _compare(name) for name in ("lt", "le", "gt", "ge")},
    **{name: _compare_floors(name) for name in ("eq", "ne")},
    "floordiv": composite(lambda x, y: bind("mul", x, bind("floordiv", x, y)), "offgrid",
                          "steps"),
    "argmax": _arg_reduction("argmax"),
    "argmin": _arg_reduction("argmin"),
    # float32 rounding limits the accuracy of the finite differences.
    "convert_element_type": composite(_convert, "offgrid", atol=1e-3, rtol=1e-3, eps=1e-3),
    "stop_gradient": _check_stop_gradient,
    "scatter": _check_scatter,
    "call": _check_call,
    "lu": _check_lu,
    "igamma": _in_last_operand("igamma", first_order_in_all=True),
    "igammac": _in_last_operand("igammac", first_order_in_all=True),
    "igamma_grad_a": _in_last_operand("igamma_grad_a"),
    "betainc": _in_last_operand("betainc"),
    "bitwise_xor": composite(lambda x: _times_words("bitwise_xor", x, 2), "offgrid"),
    "threefry2x32": composite(lambda x: _times_words("threefry2x32", x, 4), "offgrid"),
    # A callback contributes no derivative: the function around it is differentiated alone.
    "debug_callback": composite(lambda x: (bind_all("debug_callback", x, callback=NO_OP,
                                                    batch_ndim=0), bind("sin", x))[1], "real"),
    **{name: _windowed_extremum(name) for name in ("reduce_window_max", "reduce_window_min")},
}

DIFFERENTIATED = sorted(set(registry) - (HIGHER_ORDER - {"call"}))


def test_every_primitive_has_a_row():
    missing = sorted(set(DIFFERENTIATED) - set(AD_TABLE))
    assert not missing, f"add a row to AD_TABLE for the primitives {missing}"


@pytest.mark.parametrize("name", DIFFERENTIATED)
@settings(max_examples=6)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_derivatives_match_finite_differences(name, seed):
    AD_TABLE[name](seed)


# ----------------------------------------------------------------------------- dtypes of rules

def _example_with_avals(name, dtype, seed=0):
    args, params = example(VMAP_TABLE[name], seed, (0,), dtype)
    prim = registry[name]
    return prim, args, params, prim.abstract_eval(*[get_aval(a) for a in args], **params)


def _float_out(name):
    _, _, _, avals = _example_with_avals(name, np.float64)
    return all(a.dtype.kind == "f" for a in avals)


NON_FLOAT_OUT = [n for n in sorted(VMAP_TABLE) if not _float_out(n)]
FLOAT_OUT = [n for n in sorted(VMAP_TABLE) if _float_out(n)]


@pytest.mark.parametrize("name", NON_FLOAT_OUT)
def test_integer_and_boolean_outputs_have_symbolic_zero_tangents(name):
    prim, args, params, avals = _example_with_avals(name, np.float64)
    tangents = [np.ones(np.shape(a)) if np.asarray(a).dtype.kind == "f" else Zero(get_aval(a))
                for a in args]
    outs, t_outs = prim.rule("jvp")(list(args), tangents, **params)
    assert len(outs) == len(t_outs) == len(avals)
    # (lu's packed factors are a float output beside its integer pivots.)
    assert all(isinstance(t, Zero) for t, a in zip(t_outs, avals) if a.dtype.kind != "f")


# Primitives differentiable in their last operand only (the others are shape parameters).
LAST_OPERAND_ONLY = {"betainc", "igamma_grad_a"}


@pytest.mark.parametrize("name", FLOAT_OUT)
def test_float32_derivatives_stay_float32(name):
    prim, args, params, avals = _example_with_avals(name, np.float32, seed=3)
    floats, rebuild = _split_float(args)
    if name in LAST_OPERAND_ONLY:
        fixed, full = floats[:-1], rebuild
        floats, rebuild = floats[-1:], lambda fl: full([*fixed, *fl])

    def f(*fl):
        return prim.bind(*rebuild(fl), **params)
    outs, t_outs = xf.jvp(f, floats, [np.ones_like(a) for a in floats])
    assert [np.asarray(t).dtype for t in t_outs] == [np.dtype(np.float32)] * len(avals)
    outs, f_vjp = xf.vjp(f, *floats)
    cts = f_vjp([np.ones(np.shape(o), np.float32) for o in outs])
    assert [np.asarray(c).dtype for c in cts] == [np.dtype(np.float32)] * len(floats)
