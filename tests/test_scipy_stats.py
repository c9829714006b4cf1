"""xform.scipy.stats against scipy.stats.

- Every function of every distribution against scipy at random points, with location and
  scale, outside the support (-inf log densities, 0 densities) and with invalid parameters
  (nan), broadcasting like scipy; float32 stays float32.
- Derivatives by check_grads to second order in x and the parameters (first order in the
  shape parameter of the gamma distribution's cdf and sf); the ones not provided (cdf in the
  shape parameters of t, beta, binom and nbinom, through betainc) raise.
- vmap against a Python loop; one jitted program (Numba) against the interpreter.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as st_

import xform as xf
import xform.scipy.stats as xs
from xform.backends import numba as numba_backend
from xform.test_util import check_grads

N = 40


class Dist(NamedTuple):
    """A distribution: its functions, a generator of points x (n of them, some outside the
    support), and of its shape parameters (a list of arrays, some invalid), and whether it
    takes loc and scale (continuous) or loc only (discrete)."""
    functions: tuple
    points: Callable
    shapes: Callable
    continuous: bool = True


def _reals(rng, n):
    return np.concatenate([rng.normal(0, 3, n - 4), [0.0, -1.0, 1.0, 25.0]])


def _positive(rng, n):
    """Mostly positive, some negative (outside the support), 0."""
    return np.concatenate([rng.exponential(2, n - 4), [0.0, -1.0, 1e-3, 40.0]])


def _unit(rng, n):
    return np.concatenate([rng.uniform(0, 1, n - 5), [0.0, 1.0, -0.5, 1.5, 0.5]])


def _counts(rng, n):
    return np.concatenate([rng.integers(0, 12, n - 5), [-1.0, 0.5, 2.5, 0.0, 30.0]])


def _with_invalid(values, bad):
    """A shape parameter, its last entry invalid (scipy answers nan there)."""
    values = np.asarray(values, np.float64)
    values[-1] = bad
    return values


CONTINUOUS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")
DISCRETE = ("logpmf", "pmf", "cdf", "logcdf", "sf", "logsf")
DISTS = {
    "norm": Dist(CONTINUOUS + ("ppf", "isf"), _reals, lambda r, n: []),
    "laplace": Dist(CONTINUOUS, _reals, lambda r, n: []),
    "logistic": Dist(CONTINUOUS + ("ppf", "isf"), _reals, lambda r, n: []),
    "cauchy": Dist(CONTINUOUS + ("ppf", "isf"), _reals, lambda r, n: []),
    "expon": Dist(CONTINUOUS + ("ppf",), _positive, lambda r, n: []),
    "uniform": Dist(CONTINUOUS + ("ppf",), _unit, lambda r, n: []),
    "t": Dist(CONTINUOUS, _reals,
              lambda r, n: [_with_invalid(np.append(r.uniform(0.3, 30, n - 1), np.inf), -1)]),
    "chi2": Dist(CONTINUOUS, _positive, lambda r, n: [_with_invalid(r.uniform(0.3, 12, n), 0)]),
    "gamma": Dist(CONTINUOUS, _positive,
                  lambda r, n: [_with_invalid(r.uniform(0.3, 12, n), -2)]),
    "beta": Dist(CONTINUOUS, _unit, lambda r, n: [_with_invalid(r.uniform(0.3, 6, n), 0),
                                                  r.uniform(0.3, 6, n)]),
    "poisson": Dist(DISCRETE, _counts, lambda r, n: [_with_invalid(r.uniform(0, 10, n), -1)],
                    False),
    "bernoulli": Dist(DISCRETE + ("ppf",), lambda r, n: np.append(r.integers(-1, 3, n - 1), 0.5),
                      lambda r, n: [_with_invalid(r.uniform(0, 1, n), 1.5)], False),
    "binom": Dist(DISCRETE, _counts,
                  lambda r, n: [_with_invalid(r.integers(0, 15, n), 2.5), r.uniform(0, 1, n)],
                  False),
    "geom": Dist(DISCRETE, lambda r, n: _counts(r, n) + 1,
                 lambda r, n: [_with_invalid(r.uniform(0.01, 1, n), 0)], False),
    "nbinom": Dist(DISCRETE, _counts, lambda r, n: [_with_invalid(r.uniform(0.3, 10, n), 0),
                                                    r.uniform(0.02, 1, n)], False),
}
CALLS = [(d, f) for d, dist in DISTS.items() for f in dist.functions]


def arguments(dist_name: str, fn: str, seed: int):
    """(args, kwargs): the points (or probabilities for ppf/isf), shape parameters, and loc
    and scale (the last scale invalid)."""
    rng = np.random.default_rng(seed)
    dist = DISTS[dist_name]
    x = rng.uniform(-0.2, 1.2, N) if fn in ("ppf", "isf") else dist.points(rng, N)
    args = [x.astype(np.float64), *dist.shapes(rng, N)]
    kwargs = {"loc": rng.normal(0, 1, N)}
    if dist.continuous:
        kwargs["scale"] = _with_invalid(rng.uniform(0.5, 2, N), -1.0)
    else:
        kwargs["loc"] = np.round(kwargs["loc"])
    return args, kwargs


def _ours(dist, fn):
    return getattr(getattr(xs, dist), fn)


def _scipy(dist, fn):
    return getattr(getattr(st, dist), fn)


def assert_matches(got, want, label, rtol=1e-12, atol=1e-14):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (label, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)


@pytest.mark.parametrize("dist,fn", CALLS)
@settings(max_examples=4, deadline=None)
@given(seed=st_.integers(0, 2 ** 32 - 1))
def test_values_match_scipy(dist, fn, seed):
    args, kwargs = arguments(dist, fn, seed)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = _scipy(dist, fn)(*args, **kwargs)
        got = _ours(dist, fn)(*args, **kwargs)
        if fn not in ("ppf", "isf"):
            # scipy's logcdf and logsf of a discrete distribution give 0 past its support
            # even for invalid parameters, where its cdf and sf give nan (as xform does).
            want = np.where(np.isnan(_scipy(dist, "cdf")(*args, **kwargs)), np.nan, want)
    assert np.asarray(got).dtype == np.float64
    assert_matches(got, want, f"{dist}.{fn}")


@pytest.mark.parametrize("dist,fn", CALLS)
def test_float32_stays_float32_and_broadcasts_like_scipy(dist, fn):
    args, kwargs = arguments(dist, fn, 0)
    # x as a column against parameters along a row: a (5, 4) grid.
    args = [args[0][:5, None].astype(np.float32), *[a[:4].astype(np.float32) for a in args[1:]]]
    kwargs = {k: np.float32(v[1]) for k, v in kwargs.items()}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = _ours(dist, fn)(*args, **kwargs)
        want = _scipy(dist, fn)(*args, **kwargs)
    assert np.asarray(got).dtype == np.float32
    assert np.shape(got) == np.shape(want)
    assert_matches(got, want, f"{dist}.{fn} float32", rtol=2e-5, atol=2e-6)


def test_out_of_support_and_invalid_parameters():
    assert xs.norm.logpdf(1.0, 0.0, -1.0) != xs.norm.logpdf(1.0, 0.0, -1.0)  # nan
    assert xs.expon.logpdf(-1.0) == -np.inf and xs.expon.pdf(-1.0) == 0.0
    assert xs.beta.logpdf(1.5, 2.0, 2.0) == -np.inf and xs.beta.logpdf(0.0, 0.5, 0.5) == np.inf
    assert xs.poisson.logpmf(2.5, 3.0) == -np.inf and xs.poisson.pmf(-1, 3.0) == 0.0
    assert np.isnan(xs.binom.logpmf(2, 5.5, 0.3)) and np.isnan(xs.geom.logpmf(1, 0.0))
    x = np.array([[0.2, 0.3, 0.5], [0.5, 0.6, -0.1]]).T  # the second point is off the simplex
    np.testing.assert_allclose(xs.dirichlet.logpdf(x, np.array([1.0, 2.0, 3.0])),
                               [st.dirichlet.logpdf(x[:, 0], [1.0, 2.0, 3.0]), -np.inf])
    assert np.isnan(xs.dirichlet.logpdf(x[:, 0], np.array([1.0, -2.0, 3.0])))
    with pytest.raises(ValueError, match="components"):
        xs.dirichlet.logpdf(np.ones((5, 2)), np.ones(3))
    with pytest.raises(NotImplementedError, match="allow_singular"):
        xs.multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(2), allow_singular=True)


def test_far_tails_are_accurate():
    # Where the naive log(cdf) underflows or 1 - cdf cancels; references by mpmath.
    assert xs.norm.logcdf(-40.0) == pytest.approx(-804.6084420137538, rel=1e-14)
    assert xs.norm.logsf(40.0) == pytest.approx(-804.6084420137538, rel=1e-14)
    assert xs.norm.isf(1e-300) == pytest.approx(37.0470962993612, rel=1e-14)
    assert xs.laplace.logsf(800.0) == pytest.approx(-800 - np.log(2), rel=1e-15)
    assert xs.logistic.logcdf(-800.0) == -800.0
    assert xs.cauchy.cdf(-1e20) == pytest.approx(1 / (np.pi * 1e20), rel=1e-14)
    assert xs.cauchy.ppf(1e-20) == pytest.approx(-1 / (np.pi * 1e-20), rel=1e-14)
    assert xs.expon.logcdf(1e-10) == pytest.approx(np.log(1e-10) - 5e-11, rel=1e-14)
    # logcdf near 0: log1p of a small sf, not the log of a rounded cdf.
    assert xs.gamma.logcdf(60.0, 2.0) == pytest.approx(-61 * np.exp(-60.0), rel=1e-12)
    assert xs.t.logcdf(-50.0, 3.0) == pytest.approx(st.t.logcdf(-50.0, 3.0), rel=1e-12)


# ----------------------------------------------------------------------------- multivariate

def test_multivariate_normal_matches_scipy():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((3, 3))
    cov, mean, x = m @ m.T + np.eye(3), rng.standard_normal(3), rng.standard_normal((5, 3))
    for c in (cov, np.diag(cov), 2.5):
        assert_matches(xs.multivariate_normal.logpdf(x, mean, c),
                       st.multivariate_normal.logpdf(x, mean, c), "mvn logpdf")
    assert_matches(xs.multivariate_normal.pdf(x[0], mean, cov),
                   st.multivariate_normal.pdf(x[0], mean, cov), "mvn pdf")
    assert_matches(xs.multivariate_normal.logpdf(x[:, 0], 0.5, 2.0),
                   st.multivariate_normal.logpdf(x[:, 0], 0.5, 2.0), "1-d mvn")
    check_grads(lambda x, mean, m: xs.multivariate_normal.logpdf(x, mean, m @ m.T + np.eye(3)),
                (x, mean, m), order=2)


def test_dirichlet_matches_scipy():
    rng = np.random.default_rng(1)
    alpha = np.array([0.7, 2.0, 3.5])
    x = rng.dirichlet(alpha, 6).T
    assert_matches(xs.dirichlet.logpdf(x, alpha), st.dirichlet.logpdf(x, alpha), "dirichlet")
    assert_matches(xs.dirichlet.pdf(x[:2], alpha), st.dirichlet.pdf(x[:2], alpha), "k - 1")
    check_grads(lambda x, alpha: xs.dirichlet.logpdf(x, alpha), (x[:2], alpha), order=2)


# ----------------------------------------------------------------------------- derivatives

def _interior(dist: str, fn: str):
    """Float64 arguments inside the support with valid parameters (so that derivatives exist
    and finite differences see no jumps); discrete points are integers (held fixed)."""
    args, kwargs = arguments(dist, fn, 3)
    sl = slice(0, 6)
    args = [a[sl] for a in args]
    kwargs = {k: v[sl] for k, v in kwargs.items()}
    if "scale" in kwargs:
        kwargs["scale"] = np.abs(kwargs["scale"]) + 0.5
    x = args[0]
    if fn in ("ppf", "isf"):
        args[0] = np.clip(x, 0.05, 0.95)
    elif dist in ("expon", "chi2", "gamma"):
        args[0] = kwargs["loc"] + np.abs(x) + 0.3
    elif dist in ("beta", "uniform"):
        args[0] = kwargs["loc"] + kwargs["scale"] * np.clip(x, 0.1, 0.9)
    elif dist in ("poisson", "binom", "nbinom", "bernoulli", "geom"):
        args[0] = kwargs["loc"] + {"bernoulli": 0, "geom": 2}.get(dist, 1)
    if dist == "t":
        args[1] = np.minimum(np.abs(args[1]), 20) + 0.5
    for k in range(1, len(args)):
        if dist in ("chi2", "gamma", "beta", "nbinom"):
            args[k] = np.abs(args[k]) + 0.5
    if dist in ("bernoulli", "binom", "nbinom", "geom"):
        args[-1] = np.clip(args[-1], 0.1, 0.9)
    if dist == "binom":
        args[1] = np.full(6, 5.0)
    return args, kwargs


# Parameters each function is not differentiable in (through betainc); integers (binom's n)
# are never differentiated.
_NOT_IN_SHAPES = {("t", "cdf"), ("t", "sf"), ("t", "logcdf"), ("t", "logsf"),
                  ("beta", "cdf"), ("beta", "sf"), ("beta", "logcdf"), ("beta", "logsf"),
                  ("nbinom", "cdf"), ("nbinom", "sf"), ("nbinom", "logcdf"),
                  ("nbinom", "logsf")}
_FIRST_ORDER_IN_SHAPES = {("gamma", f) for f in ("cdf", "sf", "logcdf", "logsf")} | {
    ("chi2", f) for f in ("cdf", "sf", "logcdf", "logsf")} | {
    ("poisson", f) for f in ("cdf", "sf", "logcdf", "logsf")}


def _differentiated(dist, fn, args, kwargs):
    """(names, values) of the arguments to differentiate: continuous points, loc and scale
    of continuous distributions, the real shape parameters."""
    names, values = [], []
    discrete = not DISTS[dist].continuous
    for k, a in enumerate(args):
        integer = (k == 0 and discrete) or (dist == "binom" and k == 1)
        if integer or (k > 0 and (dist, fn) in _NOT_IN_SHAPES):
            continue
        if k > 0 and dist == "poisson" and fn in ("cdf", "sf", "logcdf", "logsf"):
            continue  # mu is x of the incomplete gamma function: differentiated below
        names.append(k)
        values.append(a)
    if dist == "poisson" and fn in ("cdf", "sf", "logcdf", "logsf"):
        names.append(1)
        values.append(args[1])
    if not discrete:
        names += ["loc", "scale"]
        values += [kwargs["loc"], kwargs["scale"]]
    return names, values


@pytest.mark.parametrize("dist,fn", CALLS)
def test_derivatives(dist, fn):
    args, kwargs = _interior(dist, fn)
    names, values = _differentiated(dist, fn, args, kwargs)

    def f(*vals):
        a, kw = list(args), dict(kwargs)
        for name, v in zip(names, vals):
            if isinstance(name, str):
                kw[name] = v
            else:
                a[name] = v
        return _ours(dist, fn)(*a, **kw)
    order = 1 if (dist, fn) in _FIRST_ORDER_IN_SHAPES else 2
    check_grads(f, values, order=order)


def test_derivatives_through_betainc_shape_parameters_raise():
    with pytest.raises(NotImplementedError, match="betainc is differentiable only in x"):
        xf.grad(lambda df: xs.t.cdf(1.0, df))(3.0)
    with pytest.raises(NotImplementedError, match="betainc is differentiable only in x"):
        xf.grad(lambda a: xs.beta.sf(0.3, a, 2.0))(1.5)
    # ... while x, loc and scale are differentiable.
    check_grads(lambda x, loc, scale: xs.t.cdf(x, 3.0, loc, scale), (0.7, 0.1, 1.3), order=2)


# ----------------------------------------------------------------------------- vmap and jit

def test_vmap_matches_a_loop():
    rng = np.random.default_rng(2)
    x, a = rng.uniform(0.1, 3, (2, 5, 3))

    def f(x, a):
        return (xs.gamma.logpdf(x, a), xs.gamma.cdf(x, a), xs.t.sf(x, a + 1), xs.norm.ppf(x / 4),
                xs.poisson.logpmf(np.arange(5.0), a), xs.beta.cdf(x / 4, a, 2.0))
    got = xf.vmap(f, in_axes=(1, None))(x, a[:, 0])
    for k in range(3):
        for g, w in zip(got, f(x[:, k], a[:, 0])):
            np.testing.assert_allclose(g[k], w, rtol=1e-13)


# One or two functions of each distribution, for the jitted comparison, in three programs
# (Numba's compile time grows faster than a program's size).
PROGRAMS = {
    "continuous": lambda x, p, k, a, b: {
        "norm": (xs.norm.logcdf(x, 0.2, 1.5), xs.norm.ppf(p)),
        "t": (xs.t.logpdf(x, a), xs.t.cdf(x, a)), "expon": xs.expon.logcdf(x),
        "laplace": xs.laplace.logsf(x), "logistic": xs.logistic.logpdf(x),
        "cauchy": xs.cauchy.cdf(x), "uniform": xs.uniform.logpdf(x, -1.0, 2.0)},
    "gamma and beta": lambda x, p, k, a, b: {
        "chi2": xs.chi2.sf(a, b), "gamma": (xs.gamma.logpdf(a, b), xs.gamma.logcdf(a, b)),
        "beta": (xs.beta.logpdf(p, a, b), xs.beta.cdf(p, a, b)),
        "dirichlet": xs.dirichlet.logpdf(np.array([[0.2], [0.3], [0.5]]) * p[:3] / p[:3],
                                         a[:3]),
        "mvn": xs.multivariate_normal.logpdf(x[:4], x[4:8], np.eye(4) * b[0])},
    "discrete": lambda x, p, k, a, b: {
        "poisson": (xs.poisson.logpmf(k, a), xs.poisson.cdf(k, a)),
        "bernoulli": xs.bernoulli.logpmf(k, p), "binom": xs.binom.logpmf(k, 8.0, p),
        "geom": xs.geom.logcdf(k, p), "nbinom": xs.nbinom.logpmf(k, a, p)},
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_jitted_program_agrees_with_the_interpreter(name):
    rng = np.random.default_rng(4)
    args = (rng.normal(0, 2, 12), rng.uniform(0.05, 0.95, 12),
            rng.integers(-1, 8, 12).astype(np.float64), rng.uniform(0.3, 6, 12),
            rng.uniform(0.3, 6, 12))
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = xf.jit(PROGRAMS[name])(*args)
    want = xf.jit(PROGRAMS[name], backend="interpreter")(*args)
    for g, w in zip(xf.tree.leaves(got), xf.tree.leaves(want)):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


@pytest.mark.peers
def test_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.stats as js
    x, a = np.array([0.3, 1.5, 4.0]), np.array([0.7, 2.0, 5.0])
    for name, args in [("gamma", (x, a)), ("t", (x, a)), ("beta", (x / 5, a, a)),
                       ("chi2", (x, a))]:
        np.testing.assert_allclose(getattr(xs, name).logpdf(*args),
                                   getattr(js, name).logpdf(*args), rtol=1e-12)
        ours, theirs = getattr(xs, name).logpdf, getattr(js, name).logpdf
        np.testing.assert_allclose(xf.grad(lambda v: ours(v, *args[1:]).sum())(args[0]),
                                   jax.grad(lambda v: theirs(v, *args[1:]).sum())(args[0]),
                                   rtol=1e-10)


def test_doctests():
    import doctest
    import importlib
    for name in xs.__dict__:
        module = getattr(xs, name)
        if not name.startswith("_") and hasattr(module, "__all__"):
            failures, _ = doctest.testmod(importlib.import_module(module.__name__))
            assert not failures, name
