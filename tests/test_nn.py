"""xform.nn: activations, softmax and friends against closed forms, their derivatives
(conventions at the kinks, finite differences to second order), dtypes, vmap, one compiled
program against the interpreter, and jax.nn (peers)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special as ss
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import nn
from xform.backends import numba as numba_backend
from xform.test_util import check_grads

ERF = np.vectorize(math.erf)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sigmoid(x):
    return ss.expit(x)


# name -> (xform function, closed form in float64 numpy)
ELEMENTWISE = {
    "relu": (nn.relu, lambda x: np.maximum(x, 0)),
    "relu6": (nn.relu6, lambda x: np.minimum(np.maximum(x, 0), 6)),
    "sigmoid": (nn.sigmoid, _sigmoid),
    "softplus": (nn.softplus, lambda x: np.logaddexp(x, 0)),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -np.logaddexp(-x, 0)),
    "soft_sign": (nn.soft_sign, lambda x: x / (np.abs(x) + 1)),
    "silu": (nn.silu, lambda x: x * _sigmoid(x)),
    "swish": (nn.swish, lambda x: x * _sigmoid(x)),
    "mish": (nn.mish, lambda x: x * np.tanh(np.logaddexp(x, 0))),
    "tanh": (nn.tanh, np.tanh),
    "hard_tanh": (nn.hard_tanh, lambda x: np.clip(x, -1, 1)),
    "hard_sigmoid": (nn.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "hard_silu": (nn.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "leaky_relu": (nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x)),
    "leaky_relu_0.2": (lambda x: nn.leaky_relu(x, 0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "elu": (nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "elu_2": (lambda x: nn.elu(x, 2.0), lambda x: np.where(x > 0, x, 2 * np.expm1(
        np.minimum(x, 0)))),
    "celu_0.5": (lambda x: nn.celu(x, 0.5), lambda x: np.maximum(x, 0) + 0.5 * np.expm1(
        np.minimum(x, 0) / 0.5)),
    "selu": (nn.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(
        np.minimum(x, 0)))),
    "gelu_tanh": (nn.gelu, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (
        x + 0.044715 * x ** 3)))),
    "gelu_exact": (lambda x: nn.gelu(x, approximate=False), lambda x: 0.5 * x * (
        1 + ERF(x / np.sqrt(2)))),
    "squareplus": (nn.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2),
    "identity": (nn.identity, lambda x: x),
}
NAMES = sorted(ELEMENTWISE)


def _points(dtype, n=64, seed=0):
    """Random values, values near the kinks (0, ±1, 6, -3, 3), and large ones."""
    rng = np.random.default_rng(seed)
    special = [0.0, -0.0, 1.0, -1.0, 6.0, -3.0, 3.0, 30.0, -30.0, 700.0, -700.0]
    return np.concatenate([rng.normal(0, 3, n), special]).astype(dtype)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_match_closed_forms_and_keep_the_dtype(name, dtype):
    fn, ref = ELEMENTWISE[name]
    x = _points(dtype)
    with np.errstate(over="ignore"):
        want = ref(x.astype(np.float64))
    got = fn(x)
    assert got.dtype == dtype and got.shape == x.shape
    # Rounding the argument to float32 moves the result by up to |x f'(x)| eps.
    tol = 1e-12 if dtype == np.float64 else 2e-6
    bad = np.abs(got - want) > tol * np.abs(want) + tol * (1 + np.abs(x))
    assert not bad.any(), (x[bad], got[bad], want[bad])


def test_no_overflow_at_large_arguments():
    x = np.array([-1000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(nn.softplus(x), [0.0, 1000.0])
        np.testing.assert_array_equal(nn.log_sigmoid(x), [-1000.0, 0.0])
        np.testing.assert_array_equal(nn.sigmoid(x), [0.0, 1.0])
        np.testing.assert_array_equal(nn.elu(x), [-1.0, 1000.0])
        np.testing.assert_array_equal(xf.grad(lambda v: nn.softplus(v).sum())(x), [0.0, 1.0])
        np.testing.assert_array_equal(xf.grad(lambda v: nn.log_sigmoid(v).sum())(x), [1.0, 0.0])
        assert np.all(np.isfinite(xf.grad(lambda v: nn.elu(v).sum())(x)))


# Derivatives where the function has a kink: JAX's conventions.
KINKS = [
    (nn.relu, 0.0, 0.0), (nn.relu6, 0.0, 0.0), (nn.relu6, 6.0, 0.0), (nn.relu6, 3.0, 1.0),
    (nn.hard_tanh, 1.0, 1.0), (nn.hard_tanh, -1.0, 1.0), (nn.hard_tanh, 2.0, 0.0),
    (nn.leaky_relu, 0.0, 1.0), (nn.elu, 0.0, 1.0), (lambda x: nn.celu(x, 2.0), 0.0, 1.0),
    (nn.hard_sigmoid, -3.0, 0.0), (nn.hard_sigmoid, 3.0, 0.0),
]


@pytest.mark.parametrize("k", range(len(KINKS)))
def test_derivatives_at_kinks_follow_jax(k):
    fn, x, want = KINKS[k]
    assert float(xf.grad(fn)(x)) == want
    assert float(xf.jvp(fn, (x,), (1.0,))[1]) == want


SMOOTH_AWAY_FROM_KINKS = [n for n in NAMES if n not in ("identity",)]


@pytest.mark.parametrize("name", SMOOTH_AWAY_FROM_KINKS)
def test_derivatives_match_finite_differences(name):
    fn = ELEMENTWISE[name][0]
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, 7)
    x = x[np.min(np.abs(x[:, None] - np.array([0.0, 1.0, -1.0, 6.0, -3.0, 3.0])), 1) > 0.05]
    check_grads(lambda v: fn(v), (x,), order=2)


def test_float32_derivatives_stay_float32():
    x = _points(np.float32)[:8]
    for name in NAMES:
        g = xf.grad(lambda v: xnp.sum(ELEMENTWISE[name][0](v)))(x)
        assert g.dtype == np.float32, name
    for fn in (nn.softmax, nn.log_softmax, nn.standardize, nn.logsumexp):
        assert xf.grad(lambda v: xnp.sum(fn(v) * np.arange(8, dtype=np.float32)))(x).dtype \
            == np.float32


def test_integer_inputs_give_float64_where_numpy_does():
    x = np.array([-2, 0, 3])
    assert nn.relu(x).dtype == x.dtype and nn.relu(x).tolist() == [0, 0, 3]
    assert nn.sigmoid(x).dtype == np.float64 and nn.softplus(x).dtype == np.float64


# ----------------------------------------------------------------------------- softmax family

def _ref_softmax(x, axis):
    e = np.exp(x - np.max(x, axis, keepdims=True))
    return e / np.sum(e, axis, keepdims=True)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 99),
       axis_pick=st.integers(0, 5))
def test_softmax_family_matches_closed_forms(shape, seed, axis_pick):
    x = np.random.default_rng(seed).normal(0, 3, shape)
    axes = [-1, 0, None, tuple(range(len(shape))), len(shape) - 1, (0,)]
    axis = axes[axis_pick]
    np.testing.assert_allclose(nn.softmax(x, axis), _ref_softmax(x, axis), rtol=1e-12)
    np.testing.assert_allclose(nn.log_softmax(x, axis), np.log(_ref_softmax(x, axis)),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn.logsumexp(x, axis), ss.logsumexp(x, axis), rtol=1e-12)


def test_softmax_derivatives():
    x = np.random.default_rng(2).normal(0, 2, (3, 4))
    w = np.random.default_rng(3).normal(0, 1, (3, 4))
    for axis in (-1, 0, None):
        check_grads(lambda v: nn.softmax(v, axis) * w, (x,), order=2)
        check_grads(lambda v: nn.log_softmax(v, axis) * w, (x,), order=2)
        check_grads(lambda v: nn.logsumexp(v, axis), (x,), order=2)
    # Softmax's custom rule: y * (t - sum(y t)) has no exp or division in it.
    ir = xf.make_ir(lambda v, t: xf.jvp(nn.softmax, (v,), (t,))[1], simplified=True)(x, w)
    assert "div" not in {e.prim.name for e in ir.eqns[-4:]}


def test_softmax_with_where_leaves_entries_out():
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    mask = np.array([[True, False, True], [True, True, False]])
    got = nn.softmax(x, where=mask)
    want = np.where(mask, np.exp(x) * mask, 0) / np.sum(np.exp(x) * mask, -1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(nn.log_softmax(x, where=mask)[mask], np.log(want[mask]))
    assert np.all(nn.log_softmax(x, where=mask)[~mask] == -np.inf)
    np.testing.assert_allclose(nn.logsumexp(x, -1, where=mask),
                               np.log(np.sum(np.exp(x) * mask, -1)))
    g = xf.grad(lambda v: xnp.sum(nn.softmax(v, where=mask) * x))(x)
    assert np.all(g[~mask] == 0)
    check_grads(lambda v: nn.softmax(v, where=mask) * x, (x,), order=1)


# ----------------------------------------------------------------------------- one_hot, standardize

def test_one_hot():
    x = np.array([[0, 2], [1, 5]])
    got = nn.one_hot(x, 3)
    assert got.shape == (2, 2, 3) and got.dtype == np.float64
    np.testing.assert_array_equal(got, np.eye(3)[np.clip(x, 0, 2)] * (x < 3)[..., None])
    first = nn.one_hot(x, 3, axis=0, dtype=np.float32)
    assert first.shape == (3, 2, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, np.moveaxis(got, -1, 0))
    assert nn.one_hot(np.array([1, 0]), 2, dtype=np.int32).tolist() == [[0, 1], [1, 0]]
    labels = np.array([2, 0, 1])
    batched = xf.vmap(lambda i: nn.one_hot(i, 4))(labels)
    np.testing.assert_array_equal(batched, np.eye(4)[labels])
    jitted = xf.jit(lambda i: nn.one_hot(i, 4), backend="interpreter")(labels)
    np.testing.assert_array_equal(jitted, np.eye(4)[labels])
    with pytest.raises(TypeError, match="num_classes"):
        nn.one_hot(labels, 2.5)


def test_standardize():
    x = np.random.default_rng(4).normal(2, 3, (4, 5))
    for algorithm in ("fast", "stable"):
        for axis in (-1, 0, (0, 1)):
            want = (x - x.mean(axis, keepdims=True)) / np.sqrt(x.var(axis, keepdims=True) + 1e-5)
            np.testing.assert_allclose(nn.standardize(x, axis, algorithm=algorithm), want,
                                       rtol=1e-9, atol=1e-9)
    mean, var = np.float64(1.0), np.float64(4.0)
    np.testing.assert_allclose(nn.standardize(x, mean=mean, variance=var, epsilon=0.0),
                               (x - 1) / 2)
    mask = np.random.default_rng(5).random((4, 5)) < 0.7
    mask[:, 0] = True
    got = nn.standardize(x, where=mask)
    for r in range(4):
        row = x[r][mask[r]]
        np.testing.assert_allclose(got[r][mask[r]], (row - row.mean())
                                   / np.sqrt(row.var() + 1e-5), rtol=1e-9)
    check_grads(lambda v: nn.standardize(v) * x, (x,), order=2)
    with pytest.raises(ValueError, match="algorithm"):
        nn.standardize(x, algorithm="two-pass")


def test_glu_and_nested_lists():
    x = np.random.default_rng(6).normal(size=(3, 4))
    np.testing.assert_allclose(nn.glu(x), x[:, :2] * _sigmoid(x[:, 2:]))
    np.testing.assert_allclose(nn.glu(x[:2], axis=0), x[:1] * _sigmoid(x[1:2]))
    with pytest.raises(ValueError, match="even"):
        nn.glu(x[:3], axis=0)
    # Every function takes nested lists of traced values, as xform.numpy's do.
    assert all(getattr(getattr(nn, n), "accepts_nested_tracers", False) for n in nn.__all__)
    g = xf.grad(lambda v: xnp.sum(nn.softmax([v, 2 * v, 1.0])))(0.3)
    assert abs(float(g)) < 1e-12


# ----------------------------------------------------------------------------- transformations

def test_vmap_matches_a_loop():
    x = np.random.default_rng(7).normal(0, 2, (3, 5))
    for fn in (nn.relu, nn.gelu, nn.softplus, nn.softmax, nn.log_softmax, nn.standardize,
               lambda v: nn.logsumexp(v, -1), lambda v: nn.one_hot(v > 0, 2)):
        np.testing.assert_allclose(xf.vmap(fn)(x), np.stack([fn(r) for r in x]), rtol=1e-12)
        np.testing.assert_allclose(xf.vmap(fn, in_axes=1, out_axes=-1)(x),
                                   np.stack([fn(c) for c in x.T], -1), rtol=1e-12)


COMPILED = ["relu", "elu", "gelu_tanh", "gelu_exact", "softplus", "log_sigmoid", "hard_tanh"]


def _nn_program(x, mask, names):
    out = {name: ELEMENTWISE[name][0](x) for name in names}
    return out | {"softmax_where": nn.softmax(x, where=mask), "log_softmax": nn.log_softmax(x, 0),
                  "standardize": nn.standardize(x), "one_hot": nn.one_hot(np.arange(3), 4),
                  "grad_softmax": xf.grad(lambda v: xnp.sum(nn.softmax(v) * v))(x)}


def _check_compiled(dtypes, names):
    rng = np.random.default_rng(8)
    args = {np.dtype(dt).name: (rng.normal(0, 3, (3, 4)).astype(dt), rng.random((3, 4)) < 0.8)
            for dt in dtypes}

    def program(a):
        return {k: _nn_program(*v, names) for k, v in a.items()}
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to the interpreter
        got = xf.jit(program)(args)
    want = xf.jit(program, backend="interpreter")(args)
    for dt in args:
        for k in want[dt]:
            g, w = np.asarray(got[dt][k]), np.asarray(want[dt][k])
            assert g.dtype == w.dtype and g.shape == w.shape, (dt, k)
            tol = 1e-12 if dt == "float64" else 1e-5
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"{dt} {k}")


def test_one_compiled_program_agrees_with_the_interpreter():
    # float32, where a silent upcast would show; the float64 sweep of every function is slow.
    _check_compiled([np.float32], COMPILED)


@pytest.mark.slow
def test_every_function_compiled_in_both_dtypes():
    _check_compiled([np.float64, np.float32], NAMES)


# ----------------------------------------------------------------------------- peers

@pytest.mark.peers
def test_against_jax_nn():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.nn as jnn
    import jax.numpy as jnp

    x = _points(np.float64)
    x = x[np.abs(x) < 100]
    pairs = {"relu": jnn.relu, "relu6": jnn.relu6, "sigmoid": jnn.sigmoid,
             "softplus": jnn.softplus, "log_sigmoid": jnn.log_sigmoid,
             "soft_sign": jnn.soft_sign, "silu": jnn.silu, "mish": jnn.mish,
             "hard_tanh": jnn.hard_tanh, "hard_sigmoid": jnn.hard_sigmoid,
             "hard_silu": jnn.hard_silu, "leaky_relu": jnn.leaky_relu, "elu": jnn.elu,
             "selu": jnn.selu, "gelu_tanh": jnn.gelu,
             "gelu_exact": lambda v: jnn.gelu(v, approximate=False),
             "celu_0.5": lambda v: jnn.celu(v, 0.5), "squareplus": jnn.squareplus}
    for name, jfn in pairs.items():
        fn = ELEMENTWISE[name][0]
        np.testing.assert_allclose(fn(x), jfn(jnp.asarray(x)), rtol=1e-12, atol=1e-12,
                                   err_msg=name)
        g = xf.grad(lambda v: xnp.sum(fn(v)))(x)
        jg = jax.grad(lambda v: jnp.sum(jfn(v)))(jnp.asarray(x))
        np.testing.assert_allclose(g, jg, rtol=1e-10, atol=1e-12, err_msg=name)
    m = np.random.default_rng(9).normal(0, 2, (3, 4))
    mask = m > -1
    for fn, jfn in [(nn.softmax, jnn.softmax), (nn.log_softmax, jnn.log_softmax),
                    (nn.standardize, jnn.standardize)]:
        np.testing.assert_allclose(fn(m), jfn(m), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fn(m, where=mask), jfn(m, where=mask), rtol=1e-10)
    np.testing.assert_allclose(nn.logsumexp(m, 1, where=mask),
                               jnn.logsumexp(m, 1, where=mask), rtol=1e-12)
    labels = np.array([0, 3, 1])
    np.testing.assert_array_equal(nn.one_hot(labels, 4, axis=0),
                                  jnn.one_hot(labels, 4, axis=0, dtype=jnp.float64))
