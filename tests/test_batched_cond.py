"""`vmap` of `lax.cond` / `lax.switch` with a batched index: each example runs only its branch.

Values against a Python loop of the unbatched function (two and three branches, batched and
unbatched operands, several and integer outputs, indices out of range), the NaN that a select
over both branches leaked into gradients, derivatives against finite differences, nested vmap,
Taylor mode and sparsity against dense results, proof that an untaken branch does not run, and
one compiled program checked against the interpreter.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.backends import numba as numba_backend
from xform.core import at_root, registry
from xform.test_util import check_grads


def safe_sqrt(x):
    """sqrt where positive: the classic case of a branch whose derivative is inf elsewhere."""
    return lax.cond(x > 0, lambda x: xnp.sqrt(x), lambda x: x * 0.0, x)


def two_outputs(x, c):
    """Two branches, batched and unbatched operands, a float and an integer output."""
    return lax.cond(xnp.sum(x) > 0, lambda x, c: (xnp.sin(x) * c, xnp.sum(x > c)),
                    lambda x, c: (x * x - c, xnp.sum(x < 0) * 2), x, c)


BRANCHES = [lambda x, w: xnp.exp(x * w), lambda x, w: xnp.tanh(x) + w, lambda x, w: x ** 3 * w]


def three(i, x, w):
    return lax.switch(i, BRANCHES, x, w)


def loop(f, *args, in_axes=0):
    """The unbatched `f` on each example in turn, stacked (the reference for vmap)."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    size = next(np.shape(a)[0] for a, d in zip(args, axes) if d is not None)
    outs = [f(*(a if d is None else a[b] for a, d in zip(args, axes))) for b in range(size)]
    if isinstance(outs[0], tuple):
        return tuple(np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0])))
    return np.stack([np.asarray(o) for o in outs])


def assert_tree_close(got, want, rtol=1e-12):
    got, want = xf.tree.leaves(got), xf.tree.leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        tol = max(rtol, 8 * np.finfo(g.dtype).eps) if g.dtype == np.float32 else rtol
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def operands(rng, size=7):
    return {"x": rng.normal(size=size), "xs": rng.normal(size=(size, 3)), "c": rng.normal(size=3),
            "i": np.array([-2, 0, 1, 2, 9, 1, 0])[:size], "w": rng.uniform(0.5, 1.5, size),
            "w0": 0.7}


def test_the_vmap_of_a_cond_with_a_batched_index_is_one_batched_cond():
    ir = xf.make_ir(xf.vmap(safe_sqrt))(np.ones(3))
    assert [e.prim.name for e in ir.eqns][-1] == "batched_cond"
    assert "select" not in str(ir)
    # A shared weight's cotangent is summed inside, not stacked per example.
    ir = xf.make_ir(xf.grad(lambda c: xnp.sum(xf.vmap(two_outputs, in_axes=(0, None))(
        np.ones((5, 3)), c)[0])))(np.ones(3))
    (eqn,) = [e for e in ir.eqns if e.prim.name == "batched_cond" and e.params["summed"][0]]
    assert eqn.outputs[0].aval.shape == (3,)
    # An unbatched index still batches the branches of one cond.
    ir = xf.make_ir(xf.vmap(safe_sqrt, in_axes=None, axis_size=3))(1.0)
    assert "batched_cond" not in str(ir)


def test_values_match_a_python_loop():
    ops = operands(np.random.default_rng(0))
    x, xs, c, i, w = ops["x"], ops["xs"], ops["c"], ops["i"], ops["w"]
    assert_tree_close(xf.vmap(safe_sqrt)(x), loop(safe_sqrt, x))
    assert_tree_close(xf.vmap(two_outputs, in_axes=(0, None))(xs, c),
                      loop(two_outputs, xs, c, in_axes=(0, None)))
    assert_tree_close(xf.vmap(two_outputs)(xs, xs), loop(two_outputs, xs, xs))
    assert_tree_close(xf.vmap(three)(i, x, w), loop(three, i, x, w))
    assert_tree_close(xf.vmap(three, in_axes=(0, None, 0))(i, 0.3, w),
                      loop(three, i, 0.3, w, in_axes=(0, None, 0)))
    assert_tree_close(xf.vmap(three, in_axes=(0, 0, None))(i, x, 0.7),
                      loop(three, i, x, 0.7, in_axes=(0, 0, None)))
    # The batch axis of an operand need not lead.
    assert_tree_close(xf.vmap(two_outputs, in_axes=(1, None))(xs.T, c),
                      loop(two_outputs, xs, c, in_axes=(0, None)))
    # Every example on one branch, and an empty batch.
    assert_tree_close(xf.vmap(safe_sqrt)(np.abs(x) + 1), np.sqrt(np.abs(x) + 1))
    assert xf.vmap(three)(i[:0], x[:0], w[:0]).shape == (0,)


