"""custom_jvp, custom_vjp and checkpoint: the user's rules are used under every transformation,
values and derivatives match closed forms and finite differences, and bad rules fail clearly."""
import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xform as xf
import xform.numpy as xnp
from xform.core import ConcretizationError
from xform.test_util import check_grads
from xform.transforms.vjp import linearize_flat

floats = st.floats(-3.0, 3.0, allow_nan=False)
vectors = hnp.arrays(np.float64, st.integers(1, 5), elements=floats)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------- custom_jvp

@xf.custom_jvp
def log1pexp(x):
    return xnp.log1p(xnp.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1.0 - 1.0 / (1.0 + xnp.exp(x)))


@given(floats)
def test_log1pexp_values_and_derivatives(x):
    assert float(log1pexp(x)) == pytest.approx(math.log1p(math.exp(x)), rel=1e-12)
    assert float(xf.grad(log1pexp)(x)) == pytest.approx(sigmoid(x), rel=1e-12)
    s = sigmoid(x)
    assert float(xf.grad(xf.grad(log1pexp))(x)) == pytest.approx(s * (1 - s), rel=1e-9)


def test_log1pexp_is_stable_where_the_naive_derivative_is_nan():
    naive = xf.grad(lambda x: xnp.log1p(xnp.exp(x)))
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(naive(1000.0))
        assert float(xf.grad(log1pexp)(1000.0)) == 1.0
        x = np.array([-1000.0, 0.0, 1000.0])
        np.testing.assert_allclose(xf.vmap(xf.grad(log1pexp))(x), [0.0, 0.5, 1.0])


@xf.custom_jvp
def safe_norm(x):
    return xnp.sqrt(xnp.sum(x * x))


@safe_norm.defjvp
def _safe_norm_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = safe_norm(x)
    # At 0 the norm is not differentiable; use 0 rather than 0/0.
    denom = xnp.where(y == 0.0, 1.0, y)
    return y, xnp.sum(x * t) / denom


def test_safe_norm_gradient_is_finite_at_zero():
    zero = np.zeros(3)
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(xf.grad(lambda x: xnp.sqrt(xnp.sum(x * x)))(zero)).all()
    np.testing.assert_array_equal(xf.grad(safe_norm)(zero), zero)
    np.testing.assert_array_equal(xf.jacfwd(safe_norm)(zero), zero)


@given(vectors)
def test_safe_norm_gradient_away_from_zero(x):
    if np.linalg.norm(x) < 1e-3:
        return
    np.testing.assert_allclose(xf.grad(safe_norm)(x), x / np.linalg.norm(x), rtol=1e-10)
    check_grads(safe_norm, (x,), order=2)


# A rule that is deliberately not the true derivative (of x**3): d/dx is taken to be 7 * x**2,
# so every result below can only come from the rule.
@xf.custom_jvp
def cube(x):
    return x ** 3


@cube.defjvp
def _cube_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return cube(x), 7.0 * x * x * t


def _sum_cube(x):
    return xnp.sum(cube(x))


CUBE_CASES = {
    "grad": lambda x: xf.grad(_sum_cube)(x),
    "value_and_grad": lambda x: xf.value_and_grad(_sum_cube)(x)[1],
    "jvp": lambda x: xf.jvp(cube, (x,), (np.ones_like(x),))[1],
    "linearize": lambda x: xf.linearize(cube, x)[1](np.ones_like(x)),
    "vjp": lambda x: xf.vjp(cube, x)[1](np.ones_like(x))[0],
    "jacfwd": lambda x: np.diagonal(xf.jacfwd(cube)(x)),
    "jacrev": lambda x: np.diagonal(xf.jacrev(cube)(x)),
    "vmap(grad)": lambda x: xf.vmap(xf.grad(cube))(x),
    "grad(vmap)": lambda x: xf.grad(lambda v: xnp.sum(xf.vmap(cube)(v)))(x),
    "jit(grad)": lambda x: xf.jit(xf.grad(_sum_cube))(x),
    "grad(jit)": lambda x: xf.grad(xf.jit(_sum_cube))(x),
    "jit(grad) numba": lambda x: xf.jit(xf.grad(_sum_cube), backend="numba")(x),
    "vmap(jit(grad))": lambda x: xf.vmap(xf.jit(xf.grad(cube)))(x),
}


