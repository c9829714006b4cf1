"""The Numba lowerings of the linalg and control-flow primitives agree with the interpreter.

Each program runs under `xf.jit` with both backends and must give the same values, shapes and
dtypes, for float32 and float64, with batch dimensions and under grad, vmap and jvp. A fallback
to the interpreter (a primitive without a lowering) fails the test instead of warning. Every
distinct program costs a Numba compile, so by default each case runs at one shape (hypothesis
draws the values) and `-m slow` sweeps random shapes.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.backends import codegen
from xform.backends import numba as numba_backend
from xform.core import registry
from xform.primitives import linalg as lp
from xform.primitives.lowering import BROADCAST, INLINE, Indexed, Reduction, Scalar

DTYPES = [np.float32, np.float64]
TOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-9}


def run_numba(f, *args):
    """jit(f)(*args) on the Numba backend; a fallback to the interpreter raises."""
    numba_backend._warned.clear()  # the fallback warning is only given once per message
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return xf.jit(f, backend="numba")(*args)


def assert_agree(f, *args, align=None):
    """jit(f) on both backends: the same number of outputs, shapes, dtypes and values.
    `align(got, want)` may first fix conventions that LAPACK builds leave open (signs)."""
    got = xf.tree.leaves(run_numba(f, *args))
    want = xf.tree.leaves(xf.jit(f, backend="interpreter")(*args))
    assert len(got) == len(want)
    got, want = [np.asarray(g) for g in got], [np.asarray(w) for w in want]
    if align is not None:
        got = align(got, want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert (g.shape, g.dtype) == (w.shape, w.dtype), f"output {k}"
        if w.dtype in TOL:
            np.testing.assert_allclose(g, w, rtol=TOL[w.dtype], atol=TOL[w.dtype],
                                       err_msg=f"output {k}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {k}")


# ----------------------------------------------------------------------------- registry

@pytest.mark.parametrize("name", sorted(registry))
def test_every_primitive_has_a_numba_lowering(name):
    rule = registry[name].numba
    assert (rule is INLINE or rule is BROADCAST
            or isinstance(rule, (Scalar, Reduction, Indexed))
            or callable(rule)), f"the primitive '{name}' has no Numba lowering"


# ----------------------------------------------------------------------------- linalg
#
# Each case is one program covering a primitive's params and both a batched and (where the
# output is 0-d) an unbatched operand. Eigenvectors and singular vectors are unique up to sign
# only, and numpy's and scipy's LAPACK builds may choose differently in float32: `align` flips
# the computed vectors onto the reference's before comparing.

def _signs(got, want):
    """Per column of (..., m, k) stacks: +1 or -1 turning `got`'s column towards `want`'s."""
    s = np.sign((got * want).sum(-2, keepdims=True))
    return np.where(s == 0, 1, s).astype(got.dtype)


def _align_columns_and_rows(pairs):
    """An `align` for outputs (col, row) at the index pairs `pairs` (Q with R, U with Vh):
    each column of the first and the matching row of the second flip together."""
    def align(got, want):
        got = list(got)
        for c, r in pairs:
            s = _signs(got[c], want[c])
            got[c] = got[c] * s
            if r is not None:
                got[r] = got[r] * np.swapaxes(s, -1, -2)
        return got
    return align


def _square(rng, dtype, batch, n):
    """A well-conditioned general stack (far from singular)."""
    return (rng.standard_normal((*batch, n, n)) + 2 * np.sqrt(n) * np.eye(n)).astype(dtype)


def _spd_with_noise_above(rng, dtype, batch, n):
    """Symmetric positive-definite in its lower triangle, noise above the diagonal (which the
    lowerings must not read)."""
    m = rng.standard_normal((*batch, n, n))
    spd = m @ np.swapaxes(m, -1, -2) + n * np.eye(n)
    noise = np.triu(rng.standard_normal((*batch, n, n)), 1)
    return (np.tril(spd) + noise).astype(dtype)


def _cholesky_case(rng, dtype, batch, n, k):
    return (lambda a: lp.cholesky(a)), [_spd_with_noise_above(rng, dtype, batch, n)], None


# (left_side, lower, transpose_a, unit_diagonal): by default a sample that has each flag both
# ways (every solve is inlined into the program, so each costs compile time); all with -m slow.
TRIANGULAR_FLAGS = [(True, True, False, False), (True, False, True, True),
                    (False, True, True, False), (False, False, False, True)]
EVERY_TRIANGULAR_FLAGS = list(itertools.product((True, False), repeat=4))


def _triangular_solve_case(rng, dtype, batch, n, k, flags=TRIANGULAR_FLAGS):
    def f(a, b_left, b_right):
        return [lp.triangular_solve(a, b_left if left else b_right, left_side=left,
                                    lower=lower, transpose_a=trans, unit_diagonal=unit)
                for left, lower, trans, unit in flags]
    a = _square(rng, dtype, batch, n)
    b_left = rng.standard_normal((*batch, n, k)).astype(dtype)
    b_right = rng.standard_normal((*batch, k, n)).astype(dtype)
    return f, [a, b_left, b_right], None


def _solve_case(rng, dtype, batch, n, k):
    b = rng.standard_normal((*batch, n, k)).astype(dtype)
    return (lambda a, b: lp.solve(a, b)), [_square(rng, dtype, batch, n), b], None


def _det_slogdet_case(rng, dtype, batch, n, k):
    def f(a, single):
        return [lp.det(a), *lp.slogdet(a), lp.det(single), *lp.slogdet(single)]
    a = rng.standard_normal((*batch, n, n)).astype(dtype)  # some negative determinants
    return f, [a, rng.standard_normal((n, n)).astype(dtype)], None


def _eigh_case(rng, dtype, batch, n, k):
    def f(a):
        return [*lp.eigh(a, lower=True), *lp.eigh(a, lower=False)]
    a = rng.standard_normal((*batch, n, n)).astype(dtype)  # the two triangles differ
    return f, [a], _align_columns_and_rows([(1, None), (3, None)])


def _qr_case(rng, dtype, batch, n, k):
    def f(tall, wide):
        return [*lp.qr(tall), *lp.qr(wide)]
    tall = rng.standard_normal((*batch, n + k, n)).astype(dtype)
    wide = rng.standard_normal((*batch, n, n + k)).astype(dtype)
    return f, [tall, wide], _align_columns_and_rows([(0, 1), (2, 3)])


def _svd_case(rng, dtype, batch, n, k):
    def f(tall, wide):
        return [*lp.svd(tall), *lp.svd(wide), *lp.svd(tall, compute_uv=False)]
    tall = rng.standard_normal((*batch, n + k, n)).astype(dtype)
    wide = rng.standard_normal((*batch, n, n + k)).astype(dtype)
    return f, [tall, wide], _align_columns_and_rows([(0, 2), (3, 5)])


LINALG_CASES = {
    "cholesky": _cholesky_case,
    "triangular_solve": _triangular_solve_case,
    "solve": _solve_case,
    "det_slogdet": _det_slogdet_case,
    "eigh": _eigh_case,
    "qr": _qr_case,
    "svd": _svd_case,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(LINALG_CASES))
@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_linalg_lowering_agrees_with_the_interpreter(name, dtype, seed):
    f, args, align = LINALG_CASES[name](np.random.default_rng(seed), dtype, (2, 3), 3, 2)
    assert_agree(f, *args, align=align)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LINALG_CASES))
@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       batch=st.lists(st.integers(0, 3), max_size=2).map(tuple), n=st.integers(1, 5),
       k=st.integers(1, 3))
def test_linalg_lowering_agrees_at_random_shapes(name, seed, dtype, batch, n, k):
    f, args, align = LINALG_CASES[name](np.random.default_rng(seed), dtype, batch, n, k)
    assert_agree(f, *args, align=align)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_triangular_solve_with_every_combination_of_flags(dtype):
    f, args, _ = _triangular_solve_case(np.random.default_rng(0), dtype, (2,), 3, 2,
                                        EVERY_TRIANGULAR_FLAGS)
    assert_agree(f, *args)


@pytest.mark.parametrize("name", ["cholesky", "solve", "det_slogdet", "eigh", "qr"])
def test_a_non_finite_matrix_gives_nans_instead_of_an_error(name):
    # Numba's np.linalg raises on NaN where numpy mostly returns NaNs; the kernels give NaNs
    # for that matrix alone. (The programs are the table's float64 ones: no new compile.)
    f, args, _ = LINALG_CASES[name](np.random.default_rng(0), np.float64, (2, 3), 3, 2)
    want = xf.tree.leaves(xf.jit(f, backend="interpreter")(*args))
    poisoned = [a.copy() for a in args]
    for a in poisoned:
        if a.ndim == 4:  # a batched operand: poison both triangles of its matrix [0, 1]
            a[0, 1, 1, 0] = a[0, 1, 0, 1] = np.nan
    got = xf.tree.leaves(run_numba(f, *poisoned))
    for g, w in zip(got, want):
        if np.shape(w)[:2] == (2, 3):
            assert np.isnan(g[0, 1]).all()
            g[0, 1] = w[0, 1]
            np.testing.assert_allclose(g, w, rtol=TOL[w.dtype], atol=TOL[w.dtype])


def test_linalg_errors_match_the_interpreter():
    # One jitted function per program: its compiled code is reused for the failing call.
    for f, good, bad in [(lp.cholesky, 2 * np.eye(2), -np.eye(2)),
                         (lp.solve, (np.eye(2), np.ones((2, 1))), (np.zeros((2, 2)),
                                                                   np.ones((2, 1))))]:
        good, bad = (good if isinstance(good, tuple) else (good,),
                     bad if isinstance(bad, tuple) else (bad,))
        jitted = xf.jit(f, backend="numba")
        jitted(*good)
        with pytest.raises(np.linalg.LinAlgError):
            jitted(*bad)
        with pytest.raises(np.linalg.LinAlgError):
            xf.jit(f, backend="interpreter")(*bad)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_grad_through_every_decomposition(dtype):
    rng = np.random.default_rng(0)
    a = _square(rng, dtype, (2,), 3)
    spd = _spd_with_noise_above(rng, dtype, (2,), 3)
    b = rng.standard_normal((2, 3, 2)).astype(dtype)

    def loss(a, spd, b):
        q, r = lp.qr(a)
        u, s, vh = lp.svd(a)
        w, v = lp.eigh(spd)
        _, logdet = lp.slogdet(a)
        terms = [lp.solve(a, b), lp.triangular_solve(r, b, lower=False), lp.cholesky(spd),
                 lp.det(a), logdet, q * r, s, u[..., 0] * vh[..., 0, :], w, v * v]
        return sum(xnp.sum(xnp.sin(t)) for t in terms)
    assert_agree(xf.grad(loss, argnums=(0, 1, 2)), a, spd, b)


def test_vmap_of_decompositions():
    rng = np.random.default_rng(1)
    a, spd = _square(rng, np.float64, (4,), 3), _spd_with_noise_above(rng, np.float64, (4,), 3)
    assert_agree(xf.vmap(lambda a, spd: [lp.det(a), lp.cholesky(spd)]), a, spd)


# ----------------------------------------------------------------------------- control flow

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_cond_and_switch(dtype):
    def f(i, x, c):
        two = lax.cond(x.sum() > 0, lambda x: (x * c, c.sum()), lambda x: (-x, c[0]), x)
        three = lax.switch(i, [lambda x: x, lambda x: xnp.sin(x) * c, lambda x: x * (x @ x)], x)
        return two, three
    x = np.linspace(-1, 0.5, 3).astype(dtype)
    c = np.array([0.5, 2.0, -1.0], dtype)
    for i in (-2, 0, 1, 2, 9):  # out-of-range indices are clamped
        for sign in (1, -1):
            assert_agree(f, i, sign * x, c)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_while_loop_with_consts_and_swapped_carries(dtype):
    def f(x, limit, scale):
        def body(carry):
            i, a, b, t = carry
            return i + 1, b * scale, a + t, t * scale
        return lax.while_loop(lambda c: xnp.logical_and(c[0] < 10, c[3] < limit), body,
                              (0, x, 2 * x, x.sum()))
    x = np.array([[0.5, 1.0], [1.5, -2.0]], dtype)
    assert_agree(f, x, dtype(40), dtype(1.5))
    assert_agree(f, x, dtype(-1), dtype(1.5))  # zero iterations


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_scan_with_consts_several_carries_xs_and_ys(dtype):
    def f(xs, ks, w):
        def step(carry, x):
            total, count, v = carry
            x, k = x
            v = xnp.tanh(v * w + x)
            return (total + v.sum(), count + (k > 0), v), (v, k * 2, total > 1)
        init = (np.zeros((), dtype), 0, xnp.zeros_like(w))
        fwd = lax.scan(step, init, (xs, ks))
        back = lax.scan(step, init, (xs, ks), reverse=True)
        return fwd, back, lax.scan(step, init, (xs[:0], ks[:0]))
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((5, 3)).astype(dtype)
    ks = np.array([1, -1, 2, 0, 3])
    assert_agree(f, xs, ks, rng.standard_normal(3).astype(dtype))


def test_fori_loop_with_static_and_traced_bounds():
    def f(x, n):
        static = lax.fori_loop(0, 4, lambda i, c: c * 2 + i, x)
        traced = lax.fori_loop(0, n, lambda i, c: c * 2 + i, x)
        return static, traced
    assert_agree(f, np.arange(3.0), 4)
    assert_agree(f, np.arange(3.0), 0)


def test_nested_control_flow():
    def f(xs, x0):
        def outer(c, x):
            inner, _ = lax.scan(lambda d, y: (d + y * x, d.sum()), c, xs)
            halved = lax.while_loop(lambda v: xnp.abs(v).max() > 1, lambda v: v / 2, inner)
            return lax.cond(x > 0, lambda v: v, lambda v: -v, halved), halved.sum()
        return lax.scan(outer, x0, xs)
    assert_agree(f, np.linspace(-1, 1, 4), np.ones(4))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_grad_of_scan_cond_and_linalg(dtype):
    def loss(a, x0):
        def step(x, m):
            y = lp.solve(m, x[:, None])[:, 0]
            y = lax.cond(y.sum() > 0, lambda y: xnp.sin(y), lambda y: y * y, y)
            return y + x, (m * y).sum()
        x, ys = lax.scan(step, x0, a)
        return xnp.sum(x) + xnp.sum(ys)
    rng = np.random.default_rng(3)
    a = _square(rng, dtype, (4,), 3)
    assert_agree(xf.grad(loss, argnums=(0, 1)), a, rng.standard_normal(3).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_vmap_of_control_flow(dtype):
    def f(x, p):
        n = lax.while_loop(lambda c: c[1] < 8, lambda c: (c[0] * 1.5, c[1] + c[0]), (x, x))
        s = lax.scan(lambda c, y: (c * y, c), x, xnp.ones(3, dtype) * 1.1)
        return n, s, lax.cond(p, lambda x: x + 1, lambda x: x - 1, x)
    x = np.array([0.5, 1.0, 3.0, 9.0], dtype)
    # A batched predicate loops until every example is done; an unbatched one stays a cond.
    assert_agree(xf.vmap(f, in_axes=(0, None)), x, True)


def test_jvp_of_while_loop():
    def f(x, t):
        def body(c):
            return c[0] + 1, xnp.sin(c[1]) * 2
        return xf.jvp(lambda x: lax.while_loop(lambda c: c[0] < 5, body, (0, x)), (x,), (t,))
    assert_agree(f, np.linspace(0, 1, 3), np.ones(3))


def test_generated_code_holds_the_nested_blocks():
    def f(x):
        x = lax.while_loop(lambda v: v.sum() < 10, lambda v: v * 2, x)
        x = lax.cond(x[0] > 1, lambda v: v, lambda v: -v, x)
        return lax.scan(lambda c, y: (c + y, c), 0.0, x)
    source = codegen.generate(xf.make_ir(f)(np.ones(3)))[0]
    compile(source, "<generated>", "exec")  # nested IRs in comments stay on one line
    for block in ("while True:", "<= 0:", "else:", "for step"):
        assert block in source


# ----------------------------------------------------------------------------- matrix products

def _strided(a, layout, rng):
    """`a`'s values laid out C-ordered, F-ordered, or as a strided view into a larger array."""
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "view":
        big = rng.standard_normal((2 * a.shape[0] + 1, 3 * a.shape[1] + 1)).astype(a.dtype)
        view = big[1::2, 2::3]
        view[...] = a
        return view
    return np.ascontiguousarray(a)


