"""xform.lax's operations besides control flow (xform/lax_ops): values against numpy and
closed forms, lax's strict operand rules, dynamic slicing with traced and clamped starts,
reductions with any computation, scans, sorting; derivatives with check_grads, vmap against
Python loops, and one Numba program against the interpreter. JAX itself is compared in a
test marked `peers`."""
from __future__ import annotations

import doctest
import importlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.backends import numba as numba_backend
from xform.core import eval_ir
from xform.test_util import check_grads

FLOATS = (np.float32, np.float64)
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_same(got, want):
    """One shape, one dtype, values within the dtype's tolerance (NaN where NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert (got.shape, got.dtype) == (want.shape, want.dtype), (got, want)
    tol = TOL.get(want.dtype, 0)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def traced(f, *args):
    """f(*args) traced by make_ir and run by the interpreter (every input traced)."""
    ir = xf.make_ir(f)(*args)
    out = eval_ir(ir, list(xf.tree.leaves(list(args))))
    return out[0] if len(out) == 1 else out


def both_ways(f, *args):
    """f on concrete arguments and traced: the two must agree; returns the concrete result."""
    eager = f(*args)
    for a, b in zip(xf.tree.leaves(eager), xf.tree.leaves(traced(f, *args))):
        assert_same(b, a)
    return eager


def run_numba(f, *args):
    """jit(f) with the Numba backend; a fallback to the interpreter fails."""
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return xf.jit(f)(*args)


# ----------------------------------------------------------------------------- elementwise

UNARY = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan,
         "tanh": np.tanh, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "abs": np.abs,
         "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "neg": np.negative,
         "expm1": np.expm1, "log1p": np.log1p, "cbrt": np.cbrt, "exp2": np.exp2,
         "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
         "cosh": np.cosh, "asinh": np.arcsinh, "atanh": np.arctanh,
         "logistic": lambda x: 1 / (1 + np.exp(-x)), "is_finite": np.isfinite,
         "square": np.square, "reciprocal": np.reciprocal}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "max": np.maximum, "min": np.minimum, "pow": np.power, "atan2": np.arctan2,
          "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
          "gt": np.greater, "ge": np.greater_equal, "rem": np.fmod}


@pytest.mark.parametrize("dtype", FLOATS)
def test_elementwise_values_and_dtypes(dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, (2, 3)).astype(dtype)
    y = rng.uniform(0.1, 0.9, (2, 3)).astype(dtype)
    for name, ref in UNARY.items():
        assert_same(both_ways(getattr(lax, name), x), ref(x))
    for name, ref in BINARY.items():
        assert_same(both_ways(getattr(lax, name), x, y), ref(x, y))
    assert_same(lax.acosh(x + 1), np.arccosh(x + 1))
    assert_same(lax.erf(x), np.vectorize(__import__("math").erf)(x).astype(dtype))
    assert_same(lax.lgamma(x), np.vectorize(__import__("math").lgamma)(x).astype(dtype))
    assert_same(lax.integer_pow(x, -3), (1 / x ** 3).astype(dtype))
    assert_same(lax.erfc(x), 1 - lax.erf(x))


def test_integer_division_and_remainder_follow_c():
    x = np.array([-7, 7, -7, 7, 6, -6, 0])
    y = np.array([2, 2, -2, -2, 3, 3, 5])
    assert_same(both_ways(lax.div, x, y), np.trunc(x / y).astype(np.int64))
    assert_same(both_ways(lax.rem, x, y), np.fmod(x, y))
    xf_, yf = x.astype(float) + 0.5, y.astype(float)
    assert_same(both_ways(lax.rem, xf_, yf), np.fmod(xf_, yf))


def test_round_ties_away_from_zero_or_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, 3.2])
    assert_same(both_ways(lax.round, x), np.array([1.0, 2.0, 3.0, -1.0, -3.0, 0.0, 3.0]))
    even = both_ways(lambda v: lax.round(v, lax.RoundingMethod.TO_NEAREST_EVEN), x)
    assert_same(even, np.round(x))


def test_select_clamp_and_booleans():
    p = np.array([True, False, True])
    a, b = np.arange(3.0), -np.arange(3.0)
    assert_same(both_ways(lax.select, p, a, b), np.where(p, a, b))
    assert_same(both_ways(lambda a, b: lax.select(True, a, b), a, b), a)
    which = np.array([2, 0, 1])
    assert_same(both_ways(lambda w, a, b: lax.select_n(w, a, b, a * 10), which, a, b),
                np.choose(which, [a, b, a * 10]))
    x = np.array([-1.0, 0.5, 2.0, np.nan])
    assert_same(both_ways(lambda x: lax.clamp(0.0, x, 1.0), x), np.clip(x, 0.0, 1.0))
    assert_same(both_ways(lambda x: lax.clamp(np.zeros(4), x, np.ones(4)), x),
                np.clip(x, 0.0, 1.0))
    q = np.array([True, True, False])
    assert_same(lax.bitwise_and(p, q), p & q)
    assert_same(lax.bitwise_or(p, q), p | q)
    assert_same(lax.bitwise_xor(p, q), p ^ q)
    assert_same(lax.bitwise_not(p), ~p)


def test_strict_operand_rules():
    f32, f64 = np.ones(3, np.float32), np.ones(3)
    assert lax.add(f32, 1.0).dtype == np.float32  # Python scalars are weak
    assert lax.mul(np.arange(3), 2).dtype == np.int64
    assert lax.add(f64, np.ones(())).shape == (3,)  # 0-d arrays stand beside any shape
    for bad in (lambda: lax.add(f32, f64), lambda: lax.add(np.ones(3), np.ones(2)),
                lambda: lax.add(np.arange(3), 1.5), lambda: lax.exp(np.arange(3)),
                lambda: lax.eq(np.ones(3), True), lambda: lax.bitwise_and(np.arange(2), 1),
                lambda: lax.select(np.ones(3), f64, f64)):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(TypeError, match="lax.add requires arguments of one dtype"):
        xf.jit(lambda a, b: lax.add(a, b))(f32, f64)


# ----------------------------------------------------------------------------- structural

def test_structural_operations_against_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    assert_same(both_ways(lambda x: lax.broadcast_in_dim(x[0, 0], (2, 4), (1,)), x),
                np.broadcast_to(x[0, 0], (2, 4)))
    assert_same(both_ways(lambda x: lax.broadcast(x[0], (5,)), x), np.broadcast_to(x[0], (5, 3, 4)))
    assert_same(both_ways(lambda x: lax.reshape(x, (4, 6), (2, 0, 1)), x),
                np.transpose(x, (2, 0, 1)).reshape(4, 6))
    assert_same(both_ways(lambda x: lax.transpose(x, (1, 2, 0)), x), x.transpose(1, 2, 0))
    assert_same(both_ways(lambda x: lax.rev(x, (0, 2)), x), x[::-1, :, ::-1])
    assert_same(both_ways(lambda x: lax.slice(x, (0, 1, 0), (2, 3, 4), (1, 1, 3)), x),
                x[:, 1:3, ::3])
    assert_same(both_ways(lambda x: lax.slice_in_dim(x, -2, None, axis=2), x), x[:, :, -2:])
    assert_same(both_ways(lambda x: lax.index_in_dim(x, -1, 1, keepdims=False), x), x[:, -1])
    assert_same(both_ways(lambda x: lax.concatenate([x, x[:1]], 0), x), np.concatenate([x, x[:1]]))
    assert_same(both_ways(lambda x: lax.squeeze(x[:1], (0,)), x), x[0])
    assert_same(both_ways(lambda x: lax.expand_dims(x, (0, 4)), x), x[None, ..., None])
    assert_same(both_ways(lambda x: lax.collapse(x, 1), x), x.reshape(2, 12))
    assert_same(both_ways(lambda x: lax.convert_element_type(x - 11.5, np.int32), x),
                (x - 11.5).astype(np.int32))
    assert_same(lax.iota(np.float32, 3), np.arange(3, dtype=np.float32))
    assert_same(lax.broadcasted_iota(np.int32, (2, 3), 0), np.array([[0] * 3, [1] * 3], np.int32))
    assert_same(both_ways(lambda x: lax.full((2,), x[0, 0, 1], np.float32), x),
                np.ones(2, np.float32))
    assert_same(lax.full_like(np.zeros(2, np.float32), 3), np.full(2, 3, np.float32))
    a, b = x[0], x[1].T
    assert_same(both_ways(lambda a, b: lax.dot(a, b), a, b), a @ b)
    assert_same(both_ways(lambda x: lax.batch_matmul(x, x.transpose(0, 2, 1)), x),
                x @ x.transpose(0, 2, 1))
    assert_same(both_ways(lambda x: lax.dot_general(x, x, (((2,), (2,)), ((0,), (0,)))), x),
                np.einsum("bij,bkj->bik", x, x))


def test_pad_crops_and_interleaves():
    x = np.arange(1.0, 5.0)
    # low -1 drops the first element, interior 1 puts a zero between neighbours.
    assert_same(both_ways(lambda x: lax.pad(x, 0.0, [(-1, 2, 1)]), x),
                np.array([0.0, 2.0, 0.0, 3.0, 0.0, 4.0, 0.0, 0.0]))
    m = np.arange(6.0).reshape(2, 3)
    out = both_ways(lambda m: lax.pad(m, -1.0, [(1, 0, 0), (0, -1, 1)]), m)
    assert_same(out, np.array([[-1.0, -1.0, -1.0, -1.0], [0.0, -1.0, 1.0, -1.0],
                               [3.0, -1.0, 4.0, -1.0]]))
    with pytest.raises(TypeError, match="one .low, high, interior. triple"):
        lax.pad(x, 0.0, [(1, 1)])


# ----------------------------------------------------------------------------- dynamic slicing

def reference_window(shape, starts, sizes):
    """JAX's rule: negative starts count from the end, then are clamped to fit the window."""
    out = []
    for i, n, s in zip(starts, shape, sizes):
        i = i + n if i < 0 else i
        out.append(min(max(i, 0), n - s))
    return out


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_dynamic_slice_and_update_clamp_like_jax(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    sizes = tuple(data.draw(st.integers(0, n)) for n in shape)
    starts = tuple(data.draw(st.integers(-6, 6)) for _ in shape)
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    lo = reference_window(shape, starts, sizes)
    window = tuple(slice(a, a + s) for a, s in zip(lo, sizes))
    idx = np.array(starts)
    assert_same(lax.dynamic_slice(x, starts, sizes), x[window])
    assert_same(traced(lambda x, i: lax.dynamic_slice(x, i, sizes), x, idx), x[window])
    assert_same(traced(lambda x, *i: lax.dynamic_slice(x, i, sizes), x, *idx), x[window])
    u = -np.ones(sizes)
    want = x.copy()
    want[window] = u
    assert_same(lax.dynamic_update_slice(x, u, starts), want)
    assert_same(traced(lambda x, u, i: lax.dynamic_update_slice(x, u, i), x, u, idx), want)


def test_dynamic_in_dim_forms():
    x = np.arange(12.0).reshape(3, 4)
    assert_same(traced(lambda x, i: lax.dynamic_slice_in_dim(x, i, 2, axis=1), x, 3), x[:, 2:])
    assert_same(traced(lambda x, i: lax.dynamic_index_in_dim(x, i, 0, False), x, -1), x[-1])
    assert_same(traced(lambda x, i: lax.dynamic_index_in_dim(x, i, 1), x, 1), x[:, 1:2])
    want = x.copy()
    want[1] = 0.0
    assert_same(traced(lambda x, i: lax.dynamic_update_index_in_dim(x, np.zeros(4), i, 0),
                       x, 1), want)
    want = x.copy()
    want[:, 1:3] = 7.0
    assert_same(traced(lambda x, i: lax.dynamic_update_slice_in_dim(x, np.full((3, 2), 7.0),
                                                                     i, 1), x, 1), want)


def test_dynamic_slicing_derivatives_and_batches():
    rng = np.random.default_rng(1)
    x, u = rng.standard_normal((5, 4)), rng.standard_normal((2, 3))

    def f(x, u, i):
        window = lax.dynamic_slice(x, (i, 1), (2, 3))
        return xnp.sin(lax.dynamic_update_slice(x, u * window, (i - 1, i)))
    for i in (0, 2, 7, -1):
        check_grads(lambda x, u: f(x, u, i), (x, u), order=2)
    starts = np.array([0, 3, -2, 9])
    got = xf.vmap(f, in_axes=(None, None, 0))(x, u, starts)
    assert_same(got, np.stack([f(x, u, int(i)) for i in starts]))
    xs = rng.standard_normal((4, 5, 4))
    got = xf.vmap(f, in_axes=(0, None, 0))(xs, u, starts)
    assert_same(got, np.stack([f(a, u, int(i)) for a, i in zip(xs, starts)]))


# ----------------------------------------------------------------------------- reductions, scans

def test_reduce_with_named_and_other_computations():
    x = np.random.default_rng(2).standard_normal((3, 4, 5))
    assert_same(both_ways(lambda x: lax.reduce(x, 0.0, lax.add, (0, 2)), x), x.sum((0, 2)))
    assert_same(both_ways(lambda x: lax.reduce(x, -np.inf, lax.max, (1,)), x), x.max(1))
    assert_same(both_ways(lambda x: lax.reduce(x, 2.0, xnp.multiply, (2,)), x),
                2.0 * x.prod(2))
    # A computation reduce does not know is applied pairwise: logaddexp gives logsumexp.
    assert_same(both_ways(lambda x: lax.reduce(x, -np.inf, xnp.logaddexp, (0, 1)), x),
                np.log(np.exp(x).sum((0, 1))))
    # Several operands: the index of the maximum along with it.
    idx = np.broadcast_to(np.arange(4), (3, 4))

    def argmax_pair(a, b):
        take_a = a[0] >= b[0]
        return xnp.where(take_a, a[0], b[0]), xnp.where(take_a, a[1], b[1])
    val, arg = lax.reduce((x[..., 0], idx), (-np.inf, 0), argmax_pair, (1,))
    assert_same(val, x[..., 0].max(1))
    assert_same(arg, x[..., 0].argmax(1))
    assert_same(lax.reduce(x[:, :0], 3.0, lax.add, (1,)), np.full((3, 5), 3.0))
    assert_same(lax.reduce_sum(x, (1,)), x.sum(1))
    assert_same(lax.reduce_and(x > 0, (0,)), (x > 0).all(0))
    assert_same(lax.reduce_or(x > 0, (0,)), (x > 0).any(0))
    assert_same(lax.argmax(x, 1, np.int32), x.argmax(1).astype(np.int32))


@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative_operations(reverse):
    x = np.random.default_rng(3).standard_normal((4, 5))

    def acc(ufunc, x, axis):
        if reverse:
            return np.flip(ufunc.accumulate(np.flip(x, axis), axis), axis)
        return ufunc.accumulate(x, axis)
    for axis in (0, 1):
        assert_same(both_ways(lambda x: lax.cumsum(x, axis, reverse), x), acc(np.add, x, axis))
        assert_same(both_ways(lambda x: lax.cumprod(x, axis, reverse), x),
                    acc(np.multiply, x, axis))
        assert_same(both_ways(lambda x: lax.cummax(x, axis, reverse), x),
                    acc(np.maximum, x, axis))
        assert_same(both_ways(lambda x: lax.cummin(x, axis, reverse), x),
                    acc(np.minimum, x, axis))
        assert_same(both_ways(lambda x: lax.cumlogsumexp(x, axis, reverse), x),
                    acc(np.logaddexp, x, axis))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 17), reverse=st.booleans())
