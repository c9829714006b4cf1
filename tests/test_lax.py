"""xform.lax control flow (cond, switch, while_loop, fori_loop, scan): values against plain
Python, derivatives against finite differences and closed forms, vmap against Python loops,
jit, pytrees, float32, and error messages."""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform.test_util import check_grads

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def jit(f, **kwargs):
    return xf.jit(f, backend="interpreter", **kwargs)


def prims(ir):
    """Names of the primitives of an IR's top level."""
    return [e.prim.name for e in ir.eqns]


# ----------------------------------------------------------------------------- cond

def piecewise(x):
    return xf.lax.cond(x > 0, lambda x: xnp.sin(x) * x, lambda x: xnp.exp(x) - 1.0, x)


def piecewise_ref(x):
    return np.sin(x) * x if x > 0 else np.exp(x) - 1.0


def piecewise_grad_ref(x):
    return np.cos(x) * x + np.sin(x) if x > 0 else np.exp(x)


@settings(max_examples=15)
@given(st.floats(-3.0, 3.0), st.sampled_from(DTYPES))
def test_cond_matches_python_eager_and_jitted(x, dtype):
    x = dtype(x)
    for f in (piecewise, jit(piecewise)):
        out = f(x)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, piecewise_ref(x), rtol=TOL[dtype], atol=TOL[dtype])


@settings(max_examples=10)
@given(st.floats(-3.0, 3.0).filter(lambda v: abs(v) > 1e-3), st.sampled_from(DTYPES))
def test_cond_derivatives_every_way(x, dtype):
    x = dtype(x)
    expected = piecewise_grad_ref(np.float64(x))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g in (xf.grad(piecewise), xf.grad(jit(piecewise)), jit(xf.grad(piecewise)),
              lambda v: xf.jvp(jit(piecewise), (v,), (np.ones((), dtype),))[1],
              jit(xf.grad(jit(piecewise)))):
        out = g(x)
        assert np.asarray(out).dtype == dtype
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


def test_cond_is_one_equation_when_traced_and_one_branch_when_concrete():
    ir = xf.make_ir(piecewise)(1.0)
    assert prims(ir)[-1] == "cond"
    assert len(ir.eqns[-1].params["branches"]) == 2
    const_pred = xf.make_ir(lambda x: xf.lax.cond(True, xnp.sin, xnp.cos, x))(1.0)
    assert prims(const_pred) == ["sin"]


def scaled(w, x):
    """A cond whose branches close over `w` and read a pytree operand."""
    return xf.lax.cond(x.sum() > 0, lambda d: xnp.sin(w * d["x"]) * w,
                       lambda d: d["x"] ** 2 + w, {"x": x})


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_check_grads_with_closure_and_pytree(sign):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(3)
    x = sign * np.abs(rng.standard_normal(3))
    check_grads(scaled, (w, x), order=2)
    check_grads(jit(scaled), (w, x), order=2)


def test_cond_hessian_and_jacobians_agree():
    w = np.array([1.5, 0.5, -1.0])
    x = np.array([0.3, -0.1, 0.5])
    f = jit(scaled)
    np.testing.assert_allclose(xf.jacrev(f, 1)(w, x), xf.jacfwd(f, 1)(w, x), atol=1e-12)
    h = xf.hessian(lambda x: f(w, x).sum())(x)
    np.testing.assert_allclose(h, np.diag(-w ** 3 * np.sin(w * x)), atol=1e-12)


def test_cond_vmap_batched_predicate_matches_loop():
    xs = np.linspace(-2.0, 2.0, 7)
    np.testing.assert_allclose(xf.vmap(piecewise)(xs), [piecewise_ref(x) for x in xs])
    np.testing.assert_allclose(xf.vmap(xf.grad(piecewise))(xs),
                               [piecewise_grad_ref(x) for x in xs])
    np.testing.assert_allclose(xf.grad(lambda v: xf.vmap(piecewise)(v).sum())(xs),
                               [piecewise_grad_ref(x) for x in xs])
    ir = xf.make_ir(xf.vmap(piecewise))(xs)
    assert "batched_cond" in prims(ir) and "select" not in prims(ir)  # only the taken branch