@given(st.sampled_from([np.float32, np.float64]), st.integers(0, 6), st.integers(0, 6),
       st.integers(0, 6), st.sampled_from(["C", "F", "view"]), st.sampled_from(["C", "F", "view"]),
       st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_gemm_agrees_with_numpy_for_any_layout(dtype, m, k, n, layout_a, layout_b,
                                               transpose_a, transpose_b, seed):
    from xform.backends.blas import gemm
    rng = np.random.default_rng(seed)
    a = _strided(rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype),
                 layout_a, rng)
    b = _strided(rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype),
                 layout_b, rng)
    out = np.full((m, n), np.nan, dtype)
    gemm(a, b, out, transpose_a, transpose_b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, (a.T if transpose_a else a) @ (b.T if transpose_b else b),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("shapes", [((5,), (5, 3)), ((4, 5), (5,)), ((5,), (5,)),
                                    ((4, 5), (5, 3)), ((3, 0), (0, 4)), ((0,), (0,)),
                                    ((0,), (0, 2)), ((2, 0), (0,)), ((0, 3), (3, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_and_vector_products_lower_to_gemm(shapes, dtype):
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(s).astype(dtype) for s in shapes)
    f = lambda x, y: (xnp.dot(x, y), xnp.dot(x.T, 2.0 * x) if x.ndim == 2 else x)  # noqa: E731
    source, _, _ = codegen.generate(xf.make_ir(f)(x, y))
    assert "K.gemm" in source and "np.dot" not in source
    got, want = xf.jit(f)(x, y), (np.dot(x, y), np.dot(x.T, 2 * x) if x.ndim == 2 else x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, w in zip(got, want):
        assert g.dtype == dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_gemm_fallback_through_numba_dot():
    """The product used when numpy's own CBLAS is not found agrees too."""
    from xform.backends.blas import _gemm_numba
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    out = np.empty((3, 5))
    _gemm_numba(a, b, out, True, True)
    np.testing.assert_allclose(out, a.T @ b.T, rtol=1e-12)