def test_associative_scan_of_a_non_commutative_operation(n, reverse):
    """Composition of affine maps t -> a t + b (associative, not commutative) over a pytree,
    against the sequential loop."""
    rng = np.random.default_rng(n)
    a, b = rng.uniform(0.5, 1.5, (n, 2)), rng.standard_normal((n, 2))

    def compose(f, g):  # g after f
        return {"a": g["a"] * f["a"], "b": g["a"] * f["b"] + g["b"]}
    out = lax.associative_scan(compose, {"a": a, "b": b}, reverse=reverse)
    want_a, want_b = np.ones((n, 2)), np.zeros((n, 2))
    order = range(n - 1, -1, -1) if reverse else range(n)
    acc_a, acc_b = np.ones(2), np.zeros(2)
    for i in order:  # reversed, the combination of the later elements comes first, as in JAX
        acc_a, acc_b = a[i] * acc_a, a[i] * acc_b + b[i]
        want_a[i], want_b[i] = acc_a, acc_b
    assert_same(out["a"], want_a)
    assert_same(out["b"], want_b)
    assert_same(lax.associative_scan(lax.add, b, axis=1), np.cumsum(b, 1))


# ----------------------------------------------------------------------------- sorting

def test_sort_by_keys_and_top_k():
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 3, (2, 6))
    second = rng.standard_normal((2, 6))
    vals = np.arange(12.0).reshape(2, 6)
    k, s, v = both_ways(lambda k, s, v: lax.sort((k, s, v), num_keys=2), keys, second, vals)
    order = np.stack([np.lexsort((second[r], keys[r])) for r in range(2)])
    assert_same(v, np.take_along_axis(vals, order, 1))
    assert_same(k, np.sort(keys, 1))
    x = np.array([[1.0, np.nan, -0.0, 0.0, -np.inf]])
    assert_same(both_ways(lambda x: lax.sort(x, 0), x), x)
    assert_same(lax.sort(x), np.sort(x))
    assert_same(lax.sort_key_val(keys[0], vals[0])[1],
                vals[0][np.argsort(keys[0], kind="stable")])
    y = np.array([[1.0, 3.0, 3.0, 2.0, np.nan], [0.0, -1.0, 4.0, 4.0, 4.0]])
    values, indices = both_ways(lambda y: lax.top_k(y, 3), y)
    assert_same(values, np.array([[np.nan, 3.0, 3.0], [4.0, 4.0, 4.0]]))
    assert_same(indices, np.array([[4, 1, 2], [2, 3, 4]], np.int32))
    values, indices = lax.top_k(y.T, 2, axis=0)
    assert_same(indices, np.array([[4, 2], [1, 3]], np.int32))


