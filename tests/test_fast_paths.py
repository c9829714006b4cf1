"""Paths chosen for speed keep their semantics: transposes compiled as strided views, a traced
scalar index gathering one block, BLAS on one thread for small products in compiled code, and
the example optimizers' coefficients rounded as JAX rounds them, pads read inside the loops
consuming them and band constants (identity matrices) computed from the loop indices."""
from __future__ import annotations

import re

import numba
import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.backends import blas
from xform.example_libraries import optimizers


def _permutes(x, y):
    return {"transpose": xnp.transpose(x, (2, 0, 1)),
            "reversed": xnp.transpose(x[::-1, :, ::-2], (1, 2, 0)),
            "cumsum": xnp.cumsum(x, axis=0),
            "sort": xnp.sort(x, axis=1),
            "batched": xnp.einsum("ijb,jkb->bik", x, y)}


def test_transposes_compile_as_views_with_numpy_values():
    # Numba compiled `.transpose(perm)` anew at every call site, seconds each.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 2, 5))
    fun = xf.jit(_permutes)
    assert ".transpose(" not in fun.lower(x, y).source
    got, want = fun(x, y), _permutes(x, y)
    np.testing.assert_allclose(got.pop("batched"), want.pop("batched"), rtol=1e-12)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def _clamped(i, n):
    return min(max(i + n if i < 0 else i, 0), n - 1)


def test_a_traced_scalar_index_gathers_its_block():
    x = np.arange(60.0).reshape(3, 4, 5)
    ir = xf.make_ir(lambda x, i: x[i])(x, np.int64(1))
    (gather,) = [e for e in ir.eqns if e.prim.name == "gather"]
    assert gather.inputs[1].aval.shape == (1,)  # one start, not one index per element

    def take(x, i, j):
        return x[i], x[i, j], x[i, j, :], x[i][1:, j]
    fun = xf.jit(take)
    for i, j in [(0, 0), (2, 3), (-1, -4), (-3, 5), (7, -9)]:
        a, b = _clamped(i, 3), _clamped(j, 4)
        want = (x[a], x[a, b], x[a, b], x[a][1:, _clamped(j, 5)])
        for got, w in zip(fun(x, i, j), want):
            np.testing.assert_array_equal(got, w)
    grad = xf.grad(lambda x, i: xnp.sum(x[i, 2] ** 2))(x, np.int64(-2))
    want = np.zeros_like(x)
    want[1, 2] = 2 * x[1, 2]
    np.testing.assert_array_equal(grad, want)
    rows = xf.vmap(lambda i: xnp.asarray(x)[i])(np.array([2, -1, 5, -5]))
    np.testing.assert_array_equal(rows, x[[2, 2, 2, 0]])


@numba.njit
def _thread_probe(count):
    """BLAS's thread count set to `count`, then: what a small product's guard returns and the
    count during it, the count after restoring, and what a large product's guard returns."""
    blas._set_threads(count)
    small = blas._one_thread(1000)
    during = blas._get_threads()
    blas._restore_threads(small)
    after = blas._get_threads()
    large = blas._one_thread(blas.THREADED_WORK)
    return small, during, after, large


@numba.njit
def _threads():
    return blas._get_threads()


@pytest.mark.skipif(not blas.FLAVOUR.endswith("-threads"),
                    reason="numpy's BLAS has no OpenBLAS thread control")
def test_small_products_run_blas_on_one_thread_and_restore_the_count():
    original = _threads()
    try:
        assert _thread_probe(2) == (2, 1, 2, 0)
        assert _thread_probe(1) == (0, 1, 1, 0)
    finally:
        _thread_probe(original)


def test_adam_takes_complements_of_the_python_coefficients():
    # As JAX: float32(1 - 0.999), not 1 - float32(0.999) (1.3e-5 apart).
    init, update, _ = optimizers.adam(0.1)
    g = np.array([1e-3, -2.0, 3.0], np.float32)
    _, m, v = update(0, g, init(np.ones(3, np.float32))).packed_state[0]
    np.testing.assert_array_equal(m, np.float32(1 - 0.9) * g)
    np.testing.assert_array_equal(v, np.float32(1 - 0.999) * (g * g))


def _padded(x, v, b):
    return {"ends": lax.pad(x, 0.0, [(1, 2, 0), (0, 1, 0)]) * 2.0,
            "cropped": lax.pad(x, v, [(-1, 1, 0), (2, -2, 0)]) + x[0, 0],
            "interior": lax.pad(x, v, [(1, 0, 2), (-1, 1, 1)]) - 1.0,
            "shift": lax.pad(xnp.abs(x), v, [(1, -1, 0), (0, 0, 0)]) + xnp.abs(x),
            "masks": xnp.logical_not(lax.pad(b, True, [(0, 1, 1), (2, 0, 0)])),
            "stored": lax.pad(x, v, [(2, 0, 0), (0, 3, 1)])}


def test_pads_read_their_operand_inside_the_consuming_loop():
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 2)) > 0
    fun = xf.jit(_padded)
    assert "np.full" not in fun.lower(x, 7.5, b).source
    got, want = fun(x, 7.5, b), _padded(x, 7.5, b)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    grad = xf.jit(xf.grad(lambda x: xnp.sum((x[1:] - x[:-1]) ** 2)))(x[0])
    np.testing.assert_allclose(grad, xf.grad(lambda x: xnp.sum((x[1:] - x[:-1]) ** 2))(x[0]))


_BANDS = {"eye": np.eye(4, 5), "below": 3.0 * np.eye(5, 4, k=-2), "rows": np.eye(6)[1:4],
          "short": np.diag([2.0, 2.0, 2.0, 0.0]), "unit axis": 2.0 * np.eye(4)[:, None, :],
          "middle axis": np.eye(3)[:, None, :].repeat(2, 1), "nan": np.diag([np.nan] * 3)}
_NOT_BANDS = {"two diagonals": np.eye(4) + np.eye(4, k=1), "varying": np.diag([1.0, 2, 3]),
              "column": np.where(np.arange(12).reshape(3, 4) % 4 == 0, 1.0, 0.0),
              "signed zeros": np.where(np.eye(3) > 0, 1.0, -0.0)}


def _scaled(constants):
    return lambda x: {k: x[k] * c for k, c in constants.items()}


def test_band_constants_are_computed_from_the_loop_indices():
    # The identity matrices of jacfwd and hessian, sliced, padded and scaled.
    rng = np.random.default_rng(2)
    for constants, passed in [(_BANDS, 0), (_NOT_BANDS, len(_NOT_BANDS))]:
        xs = {k: rng.standard_normal(c.shape) for k, c in constants.items()}
        fun = xf.jit(_scaled(constants))
        header = next(s for s in fun.lower(xs).source.splitlines() if "def kernel(" in s)
        assert len(re.findall(r"\bc\d+", header)) == passed
        got, want = fun(xs), _scaled(constants)(xs)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    eye = np.eye(3, dtype=bool)
    masked = xf.jit(lambda m: m & eye)(np.ones((3, 3), bool))
    np.testing.assert_array_equal(masked, eye)
    assert masked.dtype == np.bool_