def test_cond_vmap_unbatched_predicate_batches_the_branches():
    rng = np.random.default_rng(1)
    w, xs = rng.standard_normal(3), rng.standard_normal((4, 3))

    def f(s, x):  # the predicate depends on the unbatched s only
        return xf.lax.cond(s > 0, lambda x: xnp.sin(w * x) * w, lambda x: x ** 2 + w, x)
    for sign in (1.0, -1.0):
        batched = xf.vmap(f, in_axes=(None, 0))
        assert "cond" in prims(xf.make_ir(batched)(sign, xs))
        np.testing.assert_allclose(jit(batched)(sign, xs), [f(sign, x) for x in xs])
        grads = xf.vmap(xf.grad(lambda s, x: jit(f)(s, x).sum(), 1), in_axes=(None, 0))
        np.testing.assert_allclose(grads(sign, xs),
                                   [xf.grad(lambda x, s=sign: f(s, x).sum())(x) for x in xs])
    per_w = xf.vmap(jit(scaled), in_axes=(0, None))(xs, w)
    np.testing.assert_allclose(per_w, [scaled(v, w) for v in xs])


def test_cond_branches_do_not_run_outside_the_cond():
    def pick(xs, i):  # xs[i] would fail for i out of range: it must stay inside the branch
        return xf.lax.cond(i < 3, lambda: xs[i], lambda: xnp.zeros((), xs.dtype))
    assert float(jit(pick)(np.arange(3.0), 7)) == 0.0
    assert float(jit(pick)(np.arange(3.0), 2)) == 2.0
    ir = xf.make_ir(pick)(np.arange(3.0), 1)
    assert "gather" not in prims(ir)


def test_cond_pytree_outputs_and_integer_outputs():
    pair = namedtuple("pair", "value count")

    def f(x):
        return xf.lax.cond(x > 1.0, lambda x: pair(x * 2.0, 1), lambda x: pair(-x, 0), x)
    out = jit(f)(3.0)
    assert isinstance(out, pair) and float(out.value) == 6.0 and int(out.count) == 1
    assert float(xf.grad(lambda x: jit(f)(x).value)(0.5)) == -1.0
    assert float(xf.grad(lambda x: jit(f)(x).value)(2.0)) == 2.0