def test_sorting_derivatives_and_batches():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))

    def f(x, w):
        s, t = lax.sort((x, w * x), dimension=1)
        top, _ = lax.top_k(x, 2)
        return s * t + lax.cummax(xnp.sin(x), 1) + top.sum(1, keepdims=True)
    check_grads(f, (x, w), order=2)
    got = xf.vmap(f, in_axes=(0, None))(np.stack([x, -x]), w)
    assert_same(got, np.stack([f(x, w), f(-x, w)]))


# ----------------------------------------------------------------------------- map, misc

def test_map_with_and_without_batches():
    xs = {"a": np.arange(7.0), "b": np.arange(14.0).reshape(7, 2)}

    def f(d):
        return d["a"] * d["b"].sum(), xnp.sin(d["b"])
    want = [np.stack([f({"a": xs["a"][i], "b": xs["b"][i]})[k] for i in range(7)])
            for k in range(2)]
    for batch_size in (None, 1, 3, 7, 10):
        got = lax.map(f, xs, batch_size=batch_size)
        for g, w in zip(got, want):
            assert_same(g, w)
    check_grads(lambda x: lax.map(lambda v: v ** 2 * x[0], x, batch_size=2), (xs["a"],),
                order=2)


def test_stop_gradient_on_pytrees():
    def f(x):
        s = lax.stop_gradient({"v": x})
        return (x * s["v"]).sum()
    assert_same(xf.grad(f)(np.arange(3.0)), np.arange(3.0))


