"""Automatic differentiation: the seed examples, every primitive against finite differences,
control flow, composition, expression swell, and errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
import xform.scipy.special as xsp
from xform.test_util import check_grads


def test_seed_example_cos():
    f = lambda x1, x2: xnp.cos(x1) + x1 * x2 - xnp.exp(x2)  # noqa: E731
    assert xf.grad(f)(2.0, 4.0) == pytest.approx(-math.sin(2) + 4, abs=1e-15)


def test_seed_example_log():
    f = lambda x1, x2: xnp.log(x1) + x1 * x2 - xnp.sin(x2)  # noqa: E731
    d1, d2 = xf.grad(f, argnums=(0, 1))(2.0, 5.0)
    assert d1 == pytest.approx(5.5, abs=1e-15)
    assert d2 == pytest.approx(2 - math.cos(5), abs=1e-15)
    assert d2 == pytest.approx(1.7163378, abs=1e-7)
    assert xf.grad(xf.grad(f))(2.0, 5.0) == pytest.approx(-0.25, abs=1e-15)
    # forward mode gives the same tangents
    _, t = xf.jvp(f, (2.0, 5.0), (1.0, 0.0))
    assert t == pytest.approx(5.5, abs=1e-15)


# Each entry: name, function, input sampler (rng, shape) -> array, smooth (second order?)
def _pos(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _any(rng, shape):
    return rng.uniform(-2.0, 2.0, shape)


def _unit(rng, shape):
    return rng.uniform(-0.8, 0.8, shape)


def _away(rng, shape):  # away from kinks at 0 and integers
    return rng.uniform(0.2, 0.8, shape) * rng.choice([-1, 1], shape)


UNARY = [
    ("sin", xnp.sin, _any, True), ("cos", xnp.cos, _any, True), ("tan", xnp.tan, _unit, True),
    ("arcsin", xnp.arcsin, _unit, True), ("arccos", xnp.arccos, _unit, True),
    ("arctan", xnp.arctan, _any, True), ("sinh", xnp.sinh, _any, True),
    ("cosh", xnp.cosh, _any, True), ("tanh", xnp.tanh, _any, True),
    ("arcsinh", xnp.arcsinh, _any, True), ("arccosh", lambda x: xnp.arccosh(x + 1.5), _pos, True),
    ("arctanh", xnp.arctanh, _unit, True), ("exp", xnp.exp, _any, True),
    ("exp2", xnp.exp2, _any, True), ("expm1", xnp.expm1, _any, True),
    ("log", xnp.log, _pos, True), ("log2", xnp.log2, _pos, True),
    ("log10", xnp.log10, _pos, True), ("log1p", xnp.log1p, _pos, True),
    ("sqrt", xnp.sqrt, _pos, True), ("cbrt", xnp.cbrt, _pos, True),
    ("square", xnp.square, _any, True), ("reciprocal", xnp.reciprocal, _pos, True),
    ("abs", xnp.abs, _away, True), ("negative", xnp.negative, _any, True),
    ("sign", lambda x: xnp.sign(x) * x, _away, True),
    ("floor", lambda x: xnp.floor(x) + x, _away, True),
    ("ceil", lambda x: xnp.ceil(x) * x, _away, True),
    ("round", lambda x: xnp.round(x) + x * x, _away, True),
    ("sinc", xnp.sinc, _any, True), ("power_int", lambda x: x ** 3, _any, True),
    ("power_neg", lambda x: x ** -2, _pos, True), ("power_float", lambda x: x ** 2.5, _pos, True),
    ("clip", lambda x: xnp.clip(x, -0.5, 0.5), _away, True),
]

BINARY = [
    ("add", xnp.add, _any, _any), ("subtract", xnp.subtract, _any, _any),
    ("multiply", xnp.multiply, _any, _any), ("divide", xnp.divide, _any, _pos),
    ("power", xnp.power, _pos, _any), ("maximum", xnp.maximum, _any, _any),
    ("minimum", xnp.minimum, _any, _any), ("arctan2", xnp.arctan2, _pos, _any),
    ("mod", xnp.mod, _pos, _pos), ("logaddexp", xnp.logaddexp, _any, _any),
    ("hypot", xnp.hypot, _pos, _any), ("where", lambda x, y: xnp.where(x > 0, x * y, y), _away,
                                       _any),
]

shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@pytest.mark.parametrize("name,fn,sample,smooth", UNARY, ids=[u[0] for u in UNARY])
@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_unary_derivatives_match_finite_differences(name, fn, sample, smooth, shape, seed):
    x = sample(np.random.default_rng(seed), shape)
    check_grads(fn, (x,), order=2 if smooth else 1)


@pytest.mark.parametrize("name,fn,sx,sy", BINARY, ids=[b[0] for b in BINARY])
@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_binary_derivatives_match_finite_differences(name, fn, sx, sy, shape, seed):
    rng = np.random.default_rng(seed)
    x, y = sx(rng, shape), sy(rng, shape)
    if name == "mod":
        y = y + 3.0  # keep x / y away from integers, where mod jumps
    check_grads(fn, (x, y), order=2)


STRUCTURAL = [
    ("reshape", lambda x: x.reshape(-1)),
    ("transpose", lambda x: xnp.transpose(x) * 2.0),
    ("broadcast", lambda x: x[None] * np.ones((2, 1, 1))),
    ("slice", lambda x: x[1:, ::2]),
    ("neg_step", lambda x: x[::-1, ::-2] * 1.5),
    ("gather", lambda x: x[np.array([0, 2, 0])] * x[np.array([1, 1, 2])]),
    ("mask", lambda x: x[x > 0.0]),
    ("concatenate", lambda x: xnp.concatenate([x, x * x], axis=1)),
    ("pad", lambda x: xnp.pad(x, ((1, 2), (0, 1)))),
    ("sum", lambda x: x.sum(axis=0)),
    ("mean", lambda x: xnp.mean(x * x, axis=1)),
    ("max", lambda x: xnp.max(x, axis=1)),
    ("min", lambda x: xnp.min(x)),
    ("prod", lambda x: xnp.prod(x, axis=0)),
    ("cumsum", lambda x: xnp.cumsum(x, axis=1)),
    ("cumprod", lambda x: xnp.cumprod(x, axis=0)),
    ("matmul", lambda x: x @ x.T),
    ("einsum", lambda x: xnp.einsum("ij,kj->ik", x, x * x)),
    ("at_add", lambda x: xnp.asarray(x).at[0].add(x[1] * 2.0)),
    ("at_set", lambda x: xnp.asarray(x).at[:, 1].set(x[:, 0] ** 2)),
    ("var", lambda x: xnp.var(x, axis=0)),
]


@pytest.mark.parametrize("name,fn", STRUCTURAL, ids=[s[0] for s in STRUCTURAL])
@given(seed=st.integers(0, 2 ** 16))
def test_structural_derivatives_match_finite_differences(name, fn, seed):
    x = np.random.default_rng(seed).uniform(-2, 2, (3, 4))
    check_grads(fn, (x,), order=2)


def test_prod_and_cumprod_derivatives_are_exact_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.5])
    assert np.allclose(xf.grad(lambda v: xnp.prod(v))(x), [0, 3.0, 0, 0])
    j = xf.jacrev(lambda v: xnp.cumprod(v))(x)
    assert np.allclose(j[1], [0.0, 2.0, 0, 0]) and np.allclose(j[2], [0, 6.0, 0, 0])


# ----------------------------------------------------------------------------- control flow

def piecewise(x):
    if x > 1.0:
        return x ** 3
    elif x > 0.0:
        y = x
        for _ in range(3):
            y = xnp.sin(y) * x
        return y
    return -x


def recursive_power(x, n):
    return 1.0 if n == 0 else x * recursive_power(x, n - 1)


def newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-12:   # loop on a concrete primal value
        x = 0.5 * (x + a / x)
    return x


@pytest.mark.parametrize("x", [2.0, 0.5, -1.5])
def test_python_control_flow_under_every_ad_transform(x):
    check_grads(piecewise, (x,), order=2)
    g = xf.grad(piecewise)(x)
    assert xf.jacfwd(piecewise)(x) == pytest.approx(g)
    assert xf.jacrev(piecewise)(x) == pytest.approx(g)
    assert xf.value_and_grad(piecewise)(x)[1] == pytest.approx(g)
    assert xf.linearize(piecewise, x)[1](1.0) == pytest.approx(g)
    assert xf.vjp(piecewise, x)[1](1.0)[0] == pytest.approx(g)
    assert xf.hessian(piecewise)(x) == pytest.approx(xf.grad(xf.grad(piecewise))(x))


def test_recursion_and_while_loops_on_concrete_values():
    assert xf.grad(recursive_power)(1.5, 4) == pytest.approx(4 * 1.5 ** 3)
    assert xf.grad(newton_sqrt)(4.0) == pytest.approx(0.25, rel=1e-6)
    assert xf.grad(xf.grad(recursive_power))(1.5, 4) == pytest.approx(12 * 1.5 ** 2)


# ----------------------------------------------------------------------------- composition

def test_compositions_agree():
    f = lambda x: xnp.sum(xnp.sin(x) * x ** 2)  # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    h = xf.hessian(f)(x)
    assert np.allclose(h, xf.jacfwd(xf.jacrev(f))(x))
    assert np.allclose(h, xf.jacrev(xf.jacrev(f))(x))
    assert np.allclose(h, xf.jacfwd(xf.jacfwd(f))(x))
    assert np.allclose(h, xf.jacrev(xf.grad(f))(x))
    v = np.array([1.0, 0.5, -2.0])
    assert np.allclose(xf.jvp(xf.grad(f), (x,), (v,))[1], h @ v)
    assert np.allclose(xf.grad(lambda y: xf.vjp(f, y)[1](1.0)[0] @ v)(x), h @ v)
    d = -x ** 2 * np.sin(x) + 4 * x * np.cos(x) + 2 * np.sin(x)   # closed form
    assert np.allclose(np.diag(h), d)
    g3 = xf.grad(xf.grad(xf.grad(lambda s: xnp.sin(s) * s)))(0.7)
    assert g3 == pytest.approx(-3 * math.sin(0.7) - 0.7 * math.cos(0.7))


def test_pytrees_in_and_out():
    params = {"w": np.array([1.0, 2.0]), "b": 0.5}

    def loss(p, x):
        return xnp.sum((p["w"] * x + p["b"]) ** 2)
    x = np.array([0.1, -0.3])
    g = xf.grad(loss)(params, x)
    assert set(g) == {"w", "b"}
    r = params["w"] * x + params["b"]
    assert np.allclose(g["w"], 2 * r * x) and g["b"] == pytest.approx(2 * r.sum())
    (val, aux), g2 = xf.value_and_grad(lambda p, x: (loss(p, x), {"r": p["w"]}),
                                       has_aux=True)(params, x)
    assert val == pytest.approx(loss(params, x)) and np.allclose(aux["r"], params["w"])


def test_float32_gradients_stay_float32():
    x = np.ones(3, np.float32)
    g = xf.grad(lambda v: xnp.sum(xnp.tanh(v) * 2.0 + v ** 2))(x)
    assert g.dtype == np.float32
    assert xf.jacrev(lambda v: xnp.sin(v) * 3)(x).dtype == np.float32
    assert xf.hessian(lambda v: xnp.sum(v ** 3))(x).dtype == np.float32


def test_stop_gradient():
    f = lambda x: x * xf.stop_gradient(x)  # noqa: E731
    assert xf.grad(f)(3.0) == pytest.approx(3.0)


# ----------------------------------------------------------------------------- no expression swell

def test_gradient_ir_grows_linearly():
    def chain(x, n):
        for i in range(n):
            x = xnp.sin(x) * 1.01 + x if i % 2 else xnp.tanh(x) * x
        return x
    sizes = {}
    for n in (10, 50):
        fwd = xf.make_ir(chain, static_argnums=1)(0.5, n)
        bwd = xf.make_ir(xf.grad(chain), static_argnums=1)(0.5, n)
        sizes[n] = len(bwd.eqns)
        assert len(bwd.eqns) <= 4 * len(fwd.eqns)
    assert sizes[50] <= 5.5 * sizes[10]
    assert xf.grad(chain)(0.5, 50) == pytest.approx(
        (chain(0.5 + 1e-6, 50) - chain(0.5 - 1e-6, 50)) / 2e-6, rel=1e-5)


# ----------------------------------------------------------------------------- errors

def test_grad_of_non_scalar_output_says_what_to_use():
    with pytest.raises(TypeError, match="jacrev"):
        xf.grad(lambda x: x * 2)(np.ones(3))


def test_grad_with_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        xf.grad(lambda x: x * 2)(3)


def test_has_aux_misuse():
    with pytest.raises(TypeError, match="pair"):
        xf.grad(lambda x: x * 2, has_aux=True)(3.0)


def test_bad_argnums():
    with pytest.raises(ValueError, match="argnums"):
        xf.grad(lambda x: x, argnums=2)(1.0)


def test_grad_of_a_size_one_output():
    # As autograd: any output with a single element is a scalar loss.
    for shape in [(1,), (1, 1)]:
        x = np.full(shape, 3.0)
        g = xf.grad(lambda v: v ** 2)(x)
        assert g.shape == shape and np.allclose(g, 6.0)
    assert xf.grad(lambda v: xnp.sum(v * v, keepdims=True))(np.ones(3)).tolist() == [2.0] * 3
    value, g = xf.value_and_grad(lambda v: v[:1] * 5.0)(np.ones(2))
    assert value.shape == (1,) and g.tolist() == [5.0, 0.0]


# ----------------------------------------------------------------------------- ties and zeros
#
# Composites written with max/abs/where tricks can be right to first order and wrong at second
# order at the points where the trick has a kink the function does not have (ties), or give nan
# where the derivative is 0. Each row is (function, point, exact value of a derivative).

def _second(f, argnum=0):
    return xf.grad(xf.grad(f, argnum), argnum)


TIES = [
    ("logaddexp-d2x-tie", lambda: _second(xnp.logaddexp)(0.4, 0.4), 0.25),
    ("logaddexp-d2y-tie", lambda: _second(xnp.logaddexp, 1)(-1.5, -1.5), 0.25),
    ("logaddexp-dxdy-tie", lambda: xf.grad(xf.grad(xnp.logaddexp), 1)(0.4, 0.4), -0.25),
    ("logaddexp-d3-tie", lambda: xf.grad(_second(xnp.logaddexp))(0.4, 0.4), 0.0),
    ("logaddexp-inf", lambda: xf.grad(xnp.logaddexp)(-np.inf, -np.inf), 0.5),
    ("hypot-d2x-tie", lambda: _second(xnp.hypot)(0.4, 0.4), 0.4 ** 2 / np.hypot(.4, .4) ** 3),
    ("hypot-d2x-neg-tie", lambda: _second(xnp.hypot)(-0.4, 0.4),
     0.4 ** 2 / np.hypot(.4, .4) ** 3),
    ("hypot-dxdy-tie", lambda: xf.grad(xf.grad(xnp.hypot), 1)(0.4, 0.4),
     -0.4 * 0.4 / np.hypot(.4, .4) ** 3),
    ("hypot-origin", lambda: xf.grad(xnp.hypot)(0.0, 0.0), 0.0),
    ("std-scalar", lambda: xf.grad(xnp.std)(3.5), 0.0),
    ("std-axis-of-one", lambda: xf.grad(lambda x: xnp.std(x, axis=0).sum())(np.ones((1, 3))),
     np.zeros((1, 3))),
    ("std-equal-values", lambda: xf.grad(xnp.std)(np.array([2.0, 2.0])), np.zeros(2)),
    ("std-d2-equal-values", lambda: xf.hessian(xnp.std)(np.array([2.0, 2.0])), np.zeros((2, 2))),
    ("pow-zero-exponent", lambda: xf.grad(lambda x: x ** 0.0)(0.0), 0.0),
    ("pow-zero-exponent-d2", lambda: _second(lambda x: x ** 0.0)(0.0), 0.0),
    ("pow-traced-zero-exponent", lambda: xf.grad(xnp.power)(0.0, 0.0), 0.0),
    ("float_power-zero", lambda: xf.grad(lambda x: xnp.float_power(x, 0.0))(0.0), 0.0),
    ("xlogy-dx-at-zero", lambda: xf.grad(xsp.xlogy)(0.0, 2.0), np.log(2.0)),
    ("sinc-d2-at-zero", lambda: _second(xnp.sinc)(0.0), -np.pi ** 2 / 3),
    ("sinc-d4-at-zero", lambda: _second(_second(xnp.sinc))(0.0), np.pi ** 4 / 5),
    ("logsumexp-d2-tie", lambda: xf.hessian(xsp.logsumexp)(np.array([1.0, 1.0])),
     np.array([[0.25, -0.25], [-0.25, 0.25]])),
]


@pytest.mark.parametrize("name,run,want", TIES, ids=[t[0] for t in TIES])
def test_derivatives_at_ties_and_zeros(name, run, want):
    np.testing.assert_allclose(run(), want, rtol=1e-12, atol=1e-12)


TIE_POINTS = [
    ("logaddexp", xnp.logaddexp, (np.array([0.4, -1.0, 2.0]), np.array([0.4, -1.0, 1.999]))),
    ("hypot", xnp.hypot, (np.array([0.4, -0.7, 3.0]), np.array([0.4, 0.7, -3.0]))),
    ("std", lambda x: xnp.std(x, axis=1), (np.array([[1.0, 1.0], [0.5, 0.7]]),)),
    ("xlogy", xsp.xlogy, (np.array([0.0, 0.5]), np.array([2.0, 0.3]))),
    ("power", xnp.power, (np.array([0.5, 1.5]), np.array([0.0, 2.0]))),
]


@pytest.mark.parametrize("name,f,args", TIE_POINTS, ids=[t[0] for t in TIE_POINTS])
def test_tie_points_against_finite_differences(name, f, args):
    """Second order in both modes at the tie points (where the composite's kinks were)."""
    if name == "std":  # not differentiable at equal values: check on the smooth row only
        check_grads(f, (args[0][1:],), order=2)
        assert np.all(xf.jacrev(f)(args[0])[0] == 0)
        return
    check_grads(f, args, order=2)


# ----------------------------------------------------------------------------- Python scalars
#
# grad at a Python float keeps the primals Python floats, so every rule meets Python scalars
# where it usually meets arrays (and its constants are Python scalars too): the derivatives
# must be those at the same value as a numpy float64.

POWERS = [("x**2", lambda x: x ** 2), ("x**3", lambda x: x ** 3), ("x**-1", lambda x: x ** -1),
          ("x**0.5", lambda x: x ** 0.5), ("2**x", lambda x: 2.0 ** x),
          ("x**x", lambda x: x ** x), ("mixed", lambda x: xnp.sin(x) * x + x ** 2 - 3 * x)]


@pytest.mark.parametrize("name,fn", [(n, f) for n, f, _, _ in UNARY] + POWERS,
                         ids=[n for n, _, _, _ in UNARY] + [n for n, _ in POWERS])
def test_derivatives_at_python_floats(name, fn):
    sampler = next((s for n, _, s, _ in UNARY if n == name), _pos)
    x = float(sampler(np.random.default_rng(0), ()))
    for d in (xf.grad(fn), xf.grad(xf.grad(fn))):
        np.testing.assert_allclose(d(x), d(np.float64(x)), rtol=1e-14, err_msg=name)


@pytest.mark.parametrize("name,fn,sx,sy", BINARY, ids=[b[0] for b in BINARY])
def test_binary_derivatives_at_python_floats(name, fn, sx, sy):
    rng = np.random.default_rng(1)
    x, y = float(sx(rng, ())), float(sy(rng, ())) + 3.0 * (sy is _any)
    for argnums in (0, 1, (0, 1)):
        got = xf.grad(fn, argnums)(x, y)
        want = xf.grad(fn, argnums)(np.float64(x), np.float64(y))
        np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=f"{name} {argnums}")
