"""xform.random: JAX's values for the same key, the distributions, and the transformations.

- Bit-exactness against JAX 0.10.2: hard-coded values (below, generated once with JAX 0.10.2,
  threefry2x32, `jax_threefry_partitionable=True`; float32 ones from JAX's defaults, 64-bit
  ones with `jax_enable_x64`), so the default suite checks them without jax; and `peers` tests
  comparing many keys and shapes with the installed jax.
- Distributions: Kolmogorov-Smirnov tests against scipy.stats and moments, with fixed keys
  (deterministic); shapes and dtypes (float32 stays float32); determinism and independence.
- Transformations: one jitted program (Numba) against the interpreter, vmap over a batch of
  keys against a loop, samplers inside `lax.scan`, derivatives of reparameterised samples
  against finite differences (gamma's implicit gradient against scipy's CDF).
"""
from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import scipy.stats as st

import xform as xf
import xform.numpy as xnp
import xform.random as xr
from xform.test_util import check_grads

KEY = xr.PRNGKey(42)
F32, F64 = np.float32, np.float64

# ----------------------------------------------------------------------------- JAX's values

# Generated with JAX 0.10.2: `k = jax.random.PRNGKey(42)`, e.g.
# `jax.random.uniform(k, (4,), jnp.float32, -1.5, 2.0).view(np.uint32)`.
JAX_VALUES = {
    "split": [[1832780943, 270669613], [64467757, 2916123636], [2465931498, 255383827]],
    "fold_in": [2547012911, 1371500959],
    "bits32": [2098992034, 2919706841, 2646866425, 2409546199],
    "uniform32": [1045924092, 1063328040, 1059597796, 1055741760],
    "randint32": [184, 514, 736, 539, 804, 979],
    "bernoulli32": [0, 0, 0, 0, 0, 0, 1, 0],
    "permutation": [7, 4, 2, 5, 3, 6, 8, 9, 0, 1],
    "normal32": [-0.02830461598932743, 0.4671318531036377, 0.2957029640674591,
                 0.15354591608047485],
    # with jax_enable_x64
    "bits64": [7871734211187709741, 276886910877598708, 10591095138341673235],
    "uniform64": [13797462457221418112, 13832569657766312548, 4602764436768729307],
    "randint64": [580, 563, 433, 596, 200, 61],
    "choice": [5, 18, 3, 11, 5],
    "normal64": [-0.18471174528191162, -2.169824560397754, 0.18693555179382582,
                 0.6122653570510959],
    "seeds": [[4294967295, 4294967293], [256, 9]],
}


def test_same_values_as_jax():
    want = JAX_VALUES
    assert xr.split(KEY, 3).tolist() == want["split"]
    assert xr.fold_in(KEY, 7).tolist() == want["fold_in"]
    assert xr.bits(KEY, (4,), np.uint32).tolist() == want["bits32"]
    assert xr.bits(KEY, (3,)).tolist() == want["bits64"]
    assert xr.uniform(KEY, (4,), F32, -1.5, 2.0).view(np.uint32).tolist() == want["uniform32"]
    assert xr.uniform(KEY, (3,), F64, -1.5, 2.0).view(np.uint64).tolist() == want["uniform64"]
    assert xr.randint(KEY, (6,), -5, 1000, np.int32).tolist() == want["randint32"]
    assert xr.randint(KEY, (6,), -5, 1000).tolist() == want["randint64"]
    assert xr.bernoulli(KEY, F32(0.3), (8,)).astype(int).tolist() == want["bernoulli32"]
    assert xr.permutation(KEY, 10).tolist() == want["permutation"]
    assert xr.choice(KEY, 20, (5,)).tolist() == want["choice"]
    assert [xr.PRNGKey(-3).tolist(), xr.PRNGKey(2 ** 40 + 9).tolist()] == want["seeds"]
    # normal: within a few ulps (XLA's log1p is its own), see xform.random's docstring.
    np.testing.assert_allclose(xr.normal(KEY, (4,), F32), want["normal32"], rtol=1e-6)
    np.testing.assert_allclose(xr.normal(KEY, (4,)), want["normal64"], rtol=1e-13)