def test_derivatives_of_elementwise_and_structural_operations():
    rng = np.random.default_rng(6)
    x, y = rng.uniform(0.5, 1.5, (3, 4)), rng.uniform(0.5, 1.5, (3, 4))

    def f(x, y):
        z = lax.add(lax.mul(lax.exp(x), y), lax.div(lax.sin(y), x))
        z = lax.rem(lax.pow(z, y), 2.0) + lax.atan2(x, y) + lax.clamp(0.7, x, 1.2)
        z = lax.pad(z, 0.5, [(1, -1, 1), (0, 2, 0)])
        return lax.reduce(lax.transpose(z, (1, 0)), 0.0, lax.add, (1,)) * \
            lax.reduce(z, 1.0, lambda a, b: a * b, (0,))
    check_grads(f, (x, y), order=2)


# ----------------------------------------------------------------------------- numba

def test_numba_program_agrees_with_the_interpreter():
    """The composites (their primitives' lowerings, sort's too, are tested one by one in
    tests/test_numba_lowerings.py)."""
    rng = np.random.default_rng(7)
    x, u = rng.standard_normal((5, 4)), rng.standard_normal((2, 4))

    def program(x, u, i):
        return {"dynamic_slice": lax.dynamic_slice(x, (i, 0), (2, 4)),
                "dynamic_update": lax.dynamic_update_slice(x, u, (i - 3, 0)),
                "cummax": lax.cummax(x, 1, reverse=True),
                "reduce": lax.reduce(x, 1.0, lambda a, b: a * b + 0.5, (0,)),
                "grad": xf.grad(lambda x: lax.dynamic_slice(xnp.sin(x), (i, i), (2, 2)).sum())(x)}
    got = run_numba(program, x, u, 3)
    want = xf.jit(program, backend="interpreter")(x, u, 3)
    for g, w in zip(xf.tree.leaves(got), xf.tree.leaves(want)):
        assert_same(g, w)