def test_cond_result_supports_functional_updates():
    out = xf.lax.cond(True, lambda x: x + 1.0, lambda x: x, np.zeros(3))
    np.testing.assert_array_equal(out.at[0].set(5.0), [5.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- switch

BRANCHES = [lambda x: x + 1.0, lambda x: x * 10.0, xnp.cos]
BRANCH_REFS = [lambda x: x + 1.0, lambda x: x * 10.0, np.cos]


def switch_ref(i, x):
    return BRANCH_REFS[min(max(i, 0), 2)](x)


@settings(max_examples=15)
@given(st.integers(-5, 7), st.floats(-2.0, 2.0))
def test_switch_clamps_out_of_range_index_like_jax(i, x):
    def f(i, x):
        return xf.lax.switch(i, BRANCHES, x)
    assert float(f(i, x)) == pytest.approx(switch_ref(i, x), rel=1e-12)
    assert float(jit(f)(i, x)) == pytest.approx(switch_ref(i, x), rel=1e-12)


def test_switch_vmap_over_index_and_grad():
    def f(i, x):
        return xf.lax.switch(i, BRANCHES, x)
    idx = np.array([-1, 0, 1, 2, 5])
    xs = np.linspace(0.1, 1.0, 5)
    np.testing.assert_allclose(xf.vmap(f)(idx, xs), [switch_ref(i, x) for i, x in zip(idx, xs)])
    grads = xf.vmap(xf.grad(f, argnums=1))(idx, xs)
    np.testing.assert_allclose(grads, [1.0, 1.0, 10.0, -np.sin(xs[3]), -np.sin(xs[4])])
    for i in (0, 2):
        check_grads(lambda x, i=i: jit(f)(i, x), (0.3,), order=2)


# ----------------------------------------------------------------------------- while_loop

def grow(x):
    """Square-and-shift until the total passes 10, counting the steps (pytree carry)."""
    def body(c):
        return {"x": c["x"] * c["x"] + 0.5, "n": c["n"] + 1}
    return xf.lax.while_loop(lambda c: c["x"].sum() < 10.0, body, {"x": x, "n": 0})


def grow_ref(x):
    n = 0
    while x.sum() < 10.0:
        x, n = x * x + 0.5, n + 1
    return x, n


@pytest.mark.parametrize("dtype", DTYPES)
def test_while_loop_matches_python(dtype):
    x = np.array([0.5, 1.0, 1.2], dtype)
    ref_x, ref_n = grow_ref(x)
    for f in (grow, jit(grow)):
        out = f(x)
        assert out["x"].dtype == dtype and int(out["n"]) == ref_n
        np.testing.assert_allclose(out["x"], ref_x, rtol=TOL[dtype])


def test_while_loop_forward_mode_against_finite_differences():
    x = np.array([0.5, 1.0, 1.2])
    check_grads(lambda x: grow(x)["x"], (x,), modes=("fwd",), order=2)
    check_grads(lambda x: jit(grow)(x)["x"], (x,), modes=("fwd",))
    jac = xf.jacfwd(lambda x: grow(x)["x"])(x)
    n = grow_ref(x)[1]
    expected = np.ones(3)
    y = x.copy()
    for _ in range(n):  # d(y*y + 0.5)/dy = 2y, elementwise
        expected, y = expected * 2 * y, y * y + 0.5
    np.testing.assert_allclose(jac, np.diag(expected), rtol=1e-12)


def test_while_loop_linearize_works_forward():
    f = lambda x: xf.lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * c[0], c[1] + 1),
                                    (x, 0))[0]
    y, f_jvp = xf.linearize(f, 1.1)
    assert float(y) == pytest.approx(1.1 ** 8)
    assert float(f_jvp(1.0)) == pytest.approx(8 * 1.1 ** 7)


def test_while_loop_reverse_mode_eager_and_its_error_under_jit():
    x = np.array([0.5, 1.0, 1.2])
    f = lambda x: grow(x)["x"]
    np.testing.assert_allclose(xf.jacrev(f)(x), xf.jacfwd(f)(x), rtol=1e-12)
    with pytest.raises(ValueError, match="while_loop.*max_steps"):
        xf.grad(jit(lambda x: f(x).sum()))(x)


def collatz_steps(n):
    def body(c):
        k, steps = c
        return xnp.where(k % 2 == 0, k // 2, 3 * k + 1), steps + 1
    return xf.lax.while_loop(lambda c: c[0] != 1, body, (n, 0))[1]


def collatz_ref(n):
    steps = 0
    while n != 1:
        n, steps = (n // 2 if n % 2 == 0 else 3 * n + 1), steps + 1
    return steps


@settings(max_examples=10)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=6))
def test_while_loop_vmap_with_batched_predicate_matches_loop(ns):
    ns = np.array(ns)
    np.testing.assert_array_equal(xf.vmap(collatz_steps)(ns), [collatz_ref(n) for n in ns])
    np.testing.assert_array_equal(jit(xf.vmap(collatz_steps))(ns), [collatz_ref(n) for n in ns])


