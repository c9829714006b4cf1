"""Sparse Jacobians and Hessians: detected patterns, colourings, compressed evaluation.

Patterns must contain every non-zero of the dense Jacobian (on random programs of the fuzzer
and on a table of programs per primitive family, where they must also be exact); colourings
must be valid; sparse values must equal jacfwd, jacrev and hessian; float32 stays float32.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import inputs, random_program

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.core import registry
from xform.transforms import colouring
from xform.transforms.sparsity import HIGHER_ORDER, RULES


def dense_jacobian(f, xs):
    """jacfwd of f in all its arguments, as one (outputs, inputs) matrix."""
    nums = tuple(range(len(xs)))
    blocks = xf.jacfwd(f, argnums=nums)(*xs)
    m = int(np.size(f(*xs)))
    return np.hstack([np.asarray(b).reshape(m, -1) for b in blocks])


def assert_covers(f, *xs, exact=True):
    pattern = xf.sparsity(f, argnums=tuple(range(len(xs))))(*xs).toarray()
    nonzero = dense_jacobian(f, xs) != 0
    assert not (nonzero & ~pattern).any(), "the pattern misses non-zeros"
    if exact:
        np.testing.assert_array_equal(pattern, nonzero)
    return pattern


# ----------------------------------------------------------------------------- patterns

@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_random_programs_patterns_and_values(seed):
    rng = np.random.default_rng(seed)
    program = random_program(rng)
    xs = inputs(program, rng)
    assert_covers(program, *xs, exact=False)
    nums = tuple(range(len(xs)))
    dense = dense_jacobian(program, xs)
    for mode in ("fwd", "rev"):
        got = xf.jacobian(program, argnums=nums, sparsity="auto", mode=mode)(*xs)
        assert sp.isspmatrix_csr(got)
        np.testing.assert_allclose(got.toarray(), dense, rtol=1e-12, atol=1e-12)


rng = np.random.default_rng(0)
X6 = rng.normal(size=6)
A46 = np.where(rng.random((4, 6)) < 0.5, rng.normal(size=(4, 6)), 0.0)


@xf.custom_jvp
def cube(x):
    return x ** 3


cube.defjvp(lambda p, t: (cube(p[0]), 3 * p[0] ** 2 * t[0]))

# (name, function of X6, whether the pattern is exact)
FAMILIES = [
    ("elementwise", lambda x: xnp.sin(x) * xnp.exp(x) / (1 + x ** 2), True),
    ("broadcast-scalar", lambda x: x * x[0], True),
    ("stencil", lambda x: x[2:] - 2 * x[1:-1] + x[:-2], True),
    ("known-zero-product", lambda x: x * np.array([1.0, 0, 2, 0, 3, 0]), True),
    ("reshape-transpose", lambda x: x.reshape(2, 3).T * 2, True),
    ("rev-pad-concat", lambda x: xnp.concatenate([xnp.flip(x), xnp.pad(x, 1) ** 2]), True),
    ("gather", lambda x: x[np.array([5, 0, 0, 3])] ** 2, True),
    ("gather-traced-index", lambda x: x[xnp.argmax(x)] * x[0], False),
    ("scatter-add", lambda x: xnp.asarray(x).at[np.array([1, 4])].add(x[:2] ** 2), True),
    ("scatter-set", lambda x: xnp.asarray(x).at[np.array([1, 4])].set(x[:2] ** 2), True),
    ("reduce", lambda x: xnp.sum(x.reshape(2, 3) ** 2, axis=0), True),
    ("reduce-max", lambda x: xnp.max(x.reshape(3, 2), axis=1), False),
    ("cumsum", lambda x: xnp.cumsum(x.reshape(2, 3), axis=1), True),
    ("cumprod", lambda x: xnp.cumprod(x), True),
    ("sort", lambda x: xnp.sort(x.reshape(2, 3), axis=1), False),
    ("dot-known", lambda x: A46 @ x, True),
    ("dot-both", lambda x: x.reshape(2, 3) @ x.reshape(3, 2), True),
    ("comparison-select", lambda x: xnp.where(x > 0, x, 2 * x), False),
    ("known-select", lambda x: xnp.where(np.arange(6) > 2, x, x[::-1]), True),
    ("stop-gradient", lambda x: x * xf.stop_gradient(x) + xnp.floor(x), True),
    ("cond", lambda x: lax.cond(x[0] > 0, lambda a: a * 2, lambda a: a[::-1], x), False),
    ("cond-known", lambda x: lax.cond(True, lambda a: a * 2, lambda a: a[::-1], x), True),
    ("scan", lambda x: lax.scan(lambda c, xi: (c * xi, c + xi), 1.0, x)[1], True),
    ("while", lambda x: lax.while_loop(lambda c: c[0] < 3,
                                       lambda c: (c[0] + 1, c[1] * xnp.roll(c[1], 1)),
                                       (0, x))[1], False),
    ("fori", lambda x: lax.fori_loop(0, 2, lambda i, v: v * xnp.roll(v, 1), x), False),
    ("jit", lambda x: xf.jit(lambda a: a[1:] * a[:-1], backend="interpreter")(x), True),
    ("checkpoint", lambda x: xf.checkpoint(lambda a: xnp.sin(a[1:]) * a[:-1])(x), True),
    ("custom-jvp", lambda x: cube(x[::-1]), True),
    ("linalg-solve", lambda x: xnp.linalg.solve(np.eye(6) + 1, x), True),
]


@pytest.mark.parametrize("name,f,exact", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_patterns(name, f, exact):
    assert_covers(f, X6, exact=exact)


def test_long_scan_fixed_point_covers():
    f = lambda x: lax.scan(lambda c, xi: (c + xi ** 2, c * xi), 0.0, x)[1]
    assert_covers(f, np.linspace(0.5, 1.5, 100), exact=False)


def test_laplacian_2d_pattern_and_values():
    n = 12

    def laplacian(u):
        v = xnp.pad(u.reshape(n, n), 1)
        return (v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:]
                - 4 * v[1:-1, 1:-1]).ravel()
    u = np.random.default_rng(1).normal(size=n * n)
    one_d = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n))
    expected = sp.kronsum(one_d, one_d).toarray()
    jac = xf.jacobian(laplacian, sparsity="auto")
    got = jac(u)
    np.testing.assert_array_equal(got.toarray(), expected)
    np.testing.assert_array_equal(xf.sparsity(laplacian)(u).toarray(), expected != 0)
    assert jac.plans((u,)).n_colours <= 7  # greedy in natural order; 5 is optimal


LIBRARY_PRIMITIVES = sorted(registry)  # at import, before any test defines its own


def test_every_primitive_has_a_rule_or_is_known_conservative():
    precise = set(RULES) | set(HIGHER_ORDER)
    conservative = {"window_select_gather", "window_select_scatter",
                    "triangular_solve", "cholesky", "solve", "det", "slogdet", "eigh", "qr",
                    "svd", "lu", "custom_vjp_lin", "debug_callback", "threefry2x32",
                    "bitwise_xor"}
    assert precise | conservative >= set(LIBRARY_PRIMITIVES), \
        sorted(set(LIBRARY_PRIMITIVES) - precise - conservative)
    assert not precise & conservative


WINDOWS = [
    ("convolve", lambda x: xnp.convolve(x, np.array([1.0, 0.0, 1.0]), mode="same"), True),
    ("convolve-traced-kernel", lambda x: xnp.convolve(x[:4], x[4:] ** 2), False),
    ("conv-2d", lambda x: lax.conv(x.reshape(1, 1, 2, 3), np.ones((2, 1, 2, 2)), (1, 1),
                                   "SAME").ravel(), True),
    ("conv-2d-traced-kernel", lambda x: lax.conv(np.ones((1, 1, 3, 3)), x[:4].reshape(
        1, 1, 2, 2) ** 2, (1, 1), "VALID").ravel(), True),
    ("conv-strided-dilated", lambda x: lax.conv_general_dilated(
        x.reshape(1, 1, 6), np.ones((1, 1, 2)), (2,), ((1, 1),), (1,), (2,)).ravel(), True),
    ("conv-groups", lambda x: lax.conv_general_dilated(
        x.reshape(1, 2, 3), np.ones((2, 1, 2)), (1,), "VALID",
        feature_group_count=2).ravel(), False),
    ("reduce-window-sum", lambda x: lax.reduce_window(x.reshape(2, 3), 0.0, lax.add, (1, 2),
                                                      (1, 1), "SAME").ravel(), True),
    ("reduce-window-max", lambda x: lax.reduce_window(x, -np.inf, lax.max, (3,), (2,),
                                                      "VALID"), False),
]


@pytest.mark.parametrize("name,f,exact", WINDOWS, ids=[f[0] for f in WINDOWS])
def test_window_patterns(name, f, exact):
    assert_covers(f, X6, exact=exact)


def test_conservative_fallback_covers():
    assert_covers(lambda x: xnp.linalg.cholesky(xnp.outer(x, x) + np.eye(6)).ravel(), X6,
                  exact=False)


def test_hessian_sparsity():
    f = lambda x: xnp.sum(x[1:] * x[:-1]) + xnp.sum(x[::2] ** 3) + xnp.sum(x)
    x = np.linspace(-1, 1, 7)
    pattern = xf.hessian_sparsity(f)(x).toarray()
    np.testing.assert_array_equal(pattern, np.asarray(xf.hessian(f)(x)) != 0)


# ----------------------------------------------------------------------------- colourings

patterns = st.builds(
    lambda m, n, density, seed: sp.random(m, n, density, format="csr",
                                          random_state=seed, dtype=bool),
    st.integers(1, 30), st.integers(1, 30), st.floats(0.0, 0.5), st.integers(0, 10 ** 6))


@given(patterns)
def test_colourings_are_valid(p):
    cols, rows = colouring.column_colouring(p), colouring.row_colouring(p)
    coo = p.tocoo()
    for a, b, colours in ((coo.row, coo.col, cols), (coo.col, coo.row, rows)):
        # no two columns (rows) of one colour share a row (column)
        keys = a * (colours.max(initial=0) + 1) + colours[b]
        assert np.unique(keys).size == keys.size
    values = sp.csr_matrix((np.random.default_rng(0).normal(size=p.nnz), p.indices,
                            p.indptr), p.shape)
    compressed = (values @ colouring.seeds(cols, float).T).T
    np.testing.assert_array_equal(
        colouring.from_columns(p, cols)(compressed).toarray(), values.toarray())
    compressed = colouring.seeds(rows, float) @ values
    np.testing.assert_array_equal(
        colouring.from_rows(p, rows)(compressed).toarray(), values.toarray())


squares = st.builds(
    lambda n, density, seed: sp.random(n, n, density, format="csr", random_state=seed,
                                       dtype=bool),
    st.integers(1, 30), st.floats(0.0, 0.3), st.integers(0, 10 ** 6))


@given(squares)
def test_star_colouring_recovers_symmetric_matrices(p):
    h = sp.csr_matrix(p + p.T + sp.identity(p.shape[0], dtype=bool), dtype=bool)
    h.sort_indices()
    star = colouring.star_colouring(h)
    coo = h.tocoo()
    off = coo.row != coo.col
    assert (star[coo.row[off]] != star[coo.col[off]]).all()
    assert colouring.star_recoverable(h, star)
    a = sp.random(*h.shape, 0.3, random_state=1)
    values = sp.csr_matrix(((a + a.T).toarray() + 1.0) * h.toarray())
    compressed = (values @ colouring.seeds(star, float).T).T
    np.testing.assert_allclose(colouring.symmetric_entries(h, star)(compressed).toarray(),
                               values.toarray())


def test_banded_colouring_is_optimal():
    p = sp.diags([1, 1, 1, 1, 1], [-2, -1, 0, 1, 2], shape=(1000, 1000), dtype=bool).tocsr()
    assert colouring.column_colouring(p).max() == 4


# ----------------------------------------------------------------------------- Jacobians

def residual(u):
    """A 1-D nonlinear PDE residual (Bratu): a 3-point stencil plus exp."""
    h = 1.0 / (u.size + 1)
    v = xnp.pad(u, 1)
    return (v[2:] - 2 * v[1:-1] + v[:-2]) / h ** 2 + xnp.exp(u)


def test_stencil_jacobian_large_and_equal_to_dense():
    u = np.linspace(0, 1, 300)
    jac = xf.jacobian(residual, sparsity="auto")
    np.testing.assert_allclose(jac(u).toarray(), xf.jacfwd(residual)(u), rtol=1e-13)
    n = 10_000
    u = np.linspace(0, 1, n)
    got = jac(u)
    h2 = (n + 1.0) ** 2
    expected = sp.diags([np.full(n - 1, h2), np.exp(u) - 2 * h2, np.full(n - 1, h2)],
                        [-1, 0, 1])
    assert jac.plans((u,)).n_colours == 3 and got.nnz == 3 * n - 2
    np.testing.assert_allclose(got[:50, :50].toarray(), expected.tocsr()[:50, :50].toarray())
    assert abs(got - expected).max() < 1e-6 * h2


def test_modes_and_dense_jacobian():
    wide = lambda x: xnp.sum(x ** 2) * x[:2]
    x = np.linspace(1, 2, 8)
    jac = xf.jacobian(wide, sparsity="auto")
    jac(x)
    assert jac.plans((x,)).mode == "rev"
    np.testing.assert_allclose(xf.jacobian(wide)(x), xf.jacfwd(wide)(x))
    np.testing.assert_allclose(xf.jacobian(wide, mode="rev")(x), xf.jacfwd(wide)(x))
    tall = lambda x: xnp.outer(x, x).ravel()
    np.testing.assert_allclose(xf.jacobian(tall, mode="auto")(x[:3]), xf.jacfwd(tall)(x[:3]))


def test_pytrees_argnums_and_given_pattern():
    def f(p, q):
        return {"a": p["x"] * q, "b": xnp.sum(p["y"])}
    p, q = {"x": np.arange(1.0, 4.0), "y": np.ones(2)}, np.full(3, 2.0)
    got = xf.jacobian(f, sparsity="auto")(p, q).toarray()
    expected = np.zeros((4, 5))
    expected[np.arange(3), np.arange(3)] = 2.0
    expected[3, 3:] = 1.0
    np.testing.assert_array_equal(got, expected)
    both = xf.jacobian(f, argnums=(0, 1), sparsity="auto")(p, q).toarray()
    np.testing.assert_array_equal(both[:, 5:], np.vstack([np.diag(np.arange(1.0, 4.0)),
                                                          np.zeros((1, 3))]))
    given_pattern = xf.jacobian(f, sparsity=expected != 0)(p, q)
    np.testing.assert_array_equal(given_pattern.toarray(), expected)
    with pytest.raises(ValueError, match="shape"):
        xf.jacobian(f, sparsity=np.ones((2, 2), bool))(p, q)


def test_other_arguments_are_constants():
    """Arguments outside argnums stay concrete (Python control flow on them works) and the
    cached pattern follows their values."""
    def f(x, idx, steps):
        for _ in range(steps):
            x = x * x[0]
        return x[idx]
    jac = xf.jacobian(f, sparsity="auto")
    x = np.linspace(1, 2, 4)
    for idx, steps in (([1, 2], 1), ([3, 0], 1), ([3, 0], 2)):
        idx = np.array(idx)
        np.testing.assert_allclose(jac(x, idx, steps).toarray(),
                                   xf.jacfwd(f)(x, idx, steps))
    assert xf.sparsity(f)(x, np.array([2]), 0).toarray().tolist() == [[False] * 2 + [True, False]]


def test_docstring_examples():
    import doctest

    import xform.api
    import xform.sparse
    import xform.transforms.colouring
    import xform.transforms.sparsity
    for module in (xform.sparse, xform.transforms.colouring, xform.transforms.sparsity):
        assert doctest.testmod(module).failed == 0
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(xform.api.jacobian, "jacobian", globs={}):
        assert runner.run(test).failed == 0


def test_errors():
    with pytest.raises(ValueError, match="sparsity"):
        xf.jacobian(residual, sparsity="yes")
    with pytest.raises(ValueError, match="mode"):
        xf.jacobian(residual, sparsity="auto", mode="sideways")
    with pytest.raises(TypeError, match="floating-point"):
        xf.jacobian(lambda i: i * 2.0, sparsity="auto")(np.arange(3))
    with pytest.raises(TypeError, match="concrete"):
        xf.grad(lambda x: xf.jacobian(residual, sparsity="auto")(x).sum())(np.ones(3))
    with pytest.raises(TypeError, match="scalar"):
        xf.hessian(residual, sparsity="auto")(np.ones(3))


@pytest.mark.parametrize("backend", ["interpreter", pytest.param("numba", marks=pytest.mark.slow)])
def test_under_jit(backend):
    """A jitted function stays one call equation: the detector looks inside it, and its
    batched derivative runs on the jit's backend (Numba's two compiles: a slow test)."""
    jitted = xf.jit(residual, backend=backend)
    u = np.linspace(0, 1, 40)
    np.testing.assert_allclose(xf.jacobian(jitted, sparsity="auto")(u).toarray(),
                               xf.jacfwd(residual)(u), rtol=1e-12)


def test_float32():
    u = np.linspace(0, 1, 40)
    u32 = u.astype(np.float32)
    for mode in ("fwd", "rev"):
        got = xf.jacobian(residual, sparsity="auto", mode=mode)(u32)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.toarray(), xf.jacfwd(residual)(u), rtol=1e-5)
    f = lambda x: xnp.sum(xnp.sin(x[1:] * x[:-1]))
    h = xf.hessian(f, sparsity="auto")(u32)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h.toarray(), xf.hessian(f)(u), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- Hessians

def chained_rosenbrock(x):
    return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def arrow(x):
    """Couples the first variable with every other one: star colouring needs 2 colours."""
    return xnp.sum(x[0] * x[1:] ** 2) + xnp.sum(xnp.sin(x))


@pytest.mark.parametrize("f,colours", [(chained_rosenbrock, 3), (arrow, 2)])
def test_sparse_hessian_values(f, colours):
    x = np.linspace(-1, 1.5, 30)
    hess = xf.hessian(f, sparsity="auto")
    got = hess(x)
    np.testing.assert_allclose(got.toarray(), xf.hessian(f)(x), rtol=1e-12, atol=1e-12)
    assert hess.plans((x,)).n_colours == colours
    x2 = x[::-1].copy()
    np.testing.assert_allclose(hess(x2).toarray(), xf.hessian(f)(x2), rtol=1e-12, atol=1e-12)


def test_dense_hessian_unchanged():
    x = np.linspace(0.5, 1, 4)
    np.testing.assert_allclose(xf.hessian(chained_rosenbrock)(x),
                               xf.jacfwd(xf.jacrev(chained_rosenbrock))(x))


@pytest.mark.slow
def test_stencil_speed_against_dense():
    """The target: at n = 10³ already far more than 100x faster than dense jacfwd, and about
    (colours + 1) evaluations of the function (`python -m benchmarks.sparse` measures it)."""
    import time

    u = np.linspace(0, 1, 1000)
    jac, dense = xf.jacobian(residual, sparsity="auto"), xf.jacfwd(residual)
    jac(u)

    def best(fn, k=5):
        times = []
        for _ in range(k):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)
    assert best(lambda: dense(u)) > 100 * best(lambda: jac(u))