def test_large_batches_agree_with_the_select_formulation():
    """The interpreter runs each branch on its rows, padded up to a power of two; the inline
    rule runs every branch on every row and selects."""
    rng = np.random.default_rng(1)
    for size in (1, 5, 1000, 4097):
        i, x, w = rng.integers(-1, 4, size), rng.normal(size=size), rng.normal(size=size)
        (eqn,) = [e for e in xf.make_ir(xf.vmap(three))(i, x, w).eqns
                  if e.prim.name == "batched_cond"]
        index = np.asarray(xf.vmap(lambda i: lax.convert_element_type(i, np.int32))(i))
        want = registry["batched_cond"].inline(index, x, w, **eqn.params)
        with at_root():
            got = registry["batched_cond"].impl(index, x, w, **eqn.params)
        np.testing.assert_allclose(got[0], np.asarray(want[0]), rtol=1e-15)
        assert_tree_close(xf.vmap(three)(i, x, w), loop(three, i, x, w))


def test_no_nan_leaks_from_the_untaken_branch_into_gradients():
    x = np.array([-1.0, 4.0])

    def total(x):
        return xnp.sum(xf.vmap(safe_sqrt)(x))
    np.testing.assert_array_equal(xf.grad(total)(x), [0.0, 0.25])
    np.testing.assert_array_equal(xf.jacfwd(xf.vmap(safe_sqrt))(x), np.diag([0.0, 0.25]))
    np.testing.assert_array_equal(xf.jacrev(xf.vmap(safe_sqrt))(x), np.diag([0.0, 0.25]))
    assert np.isfinite(xf.hessian(total)(x)).all()


def test_derivatives_match_finite_differences():
    ops = operands(np.random.default_rng(2))
    x = np.where(np.abs(ops["x"]) < 0.2, 0.5, ops["x"])
    xs, c, i, w = ops["xs"], ops["c"], ops["i"], ops["w"]
    check_grads(xf.vmap(safe_sqrt), (np.abs(x) * np.sign(x),), order=2)
    check_grads(lambda x, w: xf.vmap(three)(i, x, w), (x, w), order=2)
    # Unbatched operands: their cotangents sum over the batch.
    check_grads(lambda x, w: xf.vmap(three, in_axes=(0, 0, None))(i, x, w), (x, 0.7), order=2)
    check_grads(lambda xs, c: xf.vmap(two_outputs, in_axes=(0, None))(xs, c)[0], (xs, c),
                order=2)
    hess = xf.hessian(lambda x: xnp.sum(xf.vmap(three)(i, x, w)))(x)
    assert_tree_close(hess, xf.jacfwd(xf.jacrev(lambda x: xnp.sum(xf.vmap(three)(i, x, w))))(x))
    np.testing.assert_allclose(hess, np.diag(np.diag(hess)), atol=0)