@pytest.mark.parametrize("name", list(CUBE_CASES))
def test_custom_jvp_rule_is_used(name):
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(CUBE_CASES[name](x), 7.0 * x ** 2, rtol=1e-12)


@pytest.mark.parametrize("transform", [
    lambda f: xf.hessian(f),
    lambda f: xf.jacfwd(xf.grad(f)),
    lambda f: xf.jacrev(xf.grad(f)),
    lambda f: xf.jit(xf.hessian(f)),
    lambda f: xf.hessian(xf.jit(f)),
])
def test_custom_jvp_rule_is_differentiated_for_second_order(transform):
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(transform(_sum_cube)(x), np.diag(14.0 * x), rtol=1e-12)


def test_custom_jvp_second_order_under_vmap():
    x = np.array([0.5, -1.0, 2.0])
    d2 = xf.vmap(xf.grad(xf.grad(cube)))(x)
    np.testing.assert_allclose(d2, 14.0 * x, rtol=1e-12)


def test_custom_jvp_float32_stays_float32():
    x = np.array([0.5, 1.5], np.float32)
    assert cube(x).dtype == np.float32
    for g in (xf.grad(_sum_cube)(x), xf.jacfwd(cube)(x), xf.jit(xf.grad(_sum_cube))(x),
              xf.vmap(xf.grad(cube))(x), xf.jvp(cube, (x,), (x,))[1]):
        assert g.dtype == np.float32
    np.testing.assert_allclose(xf.grad(_sum_cube)(x), 7.0 * x ** 2, rtol=1e-6)


def test_custom_jvp_pytrees_in_and_out():
    @xf.custom_jvp
    def f(params):
        return {"s": params["a"] * params["b"], "d": params["a"] - params["b"]}

    @f.defjvp
    def f_jvp(primals, tangents):
        (p,), (t,) = primals, tangents
        # The true rule, doubled, to show it is used.
        return f(p), {"s": 2 * (t["a"] * p["b"] + p["a"] * t["b"]),
                      "d": 2 * (t["a"] - t["b"])}

    p = {"a": 3.0, "b": 5.0}
    g = xf.grad(lambda p: f(p)["s"] + f(p)["d"])(p)
    assert g == {"a": pytest.approx(2 * (5.0 + 1)), "b": pytest.approx(2 * (3.0 - 1))}
    assert f(p) == {"s": 15.0, "d": -2.0}


def test_custom_jvp_several_arguments_and_kwargs():
    @xf.custom_jvp
    def f(x, y):
        return x * y

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), 10.0 * tx + 100.0 * ty

    assert xf.grad(f, argnums=(0, 1))(2.0, 3.0) == (10.0, 100.0)
    assert xf.grad(lambda x: f(x, y=3.0))(2.0) == 10.0
    assert xf.grad(lambda y: f(2.0, y))(3.0) == 100.0


def test_custom_jvp_nondiff_argnums():
    @partial(xf.custom_jvp, nondiff_argnums=(0,))
    def apply(fn, x):
        return fn(x)

    @apply.defjvp
    def apply_jvp(fn, primals, tangents):
        (x,), (t,) = primals, tangents
        return apply(fn, x), 3.0 * t

    assert apply(xnp.sin, 1.0) == pytest.approx(math.sin(1.0))
    assert xf.grad(lambda x: apply(xnp.sin, x))(1.0) == 3.0
    np.testing.assert_allclose(xf.vmap(xf.grad(lambda x: apply(xnp.cos, x)))(np.ones(2)), 3.0)
    assert xf.jit(xf.grad(lambda x: apply(xnp.exp, x)))(1.0) == 3.0