def test_while_loop_vmap_with_unbatched_predicate_and_forward_mode():
    def f(x):  # the trip count does not depend on x: the predicate stays unbatched
        return xf.lax.while_loop(lambda c: c[1] < 4, lambda c: (xnp.sin(c[0]) + c[0], c[1] + 1),
                                 (x, 0))[0]
    xs = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(xf.vmap(f)(xs), [f(x) for x in xs], rtol=1e-14)
    ir = xf.make_ir(xf.vmap(f))(xs)
    assert "reduce_max" not in [e.prim.name for e in ir.eqns[-1].params["cond_ir"].eqns]
    np.testing.assert_allclose(xf.vmap(xf.jacfwd(f))(xs), [xf.jacfwd(f)(x) for x in xs])

    def until(x, limit):  # per-example trip counts, differentiated forward
        return xf.lax.while_loop(lambda v: v < limit, lambda v: v * 1.5 + 0.1, x)
    limits = np.array([1.0, 3.0, 10.0])
    jac = xf.vmap(xf.jacfwd(until), in_axes=(None, 0))(0.5, limits)
    np.testing.assert_allclose(jac, [xf.jacfwd(until)(0.5, v) for v in limits])


# ----------------------------------------------------------------------------- fori_loop

def power_iter(x, n=5):
    return xf.lax.fori_loop(0, n, lambda i, v: v * xnp.sin(v) + i * 0.1, x)


def power_iter_ref(x, n=5):
    for i in range(n):
        x = x * np.sin(x) + i * 0.1
    return x


def test_fori_loop_with_static_trip_count_is_a_reverse_differentiable_scan():
    x = np.array([0.7, 1.1, -0.4])
    np.testing.assert_allclose(power_iter(x), power_iter_ref(x), rtol=1e-14)
    assert "scan" in prims(xf.make_ir(power_iter)(x))
    check_grads(power_iter, (x,), order=2)
    check_grads(jit(power_iter), (x,), order=1)


def test_fori_loop_with_traced_trip_count_is_forward_only():
    f = jit(lambda n, x: xf.lax.fori_loop(0, n, lambda i, v: v * 1.5 + i, x))
    assert float(f(3, 1.0)) == pytest.approx(6.875)
    assert "while" in prims(xf.make_ir(lambda n, x: xf.lax.fori_loop(
        0, n, lambda i, v: v * 1.5 + i, x))(3, 1.0))
    assert float(xf.jvp(lambda x: f(3, x), (1.0,), (1.0,))[1]) == pytest.approx(1.5 ** 3)
    with pytest.raises(ValueError, match="fori_loop with concrete"):
        xf.grad(lambda x: f(3, x))(1.0)
    np.testing.assert_allclose(xf.vmap(f)(np.arange(4), np.ones(4)), [1.0, 1.5, 3.25, 6.875])


@pytest.mark.parametrize("lower,upper", [(2, 6), (np.int32(1), 4), (5, 3)])
def test_fori_loop_bounds(lower, upper):
    out = xf.lax.fori_loop(lower, upper, lambda i, acc: acc + i * 1.0, 0.0)
    assert float(out) == float(sum(range(int(lower), int(upper))))


# ----------------------------------------------------------------------------- scan

def cumsum_scan(xs, reverse=False):
    return xf.lax.scan(lambda c, x: (c + x, c + x), xnp.zeros_like(xs[0]), xs, reverse=reverse)