def test_vmap_of_vmap():
    rng = np.random.default_rng(3)
    i, x, w = rng.integers(-1, 4, (4, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    want = np.array([[three(i[a, b], x[a, b], w[a]) for b in range(5)] for a in range(4)])
    got = xf.vmap(xf.vmap(three, in_axes=(0, 0, None)))(i, x, w)
    assert_tree_close(got, want)
    # The index batched in the inner vmap only, then in the outer only.
    got = xf.vmap(xf.vmap(three, in_axes=(0, 0, None)), in_axes=(None, 0, 0))(i[0], x, w)
    assert_tree_close(got, np.array([[three(i[0, b], x[a, b], w[a]) for b in range(5)]
                                     for a in range(4)]))
    got = xf.vmap(xf.vmap(three, in_axes=(None, 0, None)), in_axes=(0, 1, None))(i[:, 0], x.T,
                                                                                   0.5)
    assert_tree_close(got, np.array([[three(i[a, 0], x[a, b], 0.5) for b in range(5)]
                                     for a in range(4)]))
    # vmap of grad of vmap: derivatives of the nested batched_cond.
    g = xf.vmap(xf.grad(lambda x, i: three_sum(i, x, 0.7)))
    want = [[xf.grad(three, 1)(i[a, b], x[a, b], 0.7) for b in range(5)] for a in range(4)]
    assert_tree_close(g(x, i), np.array(want))
    # Gradients in a shared weight (summed over the inner batch), for several weights at once:
    # the index shared by the outer batch, then differing across it too.
    g = xf.vmap(xf.grad(three_sum, 2), in_axes=(None, None, 0))
    want = [sum(xf.grad(three, 2)(i[0, b], x[0, b], v) for b in range(5)) for v in w]
    np.testing.assert_allclose(g(i[0], x[0], w), want, rtol=1e-12)
    g = xf.vmap(xf.grad(three_sum, 2), in_axes=(0, 0, 0))
    want = [sum(xf.grad(three, 2)(i[a, b], x[a, b], w[a]) for b in range(5)) for a in range(4)]
    np.testing.assert_allclose(g(i, x, w), want, rtol=1e-12)


def three_sum(i, x, w0):
    """The sum over the batch of three(i[b], x[b], w0), w0 shared."""
    return xnp.sum(xf.vmap(three, in_axes=(0, 0, None))(i, x, w0))


SEEN: list = []


def noisy(x):
    """log(x) where positive, reporting each example it runs on."""
    def loud(x):
        xf.debug.callback(SEEN.append, x)
        return xnp.log(x)
    return lax.cond(x > 0, loud, lambda x: x, x)


def test_an_untaken_branch_does_not_run():
    x = np.array([-1.0, 2.0, -3.0, 4.0])
    SEEN.clear()
    np.testing.assert_allclose(xf.vmap(noisy)(x), [-1.0, np.log(2.0), -3.0, np.log(4.0)])
    assert sorted(float(v) for v in SEEN) == [2.0, 4.0]
    SEEN.clear()
    xf.grad(lambda x: xnp.sum(xf.vmap(noisy)(x)))(x)
    assert SEEN and all(float(v) > 0 for v in SEEN)
    SEEN.clear()
    # No example takes the loud branch: it is not run at all.
    xf.vmap(noisy)(-np.abs(x))
    assert not SEEN


def test_taylor_mode_and_sparsity_agree_with_dense_results():
    rng = np.random.default_rng(4)
    i, x, w = rng.integers(0, 3, 6), rng.uniform(0.3, 1.0, 6), rng.uniform(0.5, 1.5, 6)
    t1, t2 = rng.normal(size=6), rng.normal(size=6)
    y, (y1, y2) = xf.jet(lambda x: xf.vmap(three)(i, x, w), (x,), ((t1, t2),))
    for b in range(6):
        yb, (yb1, yb2) = xf.jet(lambda x: three(i[b], x, w[b]), (x[b],), ((t1[b], t2[b]),))
        np.testing.assert_allclose([y[b], y1[b], y2[b]], [yb, yb1, yb2], rtol=1e-12)
    # Unbatched operand series, and the Laplacian through a nested vmap.
    _, (s1,) = xf.jet(lambda w0: xf.vmap(three, in_axes=(0, 0, None))(i, x, w0), (0.7,),
                      ((1.0,),))
    np.testing.assert_allclose(s1, xf.jacfwd(lambda w0: xf.vmap(
        three, in_axes=(0, 0, None))(i, x, w0))(0.7), rtol=1e-12)
    # The pattern: diagonal, for a batched index from the input or known.
    dense = xf.jacfwd(lambda x: xf.vmap(three)(i, x, w))(x) != 0
    got = xf.sparsity(lambda x: xf.vmap(three)(i, x, w))(x).toarray()
    np.testing.assert_array_equal(got, dense)
    got = xf.sparsity(lambda x: xf.vmap(safe_sqrt)(x))(x).toarray()
    np.testing.assert_array_equal(got, np.eye(6, dtype=bool))
    # A branch that ignores the input gives no dependence where it is known to be taken.
    pick = xf.sparsity(lambda x: xf.vmap(lambda i, x: lax.switch(
        i, [lambda x: x * 0.0 + 1.0, lambda x: x], x))(np.array([0, 1, 0, 1, 1, 0]), x))(x)
    np.testing.assert_array_equal(pick.toarray(), np.diag([0, 1, 0, 1, 1, 0]).astype(bool))
    flops = xf.count_flops(xf.vmap(three))(i, x, w)
    assert flops.total > 0
    # Through a summed output (the gradient in a shared weight): the series of the gradient,
    # and the Hessian's pattern.
    _, (s1,) = xf.jet(lambda w0: xf.grad(three_sum, 2)(i, x, w0), (0.7,), ((1.0,),))
    np.testing.assert_allclose(s1, xf.hessian(three_sum, 2)(i, x, 0.7), rtol=1e-12)
    c = np.array([0.3, -0.2, 0.5])
    xs = x[:, None] * np.array([1.0, -1.0, 0.5])

    def loss(c):
        return xnp.sum(xf.vmap(two_outputs, in_axes=(0, None))(xs, c)[0] ** 2)
    np.testing.assert_array_equal(xf.hessian_sparsity(loss)(c).toarray(),
                                  xf.hessian(loss)(c) != 0)


def _program(ops):
    """One compiled program for the cases above (each Numba compile costs seconds)."""
    x, xs, c, i, w = ops["x"], ops["xs"], ops["c"], ops["i"], ops["w"]
    out = {"sqrt": xf.vmap(safe_sqrt)(x),
           "sqrt grad": xf.grad(lambda x: xnp.sum(xf.vmap(safe_sqrt)(x)))(x),
           "two": xf.vmap(two_outputs, in_axes=(0, None))(xs, c),
           "three": xf.vmap(three)(i, x, w),
           "three grad": xf.grad(lambda x, w0: xnp.sum(
               xf.vmap(three, in_axes=(0, 0, None))(i, x, w0)), (0, 1))(x, ops["w0"]),
           "nested": xf.vmap(xf.vmap(three, in_axes=(0, 0, None)))(
               xnp.stack([i, i[::-1]]), xnp.stack([x, -x]), xnp.stack([w[:2], w[2:4]])[:, 0]),
           "float32": xf.vmap(three)(i, x.astype(np.float32), w.astype(np.float32)),
           "noisy": xf.vmap(noisy)(x),
           "two grad": xf.grad(lambda xs, c: xnp.sum(xf.vmap(two_outputs, in_axes=(0, None))(
               xs, c)[0] ** 2), (0, 1))(xs, c)}
    return out


def test_the_compiled_program_agrees_with_the_interpreter_and_the_loop():
    ops = operands(np.random.default_rng(5))
    ops["x"] = np.where(np.abs(ops["x"]) < 0.1, 0.5, ops["x"])
    SEEN.clear()
    numba_backend._warned.clear()  # each warning is given once per process
    with warnings.catch_warnings():  # a fallback to the interpreter fails
        warnings.filterwarnings("error", ".*runs in the interpreter", RuntimeWarning)
        got = xf.jit(_program)(ops)
    # Compiled, the callback runs once per example that takes its branch, in order.
    np.testing.assert_array_equal(np.array(SEEN, float), ops["x"][ops["x"] > 0])
    want = xf.jit(_program, backend="interpreter")(ops)
    assert_tree_close(got, want, rtol=1e-13)
    assert got["float32"].dtype == np.float32
    x, xs, c, i, w = ops["x"], ops["xs"], ops["c"], ops["i"], ops["w"]
    assert_tree_close(got["sqrt"], loop(safe_sqrt, x))
    assert_tree_close(got["two"], loop(two_outputs, xs, c, in_axes=(0, None)))
    assert_tree_close(got["three"], loop(three, i, x, w))
    # The NaN case, compiled: no NaN where x < 0.
    assert (x < 0).any()
    np.testing.assert_allclose(got["sqrt grad"], np.where(x > 0, 0.5 / np.sqrt(np.abs(x)), 0.0))
    np.testing.assert_allclose(got["float32"], loop(three, i, x, w), rtol=1e-5)


def test_bad_operands_say_what_is_wrong():
    bind = registry["batched_cond"].bind
    (eqn,) = [e for e in xf.make_ir(xf.vmap(safe_sqrt))(np.ones(3)).eqns
              if e.prim.name == "batched_cond"]
    with pytest.raises(TypeError, match="leading axis of size 3"):
        xf.make_ir(lambda i, x: bind(i, x, **eqn.params))(np.zeros(3, np.int32), np.ones(4))
    with pytest.raises(TypeError, match="1-d integer branch index"):
        xf.make_ir(lambda i, x: bind(i, x, **eqn.params))(np.zeros(3), np.ones(3))


@settings(max_examples=15)
@given(st.lists(st.tuples(st.integers(-3, 5), st.floats(-3, 3)), min_size=1, max_size=40))
def test_any_split_of_the_batch_matches_the_loop(examples):
    i = np.array([e[0] for e in examples])
    x = np.array([e[1] for e in examples])
    assert_tree_close(xf.vmap(three, in_axes=(0, 0, None))(i, x, 0.5),
                      loop(three, i, x, 0.5, in_axes=(0, 0, None)))


@pytest.mark.peers
def test_values_and_gradients_match_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jax.config.update("jax_enable_x64", True)
    branches = [lambda x, w: jnp.exp(x * w), lambda x, w: jnp.tanh(x) + w,
                lambda x, w: x ** 3 * w]

    def jax_three(i, x, w):
        return jax.lax.switch(i, branches, x, w)
    ops = operands(np.random.default_rng(6))
    i, x, w = ops["i"], ops["x"], ops["w"]
    np.testing.assert_allclose(xf.vmap(three)(i, x, w), jax.vmap(jax_three)(i, x, w),
                               rtol=1e-13)
    np.testing.assert_allclose(
        xf.grad(lambda x, w: xnp.sum(xf.vmap(three)(i, x, w)), (0, 1))(x, w),
        jax.grad(lambda x, w: jnp.sum(jax.vmap(jax_three)(i, x, w)), (0, 1))(x, w), rtol=1e-13)