@pytest.mark.peers
@pytest.mark.parametrize("x64", [False, True])
def test_bit_identical_to_installed_jax(x64):
    jax = pytest.importorskip("jax")
    dt, it = (F64, np.int64) if x64 else (F32, np.int32)
    with jax.enable_x64(x64):
        jr = jax.random
        # (JAX without x64 keeps the low 32 bits of a seed; xform is JAX with x64)
        for seed in (0, 2 ** 33 + 7) if x64 else (0, 123):
            jk, k = jr.PRNGKey(seed), xr.PRNGKey(seed)
            assert np.array_equal(np.asarray(jk), k)
            assert np.array_equal(np.asarray(jr.split(jk, (2, 3))), xr.split(k, (2, 3)))
            assert np.array_equal(np.asarray(jr.fold_in(jk, 99)), xr.fold_in(k, 99))
            for shape in [(), (3, 4), (1000,)]:
                pairs = [
                    (jr.uniform(jk, shape, dt), xr.uniform(k, shape, dt)),
                    (jr.uniform(jk, shape, dt, -3.0, 0.7), xr.uniform(k, shape, dt, -3.0, 0.7)),
                    (jr.bits(jk, shape, np.uint32), xr.bits(k, shape, np.uint32)),
                    (jr.randint(jk, shape, -7, 300, it), xr.randint(k, shape, -7, 300, it)),
                    (jr.randint(jk, shape, 0, 256, np.uint8), xr.randint(k, shape, 0, 256,
                                                                           np.uint8)),
                    (jr.bernoulli(jk, dt(0.3), shape), xr.bernoulli(k, dt(0.3), shape)),
                    (jr.bernoulli(jk, dt(0.3), shape, mode="high"),
                     xr.bernoulli(k, dt(0.3), shape, mode="high"))]
                for want, got in pairs:
                    assert np.asarray(want).dtype == got.dtype
                    np.testing.assert_array_equal(got, np.asarray(want))
                normal = np.asarray(jr.normal(jk, shape, dt))
                np.testing.assert_allclose(xr.normal(k, shape, dt), normal,
                                           rtol=4e-7 if dt == F32 else 1e-14, atol=1e-300)
            x = np.arange(24.0, dtype=dt).reshape(4, 6)
            for n in (10, 2000):  # 2000: two sorting rounds
                np.testing.assert_array_equal(xr.permutation(k, n),
                                              np.asarray(jr.permutation(jk, n)))
            for axis in (0, 1):
                for independent in (False, True):
                    np.testing.assert_array_equal(
                        xr.permutation(k, x, axis, independent),
                        np.asarray(jr.permutation(jk, x, axis, independent)))
            np.testing.assert_array_equal(xr.choice(k, x, (3,), replace=False, axis=1),
                                          np.asarray(jr.choice(jk, x, (3,), False, axis=1)))
            if x64:
                np.testing.assert_array_equal(xr.choice(k, 30, (4, 2)),
                                              np.asarray(jr.choice(jk, 30, (4, 2))))


# ----------------------------------------------------------------------------- distributions

N = 20000


def _ks(sample, dist, *args):
    assert st.kstest(np.asarray(sample, np.float64), dist, args).pvalue > 1e-3


@pytest.mark.parametrize("dtype", [F32, F64])
def test_continuous_distributions(dtype):
    k = xr.PRNGKey(1)
    _ks(xr.uniform(k, (N,), dtype, -2.0, 3.0), "uniform", -2.0, 5.0)
    _ks(xr.normal(k, (N,), dtype), "norm")
    _ks(xr.truncated_normal(k, -1.0, 2.0, (N,), dtype), "truncnorm", -1.0, 2.0)
    _ks(xr.exponential(k, (N,), dtype), "expon")
    _ks(xr.laplace(k, (N,), dtype), "laplace")
    _ks(xr.logistic(k, (N,), dtype), "logistic")
    _ks(xr.gumbel(k, (N,), dtype), "gumbel_r")
    _ks(xr.gumbel(k, (N,), dtype, mode="high"), "gumbel_r")
    _ks(xr.cauchy(k, (N,), dtype), "cauchy")
    _ks(xr.t(k, 4.0, (N,), dtype), "t", 4.0)
    for a in (0.2, 1.0, 3.5):
        _ks(xr.gamma(k, a, (N,), dtype), "gamma", a)
    _ks(np.exp(xr.loggamma(k, 0.5, (N,), dtype)), "gamma", 0.5)
    _ks(xr.beta(k, 2.0, 0.5, (N,), dtype), "beta", 2.0, 0.5)


