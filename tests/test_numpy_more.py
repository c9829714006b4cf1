"""xform.numpy's sorting, statistics, NaN-ignoring reductions, selection, index helpers,
dtype queries and the linear algebra built on the SVD: derivatives (check_grads, through
sorting permutations too), vmap against Python loops, a Numba program against the
interpreter, the functions that need concrete values, and their errors. Values against numpy
over random shapes and dtypes are rows of the case table of tests/test_numpy.py."""
from __future__ import annotations

import doctest
import importlib
import warnings

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform.backends import numba as numba_backend
from xform.test_util import check_grads

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-11}


def assert_same(got, want, tol=None):
    got, want = np.asarray(got), np.asarray(want)
    assert (got.shape, got.dtype) == (want.shape, want.dtype), (got, want)
    tol = TOL.get(want.dtype, 0) if tol is None else tol
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def distinct(rng, *shape):
    """Values far enough apart that no small step changes their order."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.37 + rng.uniform(-0.1, 0.1, n)).reshape(shape)


# ----------------------------------------------------------------------------- derivatives

def test_order_statistics_differentiate_through_the_permutation():
    rng = np.random.default_rng(0)
    x, w = distinct(rng, 3, 5), rng.standard_normal((3, 5))
    fns = [
        lambda x: xnp.sort(x, axis=0) * w,
        lambda x: xnp.median(x, axis=1) + xnp.median(x),
        lambda x: xnp.quantile(x, np.array([0.1, 0.5, 0.95]), axis=-1),
        lambda x: xnp.percentile(x, 30, axis=0, method="nearest"),
        lambda x: xnp.take_along_axis(x, xnp.argsort(x, axis=1), axis=1) * w,
        lambda x: xnp.nanquantile(xnp.where(w > 1, np.nan, x), 0.3, axis=1),
        lambda x: xnp.nanmedian(xnp.where(w > 1, np.nan, x), axis=0),
    ]
    for f in fns:
        check_grads(f, (x,), order=2)
    # In q itself: the interpolation weight moves with it.
    check_grads(lambda q: xnp.quantile(x, q, axis=1), (np.array([0.23, 0.61]),), order=2)


def test_statistics_and_selection_derivatives():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    mask = rng.random((3, 6)) > 0.3
    mask[:2, 0] = mask[0, :] = mask[1, :] = True  # no slice below two valid values
    fns = [
        lambda x, y: xnp.cov(x, y) + xnp.corrcoef(x * y, bias_free_rows(x)).sum(),
        lambda x, y: xnp.cov(x, fweights=np.arange(1, 7), aweights=xnp.exp(y[0])),
        lambda x, y: xnp.nanmean(xnp.where(mask, x, np.nan), axis=1) * xnp.nanstd(
            xnp.where(mask, y, np.nan)),
        lambda x, y: xnp.nanvar(xnp.where(mask, x * y, np.nan), axis=0, ddof=1)
        + xnp.nanmax(xnp.where(mask, x, np.nan), axis=1).sum()
        + xnp.nansum(xnp.where(mask, y, np.nan)) * xnp.nanprod(xnp.where(mask, x, np.nan)[0]),
        lambda x, y: xnp.select([x < -0.5, x > 0.5], [x * y, xnp.sin(y)], y * y),
        lambda x, y: xnp.piecewise(x, [x < 0, x > 1], [lambda v: v * v, xnp.sin, 2.0]) * y,
        lambda x, y: xnp.put_along_axis(x, xnp.argmin(y, 1)[:, None], y[:, :1] * 2, 1,
                                        inplace=False),
        lambda x, y: xnp.diff(x * y, n=2, axis=1, prepend=y[:, :1]) + xnp.ediff1d(x)[0],
        lambda x, y: xnp.cross(x[:, :3], y[:, 3:]) * xnp.logaddexp2(x, y)[:, :3],
        lambda x, y: xnp.sum(x * y, where=x > 0, axis=1) + xnp.var(y, where=x < 1)
        + xnp.max(y, axis=0, initial=-1.0, where=x > -1).sum(),
        lambda x, y: xnp.r_[x[0], 1.0, y[1]] * xnp.c_[x[0], y[0]].sum(),
        lambda x, y: xnp.einsum(x, [0, 1], y, [2, 1], [0, 2]),
        lambda x, y: xnp.nan_to_num(xnp.log(x * y)) + xnp.fabs(x) + xnp.rot90(y, 3).T,
    ]
    for f in fns:
        check_grads(f, (x, y), order=2)


def bias_free_rows(x):
    return x[::-1] * 2.0 + 1.0


def test_interp_and_searching():
    rng = np.random.default_rng(2)
    xp, fp = np.sort(distinct(rng, 6)), rng.standard_normal(6)
    x = np.concatenate([rng.uniform(xp[0] - 1, xp[-1] + 1, 5), xp[2:4] + 1e-3])
    check_grads(lambda x, xp, fp: xnp.interp(x, xp, fp, left=-2.0), (x, xp, fp), order=2)
    check_grads(lambda x, fp: xnp.interp(x, xp, fp, period=2.5), (x, fp), order=2)
    # At a sample point the derivative is the slope of the piece to its right (numpy's
    # value there is exact).
    slope = (fp[3] - fp[2]) / (xp[3] - xp[2])
    g = xf.grad(lambda v: xnp.interp(v, xp, fp))(xp[2])
    assert g == pytest.approx(slope)
    v = np.array([xp[1], xp[1] - 0.01, np.nan, 100.0])
    for side in ("left", "right"):
        assert_same(xf.jit(lambda a, v: xnp.searchsorted(a, v, side), backend="interpreter")(
            xp, v), np.searchsorted(xp, v, side))


def test_linear_algebra_on_the_svd():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    deficient = a[:, :2] @ rng.standard_normal((2, 3))
    stack = rng.standard_normal((2, 3, 4))
    jit = xf.jit(lambda f, *args: f(*args), static_argnums=0, backend="interpreter")
    for m in (a, deficient, a.T, stack):
        assert_same(jit(xnp.linalg.pinv, m), np.linalg.pinv(m), 1e-10)
        assert_same(jit(xnp.linalg.matrix_rank, m), np.linalg.matrix_rank(m))
    for m, rhs in ((a, b), (a, b[:, 0]), (deficient, b), (a.T, b[:3])):
        want = np.linalg.lstsq(m, rhs)
        got = jit(xnp.linalg.lstsq, m, rhs)
        # Under jit the rank is abstract, so the residuals of a rank-deficient tall matrix are
        # given (numpy leaves them empty); under grad the rank is concrete, as in numpy.
        if m is deficient:
            _, (_, res, _, _) = xf.jvp(xnp.linalg.lstsq, (m, rhs), (m, rhs))
            assert res.shape == (0,)
            got, want = (got[0], got[2], got[3]), (want[0], want[2], want[3])
        for g, w in zip(got, want):
            assert_same(np.asarray(g).astype(np.asarray(w).dtype), w, 1e-10)
    square = rng.standard_normal((2, 3, 3))
    for n in (0, 1, 3, 6, -2):
        assert_same(jit(lambda m: xnp.linalg.matrix_power(m, n), square),
                    np.linalg.matrix_power(square, n), 1e-9)
    chain = [rng.standard_normal(4), rng.standard_normal((4, 9)), rng.standard_normal((9, 2)),
             rng.standard_normal((2, 3))]
    assert_same(jit(lambda *c: xnp.linalg.multi_dot(c), *chain), np.linalg.multi_dot(chain))
    check_grads(lambda a: xnp.linalg.pinv(a), (a,), order=2)
    check_grads(lambda a, b: xnp.linalg.lstsq(a, b)[0], (a, b), order=2)
    check_grads(lambda m: xnp.linalg.matrix_power(m, 5) + xnp.linalg.matrix_power(m, -1),
                (square[0] + 3 * np.eye(3),), order=2)
    check_grads(lambda *c: xnp.linalg.multi_dot(c), chain, order=2)


# ----------------------------------------------------------------------------- vmap

def test_vmap_matches_a_loop():
    rng = np.random.default_rng(4)
    xs = distinct(rng, 4, 3, 5)
    q = np.array([0.2, 0.7])
    fns = [
        lambda x: xnp.sort(x, axis=None),
        lambda x: xnp.argsort(x, axis=0),
        lambda x: (xnp.median(x, axis=1), xnp.quantile(x, q, axis=0, keepdims=True)),
        lambda x: xnp.nanquantile(xnp.where(x > 1, np.nan, x), q),
        lambda x: xnp.interp(x[0], xnp.sort(x[1]), x[2]),
        lambda x: (xnp.searchsorted(xnp.sort(x[0]), x[1]), xnp.digitize(x[2], xnp.sort(x[0]))),
        lambda x: xnp.take_along_axis(x, xnp.argmax(x, axis=1, keepdims=True), 1),
        lambda x: (xnp.cov(x), xnp.corrcoef(x.T)),
        lambda x: xnp.linalg.lstsq(x.T, x[0])[0],
        lambda x: xnp.lexsort((x[0], xnp.round(x[1]))),
    ]
    for f in fns:
        got = xf.vmap(f)(xs)
        loop = [f(x) for x in xs]
        for k, g in enumerate(xf.tree.leaves(got)):
            assert_same(g, np.stack([xf.tree.leaves(r)[k] for r in loop]))


# ----------------------------------------------------------------------------- numba

def test_numba_program_agrees_with_the_interpreter():
    rng = np.random.default_rng(5)
    x = distinct(rng, 4, 5)
    x[1, 2] = np.nan

    def program(x):
        finite = xnp.nan_to_num(x)
        return {"quantile": xnp.quantile(finite, np.array([0.3, 0.9]), axis=1),
                "nanquantile": xnp.nanquantile(x, 0.4, axis=1),
                "interp": xnp.interp(finite[0], xnp.sort(finite[1]), finite[2]),
                "grad": xf.grad(lambda v: xnp.sort(v)[1:].sum() * xnp.median(v))(finite[0])}
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = xf.jit(program)(x)
    want = xf.jit(program, backend="interpreter")(x)
    for g, w in zip(xf.tree.leaves(got), xf.tree.leaves(want)):
        assert_same(g, w)


# ----------------------------------------------------------------------------- concrete only

def test_unique_needs_a_concrete_array():
    x = np.array([3.0, 1.0, 3.0, 2.0, np.nan, np.nan])
    for got, want in zip(xnp.unique(x, return_index=True, return_counts=True),
                         np.unique(x, return_index=True, return_counts=True)):
        assert_same(got, want)
    # Under grad the values are concrete: the unique values differentiate as a gather.
    g = xf.grad(lambda v: (xnp.unique(v, return_inverse=True)[0] ** 2)[:3].sum())(x[:4])
    assert_same(g, np.array([6.0, 2.0, 0.0, 4.0]))  # at the first of equal values
    with pytest.raises(TypeError, match="concrete array"):
        xf.jit(xnp.unique)(x)
    with pytest.raises(TypeError, match="concrete array"):
        xf.vmap(xnp.unique)(x.reshape(2, 3))


def test_arange_with_traced_bounds_says_what_to_do():
    with pytest.raises(TypeError, match="concrete bounds.*static_argnums"):
        xf.jit(lambda n: xnp.arange(n))(3)
    assert_same(xf.grad(lambda x: (xnp.arange(4.0) * x).sum())(2.0), np.float64(6.0))


def test_index_helpers():
    x = np.arange(3.0)
    assert_same(xf.grad(lambda v: (xnp.r_[v, 2.0 * v, 0:2] ** 2).sum())(x), 10 * x)
    assert_same(xf.jit(lambda v: xnp.c_[v, v * 2], backend="interpreter")(x), np.c_[x, 2 * x])
    assert_same(xf.jit(lambda v: xnp.r_["1,2,0", v, v], backend="interpreter")(x),
                np.r_["1,2,0", x, x])
    assert_same(xnp.r_[1:4, 7, 0:1:3j], np.r_[1:4, 7, 0:1:3j])
    assert_same(xnp.mgrid[0:2, 0:3], np.mgrid[0:2, 0:3])
    for got, want in zip(xnp.ogrid[0:2, 0:3], np.ogrid[0:2, 0:3]):
        assert_same(got, want)
    assert xnp.s_[1:2] == np.s_[1:2] and xnp.index_exp[1] == np.index_exp[1]
    rows, cols = xf.jit(lambda v: xnp.ix_(v, np.array([0, 2])), backend="interpreter")(
        np.array([1, 0]))
    assert_same(rows, np.array([[1], [0]]))
    assert_same(cols, np.array([[0, 2]]))
    m = np.arange(12.0).reshape(3, 4)
    for name, args in [("triu_indices", (3, 1, 4)), ("tril_indices", (3, -1)),
                       ("diag_indices", (3, 3))]:
        for got, want in zip(getattr(xnp, name)(*args), getattr(np, name)(*args)):
            assert_same(got, want)
    picked = xf.jit(lambda m: m[xnp.triu_indices_from(m, 1)], backend="interpreter")(m)
    assert_same(picked, m[np.triu_indices_from(m, 1)])
    assert_same(xf.grad(lambda m: m[xnp.diag_indices_from(m[:, :3])].sum())(m),
                np.eye(3, 4))


def test_dtype_queries():
    def queries(x):
        return (xnp.isscalar(x), xnp.isscalar(x[0]), xnp.iscomplexobj(x), xnp.isrealobj(x),
                xnp.promote_types(x.dtype, np.int64), xnp.issubdtype(x.dtype, xnp.floating),
                xnp.finfo(x).eps, xnp.can_cast(x, np.float64))
    x32 = np.ones(2, np.float32)
    traced_answers = []
    xf.vmap(lambda x: traced_answers.append(queries(x)) or x)(np.ones((3, 2), np.float32))
    plain = queries(x32)
    assert traced_answers[0][1:] == plain[1:]  # x[0] of a traced value counts as a scalar
    assert plain[:4] == (False, True, False, True)
    assert plain[4] == np.float64 and plain[5] and plain[7]
    assert xnp.iinfo(np.int8).max == 127 and xnp.finfo(np.float64).eps == np.finfo(float).eps
    assert xnp.float_ is np.float64 and xnp.int_ is np.int_ and xnp.complex_ is np.complex128
    assert xnp.zeros(2, xnp.float_).dtype == np.float64 and xnp.bool is np.bool_


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("fn,err,match", [
    (lambda x: xnp.quantile(x, 1.5), ValueError, r"range \[0, 1\]"),
    (lambda x: xnp.percentile(x, -5.0), ValueError, r"range \[0, 100\]"),
    (lambda x: xnp.quantile(x, 0.5, method="weibull"), NotImplementedError, "weibull"),
    (lambda x: xnp.put_along_axis(x, np.zeros((1,), int), 1.0, 0), ValueError, "inplace=False"),
    (lambda x: xnp.take(x, [7]), IndexError, "out of bounds"),
    (lambda x: xnp.sort(x, order="f"), NotImplementedError, "order="),
    (lambda x: xnp.interp(x, np.ones(2), np.ones(3)), ValueError, "same length"),
    (lambda x: xnp.select([x > 0], [x, x]), ValueError, "same length"),
    (lambda x: xnp.piecewise(x, [x > 0], [xnp.sin] * 3), ValueError, "functions"),
    (lambda x: xnp.cross(x, x), ValueError, "dimension must be 2 or 3"),
    (lambda x: xnp.r_["bad", x], ValueError, "directive"),
])
def test_bad_input_raises_clear_errors(fn, err, match):
    x = np.arange(4.0)
    with pytest.raises(err, match=match):
        xf.make_ir(fn)(x)


def test_unsupported_functions_point_to_the_api_page():
    with pytest.raises(NotImplementedError, match="docs/api.md"):
        xnp.fft.fft(np.ones(4))
    with pytest.raises(NotImplementedError, match="docs/api.md"):
        xnp.linalg.eig(np.eye(2))


@pytest.mark.parametrize("name", ["sorting", "statistics", "nanfunctions", "selection",
                                  "index_tricks", "differences", "dtypes", "linalg"])
def test_docstring_examples(name):
    module = importlib.import_module(f"xform.numpy.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        failures, attempted = doctest.testmod(module)
    assert attempted and not failures


def test_partition_and_argpartition_keep_numpys_contract_when_traced():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 9))
    for kth in (0, 4, -1, [2, 6]):
        for fn in (xf.jit(lambda v, k=kth: xnp.partition(v, k, axis=1)),
                   lambda v, k=kth: xf.vmap(lambda r: xnp.partition(r, k))(v)):
            got = np.asarray(fn(x))
            for k in np.atleast_1d(kth) % x.shape[1]:
                pivot = got[:, k:k + 1]
                np.testing.assert_array_equal(pivot[:, 0], np.partition(x, k, axis=1)[:, k])
                assert (got[:, :k] <= pivot).all() and (got[:, k + 1:] >= pivot).all()
        idx = np.asarray(xf.jit(lambda v, k=kth: xnp.argpartition(v, k, axis=1))(x))
        np.testing.assert_array_equal(np.take_along_axis(x, idx, 1), np.sort(x, axis=1))
    # The k-th smallest value's gradient picks that element.
    g = xf.grad(lambda v: xnp.partition(v, 3)[3])(x[0])
    np.testing.assert_array_equal(g, (x[0] == np.sort(x[0])[3]).astype(float))
    assert xnp.partition(x.astype(np.float32), 2).dtype == np.float32
    with pytest.raises(ValueError, match="kth=9 is not a valid index"):
        xf.jit(lambda v: xnp.partition(v, 9))(x[0])
