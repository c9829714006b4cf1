"""Reverse mode through `lax.while_loop`: eagerly from the recorded trip count, under `jit` and
`vmap` from `max_steps` bounded steps; Newton's method and an adaptive ODE step loop."""
import warnings

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.test_util import check_grads


def newton_sqrt(a, max_steps=None):
    """sqrt(a) by Newton's method on x² - a, run until the residual is tiny."""
    def cond(x):
        return xnp.abs(x * x - a) > 1e-12 * a
    return lax.while_loop(cond, lambda x: x - (x * x - a) / (2 * x), a + 1.0,
                          max_steps=max_steps)


def ode_decay(k, y0, max_steps=None, tol=1e-4, t_end=1.0):
    """y(t_end) of y' = -k·y by adaptive Heun steps (step size from the Euler/Heun gap)."""
    def cond(c):
        return c[0] < t_end

    def body(c):
        t, y, h = c
        h = xnp.minimum(h, t_end - t)
        f0 = -k * y
        f1 = -k * (y + h * f0)
        err = xnp.abs(0.5 * h * (f1 - f0)) + 1e-3 * tol
        ok = err <= tol
        y_new = xnp.where(ok, y + 0.5 * h * (f0 + f1), y)
        t_new = xnp.where(ok, t + h, t)
        return t_new, y_new, 0.9 * h * xnp.minimum(2.0, xnp.sqrt(tol / err))
    _, y, _ = lax.while_loop(cond, body, (0.0, y0, 0.1), max_steps=max_steps)
    return y


def fd(f, x, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def test_newton_sqrt_grad_eager_matches_closed_form():
    for a in [0.5, 2.0, 9.0, 100.0]:
        assert float(newton_sqrt(a)) == pytest.approx(np.sqrt(a), rel=1e-12)
        assert float(xf.grad(newton_sqrt)(a)) == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)
        hess = float(xf.grad(xf.grad(newton_sqrt))(a))
        assert hess == pytest.approx(-0.25 * a ** -1.5, rel=1e-7)


def test_newton_sqrt_check_grads_and_vjp():
    check_grads(newton_sqrt, (np.array(3.0),), order=2, modes=("rev",))
    out, back = xf.vjp(newton_sqrt, np.array(4.0))
    assert float(out) == pytest.approx(2.0) and float(back(3.0)[0]) == pytest.approx(0.75)


def test_adaptive_ode_grad_eager_matches_differences_and_closed_form():
    k, y0 = 1.3, 2.0
    gk, gy = xf.grad(ode_decay, argnums=(0, 1))(k, y0)
    assert float(gk) == pytest.approx(fd(lambda k: ode_decay(k, y0), k), rel=1e-4)
    assert float(gy) == pytest.approx(fd(lambda y: ode_decay(k, y), y0), rel=1e-6)
    assert float(gk) == pytest.approx(-y0 * np.exp(-k), rel=1e-3)
    assert float(gy) == pytest.approx(np.exp(-k), rel=1e-3)


def test_float32_stays_float32():
    g = xf.grad(newton_sqrt)(np.float32(4.0))
    assert g.dtype == np.float32 and float(g) == pytest.approx(0.25, rel=1e-5)


def test_jit_without_max_steps_says_what_to_do():
    with pytest.raises(ValueError, match="max_steps"):
        xf.jit(xf.grad(newton_sqrt), backend="interpreter")(2.0)


def test_max_steps_must_be_an_int():
    with pytest.raises(TypeError, match="max_steps"):
        newton_sqrt(2.0, max_steps=2.5)


def _program(a, k):
    """Newton and ODE gradients under jit, and batched."""
    g_newton = xf.grad(lambda a: newton_sqrt(a, 60))
    g_ode = xf.grad(lambda k: ode_decay(k, 2.0, 200))
    batched = xf.vmap(g_newton)(xnp.stack([a, 2 * a, 4 * a]))
    return g_newton(a), g_ode(k), batched, newton_sqrt(a, 60)


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_under_jit_and_vmap(backend):
    a, k = 3.0, 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        g_newton, g_ode, batched, value = xf.jit(_program, backend=backend)(a, k)
    assert float(g_newton) == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)
    assert float(g_ode) == pytest.approx(float(xf.grad(ode_decay)(k, 2.0)), rel=1e-10)
    assert np.allclose(batched, 0.5 / np.sqrt([a, 2 * a, 4 * a]), rtol=1e-9)
    assert float(value) == pytest.approx(np.sqrt(a), rel=1e-12)


def test_derivatives_are_nan_when_max_steps_is_too_small():
    a = np.array(3.0)
    assert np.isnan(xf.jit(xf.grad(lambda a: newton_sqrt(a, 2)), backend="interpreter")(a))
    assert not np.isnan(xf.jit(xf.grad(lambda a: newton_sqrt(a, 6)),
                               backend="interpreter")(a))


def test_vmap_of_grad_matches_a_loop():
    xs = np.array([0.3, 1.0, 5.0, 50.0])
    got = xf.vmap(xf.grad(lambda a: newton_sqrt(a, 60)))(xs)
    want = [float(xf.grad(newton_sqrt)(x)) for x in xs]
    assert np.allclose(got, want, rtol=1e-10)
    ks = np.array([0.2, 1.0, 3.0])
    got = xf.vmap(xf.grad(lambda k: ode_decay(k, 1.0, 300)))(ks)
    assert np.allclose(got, [float(xf.grad(ode_decay)(k, 1.0)) for k in ks], rtol=1e-9)


def test_grad_of_vmapped_loop_eager():
    xs = np.array([0.5, 2.0, 8.0])
    g = xf.grad(lambda v: xnp.sum(xf.vmap(newton_sqrt)(v)))(xs)
    assert np.allclose(g, 0.5 / np.sqrt(xs), rtol=1e-9)


def test_forward_mode_unchanged():
    _, t = xf.jvp(newton_sqrt, (2.0,), (1.0,))
    assert float(t) == pytest.approx(0.5 / np.sqrt(2.0), rel=1e-9)


def test_grad_of_vmapped_loop_under_jit_and_forward_mode_with_max_steps():
    xs = np.array([0.5, 2.0, 8.0])
    loss = lambda v: xnp.sum(xf.vmap(lambda a: newton_sqrt(a, 60))(v))  # noqa: E731
    g = xf.jit(xf.grad(loss), backend="interpreter")(xs)
    assert np.allclose(g, 0.5 / np.sqrt(xs), rtol=1e-9)
    jvp = xf.jit(lambda a: xf.jvp(lambda a: newton_sqrt(a, 60), (a,), (1.0,)),
                 backend="interpreter")
    assert float(jvp(2.0)[1]) == pytest.approx(0.5 / np.sqrt(2.0), rel=1e-9)


def test_other_interpretations_accept_max_steps():
    f = lambda a: newton_sqrt(a, 60)  # noqa: E731
    derivs = xf.derivatives(f, 2)(4.0)
    assert np.allclose([float(d) for d in derivs], [2.0, 0.25, -1 / 32], rtol=1e-8)
    pattern = xf.sparsity(xf.vmap(f))(np.array([1.0, 2.0]))
    assert np.array_equal(pattern.toarray() != 0, np.eye(2, dtype=bool))