# ----------------------------------------------------------------------------- peers

@pytest.mark.peers
def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax as jlax
    rng = np.random.default_rng(8)
    x, u = rng.standard_normal((5, 4)), rng.standard_normal((2, 3))
    ints, other = rng.integers(-9, 9, 6), rng.integers(1, 5, 6)
    cases = [
        lambda L: L.dynamic_slice(x, (3, -2), (3, 2)),
        lambda L: L.dynamic_update_slice(x, u, (-1, 7)),
        lambda L: L.dynamic_index_in_dim(x, -7, 1, False),
        lambda L: L.top_k(x, 3),
        lambda L: L.sort((np.round(x), x), num_keys=2, dimension=0),
        lambda L: L.cummax(x, 1, True), lambda L: L.cumlogsumexp(x, 0),
        lambda L: L.div(ints, other), lambda L: L.rem(ints, -other),
        lambda L: L.round(x * 2.5), lambda L: L.pad(x, 1.0, [(-1, 2, 1), (2, -2, 0)]),
        lambda L: L.associative_scan(L.add, x, axis=1, reverse=True),
        lambda L: L.reduce(x, -np.inf, L.max, (0,)), lambda L: L.clamp(-0.5, x, 0.5),
        lambda L: L.select_n(ints % 3, ints, -ints, 2 * ints),
    ]
    for case in cases:
        for g, w in zip(xf.tree.leaves(case(lax)), jax.tree.leaves(case(jlax))):
            assert_same(g, np.asarray(w))


@pytest.mark.parametrize("name", ["elementwise", "structural", "slicing", "reductions",
                                  "sorting"])
def test_docstring_examples(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        failures, attempted = doctest.testmod(importlib.import_module(f"xform.lax_ops.{name}"))
    assert attempted and not failures