def test_custom_jvp_python_control_flow_on_concrete_values():
    @xf.custom_jvp
    def relu_ish(x):
        return x if x > 0 else 0.0 * x

    @relu_ish.defjvp
    def relu_ish_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return relu_ish(x), (5.0 if x > 0 else 0.5) * t

    assert xf.grad(relu_ish)(2.0) == 5.0
    assert xf.grad(relu_ish)(-2.0) == 0.5
    assert xf.grad(xf.grad(lambda x: relu_ish(x) * x))(2.0) == 10.0
    with pytest.raises(ConcretizationError, match="custom_jvp function relu_ish"):
        xf.jit(relu_ish)(2.0)


def test_custom_jvp_closures():
    def outer(y, x):
        @xf.custom_jvp
        def f(x):
            return x * y

        f.defjvp(lambda p, t: (f(p[0]), 100.0 * t[0]))
        return f(x)

    xs = np.array([1.0, 2.0, 3.0])
    assert xf.jit(outer)(3.0, 2.0) == 6.0
    np.testing.assert_allclose(xf.vmap(outer)(xs, xs), xs * xs)
    assert xf.grad(outer, 1)(3.0, 2.0) == 100.0
    assert xf.jit(xf.grad(outer, 1))(3.0, 2.0) == 100.0
    np.testing.assert_allclose(xf.vmap(xf.grad(outer, 1))(xs, xs), 100.0)
    with pytest.raises(TypeError, match="closes over"):
        xf.grad(outer, 0)(3.0, 2.0)
    with pytest.raises(ValueError, match="batched by an enclosing vmap"):
        xf.grad(lambda x: xnp.sum(xf.vmap(outer, in_axes=(0, None))(xs, x)))(2.0)


def test_custom_jvp_appears_in_the_ir():
    text = str(xf.make_ir(log1pexp)(1.0))
    assert "custom_jvp_call" in text and "jvp=jvp_of_log1pexp" in text


@pytest.mark.parametrize("rule, match", [
    (lambda p, t: p[0] ** 3, "must return a pair"),
    (lambda p, t: (p[0] ** 3, t[0][:1]), "f64\\[1\\] but f64\\[2\\] was expected"),
    (lambda p, t: (p[0] ** 3, (t[0],)), "structure"),
    (lambda p, t: (p[0] ** 3, t[0].astype(np.float32)), "f32\\[2\\] but f64\\[2\\]"),
    (lambda p, t: (p[0][:1], t[0]), "primal output"),
])
def test_custom_jvp_bad_rule_is_a_clear_error(rule, match):
    @xf.custom_jvp
    def f(x):
        return x ** 3

    f.defjvp(rule)
    with pytest.raises(TypeError, match=match):
        xf.grad(lambda x: xnp.sum(f(x)))(np.ones(2))


def test_custom_jvp_without_rule_is_a_clear_error():
    f = xf.custom_jvp(lambda x: x)
    with pytest.raises(TypeError, match="defjvp"):
        f(1.0)


# ----------------------------------------------------------------------------- custom_vjp

@xf.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (xnp.clip(g, -1.0, 1.0),))


def _scaled_clip(x):
    return xnp.sum(5.0 * clip_gradient(x))


CLIP_CASES = {
    "grad": lambda x: xf.grad(_scaled_clip)(x),
    "value_and_grad": lambda x: xf.value_and_grad(_scaled_clip)(x)[1],
    "vjp": lambda x: xf.vjp(lambda v: 5.0 * clip_gradient(v), x)[1](np.ones_like(x))[0],
    "jacrev": lambda x: np.diagonal(xf.jacrev(lambda v: 5.0 * clip_gradient(v))(x)),
    "vmap(grad)": lambda x: xf.vmap(xf.grad(lambda v: 5.0 * clip_gradient(v)))(x),
    "grad(vmap)": lambda x: xf.grad(lambda v: xnp.sum(5.0 * xf.vmap(clip_gradient)(v)))(x),
    "jit(grad)": lambda x: xf.jit(xf.grad(_scaled_clip))(x),
    "grad(jit)": lambda x: xf.grad(xf.jit(_scaled_clip))(x),
    "jit(grad) numba": lambda x: xf.jit(xf.grad(_scaled_clip), backend="numba")(x),
    "vmap(grad(jit))": lambda x: xf.vmap(xf.grad(xf.jit(lambda v: 5.0 * clip_gradient(v))))(x),
}