def test_multivariate_distributions():
    k = xr.PRNGKey(2)
    alpha = np.array([0.5, 2.0, 3.0])
    d = xr.dirichlet(k, alpha, (N,))
    np.testing.assert_allclose(d.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(d.mean(0), alpha / alpha.sum(), atol=0.01)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    for method in ("cholesky", "eigh", "svd"):
        x = xr.multivariate_normal(k, np.array([1.0, -1.0]), cov, (N,), method=method)
        np.testing.assert_allclose(x.mean(0), [1.0, -1.0], atol=0.05)
        np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06)
    q = xr.orthogonal(k, 4, (3,))
    np.testing.assert_allclose(q @ np.swapaxes(q, -1, -2), np.broadcast_to(np.eye(4), q.shape),
                               atol=1e-12)
    assert xr.orthogonal(k, 3, m=5).shape == (3, 5)
    # Haar measure: the trace of a random rotation has mean 0 and variance 1.
    traces = np.trace(xr.orthogonal(k, 3, (4000,)), axis1=-2, axis2=-1)
    assert abs(traces.mean()) < 0.06 and abs(traces.var() - 1) < 0.1


def test_discrete_distributions():
    k = xr.PRNGKey(3)
    counts = np.bincount(xr.randint(k, (N,), 3, 8) - 3, minlength=5)
    assert st.chisquare(counts).pvalue > 1e-3
    assert abs(xr.bernoulli(k, 0.3, (N,)).mean() - 0.3) < 0.015
    p = np.array([0.1, 0.2, 0.3, 0.4])
    for draws in (xr.categorical(k, np.log(p), shape=(N,)), xr.choice(k, 4, (N,), p=p)):
        assert st.chisquare(np.bincount(draws, minlength=4), N * p).pvalue > 1e-3
    for lam in (0.5, 4.0, 40.0):
        x = xr.poisson(k, lam, (N,))
        assert x.dtype == np.int64
        assert abs(x.mean() - lam) < 4 * np.sqrt(lam / N) and abs(x.var() / lam - 1) < 0.06
    assert set(xr.rademacher(k, (N,)).tolist()) == {-1, 1}
    assert abs(xr.rademacher(k, (N,)).mean()) < 0.03
    # Permutations: every position uniform over the values.
    perms = xf.vmap(lambda kk: xr.permutation(kk, 4))(xr.split(k, 4000))
    assert (np.sort(perms, axis=1) == np.arange(4)).all()
    assert st.chisquare(np.bincount(perms[:, 0], minlength=4)).pvalue > 1e-3
    no_repeat = xr.choice(k, 10, (10,), replace=False)
    assert sorted(no_repeat.tolist()) == list(range(10))
    weighted = xr.choice(k, 4, (3,), replace=False, p=p)
    assert len(set(weighted.tolist())) == 3
    top = xr.categorical(k, np.log(p), shape=(4,), replace=False)
    assert sorted(top.tolist()) == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- shapes, keys