@settings(max_examples=15)
@given(st.integers(0, 3), st.integers(1, 6), st.sampled_from(DTYPES), st.booleans())
def test_scan_cumulative_sum_matches_numpy(trailing, length, dtype, reverse):
    rng = np.random.default_rng(length * 10 + trailing)
    xs = rng.standard_normal((length, *([2] * trailing))).astype(dtype)
    ref = np.cumsum(xs[::-1], axis=0)[::-1] if reverse else np.cumsum(xs, axis=0)
    for f in (cumsum_scan, jit(cumsum_scan, static_argnums=1)):
        total, partial = f(xs, reverse)
        assert total.dtype == partial.dtype == dtype
        np.testing.assert_allclose(partial, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(total, xs.sum(0), rtol=1e-5, atol=1e-5)


def rnn(w, h0, xs):
    def step(h, x):
        h = xnp.tanh(w @ h + x["in"]) * x["gain"]
        return h, h.sum()
    return xf.lax.scan(step, h0, xs)


def rnn_ref(w, h, xs):
    ys = []
    for x, g in zip(xs["in"], xs["gain"]):
        h = np.tanh(w @ h + x) * g
        ys.append(h.sum())
    return h, np.array(ys)


def rnn_args(seed=0, length=5):
    rng = np.random.default_rng(seed)
    return (0.5 * rng.standard_normal((3, 3)), rng.standard_normal(3),
            {"in": rng.standard_normal((length, 3)), "gain": rng.uniform(0.5, 1.5, length)})


def test_scan_pytree_values_and_grads():
    w, h0, xs = rnn_args()
    for got, ref in zip(rnn(w, h0, xs), rnn_ref(w, h0, xs)):
        np.testing.assert_allclose(got, ref, rtol=1e-13)
    check_grads(rnn, (w, h0, xs), order=2)
    check_grads(jit(rnn), (w, h0, xs), order=1)


def test_scan_reverse_grads():
    xs = np.array([0.3, -1.2, 0.8, 2.0])

    def f(c0, xs):
        return xf.lax.scan(lambda c, x: (xnp.sin(c) * x, c * x), c0, xs, reverse=True)
    carry, ys = f(0.5, xs)
    c, ref = 0.5, np.zeros(4)
    for i in range(3, -1, -1):
        c, ref[i] = np.sin(c) * xs[i], c * xs[i]
    assert float(carry) == pytest.approx(c)
    np.testing.assert_allclose(ys, ref)
    check_grads(f, (0.5, xs), order=2)


def test_scan_does_not_stack_loop_invariant_residuals():
    w, h0, xs = rnn_args(length=50)
    ir = xf.make_ir(xf.grad(lambda w: rnn(w, h0, xs)[0].sum()))(w)
    forward = next(e for e in ir.eqns if e.prim.name == "scan")
    stacked = [v.aval.shape for v in forward.outputs[2:]]
    assert (50, 3, 3) not in stacked  # w is passed to the backward scan once, not per step


def rk4_decay(y0, k, steps=40, dt=0.05):
    """Integrate dy/dt = -k y + 0.1 sin(t) y^2 with classic RK4 steps inside a scan."""
    def rhs(y, t):
        return -k * y + 0.1 * xnp.sin(t) * y * y

    def step(y, t):
        k1 = rhs(y, t)
        k2 = rhs(y + 0.5 * dt * k1, t + 0.5 * dt)
        k3 = rhs(y + 0.5 * dt * k2, t + 0.5 * dt)
        k4 = rhs(y + dt * k3, t + dt)
        y = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return y, y
    return xf.lax.scan(step, y0, np.arange(steps) * dt)[0]


def test_scan_rk4_integrator_gradients():
    y0, k = np.array([1.0, 0.5, -0.3]), np.array([0.7, 1.3, 0.2])
    check_grads(rk4_decay, (y0, k), order=2)
    check_grads(jit(rk4_decay), (y0, k), order=1)
    # For k-only decay RK4 is accurate to O(dt^4): compare with y0 exp(-k T) and its k-gradient.
    t_end = 40 * 0.05
    np.testing.assert_allclose(rk4_linear(y0, k), y0 * np.exp(-k * t_end), rtol=1e-6)
    g = xf.grad(lambda k: rk4_linear(y0, k).sum())(k)
    np.testing.assert_allclose(g, -t_end * y0 * np.exp(-k * t_end), rtol=1e-6)


def rk4_linear(y0, k, steps=40, dt=0.05):
    def step(y, _):
        k1 = -k * y
        k2 = -k * (y + 0.5 * dt * k1)
        k3 = -k * (y + 0.5 * dt * k2)
        k4 = -k * (y + dt * k3)
        return y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None
    return xf.lax.scan(step, y0, None, length=steps)[0]


def test_scan_vmap_matches_loop():
    w, h0, xs = rnn_args(length=4)
    rng = np.random.default_rng(3)
    h0s = rng.standard_normal((5, 3))
    out = xf.vmap(rnn, in_axes=(None, 0, None))(w, h0s, xs)
    for i, h in enumerate(h0s):
        for got, ref in zip(out, rnn_ref(w, h, xs)):
            np.testing.assert_allclose(got[i], ref, rtol=1e-13)
    ins = rng.standard_normal((4, 5, 3))  # batch along axis 1 of xs
    batch_xs = {"in": ins, "gain": xs["gain"]}
    out = xf.vmap(rnn, in_axes=(None, None, {"in": 1, "gain": None}))(w, h0, batch_xs)
    for i in range(5):
        ref = rnn_ref(w, h0, {"in": ins[:, i], "gain": xs["gain"]})
        np.testing.assert_allclose(out[0][i], ref[0], rtol=1e-13)
        np.testing.assert_allclose(out[1][i], ref[1], rtol=1e-13)
    ws = 0.5 * rng.standard_normal((2, 3, 3))
    grads = xf.vmap(xf.grad(lambda w: rnn(w, h0, xs)[1].sum()))(ws)
    for g, w_ in zip(grads, ws):
        np.testing.assert_allclose(g, xf.grad(lambda w: rnn(w, h0, xs)[1].sum())(w_),
                                   rtol=1e-12)


def test_scan_jacobians_and_hessian():
    w, h0, xs = rnn_args(length=3)
    f = lambda h: rnn(w, h, xs)[0]
    np.testing.assert_allclose(xf.jacrev(f)(h0), xf.jacfwd(f)(h0), atol=1e-12)
    hess = xf.hessian(lambda h: rnn(w, h, xs)[1].sum())(h0)
    np.testing.assert_allclose(hess, hess.T, atol=1e-12)
    fd = np.stack([(xf.grad(lambda h: rnn(w, h, xs)[1].sum())(h0 + e)
                    - xf.grad(lambda h: rnn(w, h, xs)[1].sum())(h0 - e)) / 2e-6
                   for e in 1e-6 * np.eye(3)])
    np.testing.assert_allclose(hess, fd, atol=1e-6)


def test_scan_float32_stays_float32_through_derivatives():
    w, h0, xs = rnn_args()
    w, h0 = w.astype(np.float32), h0.astype(np.float32)
    xs = {k: v.astype(np.float32) for k, v in xs.items()}
    loss = lambda w: rnn(w, h0, xs)[1].sum()
    assert xf.grad(loss)(w).dtype == np.float32
    assert xf.grad(jit(loss))(w).dtype == np.float32
    assert xf.jacfwd(lambda h: rnn(w, h, xs)[0])(h0).dtype == np.float32
    assert xf.vmap(lambda h: rnn(w, h, xs)[0])(np.stack([h0, h0])).dtype == np.float32


def test_scan_without_xs_and_with_zero_length():
    carry, ys = xf.lax.scan(lambda c, _: (c * 2.0, c), 1.0, None, length=4)
    assert float(carry) == 16.0 and ys.tolist() == [1.0, 2.0, 4.0, 8.0]
    carry, ys = xf.lax.scan(lambda c, x: (c + x, x * 2.0), np.ones(2), np.zeros((0, 2)))
    assert carry.tolist() == [1.0, 1.0] and ys.shape == (0, 2)
    assert float(xf.grad(lambda c: xf.lax.scan(lambda c, x: (c * x, None), c,
                                               np.zeros(0))[0])(2.0)) == 1.0


# ----------------------------------------------------------------------------- nesting

def cond_in_scan(c0, xs):
    def step(c, x):
        c = xf.lax.cond(x > 0, lambda c: c * x, lambda c: c + xnp.sin(c), c)
        return c, c
    return xf.lax.scan(step, c0, xs)


def test_nested_control_flow_derivatives_and_batching():
    xs = np.array([1.0, -2.0, 0.5, -0.3])
    check_grads(cond_in_scan, (0.7, xs), order=2)
    check_grads(lambda c: jit(cond_in_scan)(c, xs), (0.7,), order=2)
    batched = xf.vmap(cond_in_scan, in_axes=(0, None))(np.array([0.1, 0.2]), xs)
    np.testing.assert_allclose(batched[1][1], cond_in_scan(0.2, xs)[1])

    def scan_in_while(x):
        def body(c):
            inner = xf.lax.scan(lambda a, b: (a * b, a), c[0], np.array([1.1, 0.9]))[0]
            return inner, c[1] + 1
        return xf.lax.while_loop(lambda c: c[1] < 3, body, (x, 0))[0]
    check_grads(scan_in_while, (1.3,), modes=("fwd",), order=2)
    np.testing.assert_allclose(xf.vmap(scan_in_while)(np.array([1.0, 2.0])),
                               np.array([1.0, 2.0]) * 0.99 ** 3)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: xf.lax.cond(True, lambda x: x, lambda x: (x, x), 1.0), TypeError,
     r"false_fun returns \(f64\[\], f64\[\]\) and true_fun returns f64\[\]"),
    (lambda: xf.lax.cond(True, lambda x: x, lambda x: 0.0, np.float32(1)), TypeError,
     r"false_fun returns f64\[\] and true_fun returns f32\[\]"),
    (lambda: xf.lax.switch(0, [lambda: 1.0, lambda: np.ones(2)]), TypeError,
     r"branches\[0\] returns f64\[\] and branches\[1\] returns f64\[2\]"),
    (lambda: xf.lax.cond(np.array([True, False]), lambda: 1.0, lambda: 2.0), TypeError,
     "scalar predicate.*shape \\(2,\\)"),
    (lambda: jit(lambda p: xf.lax.cond(p, lambda: 1.0, lambda: 2.0))(np.ones(2, bool)),
     TypeError, "scalar predicate"),
    (lambda: xf.lax.cond(1.0, lambda: 1.0, lambda: 2.0), TypeError, "boolean predicate"),
    (lambda: xf.lax.cond(True, 3.0, lambda: 2.0), TypeError, "true_fun must be a function"),
    (lambda: xf.lax.switch(0.5, [lambda: 1.0]), TypeError, "integer index"),
    (lambda: xf.lax.switch(0, []), ValueError, "at least one branch"),
    (lambda: xf.lax.while_loop(lambda c: c, lambda c: c + 1, 0), TypeError,
     "cond_fun must return a boolean scalar"),
    (lambda: xf.lax.while_loop(lambda c: c < 3, lambda c: c + 1.0, 0), TypeError,
     r"init_val is i64\[\] but it returns f64\[\]"),
    (lambda: xf.lax.scan(lambda c, x: (c + x, None), 0, np.ones(3)), TypeError,
     "same structure, shapes and dtypes as init"),
    (lambda: xf.lax.scan(lambda c, x: (c[0], None), (0.0, 1.0), np.ones(3)), TypeError,
     r"init is \(f64\[\], f64\[\]\) but it returns f64\[\]"),
    (lambda: xf.lax.scan(lambda c, x: c + x, 0.0, np.ones(3)), TypeError,
     r"pair \(carry, y\)"),
    (lambda: xf.lax.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4))), ValueError,
     "same leading size"),
    (lambda: xf.lax.scan(lambda c, x: (c, x), 0.0, np.ones(3), length=4), ValueError,
     "length=4"),
    (lambda: xf.lax.scan(lambda c, x: (c, x), 0.0, None), ValueError, "needs `length`"),
    (lambda: xf.lax.scan(lambda c, x: (c, x), 0.0, 1.0), TypeError, "leading axis"),
    (lambda: xf.lax.fori_loop(0.0, 3, lambda i, x: x, 1.0), TypeError, "integers"),
])
def test_errors_say_what_was_wrong(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_python_branching_inside_a_branch_on_its_operand_is_a_clear_error():
    from xform.core import ConcretizationError
    with pytest.raises(ConcretizationError, match="lax.cond"):
        xf.lax.cond(True, lambda x: x if x > 0 else -x, lambda x: x, 1.0)
