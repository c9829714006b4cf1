"""The Numba backend's vectorisable exp, expm1, log, log1p, tanh, logistic, sin and cos, in ulps
against numpy's extended precision, and the generated loops that fall back to libm for sin and
cos."""
import functools

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform.backends import vecmath as V

REFERENCE = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
             "logistic": lambda x: 1 / (1 + np.exp(-x)), "sin": np.sin, "cos": np.cos}
# Ranges that cover each function's reductions, cancellations and under- and overflow.
RANGES = {
    "exp": [(-750, 750), (-1, 1), (-1e-9, 1e-9), (-745.2, -700), (700, 709.8)],
    "expm1": [(-750, 750), (-1, 1), (-1e-9, 1e-9), (0.3, 0.8), (-0.8, -0.3), (30, 45)],
    "log": [(0, 10), (0.5, 2), (1 - 1e-6, 1 + 1e-6), (0, 1e-300), (1e300, 1.7e308)],
    "log1p": [(-1, 10), (-1e-9, 1e-9), (-0.3, 0.3), (-1, -0.9999), (1e10, 1e300)],
    "tanh": [(-30, 30), (-1, 1), (-1e-7, 1e-7), (-0.4, 0.4), (0.3, 0.4), (15, 25)],
    "logistic": [(-50, 50), (-750, -30), (-1, 1)],
    "sin": [(-10, 10), (-1e-7, 1e-7), (-8e5, 8e5), (1e5, 1e5 + 10)],
    "cos": [(-10, 10), (-1e-7, 1e-7), (-8e5, 8e5), (1e5, 1e5 + 10)],
}
MAX_ULPS = {np.float64: 2, np.float32: 1}


@functools.cache
def elementwise(name: str, dtype):
    """A Numba loop applying V.<name>_f64 or _f32 to each element."""
    fn = getattr(V, f"{name}_{'f64' if dtype == np.float64 else 'f32'}")

    @numba.njit
    def run(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = fn(x[i])
        return out
    return run


def ulps(got, x, name, dtype):
    """How many representable `dtype` values lie between `got` and the reference (rounded to
    `dtype` from extended precision); 0 where both are NaN or equal, zeros' signs included."""
    with np.errstate(all="ignore"):
        ref = REFERENCE[name](x.astype(np.longdouble)).astype(dtype)
    same = (got == ref) & (np.signbit(got) == np.signbit(ref)) | (np.isnan(got) & np.isnan(ref))
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(np.longdouble) - ref) / np.spacing(np.abs(ref)).astype(
            np.longdouble)
    return np.where(same, 0, np.where(np.isfinite(err), err, np.inf))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_accuracy_over_ranges(name, dtype):
    rng = np.random.default_rng(0)
    for lo, hi in RANGES[name]:
        x = rng.uniform(lo, hi, 20000)
        x = x[np.abs(x) <= np.finfo(dtype).max].astype(dtype)
        err = ulps(elementwise(name, dtype)(x), x, name, dtype)
        worst = int(np.argmax(err)) if x.size else None
        assert not x.size or err[worst] <= MAX_ULPS[dtype], (name, (lo, hi), x[worst], err[worst])


SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, -1e-310, 2.2e-308,
           1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.0, 0.5, 2.0, 20.0, 40.0,
           1e-40, -1e-45, 3e38, -3e38, 88.7, 89.0, -103.9, -104.0]  # the last: float32's edges


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_special_values(name, dtype):
    with np.errstate(over="ignore"):
        x = np.array(SPECIAL).astype(dtype)
    if name in ("sin", "cos"):
        x = x[[bool(V.trig_reducible(v)) for v in x]]
    err = ulps(elementwise(name, dtype)(x), x, name, dtype)
    bad = err > MAX_ULPS[dtype]
    assert not bad.any(), dict(zip(x[bad], err[bad]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_any_float(dtype, data):
    width = 64 if dtype == np.float64 else 32
    x = np.array(data.draw(st.lists(st.floats(width=width), min_size=1, max_size=40)), dtype)
    for name in sorted(REFERENCE):
        y = x[[bool(V.trig_reducible(v)) for v in x]] if name in ("sin", "cos") else x
        err = ulps(elementwise(name, dtype)(y), y, name, dtype)
        assert np.all(err <= MAX_ULPS[dtype]), (name, y[err > MAX_ULPS[dtype]])


def test_trig_reducible_marks_large_arguments():
    assert V.trig_reducible(8e5) and V.trig_reducible(-8e5) and V.trig_reducible(np.nan)
    assert not V.trig_reducible(9e5) and not V.trig_reducible(np.inf)
    assert not V.trig_reducible(1e300) and not V.trig_reducible(np.float32(-1e30))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jit_reruns_loops_with_libm_past_the_fast_range(dtype):
    """One large argument makes the whole fused loop, reductions included, run again with libm
    sine and cosine; the results match numpy, not the fast functions' out-of-range values."""
    x = np.linspace(-3, 3, 101).astype(dtype)
    x[17], x[60] = 1e20, -3e6
    f = xf.jit(lambda x: (xnp.sin(x) * xnp.cos(2 * x), xnp.sum(xnp.sin(x) + xnp.exp(-x * x))))
    prod, total = f(x)
    tol = dict(rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(prod, np.sin(x) * np.cos(2 * x), **tol)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(total, np.sum(np.sin(x) + np.exp(-x * x)), rtol=1e-5)
    assert prod.dtype == dtype and total.dtype == dtype
    small = x.copy()
    small[17] = small[60] = 1.0
    np.testing.assert_allclose(f(small)[0], np.sin(small) * np.cos(2 * small), **tol)


def test_jit_special_values_follow_numpy():
    x = np.array(SPECIAL)
    with np.errstate(all="ignore"):
        for fn, ref in [(xnp.exp, np.exp), (xnp.log, np.log), (xnp.log1p, np.log1p),
                        (xnp.tanh, np.tanh),
                        (xnp.sin, np.sin), (xnp.cos, np.cos), (xnp.expm1, np.expm1)]:
            np.testing.assert_allclose(xf.jit(fn)(x), ref(x), rtol=4e-16, atol=0)


# Bounds of the error against the exact value (not the rounded one), in ulps of the result's
# binade, measured by the dense sweep below (10**7 points, 2026-12): exp 0.94, expm1 1.30,
# log 0.83, tanh 1.49, logistic 1.44, sin 1.37, cos 1.32; log1p 1.22 (3 * 10**5 points).
EXACT_ULPS = {"exp": 1.0, "expm1": 1.4, "log": 1.0, "log1p": 1.4, "tanh": 1.6, "logistic": 1.5,
              "sin": 1.5, "cos": 1.5}
SWEEPS = {**RANGES, "exp": RANGES["exp"] + [(-745.2, -708)],
          "logistic": RANGES["logistic"] + [(-750, 750), (-745.2, -708), (30, 40), (-40, -30)],
          "log": RANGES["log"] + [(0, 1e-307)]}


def exact_ulps(got, x, name):
    """|got - f(x)| over the float64 ulp at f(x), f(x) in extended precision (unrounded); at a
    power of two the smaller ulp below it."""
    with np.errstate(all="ignore"):
        ref = REFERENCE[name](x.astype(np.longdouble))
        rounded = ref.astype(np.float64)
    mag = np.abs(rounded)
    ulp = np.minimum(np.spacing(mag), np.spacing(np.nextafter(mag, 0)) + (mag == 0) * 5e-324)
    ok = np.isfinite(ref) & np.isfinite(got)
    assert np.all((got == rounded) | np.isnan(got) & np.isnan(ref) | ok), name
    return np.abs(got[ok].astype(np.longdouble) - ref[ok]) / ulp[ok].astype(np.longdouble), x[ok]


def sweep(name, points):
    rng = np.random.default_rng(1)
    for lo, hi in SWEEPS[name]:
        x = np.concatenate([rng.uniform(lo, hi, points), np.linspace(lo, hi, 2001)])
        err, xs = exact_ulps(elementwise(name, np.float64)(x), x, name)
        worst = int(np.argmax(err))
        assert err[worst] <= EXACT_ULPS[name], (name, (lo, hi), xs[worst], float(err[worst]))


@pytest.mark.parametrize("name", ["logistic", "sin", "cos"])
def test_error_against_the_exact_value(name):
    """logistic (e and 1 + e carried with their rounding errors) and sin and cos (the reduced
    argument carried with its rounding error) stay well within the README's 2 ulp; the plain
    formulas reached 2.3 ulp."""
    sweep(name, 50000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_dense_sweep_against_the_exact_value(name):
    sweep(name, 10 ** 7 // len(SWEEPS[name]))