def test_shapes_dtypes_and_errors():
    k = KEY
    for f in (xr.uniform, xr.normal, xr.exponential, xr.laplace, xr.logistic, xr.gumbel,
              xr.cauchy):
        assert f(k, (2, 3)).dtype == F64 and f(k, (2, 3)).shape == (2, 3)
        assert f(k, (4,), F32).dtype == F32
        assert f(k).shape == ()
    assert xr.gamma(k, np.ones(3, F32), dtype=F32).dtype == F32
    assert xr.beta(k, 1.0, np.ones((2, 1)), (2, 3)).shape == (2, 3)
    assert xr.truncated_normal(k, -np.ones(3), 1.0).shape == (3,)
    assert xr.randint(k, (2,), 0, 5, np.uint8).dtype == np.uint8
    assert xr.bernoulli(k, np.full((2, 2), 0.5)).shape == (2, 2)
    assert xr.choice(k, np.ones((3, 5)), (2, 2), axis=1).shape == (3, 2, 2)
    assert xr.categorical(k, np.zeros((2, 5)), axis=-1).shape == (2,)
    assert xr.categorical(k, np.zeros((2, 5)), shape=(7, 2)).shape == (7, 2)
    assert xr.key(3).tolist() == xr.PRNGKey(3).tolist() == xr.key_data(xr.key(3)).tolist()
    assert xr.wrap_key_data(np.array([0, 3], np.uint32)).tolist() == [0, 3]
    with pytest.raises(TypeError, match="vmap"):
        xr.normal(xr.split(k, 3))
    with pytest.raises(TypeError, match="PRNG key"):
        xr.uniform(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="float32 or float64"):
        xr.normal(k, (2,), np.int32)
    with pytest.raises(ValueError, match="larger sample"):
        xr.choice(k, 3, (4,), replace=False)
    with pytest.raises(ValueError, match="broadcast"):
        xr.uniform(k, (3,), minval=np.zeros(4))
    with pytest.raises(OverflowError):
        xr.fold_in(k, -1)


def test_determinism_and_independence():
    k1, k2 = xr.split(KEY)
    assert np.array_equal(xr.normal(k1, (100,)), xr.normal(k1, (100,)))
    a, b = xr.normal(k1, (N,)), xr.normal(k2, (N,))
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.03
    assert not np.array_equal(xr.fold_in(KEY, 1), xr.fold_in(KEY, 2))
    # element i of a draw does not depend on the draw's shape (counter-based)
    assert np.array_equal(xr.uniform(KEY, (10,))[:3], xr.uniform(KEY, (3,)))
    keys = xr.split(KEY, 1000)
    assert len({tuple(kk) for kk in keys.tolist()}) == 1000


# ----------------------------------------------------------------------------- transforms

def _program(k, a, mu):
    """The samplers that are JAX's bit for bit, and a rejection loop: one compiled program."""
    k1, k2 = xr.split(k)
    return {
        "split": xr.split(k, 3), "fold_in": xr.fold_in(k, 5), "bits": xr.bits(k, (3,)),
        "uniform32": xr.uniform(k1, (5,), F32, -1.0, 2.0), "uniform": xr.uniform(k2, (5,)),
        "normal32": xr.normal(k, (5,), F32), "normal": mu + xr.normal(k1, (5,)),
        "randint": xr.randint(k, (5,), -3, 9), "randint32": xr.randint(k, (5,), 0, 9, np.int32),
        "bernoulli": xr.bernoulli(k, 0.4, (6,)), "permutation": xr.permutation(k, 6),
        "gamma": xr.gamma(k, a, (4,)),
    }


def _more(k, a, mu):
    """The other samplers (a second program, in the slow suite)."""
    return {
        "exponential": xr.exponential(k, (3,)), "gumbel": xr.gumbel(k, (3,)),
        "cauchy": xr.cauchy(k, (3,)), "beta": xr.beta(k, a, 2.0, (3,)),
        "choice": xr.choice(k, 9, (4,)),
        "categorical": xr.categorical(k, mu * np.arange(4.0), shape=(3,)),
        "truncated_normal": xr.truncated_normal(k, -1.0, mu, (3,)),
        "poisson": xr.poisson(k, a * 3, (4,)), "dirichlet": xr.dirichlet(k, np.ones(3) * a),
        "t": xr.t(k, a + 2, (3,)), "orthogonal": xr.orthogonal(k, 3),
    }


def _check_jit(program):
    args = (KEY, 1.5, 0.5)
    got, want = xf.jit(program)(*args), program(*args)
    for name in want:
        g, w = np.asarray(got[name]), np.asarray(want[name])
        assert g.dtype == w.dtype and g.shape == w.shape, name
        if w.dtype == F64:
            # libm's and numpy's SIMD log/log1p differ in the last bit
            np.testing.assert_allclose(g, w, rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)