@pytest.mark.parametrize("name", list(CLIP_CASES))
def test_custom_vjp_rule_is_used(name):
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(CLIP_CASES[name](x), [1.0, 1.0, 1.0])


@given(vectors, st.floats(0.1, 3.0))
@settings(max_examples=10)
def test_clip_gradient_matches_closed_form(x, scale):
    g = xf.grad(lambda v: xnp.sum(scale * clip_gradient(v) ** 2))(x)
    np.testing.assert_allclose(g, np.clip(2 * scale * x, -1, 1), rtol=1e-12)


def test_straight_through_estimator():
    @xf.custom_vjp
    def round_ste(x):
        return xnp.round(x)

    round_ste.defvjp(lambda x: (xnp.round(x), None), lambda _, g: (g,))
    x = np.array([0.2, 1.7, -2.4])
    np.testing.assert_array_equal(round_ste(x), np.round(x))
    np.testing.assert_allclose(xf.grad(lambda v: xnp.sum(round_ste(v) * v))(x),
                               np.round(x) + x)
    assert xf.grad(lambda v: xnp.sum(xnp.round(v) * v))(x).tolist() == np.round(x).tolist()


@partial(xf.custom_vjp, nondiff_argnums=(0,))
def fixed_point(f, a, x0):
    """The fixed point x = f(a, x), by plain iteration from x0."""
    x = x0
    for _ in range(60):
        x = f(a, x)
    return x


def _fixed_point_fwd(f, a, x0):
    x = fixed_point(f, a, x0)
    return x, (a, x)


def _fixed_point_bwd(f, res, g):
    # Implicit function theorem: dx/da = f_a / (1 - f_x) at the fixed point (scalar case).
    a, x = res
    f_a = xf.grad(f, 0)(a, x)
    f_x = xf.grad(f, 1)(a, x)
    return g * f_a / (1.0 - f_x), 0.0 * x


fixed_point.defvjp(_fixed_point_fwd, _fixed_point_bwd)


def _babylon(a, x):
    return 0.5 * (x + a / x)


@given(st.floats(0.5, 10.0))
@settings(max_examples=10)
def test_implicit_differentiation_of_a_fixed_point(a):
    sqrt = lambda a: fixed_point(_babylon, a, 1.0)  # noqa: E731
    assert float(sqrt(a)) == pytest.approx(math.sqrt(a), rel=1e-12)
    assert float(xf.grad(sqrt)(a)) == pytest.approx(0.5 / math.sqrt(a), rel=1e-9)
    assert float(xf.jit(xf.grad(sqrt))(a)) == pytest.approx(0.5 / math.sqrt(a), rel=1e-9)


def test_custom_vjp_pytrees_residuals_and_several_arguments():
    @xf.custom_vjp
    def f(params, x):
        return {"y": params["w"] * x + params["b"]}

    def f_fwd(params, x):
        return f(params, x), {"w": params["w"], "x": x}

    def f_bwd(res, ct):
        g = ct["y"]
        # Doubled cotangents, to show the rule is used.
        return ({"w": 2 * xnp.sum(g * res["x"]), "b": 2 * xnp.sum(g)}, 2 * g * res["w"])

    f.defvjp(f_fwd, f_bwd)
    params, x = {"w": 3.0, "b": 1.0}, np.array([1.0, 2.0])
    gp, gx = xf.grad(lambda p, x: xnp.sum(f(p, x)["y"]), argnums=(0, 1))(params, x)
    assert gp == {"w": pytest.approx(6.0), "b": pytest.approx(4.0)}
    np.testing.assert_allclose(gx, [6.0, 6.0])
    # Per-example gradients with shared parameters, and the sum over the batch.
    per_example = xf.vmap(xf.grad(lambda p, x: xnp.sum(f(p, x)["y"])), in_axes=(None, 0))
    g_batch = per_example(params, x)
    np.testing.assert_allclose(g_batch["w"], 2 * x)
    summed = xf.grad(lambda p: xnp.sum(xf.vmap(lambda xi: f(p, xi)["y"])(x)))(params)
    assert summed == {"w": pytest.approx(6.0), "b": pytest.approx(4.0)}


