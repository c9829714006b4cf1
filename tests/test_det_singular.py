"""Derivatives of det at singular matrices: det is a polynomial, so its gradient (the cofactor
matrix) and its Hessian exist everywhere; they are checked against minors computed by numpy and
finite differences of them, at matrices of every rank, including ones whose LU factorisation
has more zero pivots than the matrix has null directions."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp


def cofactors(a):
    """C[i, j] = (−1)^(i+j) det(a without row i and column j), by numpy."""
    n = a.shape[-1]
    if n == 1:
        return np.ones_like(a)
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                      for j in range(n)] for i in range(n)])


def fd_hessian(a, eps=1e-4):
    """d²det/da² as central differences of the cofactor matrix (exact for n <= 3, where
    the cofactors are at most quadratic)."""
    h = np.zeros(a.shape * 2)
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = eps
        h[(..., *idx)] = (cofactors(a + e) - cofactors(a - e)) / (2 * eps)
    return h


def hessian_2x2():
    """det [[a, b], [c, d]] = ad − bc: a constant Hessian."""
    h = np.zeros((2, 2, 2, 2))
    h[0, 0, 1, 1] = h[1, 1, 0, 0] = 1.0
    h[0, 1, 1, 0] = h[1, 0, 0, 1] = -1.0
    return h


CASES = {
    "rank1_2x2": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "zero_2x2": np.zeros((2, 2)),
    "nilpotent_2x2": np.array([[0.0, 1.0], [0.0, 0.0]]),  # rank 1, two zero LU pivots
    "rank1_3x3": np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0]),
    "rank2_3x3": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
    "nilpotent_3x3": np.eye(3, k=1),  # rank 2, three zero LU pivots
    "zero_3x3": np.zeros((3, 3)),
    "rank3_4x4": np.array([[1.0, 2, 3, 4], [2, 4, 6, 8], [0, 1, 0, 0], [0, 0, 1, 0]]),
    "rank2_4x4": np.array([[1.0, 2, 3, 4], [2, 4, 6, 8], [3, 6, 9, 12], [0, 0, 1, 0]]),
    "nilpotent_4x4": np.eye(4, k=1),  # rank 3, four zero LU pivots
    "zero_5x5": np.zeros((5, 5)),
    "regular_3x3": np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0], [1.0, 0.2, 0.7]]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_det_gradient_is_the_cofactor_matrix(name):
    a = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = xf.grad(xnp.linalg.det)(a)
    np.testing.assert_allclose(g, cofactors(a), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_det_hessian_at_singular_matrices(name):
    a = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = xf.hessian(xnp.linalg.det)(a)
    scale = max(1.0, np.abs(a).max()) ** (a.shape[0] - 2)
    np.testing.assert_allclose(h, fd_hessian(a), rtol=1e-7, atol=1e-7 * scale)
    if a.shape == (2, 2):
        np.testing.assert_allclose(h, hessian_2x2(), rtol=1e-12, atol=1e-12)


@st.composite
def low_rank(draw):
    """An n × n matrix of exact rank r (small integer factors), n <= 4, r >= n − 3."""
    n = draw(st.integers(1, 4))
    r = draw(st.integers(max(0, n - 3), n))
    ints = st.integers(-3, 3).map(float)
    x = np.array(draw(st.lists(ints, min_size=n * r, max_size=n * r))).reshape(n, r)
    y = np.array(draw(st.lists(ints, min_size=n * r, max_size=n * r))).reshape(r, n)
    return x @ y


@given(low_rank())
def test_det_derivatives_at_low_rank_matrices(a):
    g, h = xf.grad(xnp.linalg.det)(a), xf.hessian(xnp.linalg.det)(a)
    scale = max(1.0, np.abs(a).max()) ** a.shape[0]
    np.testing.assert_allclose(g, cofactors(a), rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(h, fd_hessian(a), rtol=1e-6, atol=1e-8 * scale)


def _stack():
    stack = np.stack([CASES[k] for k in ("rank1_3x3", "rank2_3x3", "nilpotent_3x3",
                                         "zero_3x3", "regular_3x3")])
    return stack, np.stack([fd_hessian(m) for m in stack])


def test_det_hessian_of_stacks_under_vmap():
    stack, expected = _stack()
    h = xf.vmap(xf.hessian(xnp.linalg.det))(stack)
    np.testing.assert_allclose(h, expected, rtol=1e-7, atol=1e-7)


@pytest.mark.slow  # about a minute of compiling
def test_det_hessian_of_stacks_under_jit():
    stack, expected = _stack()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to the interpreter
        h = xf.jit(xf.vmap(xf.hessian(xnp.linalg.det)))(stack)
    np.testing.assert_allclose(h, expected, rtol=1e-7, atol=1e-7)


def test_det_hessian_in_float32():
    a = CASES["rank2_3x3"].astype(np.float32)
    h = xf.hessian(xnp.linalg.det)(a)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h, fd_hessian(CASES["rank2_3x3"]), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("n", [6, 50])
def test_det_gradient_of_large_near_singular_matrices(n):
    """Rank n − 1 up to rounding: the gradient is the cofactor matrix, up to rounding."""
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n - 1)) @ rng.standard_normal((n - 1, n))
    u, s, vt = np.linalg.svd(a)
    s[-1] = 0.0
    expected = np.linalg.det(u) * np.linalg.det(vt) * (vt.T * np.prod(s[:-1]) * (
        np.arange(n) == n - 1)) @ u.T  # adj(a) = ±V adj(S) Uᵀ
    g = xf.grad(xnp.linalg.det)(a)
    np.testing.assert_allclose(g, expected.T, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