def test_jit_agrees_with_eager():
    _check_jit(_program)


@pytest.mark.slow
def test_jit_agrees_with_eager_for_every_sampler():
    _check_jit(_more)


def test_vmap_over_keys_equals_a_loop():
    keys = xr.split(KEY, 3)

    def f(k, mu):
        return (mu + xr.normal(k, (2,)), xr.randint(k, (2,), 0, 10), xr.gamma(k, mu, (2,)),
                xr.permutation(k, 5), xr.split(k)[1])
    got = xf.vmap(f, in_axes=(0, None))(keys, 2.0)
    for i, k in enumerate(keys):
        for g, w in zip(got, f(k, 2.0)):
            np.testing.assert_allclose(g[i], w, rtol=1e-14)
    seeds = xf.vmap(xr.PRNGKey)(np.arange(3))
    assert np.array_equal(seeds, np.stack([xr.PRNGKey(i) for i in range(3)]))


def test_inside_scan():
    def step(key, _):
        key, sub = xr.split(key)
        return key, xr.normal(sub, (2,))

    _, draws = xf.lax.scan(step, KEY, None, length=4)
    key, want = KEY, []
    for _ in range(4):
        key, sub = xr.split(key)
        want.append(xr.normal(sub, (2,)))
    np.testing.assert_array_equal(draws, np.stack(want))


def test_reparameterised_gradients():
    k = xr.PRNGKey(5)
    check_grads(lambda mu, s: mu + s * xr.normal(k, (3,)), (0.3, 1.7), order=2)
    check_grads(lambda lo, hi: xr.uniform(k, (3,), F64, lo, hi), (-1.0, 2.0), order=2)
    check_grads(lambda lo, hi: xr.truncated_normal(k, lo, hi, (3,)), (-0.5, 1.5), order=1,
                atol=1e-5, rtol=1e-5)
    check_grads(lambda m, c: xr.multivariate_normal(k, m, c @ c.T + np.eye(2), (2,)),
                (np.array([0.5, -1.0]), np.array([[1.0, 0.2], [0.1, 0.8]])), order=1)
    g = xf.grad(lambda mu: xnp.sum(mu + xr.normal(k, (3,), F32)))(F32(1.0))
    assert np.asarray(g).dtype == F32


@pytest.mark.parametrize("a", [0.3, 2.5, 30.0])
def test_gamma_implicit_gradient(a):
    """d sample / d a = -(dF/da) / (dF/dx), F the gamma CDF (scipy, central differences)."""
    k = xr.PRNGKey(6)
    x = np.asarray(xr.gamma(k, a, (6,)))
    eps = 1e-6 * a
    want = -(st.gamma.cdf(x, a + eps) - st.gamma.cdf(x, a - eps)) / (2 * eps) / st.gamma.pdf(x, a)
    got = xf.jacfwd(lambda a: xr.gamma(k, a, (6,)))(a)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    got_rev = xf.jacrev(lambda a: xr.gamma(k, a, (6,)))(a)
    np.testing.assert_allclose(got_rev, want, rtol=2e-5)


def test_beta_and_dirichlet_gradients_are_finite_and_consistent():
    k = xr.PRNGKey(7)
    # E[beta(a, b)] = a / (a + b): the gradient of the sample mean estimates its derivative.
    g = xf.grad(lambda a: xnp.mean(xr.beta(k, a, 3.0, (4000,))))(2.0)
    assert abs(float(g) - 3.0 / 25.0) < 0.01
    g = xf.grad(lambda al: xnp.mean(xr.dirichlet(k, al, (4000,))[:, 0]))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0 / 9.0, -1.0 / 9.0], atol=0.01)


def test_doctests():
    """The examples in the docstrings (run with the package's names in scope)."""
    names = {"PRNGKey": xr.PRNGKey, "np": np}
    for module in ("_keys", "_uniform", "_normal", "_gamma", "_continuous", "_discrete", ""):
        mod = importlib.import_module(f"xform.random.{module}".rstrip("."))
        failures, _ = doctest.testmod(mod, extraglobs=names)
        assert failures == 0, module