def test_custom_vjp_float32_stays_float32():
    x = np.array([0.5, 3.0], np.float32)
    for g in (xf.grad(_scaled_clip)(x), xf.jit(xf.grad(_scaled_clip))(x),
              xf.vmap(xf.grad(lambda v: 5.0 * clip_gradient(v)))(x)):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, [1.0, 1.0])


def test_custom_vjp_bwd_may_be_differentiated_again():
    @xf.custom_vjp
    def half_square(x):
        return x * x / 2

    # The cotangent is tripled: d/dx = 3x, so the Hessian (forward over reverse) is 3.
    half_square.defvjp(lambda x: (x * x / 2, x), lambda x, g: (3.0 * g * x,))
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(xf.hessian(lambda v: xnp.sum(half_square(v)))(x), 3 * np.eye(2))
    assert xf.grad(xf.grad(lambda v: half_square(v)))(2.0) == 3.0


@pytest.mark.parametrize("transform", [
    lambda f, x: xf.jvp(f, (x,), (x,)),
    lambda f, x: xf.jacfwd(f)(x),
    lambda f, x: xf.linearize(f, x)[1](x),
    lambda f, x: xf.jvp(xf.jit(f), (x,), (x,)),
])
def test_custom_vjp_forward_mode_is_a_clear_error(transform):
    with pytest.raises(TypeError, match="custom_vjp.*custom_jvp"):
        transform(clip_gradient, np.array([1.0, 2.0]))


@pytest.mark.parametrize("bwd, match", [
    (lambda x, g: g * x, ("must return a tuple with one cotangent per differentiable argument "
                          "\\(1\\), got a ndarray \\(return `\\(ct,\\)`")),
    (lambda x, g: (g, g), "\\(1\\), got a tuple of length 2"),
    (lambda x, g: (g[:1],), "f64\\[1\\] but f64\\[2\\] was expected"),
    (lambda x, g: (g.astype(np.float32),), "f32\\[2\\] but f64\\[2\\]"),
    (lambda x, g: ({"a": g},), "structure"),
])
def test_custom_vjp_bad_bwd_is_a_clear_error(bwd, match):
    @xf.custom_vjp
    def f(x):
        return x * x

    f.defvjp(lambda x: (x * x, x), bwd)
    with pytest.raises(TypeError, match=match):
        xf.grad(lambda x: xnp.sum(f(x)))(np.ones(2))


def test_custom_vjp_bad_fwd_is_a_clear_error():
    @xf.custom_vjp
    def f(x):
        return x * x

    f.defvjp(lambda x: x * x, lambda x, g: (g,))
    with pytest.raises(TypeError, match="fwd rule .* must return a pair"):
        xf.grad(f)(1.0)
    f.defvjp(lambda x: (x * x, "residual"), lambda x, g: (g,))
    with pytest.raises(TypeError, match="residuals must be a pytree of arrays"):
        xf.grad(f)(1.0)


def test_custom_vjp_closure_over_differentiated_value_is_a_clear_error():
    def outer(y):
        @xf.custom_vjp
        def f(x):
            return x * y

        f.defvjp(lambda x: (f(x), None), lambda _, g: (g,))
        return f(2.0)

    assert xf.jit(outer)(3.0) == 6.0
    with pytest.raises(TypeError, match="closes over"):
        xf.grad(outer)(3.0)


# ----------------------------------------------------------------------------- checkpoint

def _chain(x):
    for i in range(10):
        x = xnp.sin(x) if i % 2 else xnp.tanh(1.5 * x)
    return x


_chain_ckpt = xf.checkpoint(_chain)


