"""Taylor mode (`xf.jet`, `xf.derivatives`, ...): values against nested differentiation and
closed forms, every primitive against nested jvp, control flow, jit, vmap, dtypes and the size
of the program (polynomial in the order, where nested grad grows about 3x per order)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ad_all import LAST_OPERAND_ONLY, _split_float
from test_vmap import HIGHER_ORDER, VMAP_TABLE, example

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.core import registry
from xform.transforms import taylor


def f(x):
    return xnp.sin(x) * xnp.exp(x) / (1 + x ** 2)


def nested_grad(fun, k):
    for _ in range(k):
        fun = xf.grad(fun)
    return fun


def _derivative(fun):
    return lambda t: xf.jvp(fun, (t,), (1.0,))[1]


def nested_jvp(fun, k):
    """t -> d^k/dt^k fun(t) by k nested jvps (works for outputs of any shape)."""
    for _ in range(k):
        fun = _derivative(fun)
    return fun


# ----------------------------------------------------------------------------- values

def test_derivatives_match_nested_grad():
    for x in (0.3, -1.2):
        d = xf.derivatives(f, 4)(x)
        expected = [f(x)] + [nested_grad(f, k)(x) for k in range(1, 5)]
        np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-12)


def test_closed_form_to_order_ten():
    """d^k/dx^k e^x sin x = 2^{k/2} e^x sin(x + k pi/4)."""
    x = 0.7
    d = xf.derivatives(lambda x: xnp.exp(x) * xnp.sin(x), 10)(x)
    k = np.arange(11)
    np.testing.assert_allclose(d, 2 ** (k / 2) * np.exp(x) * np.sin(x + k * np.pi / 4),
                               rtol=1e-12)


def test_closed_forms_of_the_recurrences():
    x, k = 0.4, np.arange(9)
    fact = np.array([math.factorial(j) for j in k], float)
    cases = {
        "log": (xnp.log, np.r_[np.log(x), [(-1.0) ** (j + 1) * math.factorial(j - 1) / x ** j
                                            for j in k[1:]]]),
        "1/(1-x)": (lambda x: 1 / (1 - x), fact / (1 - x) ** (k + 1)),
        "sqrt": (xnp.sqrt, [np.prod([0.5 - i for i in range(j)]) * x ** (0.5 - j) for j in k]),
        "cosh": (xnp.cosh, [np.cosh(x) if j % 2 == 0 else np.sinh(x) for j in k]),
        "x**-3": (lambda x: x ** -3, [np.prod([-3 - i for i in range(j)]) * x ** (-3 - j)
                                      for j in k]),
        "exp2": (xnp.exp2, np.log(2.0) ** k * 2 ** x),
    }
    for name, (fun, expected) in cases.items():
        np.testing.assert_allclose(xf.derivatives(fun, 8)(x), expected, rtol=1e-10,
                                   err_msg=name)


def test_integer_powers_are_exact_at_zero():
    for fun in (lambda x: x ** 3, lambda x: xnp.power(x, 3.0), lambda x: x * x * x):
        np.testing.assert_array_equal(xf.derivatives(fun, 4)(0.0), [0, 0, 0, 6, 0])


def test_logistic_and_tanh_stay_finite_far_out():
    for x in (-800.0, -30.0, 0.3, 30.0, 800.0):
        for fun in (xf.nn.sigmoid, xnp.tanh):
            d = xf.derivatives(fun, 5)(x)
            assert np.all(np.isfinite(d))
    s = 1 / (1 + np.exp(-0.3))
    d = xf.derivatives(xf.nn.sigmoid, 3)(0.3)
    np.testing.assert_allclose(d[1:], [s * (1 - s), s * (1 - s) * (1 - 2 * s),
                                       s * (1 - s) * (1 - 6 * s + 6 * s * s)], rtol=1e-12)


def test_taylor_coefficients_and_direction():
    x, v = np.array([0.3, -0.2]), np.array([1.0, 2.0])
    c = xf.taylor_coefficients(lambda x: xnp.sum(xnp.sin(x)), 4)(x, v)
    expected = [nested_jvp(lambda t: xnp.sum(xnp.sin(x + t * v)), k)(0.0) / math.factorial(k)
                for k in range(5)]
    np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-14)


def test_jet_convention_and_pytrees():
    y, (y1, y2) = xf.jet(lambda x: x ** 3, (2.0,), ((1.0, 0.0),))
    assert (y, y1, y2) == (8.0, 12.0, 12.0)
    _, (y1, y2) = xf.jet(lambda x: x ** 3, (2.0,), ((1.0, 1.0),))
    assert y2 == 6 * 2 + 12  # f'' x1^2 + f' x2
    outs, series = xf.jet(lambda a, b: {"p": a * b, "s": [xnp.sin(a)]}, (2.0, 3.0),
                          ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)))
    assert set(outs) == {"p", "s"} and len(series["s"][0]) == 3
    np.testing.assert_allclose(series["p"], [3.0, 2.0, 3.0])
    np.testing.assert_allclose(series["s"][0], [np.cos(2), -np.sin(2), -np.cos(2)])


def test_jet_rejects_bad_series():
    with pytest.raises(TypeError, match="tuples or lists"):
        xf.jet(xnp.sin, 1.0, ([1.0],))
    with pytest.raises(ValueError, match="same number of series terms"):
        xf.jet(lambda a, b: a * b, (1.0, 2.0), ([1.0], [1.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        xf.jet(xnp.sin, (np.ones(2),), ([np.ones(3)],))
    with pytest.raises(ValueError, match="positive integer"):
        xf.derivatives(xnp.sin, 0)


def test_hessian_diag_and_laplacian():
    def fun(x):
        return xnp.sum(xnp.sin(x) * x[::-1]) + xnp.prod(x)
    x = np.array([[0.3, -0.5], [1.1, 0.2]])
    h = xf.hessian(fun)(x).reshape(4, 4)
    np.testing.assert_allclose(xf.hessian_diag(fun)(x), np.diag(h).reshape(2, 2), rtol=1e-12)
    np.testing.assert_allclose(xf.laplacian(fun)(x), np.trace(h), rtol=1e-12)


# ----------------------------------------------------------------------------- every primitive

FIRST_ORDER = sorted(set(VMAP_TABLE) - HIGHER_ORDER)
# Differentiable to higher order in their last operand only.
LAST_ONLY = LAST_OPERAND_ONLY | {"igamma", "igammac"}


LIBRARY_PRIMITIVES = dict(registry)  # at import, before any test defines its own


def test_every_primitive_has_a_taylor_rule():
    """A fast rule, inlining, or the jvp fallback (which needs a jvp rule)."""
    missing = [n for n, p in LIBRARY_PRIMITIVES.items()
               if n not in taylor.RULES and n not in taylor._INLINE and p.jvp is None]
    assert not missing, f"these primitives have no Taylor rule and no jvp rule: {missing}"


@pytest.mark.parametrize("name", FIRST_ORDER)
@settings(max_examples=2)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_primitive_against_nested_jvp(name, seed):
    """Order-3 Taylor series of the primitive along a random line through a random example of
    its vmap row, against 1..3 nested jvps."""
    args, params = example(VMAP_TABLE[name], seed, (0,), np.float64)
    floats, rebuild = _split_float(args)
    if name in LAST_ONLY:
        fixed, full = floats[:-1], rebuild
        floats, rebuild = floats[-1:], lambda fl: full([*fixed, *fl])
    if not floats:
        return
    prim = registry[name]
    rng = np.random.default_rng(seed)
    vs = [0.1 * rng.standard_normal(np.shape(a)) for a in floats]

    def line(t):
        return prim.bind(*rebuild([a + t * v for a, v in zip(floats, vs)]), **params)
    k = 3
    series = [np.concatenate([v[None], np.zeros((k - 1, *np.shape(v)))]) for v in vs]
    outs, out_series = taylor.jet_flat(lambda *fl: prim.bind(*rebuild(list(fl)), **params),
                                       floats, series, k)
    for o, expected in zip(outs, line(0.0)):
        np.testing.assert_allclose(o, expected, rtol=1e-12, atol=1e-12)
    for j in range(1, k + 1):
        for o, s, expected in zip(outs, out_series, nested_jvp(line, j)(0.0)):
            if np.asarray(expected).dtype.kind != "f":
                continue
            got = np.zeros(np.shape(o)) if s is None else np.asarray(s)[j - 1]
            np.testing.assert_allclose(got * math.factorial(j), expected, rtol=1e-7,
                                       atol=1e-9, err_msg=f"{name}, order {j}")


# ----------------------------------------------------------------------------- control flow

def _control(x):
    y = lax.cond(x > 0, lambda x: xnp.sin(x) * x, lambda x: xnp.exp(x), x)
    c = lax.fori_loop(0, 3, lambda i, c: c * xnp.cos(c) + x, y)
    w = lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * x + 1.0), (0, c))[1]
    s, ys = lax.scan(lambda c, xi: (c * xi + xnp.tanh(c), c * xi), w, xnp.arange(3.0) * x)
    return s + xnp.sum(ys)


def _custom_softplus():
    sp = xf.custom_jvp(lambda x: xnp.log1p(xnp.exp(x)))
    sp.defjvp(lambda p, t: (sp(p[0]), t[0] * xf.nn.sigmoid(p[0])))
    return sp


@pytest.mark.parametrize("fun", [
    _control,
    xf.jit(_control, compile="never"),
    _custom_softplus(),
    xf.checkpoint(lambda x: xnp.sin(x) * xnp.cos(2 * x)),
    lambda x: xnp.max(xnp.stack([x, x ** 2, xnp.sin(3 * x)])),
    lambda x: xnp.linalg.det(xnp.array([[x, 1.0], [x ** 2, xnp.exp(x)]])),
], ids=["cond-while-scan", "jitted", "custom_jvp", "checkpoint", "max", "det"])
def test_through_higher_order_primitives(fun):
    for x in (0.3, -0.4):
        expected = [nested_jvp(fun, k)(x) for k in range(5)]
        np.testing.assert_allclose(xf.derivatives(fun, 4)(x), expected, rtol=1e-10,
                                   atol=1e-12)


def test_control_flow_stays_control_flow():
    ir = xf.make_ir(xf.derivatives(_control, 3))(0.3)
    assert {"cond", "while", "scan"} <= {e.prim.name for e in ir.eqns}


# ----------------------------------------------------------------------------- transformations

def test_vmap_of_jet_and_jet_of_vmap():
    xs = np.array([0.1, -0.7, 1.3])
    batched = xf.vmap(xf.derivatives(f, 4))(xs)
    np.testing.assert_allclose(batched, [xf.derivatives(f, 4)(x) for x in xs], rtol=1e-13)
    elementwise = xf.derivatives(xf.vmap(f), 4)(xs)
    np.testing.assert_allclose(elementwise, batched.T, rtol=1e-13)


def test_grad_of_jet():
    """Taylor coefficients are differentiable functions of the point."""
    g = xf.grad(lambda x: xf.derivatives(f, 3)(x)[3])(0.4)
    np.testing.assert_allclose(g, nested_grad(f, 4)(0.4), rtol=1e-10)


def test_jet_of_jit_stays_one_call():
    x = np.array([0.2, -0.9])
    expected = np.stack([xf.derivatives(f, 4)(xi) for xi in x], 1)
    jitted = xf.jit(f, compile="never")
    np.testing.assert_allclose(xf.derivatives(jitted, 4)(x), expected, rtol=1e-13)
    ir = xf.make_ir(xf.derivatives(jitted, 4))(x)
    assert [e.prim.name for e in ir.eqns].count("call") == 1


def test_jit_of_jet_on_abstract_primals():
    """Under jit the primals are abstract: cond, while and scan stay staged (run here by the
    interpreter; the Numba build is the slow test below)."""
    for fun in (_control, f, lambda x: xnp.prod(x) * _det_of(x)):
        x = np.array([0.3, 0.5, 0.9]) if fun is not _control else 0.3
        staged = xf.jit(xf.derivatives(fun, 3), compile="never")
        np.testing.assert_allclose(staged(x), xf.derivatives(fun, 3)(x), rtol=1e-12)


@pytest.mark.slow  # compiling the gather, pad and triangular_solve kernels takes 10-30 s cold
def test_jit_of_jet_compiles_with_numba():
    x = np.array([0.2, -0.9])
    expected = np.stack([xf.derivatives(f, 4)(xi) for xi in x], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_allclose(xf.jit(xf.derivatives(f, 4))(x), expected, rtol=1e-12)
        np.testing.assert_allclose(xf.jit(xf.derivatives(_control, 3))(0.3),
                                   xf.derivatives(_control, 3)(0.3), rtol=1e-12)
        np.testing.assert_allclose(xf.derivatives(xf.jit(f), 4)(x), expected, rtol=1e-12)
        y = np.array([0.3, 0.5, 0.9])
        fun = xf.derivatives(lambda x: xnp.prod(x) * _det_of(x) + xnp.sum(xnp.cumprod(x)), 3)
        np.testing.assert_allclose(xf.jit(fun)(y), fun(y), rtol=1e-12)


def test_float32_is_preserved():
    x = np.float32(0.3)
    d = xf.derivatives(f, 5)(x)
    assert d.dtype == np.float32
    np.testing.assert_allclose(d, xf.derivatives(f, 5)(0.3), rtol=2e-4)
    y, terms = xf.jet(lambda x: xnp.tanh(x) * xnp.sqrt(x), (np.ones(2, np.float32),),
                      ([np.ones(2, np.float32), np.zeros(2, np.float32)],))
    assert y.dtype == np.float32 and all(t.dtype == np.float32 for t in terms)
    assert xf.hessian_diag(lambda x: xnp.sum(xnp.sin(x)))(np.ones(2, np.float32)).dtype \
        == np.float32


# ----------------------------------------------------------------------------- program size

def test_program_size_is_polynomial_in_the_order():
    """The order-8 derivative by Taylor mode takes fewer equations than order-3 nested grad."""
    def eqns(fun):
        return len(xf.make_ir(fun)(0.5).eqns)
    taylor8 = eqns(lambda x: xf.derivatives(f, 8)(x)[8])
    grad3 = eqns(nested_grad(f, 3))
    assert taylor8 < grad3
    assert eqns(lambda x: xf.derivatives(f, 2)(x)[2]) == taylor8  # independent of the order


def _det_of(x):
    return xnp.linalg.det(xnp.outer(x, x) + 2 * xnp.eye(3))


@pytest.mark.parametrize("fun, x", [(xf.scipy.special.gammaln, 0.7),
                                    (_det_of, np.array([0.3, 0.5, 0.9]))],
                         ids=["lgamma", "det"])
def test_jvp_fallback_chains_stay_polynomial(fun, x):
    """lgamma and det have no series rule. lgamma's fallback needs digamma, which needs
    polygamma(1), ... at every lower order, each computed once; det's jvp rule solves with
    the matrix, which has a series rule. Both grow polynomially, not as 2^k."""
    def eqns(k):
        return len(xf.make_ir(lambda x: xf.derivatives(fun, k)(x)[k])(x).eqns)
    assert eqns(8) < 4 * eqns(4)
    v = np.ones(np.shape(x))
    np.testing.assert_allclose(xf.derivatives(fun, 4)(x, v),
                               [nested_jvp(lambda t: fun(x + t * v), k)(0.0) for k in range(5)],
                               rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- peers

@pytest.mark.peers
def test_matches_jax_jet():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental.jet import jet as jax_jet

    x0, terms = 0.6, (1.0, -0.5, 0.25, 0.3)
    ours = xf.jet(f, (x0,), (terms,))
    theirs = jax_jet(lambda x: jnp.sin(x) * jnp.exp(x) / (1 + x ** 2), (x0,), (terms,))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10)
    a, b = np.array([0.3, 0.9]), np.array([[1.0, 2.0], [0.5, -1.0]])
    ta, tb = [np.ones(2), np.zeros(2)], [np.eye(2), np.ones((2, 2))]
    ours = xf.jet(lambda a, b: xnp.tanh(b @ a) / xnp.sqrt(1 + a * a), (a, b), (ta, tb))
    theirs = jax_jet(lambda a, b: jnp.tanh(b @ a) / jnp.sqrt(1 + a * a), (a, b), (ta, tb))
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10)
