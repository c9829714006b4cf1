"""xform.scipy.linalg against scipy.linalg: values (float64 and float32, vectors and matrices
on the right, batches), derivatives by check_grads to second order, vmap against a loop, and
one jitted program (Numba) against the interpreter."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.scipy.linalg as xl
from xform.backends import numba as numba_backend
from xform.test_util import check_grads


def _general(rng, n, *batch):
    """A well-conditioned general matrix whose LU needs row exchanges."""
    a = rng.standard_normal((*batch, n, n)) + np.sqrt(n) * np.eye(n)
    return a[..., ::-1, :].copy()


def _spd(rng, n, *batch):
    m = rng.standard_normal((*batch, n, n))
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def _close(got, want, dtype=np.float64, scale=1.0):
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert np.asarray(got).dtype == dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 5), trans=st.sampled_from([0, 1, "T"]),
       lower=st.booleans(), unit=st.booleans(), vector=st.booleans())
def test_solve_triangular(dtype, seed, n, trans, lower, unit, vector):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((n, n)) + 3 * np.eye(n)).astype(dtype)
    b = rng.standard_normal((n,) if vector else (n, 2)).astype(dtype)
    want = sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
    _close(xl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit), want, dtype)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 5), lower=st.booleans())
def test_cholesky_and_cho_solve(seed, n, lower):
    rng = np.random.default_rng(seed)
    a, b, v = _spd(rng, n), rng.standard_normal((n, 3)), rng.standard_normal(n)
    _close(xl.cholesky(a, lower=lower), sl.cholesky(a, lower=lower))
    c = xl.cho_factor(a, lower=lower)
    assert c[1] == lower
    for rhs in (b, v):
        _close(xl.cho_solve(c, rhs), sl.cho_solve(sl.cho_factor(a, lower=lower), rhs))
    _close(xl.solve(a, b, assume_a="pos", lower=lower), sl.solve(a, b, assume_a="pos"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 6), trans=st.sampled_from([0, 1, 2]))
def test_lu_factor_and_lu_solve(dtype, seed, n, trans):
    rng = np.random.default_rng(seed)
    a = _general(rng, n).astype(dtype)
    b = rng.standard_normal((n, 2)).astype(dtype)
    lu, piv = xl.lu_factor(a)
    slu, spiv = sl.lu_factor(a)
    _close(lu, slu, dtype)
    np.testing.assert_array_equal(piv, spiv)
    assert np.asarray(piv).dtype == np.int32
    _close(xl.lu_solve((lu, piv), b, trans=trans), sl.lu_solve((slu, spiv), b, trans=trans),
           dtype)
    _close(xl.lu_solve((lu, piv), b[:, 0]), sl.lu_solve((slu, spiv), b[:, 0]), dtype)


def test_lu_of_a_batch_and_of_traced_pivots():
    rng = np.random.default_rng(1)
    a, b = _general(rng, 4, 3), rng.standard_normal((3, 4, 2))
    lu, piv = xl.lu_factor(a)
    for k in range(3):
        slu, spiv = sl.lu_factor(a[k])
        _close(lu[k], slu)
        np.testing.assert_array_equal(piv[k], spiv)
    x = xf.jit(lambda a, b: xl.lu_solve(xl.lu_factor(a), b), backend="interpreter")(a, b)
    _close(x, np.linalg.solve(a, b))


@pytest.mark.parametrize("dtype,scale", [(dt, s) for dt in (np.float64, np.float32)
                                         for s in (0.0, 1e-3, 0.5, 3.0)] + [(np.float64, 40.0)])
def test_expm(dtype, scale):
    rng = np.random.default_rng(int(scale * 10))
    a = (scale * rng.standard_normal((4, 4))).astype(dtype)
    want = sl.expm(a.astype(np.float64))
    # exp(A)'s conditioning grows with ||A||; relative to the largest entry.
    tol = (1e-13 if dtype == np.float64 else 5e-6) * max(1.0, scale)
    got = xl.expm(a)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())
    jitted = xf.jit(xl.expm, backend="interpreter")(a)  # the squarings chosen in the program
    np.testing.assert_allclose(jitted, want, rtol=0, atol=tol * np.abs(want).max())


def test_expm_of_special_matrices():
    d = np.diag([1.0, -2.0, 0.5])
    np.testing.assert_allclose(xl.expm(d), np.diag(np.exp([1.0, -2.0, 0.5])), rtol=1e-15)
    n = np.array([[0.0, 1.0], [0.0, 0.0]])  # nilpotent: exp(N) = I + N
    np.testing.assert_allclose(xl.expm(n), np.eye(2) + n, atol=1e-16)
    r = np.array([[0.0, -np.pi], [np.pi, 0.0]])  # rotation by π
    np.testing.assert_allclose(xl.expm(r), -np.eye(2), atol=1e-14)
    big = np.array([[-1e4, 0.0], [1.0, -2e4]])
    np.testing.assert_allclose(xl.expm(big), sl.expm(big), atol=1e-300)


def test_block_diag():
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal((2, 3)), rng.standard_normal(2), 5.0, np.zeros((0, 2)),
             rng.standard_normal((1, 1)).astype(np.float32)]
    np.testing.assert_array_equal(xl.block_diag(*parts), sl.block_diag(*parts))
    assert xl.block_diag(*parts).dtype == sl.block_diag(*parts).dtype
    assert xl.block_diag().shape == sl.block_diag().shape
    check_grads(lambda a, b: xl.block_diag(a, b), (parts[0], parts[1]), order=2)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        xl.block_diag(np.ones((2, 2, 2)))


def test_scipy_signatures():
    rng = np.random.default_rng(3)
    a, s, b = _general(rng, 4), _spd(rng, 4), rng.standard_normal((4, 2))
    _close(xl.inv(a), sl.inv(a))
    _close(xl.det(a), sl.det(a))
    _close(xl.solve(a, b), sl.solve(a, b))
    _close(xl.solve(a, b, transposed=True), sl.solve(a, b, transposed=True))
    _close(xl.eigh(s, eigvals_only=True), sl.eigh(s, eigvals_only=True))
    w, v = xl.eigh(s, lower=False)
    _close(w, sl.eigh(s, lower=False)[0])
    _close(np.abs(v), np.abs(sl.eigh(s, lower=False)[1]))
    w, v = xl.eigh(s, a @ a.T + np.eye(4))  # generalized: vᵀ b v = I
    sw, sv = sl.eigh(s, a @ a.T + np.eye(4))
    _close(w, sw)
    _close(np.abs(v), np.abs(sv), scale=10)
    q, r = xl.qr(a)
    _close(np.abs(r), np.abs(sl.qr(a)[1]))
    (r_only,) = xl.qr(a, mode="r")
    _close(np.abs(r_only), np.abs(sl.qr(a, mode="r")[0]))
    _close(xl.svd(a, compute_uv=False), sl.svd(a, compute_uv=False))
    u, sv_, vh = xl.svd(a)
    _close((u * sv_) @ vh, a)
    with pytest.raises(ValueError, match="assume_a"):
        xl.solve(a, b, assume_a="banded")
    with pytest.raises(ValueError, match="square"):
        xl.lu_factor(np.ones((2, 3)))


# ----------------------------------------------------------------------------- derivatives

def test_derivatives_to_second_order():
    rng = np.random.default_rng(5)
    a, s, b = _general(rng, 3), _spd(rng, 3), rng.standard_normal((3, 2))
    checks = [
        (lambda a, b: xl.solve_triangular(a, b, trans=1, lower=True), (a, b)),
        (lambda a, b: xl.solve_triangular(a, b[:, 0], unit_diagonal=True), (a, b)),
        (lambda m, b: xl.cho_solve(xl.cho_factor(m @ m.T + 3 * np.eye(3)), b), (a, b)),
        (lambda a: xl.lu_factor(a)[0], (a,)),
        (lambda a, b: xl.lu_solve(xl.lu_factor(a), b, trans=1), (a, b)),
        (lambda a: xl.expm(0.3 * a), (a,)),
        (lambda a: xl.expm(3 * a), (a,)),  # with squarings
        (lambda a, b: xl.solve(a, b, transposed=True), (a, b)),
        (lambda s: xl.eigh(s + s.T, eigvals_only=True), (s,)),
        (lambda s: xl.cholesky(s @ s.T + np.eye(3)), (s,)),
    ]
    for f, args in checks:
        check_grads(f, args, order=2)


def test_expm_derivative_is_the_frechet_derivative():
    rng = np.random.default_rng(6)
    a, e = rng.standard_normal((2, 4, 4))
    _, t = xf.jvp(xl.expm, (a,), (e,))
    np.testing.assert_allclose(t, sl.expm_frechet(a, e, compute_expm=False), rtol=1e-11,
                               atol=1e-12)


# ----------------------------------------------------------------------------- vmap and jit

def test_vmap_matches_a_loop():
    rng = np.random.default_rng(7)
    a, b = _general(rng, 3, 4), rng.standard_normal((4, 3, 2))

    def f(a, b):
        return (xl.expm(0.5 * a), xl.lu_solve(xl.lu_factor(a), b),
                xl.solve_triangular(a, b, lower=True), xl.cho_solve(xl.cho_factor(a @ a.T), b))
    got = xf.vmap(f)(a, b)
    for k in range(4):
        for g, w in zip(got, f(a[k], b[k])):
            np.testing.assert_allclose(g[k], w, rtol=1e-12, atol=1e-13)


def _program(a, s, b):
    lu = xl.lu_factor(a)
    return {"lu": lu, "lu_solve": xl.lu_solve(lu, b), "lu_solve T": xl.lu_solve(lu, b, trans=1),
            "cho_solve": xl.cho_solve(xl.cho_factor(s), b), "expm": xl.expm(0.7 * a),
            "solve_triangular": xl.solve_triangular(a, b, trans=1, lower=True),
            "block_diag": xl.block_diag(a, b),
            "grad expm": xf.grad(lambda a: xl.expm(a).sum())(0.3 * a)}


def test_jitted_program_agrees_with_the_interpreter():
    rng = np.random.default_rng(8)
    args = (_general(rng, 4), _spd(rng, 4), rng.standard_normal((4, 2)))
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = xf.jit(_program)(*args)
    want = xf.jit(_program, backend="interpreter")(*args)
    for g, w in zip(xf.tree.leaves(got), xf.tree.leaves(want)):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got["expm"], sl.expm(0.7 * args[0]), rtol=1e-12)


@pytest.mark.peers
def test_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.linalg as jl
    a = _general(np.random.default_rng(9), 3)
    np.testing.assert_allclose(xf.grad(lambda a: xl.expm(a).sum())(a),
                               jax.grad(lambda a: jl.expm(a).sum())(a), rtol=1e-10)
    np.testing.assert_allclose(xf.grad(lambda a: xl.lu_factor(a)[0].sum())(a),
                               jax.grad(lambda a: jl.lu_factor(a)[0].sum())(a), rtol=1e-10)


def test_doctests():
    import doctest
    failures, _ = doctest.testmod(xl)
    assert not failures