@given(vectors)
@settings(max_examples=15)
def test_checkpoint_values_and_gradients_are_unchanged(x):
    np.testing.assert_allclose(_chain_ckpt(x), _chain(x), rtol=1e-14)
    loss = lambda f: lambda v: xnp.sum(f(v) ** 2)  # noqa: E731
    np.testing.assert_allclose(xf.grad(loss(_chain_ckpt))(x), xf.grad(loss(_chain))(x),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xf.jvp(_chain_ckpt, (x,), (x,))[1],
                               xf.jvp(_chain, (x,), (x,))[1], rtol=1e-12, atol=1e-14)
    check_grads(_chain_ckpt, (x,), order=2)


def test_checkpoint_keeps_only_its_inputs_as_residuals():
    x = np.linspace(-1.0, 1.0, 7)
    _, lin_ir, consts = linearize_flat(lambda v: [_chain_ckpt(v)], [x])
    assert len(consts) == 1 and np.array_equal(consts[0], x)
    assert [e.prim.name for e in lin_ir.eqns] == ["remat"]
    _, _, consts_plain = linearize_flat(lambda v: [_chain(v)], [x])
    assert len(consts_plain) >= 10
    assert sum(np.size(c) for c in consts) < sum(np.size(c) for c in consts_plain)


def test_checkpoint_inside_a_larger_function_stores_only_its_boundary():
    x = np.linspace(-1.0, 1.0, 5)

    def f(v):
        return xnp.sum(xnp.exp(_chain_ckpt(v)))

    _, _, consts = linearize_flat(lambda v: [f(v)], [x])
    # The input of the checkpointed block, plus exp's own residual after it.
    assert len(consts) <= 3
    np.testing.assert_allclose(xf.grad(f)(x), xf.grad(lambda v: xnp.sum(xnp.exp(_chain(v))))(x),
                               rtol=1e-12)


@pytest.mark.parametrize("name, transform", [
    ("grad(grad)", lambda f: xf.grad(xf.grad(lambda v: xnp.sum(f(v))))),
    ("hessian", lambda f: lambda x: xf.hessian(lambda v: xnp.sum(f(v)))(x[0:1])),
    ("vmap(grad)", lambda f: xf.vmap(xf.grad(f))),
    ("grad(vmap)", lambda f: xf.grad(lambda v: xnp.sum(xf.vmap(f)(v)))),
    ("jit(grad)", lambda f: xf.jit(xf.grad(lambda v: xnp.sum(f(v))))),
    ("grad(jit)", lambda f: xf.grad(xf.jit(lambda v: xnp.sum(f(v))))),
    ("jit numba", lambda f: xf.jit(xf.grad(lambda v: xnp.sum(f(v))), backend="numba")),
    ("jacrev", lambda f: xf.jacrev(f)),
    ("vmap(grad(grad))", lambda f: xf.vmap(xf.grad(xf.grad(f)))),
])
def test_checkpoint_composes(name, transform):
    x = np.array([0.3, -0.7, 1.1])
    expected = transform(_chain)(x if name != "grad(grad)" else x[0])
    got = transform(_chain_ckpt)(x if name != "grad(grad)" else x[0])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_checkpoint_grad_of_grad_rematerialises_at_both_levels():
    def first(v):
        return xf.grad(lambda u: xnp.sum(_chain_ckpt(u)))(v)

    x = np.linspace(-1.0, 1.0, 4)
    _, lin_ir, consts = linearize_flat(lambda v: [first(v)], [x])
    assert {e.prim.name for e in lin_ir.eqns} == {"remat"}
    assert all(np.shape(c) == x.shape for c in consts) and len(consts) <= 2


