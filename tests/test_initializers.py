"""xform.nn.initializers: JAX's fans and scales, checked statistically with fixed keys; JAX's
values for the same key (uniform ones bit for bit); dtypes; under jit."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.stats as st

import xform as xf
from xform import random
from xform.nn import initializers as init

KEY = random.PRNGKey(0)

# (builder, variance as a function of (fan_in, fan_out), distribution)
SCALED = {
    "glorot_uniform": (lambda i, o: 2 / (i + o), "uniform"),
    "glorot_normal": (lambda i, o: 2 / (i + o), "truncated_normal"),
    "he_uniform": (lambda i, o: 2 / i, "uniform"),
    "he_normal": (lambda i, o: 2 / i, "truncated_normal"),
    "lecun_uniform": (lambda i, o: 1 / i, "uniform"),
    "lecun_normal": (lambda i, o: 1 / i, "truncated_normal"),
}


@pytest.mark.parametrize("name", sorted(SCALED))
def test_variance_scaling_builders(name):
    variance, distribution = SCALED[name]
    # a conv kernel (3, 3, in=40, out=60): receptive field 9
    w = getattr(init, name)()(KEY, (3, 3, 40, 60))
    assert w.shape == (3, 3, 40, 60) and w.dtype == np.float64
    want = variance(9 * 40, 9 * 60)
    assert abs(w.var() / want - 1) < 0.05 and abs(w.mean()) < 0.01 * np.sqrt(want)
    bound = np.sqrt(3 * want) if distribution == "uniform" else 2 * np.sqrt(want) / 0.8796
    assert np.abs(w).max() <= bound
    if distribution == "uniform":
        assert st.kstest(w.ravel(), "uniform", (-bound, 2 * bound)).pvalue > 1e-3
    else:
        assert st.kstest(w.ravel(), "truncnorm", (-2, 2, 0, bound / 2)).pvalue > 1e-3
    assert getattr(init, name)()(KEY, (5, 4), np.float32).dtype == np.float32


def test_aliases_fans_and_modes():
    assert init.xavier_uniform is init.glorot_uniform and init.kaiming_normal is init.he_normal
    assert init.xavier_normal is init.glorot_normal and init.kaiming_uniform is init.he_uniform
    assert init.compute_fans((3, 3, 40, 60)) == (360, 540)
    assert init.compute_fans((4, 6, 5), in_axis=0, out_axis=2, batch_axis=1) == (4, 5)
    assert init.compute_fans((2, 3, 4, 5), in_axis=(0, 1), out_axis=-1) == (24, 20)
    for mode, n in [("fan_in", 200), ("fan_out", 300), ("fan_avg", 250),
                    ("fan_geo_avg", np.sqrt(200 * 300))]:
        w = init.variance_scaling(3.0, mode, "normal")(KEY, (200, 300))
        assert abs(w.var() * n / 3.0 - 1) < 0.03
    w = init.he_normal(in_axis=0, out_axis=1)(KEY, (500, 7))
    assert abs(w.var() * 500 / 2 - 1) < 0.1
    with pytest.raises(ValueError, match="in_axis"):
        init.glorot_uniform()(KEY, (5,))
    with pytest.raises(ValueError, match="mode"):
        init.variance_scaling(1.0, "fan_bad", "normal")


def test_simple_initializers():
    assert init.zeros(KEY, (2, 3)).tolist() == [[0.0] * 3] * 2
    assert init.ones(KEY, (2,), np.float32).dtype == np.float32
    assert init.constant(-1.5)(KEY, (2,)).tolist() == [-1.5, -1.5]
    u = init.uniform(2.0)(KEY, (20000,))
    assert u.min() >= 0 and u.max() < 2 and abs(u.mean() - 1) < 0.02
    n = init.normal(0.5)(KEY, (20000,))
    assert st.kstest(n, "norm", (0, 0.5)).pvalue > 1e-3
    t = init.truncated_normal(0.5)(KEY, (20000,))
    assert np.abs(t).max() < 1.0
    assert st.kstest(t, "truncnorm", (-2, 2, 0, 0.5)).pvalue > 1e-3


def test_orthogonal():
    w = init.orthogonal()(KEY, (6, 4))
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-12)
    w = init.orthogonal(scale=2.0)(KEY, (3, 5))
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(3), atol=1e-12)
    w = init.orthogonal(column_axis=0)(KEY, (4, 2, 3))
    flat = np.moveaxis(w, 0, -1).reshape(6, 4)
    np.testing.assert_allclose(flat.T @ flat, np.eye(4), atol=1e-12)
    assert init.orthogonal()(KEY, (0, 3)).shape == (0, 3)


def test_under_jit():
    f = xf.jit(lambda k: (init.glorot_uniform()(k, (3, 4)), init.he_normal()(k, (4, 2))))
    got, want = f(KEY), (init.glorot_uniform()(KEY, (3, 4)), init.he_normal()(KEY, (4, 2)))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


@pytest.mark.peers
def test_same_values_as_jax():
    jax = pytest.importorskip("jax")
    jk = jax.random.PRNGKey(0)
    for name in ("glorot_uniform", "he_uniform", "lecun_uniform"):
        want = np.asarray(getattr(jax.nn.initializers, name)()(jk, (6, 5, 3), np.float32))
        np.testing.assert_array_equal(getattr(init, name)()(KEY, (6, 5, 3), np.float32), want)
    for name in ("glorot_normal", "he_normal", "orthogonal"):
        want = np.asarray(getattr(jax.nn.initializers, name)()(jk, (6, 5), np.float32))
        np.testing.assert_allclose(getattr(init, name)()(KEY, (6, 5), np.float32), want,
                                   rtol=1e-5, atol=1e-6)


def test_doctests():
    failures, _ = doctest.testmod(init, extraglobs={"random": random, "np": np})
    assert failures == 0