def test_checkpoint_closure_pytrees_static_args_and_float32():
    w = np.float32(0.7)
    x = np.array([0.5, -1.0, 2.0], np.float32)

    def block(p, v, n):
        for _ in range(n):
            v = xnp.tanh(p["w"] * v + p["b"])
        return {"out": v}

    ckpt = xf.checkpoint(block, static_argnums=(2,))

    def loss(f):
        return lambda w: xnp.sum(f({"w": w, "b": np.float32(0.1)}, x, 3)["out"])

    g, g_ref = xf.grad(loss(ckpt))(w), xf.grad(loss(block))(w)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, g_ref, rtol=1e-6)

    def closing(w):
        return xnp.sum(xf.checkpoint(lambda v: xnp.tanh(w * v))(x))

    np.testing.assert_allclose(xf.grad(closing)(w), xf.grad(lambda w: xnp.sum(xnp.tanh(w * x)))(w),
                               rtol=1e-6)
    np.testing.assert_allclose(xf.vmap(xf.grad(closing))(x),
                               xf.vmap(xf.grad(lambda w: xnp.sum(xnp.tanh(w * x))))(x),
                               rtol=1e-6)


def test_checkpoint_nested_and_remat_alias():
    inner = xf.remat(lambda v: xnp.sin(xnp.sin(v)))
    outer = xf.checkpoint(lambda v: xnp.cos(inner(v)) * v)
    ref = lambda v: xnp.cos(xnp.sin(xnp.sin(v))) * v  # noqa: E731
    x = np.array([0.1, 0.4])
    np.testing.assert_allclose(xf.jacrev(outer)(x), xf.jacrev(ref)(x), rtol=1e-12)
    np.testing.assert_allclose(xf.hessian(lambda v: xnp.sum(outer(v)))(x),
                               xf.hessian(lambda v: xnp.sum(ref(v)))(x), rtol=1e-12)


def test_checkpoint_python_control_flow_on_arguments_is_a_clear_error():
    f = xf.checkpoint(lambda x: x if x > 0 else -x)
    assert f(2.0) == 2.0
    with pytest.raises(ConcretizationError, match="checkpoint function"):
        xf.grad(f)(2.0)
    g = xf.checkpoint(lambda x, positive: x if positive else -x, static_argnums=(1,))
    assert xf.grad(g)(2.0, False) == -1.0


# ----------------------------------------------------------------------------- rules on tangents

@xf.custom_jvp
def _solve(a, b):
    return xnp.linalg.solve(a, b)


@_solve.defjvp
def _solve_jvp(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    x = _solve(a, b)
    return x, _solve(a, tb - ta @ x)  # the rule applies the custom function to tangents


def test_a_rule_applying_a_custom_jvp_function_to_tangents_has_reverse_mode():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal(3)
    check_grads(_solve, (a, b), order=2)
    ga, gb = xf.grad(lambda a, b: xnp.sum(_solve(a, b)), argnums=(0, 1))(a, b)
    gb_want = np.linalg.solve(a.T, np.ones(3))
    np.testing.assert_allclose(gb, gb_want, rtol=1e-12)
    np.testing.assert_allclose(ga, -np.outer(gb_want, np.linalg.solve(a, b)), rtol=1e-12)


@xf.custom_jvp
def _sum_sin(x):
    return xnp.sum(xnp.sin(x))


@_sum_sin.defjvp
def _sum_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # A loop over tangents that also computes with primal values (cos) in its body.
    total, _ = xf.lax.scan(lambda c, xt: (c + xnp.cos(xt[0]) * xt[1], c), 0.0, (x, t))
    return _sum_sin(x), total


def test_a_rule_looping_over_tangents_and_primals_has_reverse_mode():
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(xf.grad(_sum_sin)(x), np.cos(x), rtol=1e-14)
    check_grads(_sum_sin, (x,), order=2)


def test_nondiff_arguments_of_equal_value_and_different_type_trace_separately():
    @partial(xf.custom_jvp, nondiff_argnums=(1,))
    def scale(x, k):
        return x * (2.0 if isinstance(k[0], float) else 3.0)  # depends on the type of k

    scale.defjvp(lambda k, p, t: (scale(p[0], k), t[0] * 5.0))
    x = np.ones(2)
    assert xf.jvp(lambda x: scale(x, (1, 2)), (x,), (x,))[0].tolist() == [3.0, 3.0]
    assert xf.jvp(lambda x: scale(x, (1.0, 2.0)), (x,), (x,))[0].tolist() == [2.0, 2.0]
