"""Convolutions and windowed reductions: values, derivatives, batching, compilation, dtypes.

`xf.lax.conv_general_dilated` and `xf.lax.reduce_window` run against naive reference loops over
hypothesis-drawn shapes, strides, paddings (negative ones too), dilations, groups and dimension
orders, and against scipy.signal.correlate; derivatives of both operands are checked against
finite differences to second order; vmap of either or both operands against a loop; the Numba
lowerings against the interpreter (one compiled program per dtype); float32 stays float32.
Also the front ends' conveniences (string padding and dimension numbers, conv,
conv_with_general_padding, conv_transpose), pooling written as stax writes it, and
`xnp.convolve` / `xnp.correlate` against numpy.
"""
from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.backends import numba as numba_backend
from xform.core import registry
from xform.test_util import check_grads

# ----------------------------------------------------------------------------- references


def _dilate_pad(x, axes, padding, dilation, fill):
    """x with `dilation - 1` fill values between neighbours and `padding` (lo, hi; negative
    crops) along each of `axes`, by loops over indices."""
    for axis, (lo, hi), a in zip(axes, padding, dilation):
        n = x.shape[axis]
        size = lo + ((n - 1) * a + 1 if n else 0) + hi
        shape = list(x.shape)
        shape[axis] = max(size, 0)
        out = np.full(shape, fill, x.dtype)
        for i in range(n):
            p = lo + i * a
            if 0 <= p < size:
                dst = [slice(None)] * x.ndim
                src = [slice(None)] * x.ndim
                dst[axis], src[axis] = p, i
                out[tuple(dst)] = x[tuple(src)]
        x = out
    return x


def naive_conv(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, specs, fg=1, bg=1):
    """The convolution by its definition: a loop over outputs, features and taps."""
    lhs_spec, rhs_spec, out_spec = specs
    x, w = np.transpose(lhs, lhs_spec), np.transpose(rhs, rhs_spec)  # (N, C, S..), (O, I, K..)
    nd = x.ndim - 2
    xp = _dilate_pad(x, range(2, nd + 2), padding, lhs_dilation, 0)
    n, o, i = x.shape[0] // bg, w.shape[0], w.shape[1]
    taps = [(k - 1) * r + 1 for k, r in zip(w.shape[2:], rhs_dilation)]
    out_sizes = [(p - t) // s + 1 if p >= t else 0
                 for p, t, s in zip(xp.shape[2:], taps, strides)]
    out = np.zeros((n, o, *out_sizes), np.result_type(lhs, rhs))
    per_group = o // max(fg, bg)
    for b, f, y in itertools.product(range(n), range(o), np.ndindex(*out_sizes)):
        g = f // per_group
        src = g * n + b if bg > 1 else b
        for c in range(i):
            channel = g * i + c if fg > 1 else c
            for k in np.ndindex(*w.shape[2:]):
                at = tuple(yy * s + kk * r for yy, kk, s, r in zip(y, k, strides, rhs_dilation))
                out[(b, f, *y)] += xp[(src, channel, *at)] * w[(f, c, *k)]
    return np.transpose(out, np.argsort(out_spec))


IDENTITY = {"sum": 0.0, "max": -np.inf, "min": np.inf}
COMPUTATION = {"sum": lax.add, "max": lax.max, "min": lax.min}


def naive_reduce_window(x, kind, window, strides, padding, base_dilation, window_dilation):
    """A windowed reduction by its definition (padding and holes hold the identity)."""
    xp = _dilate_pad(np.asarray(x, np.float64), range(x.ndim), padding, base_dilation,
                     IDENTITY[kind])
    taps = [(k - 1) * r + 1 for k, r in zip(window, window_dilation)]
    sizes = [(p - t) // s + 1 if p >= t else 0 for p, t, s in zip(xp.shape, taps, strides)]
    out = np.empty(sizes)
    for y in np.ndindex(*sizes):
        values = [xp[tuple(yy * s + kk * r for yy, kk, s, r in zip(y, k, strides,
                                                                   window_dilation))]
                  for k in np.ndindex(*window)]
        out[y] = {"sum": np.sum, "max": np.max, "min": np.min}[kind](values)
    return out.astype(x.dtype)


# ----------------------------------------------------------------------------- drawn geometry

def draw_conv(pick, max_spatial=3) -> dict:
    """A valid convolution: canonical shapes, params and random dimension orders, every
    choice made by `pick(lo, hi)` (an integer in [lo, hi])."""
    nd = pick(1, max_spatial)
    kind = pick(0, 2)  # no groups, feature groups, batch groups
    groups = 1 if kind == 0 else pick(2, 3)
    fg, bg = (groups, 1) if kind == 1 else (1, groups) if kind == 2 else (1, 1)
    i, og, n = pick(1, 2), pick(1, 2), bg * pick(1, 2)
    top = 2 if nd == 3 else 3
    sizes = [pick(1, 4 if nd == 3 else 6) for _ in range(nd)]
    kernel, strides = [pick(1, top) for _ in range(nd)], [pick(1, top) for _ in range(nd)]
    lhs_dilation, rhs_dilation = [pick(1, 2) for _ in range(nd)], [pick(1, 2) for _ in range(nd)]
    padding = []
    for size, a in zip(sizes, lhs_dilation):
        crop = -(((size - 1) * a + 1) // 2)
        padding.append((max(pick(-1, 2), crop), max(pick(-1, 2), crop)))
    specs = lax.ConvDimensionNumbers(*(_permutation(pick, nd + 2) for _ in range(3)))
    return dict(lhs=(n, i * fg, *sizes), rhs=(og * groups, i, *kernel), strides=strides,
                padding=padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                specs=specs, fg=fg, bg=bg)


def _permutation(pick, n) -> tuple[int, ...]:
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = pick(0, i)
        perm[i], perm[j] = perm[j], perm[i]
    return tuple(perm)


@st.composite
def conv_configs(draw, max_spatial=3):
    return draw_conv(lambda lo, hi: draw(st.integers(lo, hi)), max_spatial)


def conv_params(config) -> dict:
    """The conv_general_dilated primitive's params for a config."""
    return dict(window_strides=tuple(config["strides"]), padding=tuple(config["padding"]),
                lhs_dilation=tuple(config["lhs_dilation"]),
                rhs_dilation=tuple(config["rhs_dilation"]), dimension_numbers=config["specs"],
                feature_group_count=config["fg"], batch_group_count=config["bg"])


def conv_example(s, v, dtype):
    """A VMAP_TABLE row (tests/test_vmap.py): shapes and params from `s`, values from `v`."""
    config = draw_conv(lambda lo, hi: int(s.integers(lo, hi + 1)), max_spatial=2)
    return list(operands(config, v, dtype)), conv_params(config)


def operands(config, seed, dtype=np.float64):
    """lhs and rhs of a config, laid out as its dimension numbers say (`seed` may be a
    Generator)."""
    rng = np.random.default_rng(seed)
    lhs_spec, rhs_spec, _ = config["specs"]
    return (_values(rng, [config["lhs"][k] for k in np.argsort(lhs_spec)], dtype),
            _values(rng, [config["rhs"][k] for k in np.argsort(rhs_spec)], dtype))


def conv_of(config):
    def conv(lhs, rhs):
        return lax.conv_general_dilated(
            lhs, rhs, config["strides"], config["padding"], config["lhs_dilation"],
            config["rhs_dilation"], config["specs"], config["fg"], config["bg"])
    return conv


def naive_of(config, lhs, rhs):
    return naive_conv(lhs, rhs, config["strides"], config["padding"], config["lhs_dilation"],
                      config["rhs_dilation"], config["specs"], config["fg"], config["bg"])


def draw_window(pick, kind) -> dict:
    """A valid windowed reduction of `kind`, every choice made by `pick(lo, hi)`."""
    nd = pick(1, 3)
    shape = [pick(1, 5) for _ in range(nd)]
    window, strides = [pick(1, 3) for _ in range(nd)], [pick(1, 3) for _ in range(nd)]
    base, dilation = [pick(1, 2) for _ in range(nd)], [pick(1, 2) for _ in range(nd)]
    padding = [(max(pick(-1, 2), -(n // 2)), max(pick(-1, 2), -(n // 2))) for n in shape]
    return dict(kind=kind, shape=shape, window=window, strides=strides, padding=padding,
                base=base, dilation=dilation)


@st.composite
def window_configs(draw, kinds=("sum", "max", "min")):
    return draw_window(lambda lo, hi: draw(st.integers(lo, hi)), draw(st.sampled_from(kinds)))


def window_params(config) -> dict:
    """The reduce_window primitives' params for a config."""
    return dict(window_dimensions=tuple(config["window"]),
                window_strides=tuple(config["strides"]), padding=tuple(config["padding"]),
                base_dilation=tuple(config["base"]), window_dilation=tuple(config["dilation"]))


def _values(rng, shape, dtype):
    x = rng.standard_normal(shape)
    return np.round(3 * x).astype(dtype) if np.dtype(dtype).kind in "iu" else x.astype(dtype)


def window_example(kind):
    """VMAP_TABLE rows (tests/test_vmap.py) of the windowed reduction `kind`."""
    def make(s, v, dtype):
        config = draw_window(lambda lo, hi: int(s.integers(lo, hi + 1)), kind)
        return [_values(v, config["shape"], dtype)], window_params(config)
    return make


def selection_example(name):
    """VMAP_TABLE rows (tests/test_vmap.py) of window_select_gather and _scatter: the
    selection along one axis of a drawn window, values shaped as the operand or the windows."""
    def make(s, v, dtype):
        config = draw_window(lambda lo, hi: int(s.integers(lo, hi + 1)), "max")
        params = selection_params(config, int(s.integers(len(config["shape"]))),
                                  ("max", "min")[s.integers(2)])
        x = _values(v, config["shape"], dtype)
        shape = window_shape(x.shape, params) if name.endswith("scatter") else x.shape
        return [_values(v, shape, dtype), x], params
    return make


def selection_params(config, axis, kind) -> dict:
    return {"kind": kind, "axis": axis, "window": config["window"][axis],
            "stride": config["strides"][axis], "padding": tuple(config["padding"][axis]),
            "base_dilation": config["base"][axis], "window_dilation": config["dilation"][axis]}


def window_shape(shape, params):
    """The shape of the windows of a selection along its axis."""
    axis = params["axis"]
    padded = params["padding"][0] + (shape[axis] - 1) * params["base_dilation"] + 1 + \
        params["padding"][1]
    span = (params["window"] - 1) * params["window_dilation"] + 1
    m = (padded - span) // params["stride"] + 1 if padded >= span else 0
    return (*shape[:axis], m, *shape[axis + 1:])


def identity(kind, dtype):
    """The identity of a windowed reduction in `dtype`."""
    if np.dtype(dtype).kind == "f" or kind == "sum":
        return np.asarray(IDENTITY[kind], dtype)
    info = np.iinfo(dtype)
    return np.asarray(info.min if kind == "max" else info.max, dtype)


def window_of(config):
    def reduce(x):
        start = identity(config["kind"], x.dtype)
        return lax.reduce_window(x, start, COMPUTATION[config["kind"]],
                                 config["window"], config["strides"], config["padding"],
                                 config["base"], config["dilation"])
    return reduce


def finite_part(f):
    """f with its infinite outputs (windows of padding only) replaced by 0."""
    def g(*args):
        y = f(*args)
        return xnp.where(xnp.isfinite(y), y, 0.0)
    return g


# ----------------------------------------------------------------------------- conv values

@settings(max_examples=40)
@given(config=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv_matches_naive_loops(config, seed):
    lhs, rhs = operands(config, seed)
    out = conv_of(config)(lhs, rhs)
    want = naive_of(config, lhs, rhs)
    assert out.shape == want.shape and out.dtype == want.dtype
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_matches_scipy_correlate(nd):
    rng = np.random.default_rng(nd)
    x, w = rng.standard_normal((7, 6, 5)[:nd]), rng.standard_normal((3, 2, 2)[:nd])
    out = lax.conv(x[None, None], w[None, None], (1,) * nd, "VALID")[0, 0]
    np.testing.assert_allclose(out, scipy.signal.correlate(x, w, mode="valid"), rtol=1e-12)
    same = lax.conv(x[None, None], w[None, None], (1,) * nd, "SAME")[0, 0]
    # scipy centres an even kernel one element later than XLA's SAME (the extra padding
    # element goes in front there): compare the full correlation's windows.
    full = scipy.signal.correlate(x, w, mode="full")
    start = [k - 1 - (k - 1) // 2 for k in w.shape]
    np.testing.assert_allclose(same, full[tuple(slice(s, s + n) for s, n in
                                                zip(start, x.shape))], rtol=1e-12)


def test_integer_convolutions_are_exact():
    config = dict(strides=(1, 2), padding=((1, 1), (0, 1)), lhs_dilation=(1, 1),
                  rhs_dilation=(2, 1), specs=lax.ConvDimensionNumbers(*((0, 1, 2, 3),) * 3),
                  fg=1, bg=1)
    rng = np.random.default_rng(0)
    lhs, rhs = rng.integers(-5, 5, (2, 3, 6, 5)), rng.integers(-5, 5, (4, 3, 2, 3))
    out = conv_of(config)(lhs, rhs)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, naive_of(config, lhs, rhs))


# ----------------------------------------------------------------------------- conv transforms

@settings(max_examples=10)
@given(config=conv_configs(max_spatial=2), seed=st.integers(0, 2 ** 16))
def test_conv_derivatives_of_both_operands(config, seed):
    lhs, rhs = operands(config, seed)
    assume(np.size(conv_of(config)(lhs, rhs)) > 0)
    check_grads(conv_of(config), (lhs, rhs), order=2)


@pytest.mark.slow
@settings(max_examples=80)
@given(config=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv_derivatives_sweep(config, seed):
    """More geometries, 3-d ones included, for the transposes' padding arithmetic."""
    lhs, rhs = operands(config, seed)
    assume(np.size(conv_of(config)(lhs, rhs)) > 0)
    check_grads(conv_of(config), (lhs, rhs), order=2)


@settings(max_examples=15)
@given(config=conv_configs(max_spatial=2), seed=st.integers(0, 2 ** 16),
       axes=st.sampled_from([(0, None), (None, 0), (0, 0), (-1, 1), (2, -1)]),
       size=st.integers(1, 3))
def test_conv_vmap_matches_loop(config, seed, axes, size):
    members = [operands(config, seed + m) for m in range(size)]
    stacked = [np.stack([m[k] for m in members], ax) if ax is not None else members[0][k]
               for k, ax in enumerate(axes)]
    out = xf.vmap(conv_of(config), in_axes=axes)(*stacked)
    want = np.stack([conv_of(config)(*[m[k] if ax is not None else members[0][k]
                                       for k, ax in enumerate(axes)]) for m in members])
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_conv_grad_of_vmap_and_vmap_of_grad_agree():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 2, 5, 4)), rng.standard_normal((4, 1, 3, 2))

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 2), "SAME", feature_group_count=2)
    per_example = xf.vmap(xf.grad(lambda x, w: xnp.sum(conv(x[None], w) ** 2), 1),
                          in_axes=(0, None))(x, w)
    total = xf.grad(lambda w: xnp.sum(conv(x, w) ** 2))(w)
    np.testing.assert_allclose(per_example.sum(0), total, rtol=1e-12)


# ----------------------------------------------------------------------------- reduce_window

@settings(max_examples=40)
@given(config=window_configs(), seed=st.integers(0, 2 ** 16))
def test_reduce_window_matches_naive_loops(config, seed):
    x = np.random.default_rng(seed).standard_normal(config["shape"])
    out = window_of(config)(x)
    want = naive_reduce_window(x, config["kind"], config["window"], config["strides"],
                               config["padding"], config["base"], config["dilation"])
    assert out.shape == want.shape and out.dtype == want.dtype
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=12)
@given(config=window_configs(), seed=st.integers(0, 2 ** 16))
def test_reduce_window_derivatives(config, seed):
    x = np.random.default_rng(seed).standard_normal(config["shape"])
    check_grads(finite_part(window_of(config)), (x,), order=2)


@settings(max_examples=15)
@given(config=window_configs(), seed=st.integers(0, 2 ** 16), axis=st.integers(-1, 1),
       size=st.integers(1, 3))
def test_reduce_window_vmap_matches_loop(config, seed, axis, size):
    xs = np.random.default_rng(seed).standard_normal((size, *config["shape"]))
    out = xf.vmap(window_of(config), in_axes=axis)(np.moveaxis(xs, 0, axis))
    np.testing.assert_allclose(out, np.stack([window_of(config)(x) for x in xs]))


def naive_selection(values, x, params, scatter):
    """window_select_gather (or _scatter) by its definition: each window, along the axis,
    selects its first tap holding the extreme value (NaN first), among taps reading x."""
    axis, kind = params["axis"], params["kind"]
    x, values = np.moveaxis(x, axis, -1), np.moveaxis(values, axis, -1)
    windows = window_shape(np.moveaxis(x, -1, axis).shape, params)[axis]
    out = np.zeros(x.shape if scatter else (*x.shape[:-1], windows), values.dtype)
    for lead in np.ndindex(*x.shape[:-1]):
        for y in range(windows):
            best = None
            for j in range(params["window"]):
                p = y * params["stride"] + j * params["window_dilation"] - params["padding"][0]
                q, hole = divmod(p, params["base_dilation"])
                if p < 0 or hole or q >= x.shape[-1]:
                    continue
                v = x[(*lead, q)]
                if best is None:
                    best = q
                    continue
                held = x[(*lead, best)]
                better = v > held if kind == "max" else v < held
                if not np.isnan(held) and (np.isnan(v) or better):
                    best = q
            if best is not None and scatter:
                out[(*lead, best)] += values[(*lead, y)]
            elif best is not None:
                out[(*lead, y)] = values[(*lead, best)]
    return np.moveaxis(out, -1, axis)


@settings(max_examples=30)
@given(config=window_configs(kinds=("max",)), seed=st.integers(0, 2 ** 16),
       data=st.data())
def test_window_selections_match_naive_loops(config, seed, data):
    rng = np.random.default_rng(seed)
    params = selection_params(config, data.draw(st.integers(0, len(config["shape"]) - 1)),
                              data.draw(st.sampled_from(["max", "min"])))
    x = np.round(rng.standard_normal(config["shape"]))  # ties
    x[rng.random(x.shape) < 0.1] = np.nan
    t, ct = rng.standard_normal(x.shape), rng.standard_normal(window_shape(x.shape, params))
    gather = registry["window_select_gather"].bind1(t, x, **params)
    np.testing.assert_array_equal(gather, naive_selection(t, x, params, False))
    scatter = registry["window_select_scatter"].bind1(ct, x, **params)
    np.testing.assert_allclose(scatter, naive_selection(ct, x, params, True), rtol=1e-12)


def test_max_pool_ties_take_the_first_tap():
    x, t = np.array([1.0, 3.0, 3.0, 2.0]), np.array([10.0, 20.0, 30.0, 40.0])

    def pool(x):
        return lax.reduce_window(x, -np.inf, lax.max, (2,), (1,), "VALID")
    out, tangent = xf.jvp(pool, (x,), (t,))
    np.testing.assert_array_equal(out, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(tangent, [20.0, 20.0, 30.0])
    np.testing.assert_array_equal(xf.grad(lambda x: xnp.sum(pool(x)))(x), [0, 2, 1, 0])


def test_reduce_window_with_other_computations_and_initial_values():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    prod = lax.reduce_window(x, 1.0, lax.mul, (1, 2), (1, 1), [(0, 0), (1, 0)])
    np.testing.assert_array_equal(prod, [[1, 2, 6], [4, 20, 30]])
    # A sum from 10: padding is skipped, the initial value counts once per window (as JAX).
    shifted = lax.reduce_window(x, 10.0, lax.add, (1, 2), (1, 1), [(0, 0), (1, 0)])
    np.testing.assert_array_equal(shifted, [[11, 13, 15], [14, 19, 21]])
    check_grads(lambda x: lax.reduce_window(x, 1.0, lax.mul, (2, 2), (1, 1), "SAME"), (x,),
                order=2)


# ----------------------------------------------------------------------------- pooling, stax-style

def max_pool(x, window, strides, padding="VALID"):
    """NHWC max pooling, as stax.MaxPool."""
    return lax.reduce_window(x, -np.inf, lax.max, (1, *window, 1), (1, *strides, 1), padding)


def avg_pool(x, window, strides, padding="VALID"):
    """NHWC average pooling, as stax.AvgPool (padding counts as zeros)."""
    total = lax.reduce_window(x, 0.0, lax.add, (1, *window, 1), (1, *strides, 1), padding)
    return total / np.prod(window)


def test_pooling_as_stax_writes_it():
    x = np.random.default_rng(2).standard_normal((2, 6, 5, 3))
    mx = max_pool(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(mx, x[:, :6, :4].reshape(2, 3, 2, 2, 2, 3).max((2, 4)))
    av = avg_pool(x, (3, 3), (1, 1), "SAME")
    want = naive_reduce_window(x, "sum", (1, 3, 3, 1), (1, 1, 1, 1),
                               [(0, 0), (1, 1), (1, 1), (0, 0)], (1,) * 4, (1,) * 4) / 9
    np.testing.assert_allclose(av, want, rtol=1e-12)
    check_grads(lambda x: max_pool(x, (2, 2), (2, 2), "SAME"), (x,), order=2)
    check_grads(lambda x: avg_pool(x, (3, 2), (2, 1), "SAME"), (x,), order=2)


# ----------------------------------------------------------------------------- front ends

def test_string_padding_and_dimension_numbers():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    specs = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
    assert specs == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    # SAME: outputs of ceil(n / s); the odd padding element at the end (SAME_LOWER: front).
    for padding, pads in [("SAME", [(1, 1), (0, 1)]), ("SAME_LOWER", [(1, 1), (1, 0)]),
                          ("VALID", [(0, 0), (0, 0)])]:
        got = lax.conv_general_dilated(x, w, (2, 1), padding, dimension_numbers=specs)
        want = lax.conv_general_dilated(x, w, (2, 1), pads, dimension_numbers=specs)
        np.testing.assert_array_equal(got, want)
    assert lax.padtype_to_pads((7, 6), (3, 2), (2, 2), "SAME") == [(1, 1), (0, 0)]
    nchw = lax.conv(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), (1, 1), "SAME")
    np.testing.assert_allclose(nchw.transpose(0, 2, 3, 1), lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")), rtol=1e-12)
    general = lax.conv_with_general_padding(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1),
                                            (1, 2), [(1, 0), (2, 1)], (2, 1), (1, 2))
    assert general.shape == (2, 4, 12, 4)


def test_conv_transpose_is_the_transpose_of_a_strided_conv():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 8, 7, 3)), rng.standard_normal((3, 2, 3, 4))
    dn = ("NHWC", "HWIO", "NHWC")
    for padding in ["SAME", "VALID"]:
        forward = functools.partial(lax.conv_general_dilated, rhs=w, window_strides=(2, 2),
                                    padding=padding, dimension_numbers=dn)
        y = rng.standard_normal(forward(x).shape)
        (vjp,) = xf.vjp(forward, x)[1](y)
        back = lax.conv_transpose(y, w, (2, 2), padding, dimension_numbers=dn,
                                  transpose_kernel=True)
        # conv_transpose's output may be longer by the stride's remainder; it agrees where
        # both are defined.
        np.testing.assert_allclose(back[:, :8, :7], vjp[:, :back.shape[1], :back.shape[2]],
                                   rtol=1e-12, atol=1e-12)


def test_flops_count_the_multiply_adds():
    x, w = np.ones((2, 3, 6, 5)), np.ones((4, 3, 3, 2))
    flops = xf.count_flops(lambda x, w: lax.conv(x, w, (1, 1), "VALID"))(x, w)
    assert flops["conv_general_dilated"] == 2 * (2 * 4 * 4 * 4) * (3 * 3 * 2)
    pooled = xf.count_flops(lambda x: max_pool(x, (2, 2), (2, 2)))(x)
    assert pooled["reduce_window_max"] == (2 * 1 * 3 * 5) * 4


def test_errors_say_what_is_wrong():
    x, w = np.ones((1, 2, 5)), np.ones((3, 2, 2))
    with pytest.raises(TypeError, match="one dtype"):
        lax.conv(x, w.astype(np.float32), (1,), "VALID")
    with pytest.raises(TypeError, match="feature_group_count"):
        lax.conv_general_dilated(x, w, (1,), "VALID", feature_group_count=2)
    with pytest.raises(ValueError, match="string padding"):
        lax.conv_general_dilated(x, w, (1,), "SAME", lhs_dilation=(2,))
    with pytest.raises(ValueError, match="unknown padding"):
        lax.conv(x, w, (1,), "FULL")
    with pytest.raises(TypeError, match="strides"):
        lax.conv(x, w, (0,), "VALID")
    with pytest.raises(TypeError, match="same spatial"):
        lax.conv_dimension_numbers((1, 2, 3), (1, 2, 3), ("NCH", "OIW", "NCH"))
    with pytest.raises(TypeError, match="window dimensions"):
        lax.reduce_window(x, 0.0, lax.add, (1, 1, 0), (1, 1, 1), "VALID")
    with pytest.raises(TypeError, match="one entry per dimension"):
        lax.reduce_window(x, 0.0, lax.add, (1, 2), (1, 1), "VALID")


def test_preferred_element_type_and_float32():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 6)).astype(np.float32), rng.standard_normal(
        (4, 3, 2)).astype(np.float32)
    assert lax.conv(x, w, (1,), "SAME").dtype == np.float32
    assert lax.conv(x, w, (1,), "SAME", preferred_element_type=np.float64).dtype == np.float64

    def loss(x, w):
        return xnp.sum(max_pool(lax.conv(x, w, (1,), "SAME")[..., None], (1, 2), (1, 2)) ** 2)
    grads = xf.grad(loss, (0, 1))(x, w)
    assert [g.dtype for g in grads] == [np.float32, np.float32]
    pooled = lax.reduce_window(x, 0.0, lax.add, (1, 1, 2), (1, 1, 1), "VALID")
    assert pooled.dtype == np.float32


# ----------------------------------------------------------------------------- numpy layer

@settings(max_examples=30)
@given(n=st.integers(1, 7), k=st.integers(1, 7), mode=st.sampled_from(["full", "same",
                                                                         "valid"]),
       dtype=st.sampled_from([np.float64, np.float32, np.int64]), seed=st.integers(0, 99))
def test_convolve_and_correlate_match_numpy(n, k, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    a, v = (rng.standard_normal(n) * 3).astype(dtype), (rng.standard_normal(k) * 3).astype(
        dtype)
    for name in ("convolve", "correlate"):
        want = getattr(np, name)(a, v, mode)
        traced = xf.jit(functools.partial(getattr(xnp, name), mode=mode),
                        backend="interpreter")
        got = traced(a, v)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_convolve_derivatives_and_numpy_rules():
    rng = np.random.default_rng(6)
    a, v = rng.standard_normal(6), rng.standard_normal(3)
    for mode in ("full", "same", "valid"):
        check_grads(functools.partial(xnp.convolve, mode=mode), (a, v), order=2)
        check_grads(functools.partial(xnp.correlate, mode=mode), (v, a), order=2)
    assert xnp.convolve([1, 2], [1, 1]).tolist() == [1, 3, 2]
    assert xf.grad(lambda x: xnp.convolve([x, 1.0], [2.0, 3.0])[1])(1.0) == 3.0
    with pytest.raises(ValueError, match="cannot be empty"):
        xf.grad(lambda x: xnp.convolve(x, np.ones(0))[0])(np.ones(2))
    with pytest.raises(ValueError, match="mode"):
        xf.grad(lambda x: xnp.correlate(x, x, "middle")[0])(np.ones(2))


# ----------------------------------------------------------------------------- jit

# Rows of the float64 program: convolutions in every layout and grouping, windowed
# reductions with every geometry parameter.
JIT_CONVS = [
    dict(lhs=(2, 3, 7, 6), rhs=(4, 3, 3, 2), strides=(1, 2), padding=[(1, 1), (0, 2)],
         lhs_dilation=(1, 1), rhs_dilation=(2, 1),
         specs=((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2)), fg=1, bg=1),
    dict(lhs=(2, 4, 9), rhs=(6, 2, 3), strides=(2,), padding=[(2, -1)], lhs_dilation=(2,),
         rhs_dilation=(1,), specs=((0, 1, 2), (0, 1, 2), (2, 0, 1)), fg=2, bg=1),
    dict(lhs=(4, 2, 5, 4), rhs=(4, 2, 2, 2), strides=(1, 1), padding=[(0, 0), (1, 1)],
         lhs_dilation=(1, 1), rhs_dilation=(1, 2),
         specs=((1, 0, 2, 3), (0, 1, 2, 3), (3, 2, 0, 1)), fg=1, bg=2),
    dict(lhs=(1, 2, 4, 3, 5), rhs=(2, 2, 2, 1, 2), strides=(2, 1, 1),
         padding=[(1, 0), (0, 0), (1, 1)], lhs_dilation=(1, 1, 2), rhs_dilation=(1, 1, 1),
         specs=((0, 4, 1, 2, 3), (4, 3, 0, 1, 2), (0, 4, 1, 2, 3)), fg=1, bg=1),
    dict(lhs=(1, 1, 3, 2, 2, 2), rhs=(1, 1, 2, 1, 2, 1), strides=(1,) * 4,
         padding=[(0, 0)] * 4, lhs_dilation=(1,) * 4, rhs_dilation=(1,) * 4,
         specs=(tuple(range(6)),) * 3, fg=1, bg=1),
]
JIT_WINDOWS = [
    dict(kind="max", shape=(2, 6, 5, 3), window=(1, 2, 2, 1), strides=(1, 2, 2, 1),
         padding=[(0, 0), (0, 0), (0, 1), (0, 0)], base=(1,) * 4, dilation=(1,) * 4),
    dict(kind="sum", shape=(5, 4), window=(3, 2), strides=(2, 1), padding=[(1, 2), (-1, 1)],
         base=(2, 1), dilation=(1, 2)),
    dict(kind="min", shape=(7,), window=(3,), strides=(1,), padding=[(2, 2)], base=(1,),
         dilation=(2,)),
    dict(kind="max", shape=(3, 4), window=(1, 1), strides=(1, 1), padding=[(0, 0), (0, 0)],
         base=(1, 1), dilation=(1, 1)),
]


def _config(c):
    return dict(c, specs=lax.ConvDimensionNumbers(*c["specs"]))


def lowering_family(dtype):
    """(operands(rng) -> dict, program(ops) -> dict) binding every windowed primitive in
    `dtype`: all the rows above for float64, the first of each primitive otherwise (this is
    the `conv` family of tests/test_numba_lowerings.py, too)."""
    full = np.dtype(dtype) == np.float64
    convs = JIT_CONVS if full else JIT_CONVS[:1]
    windows = JIT_WINDOWS if full else [next(c for c in JIT_WINDOWS if c["kind"] == kind)
                                        for kind in ("max", "sum", "min")]
    # Selections along the max pool's axes (NaN, signed zeros, ties) and, as a min, along a
    # dilated, padded axis.
    selections = [("x0", selection_params(windows[0], 1, "max")),
                  ("x1", selection_params(windows[1], 0, "min"))][:2 if full else 1]

    def make_operands(rng):
        ops = {}
        for k, c in enumerate(convs):
            ops[f"lhs{k}"], ops[f"rhs{k}"] = operands(_config(c), rng, dtype)
        for k, c in enumerate(windows):
            ops[f"x{k}"] = _values(rng, c["shape"], dtype)
        if np.dtype(dtype).kind == "f":  # NaN, infinities, signed zeros and ties (max pool)
            x = ops["x0"]
            x[0, :2, :2, 0] = [[np.nan, 1.0], [2.0, np.inf]]
            x[1, :2, :2, 0] = [[0.0, -0.0], [-0.0, 0.0]]
            x[1, 2:4, :2, 1] = [[1.0, 1.0], [-np.inf, 1.0]]
        for k, (key, params) in enumerate(selections):
            shape = ops[key].shape
            ops[f"t{k}"] = _values(rng, shape, dtype)
            ops[f"ct{k}"] = _values(rng, window_shape(shape, params), dtype)
        return ops

    def program(ops):
        outs = {f"conv{k}": conv_of(_config(c))(ops[f"lhs{k}"], ops[f"rhs{k}"])
                for k, c in enumerate(convs)}
        outs.update({f"window{k}": window_of(c)(ops[f"x{k}"]) for k, c in enumerate(windows)})
        for k, (key, params) in enumerate(selections):
            for name, values in [("gather", f"t{k}"), ("scatter", f"ct{k}")]:
                outs[f"{name}{k}"] = registry[f"window_select_{name}"].bind1(
                    ops[values], ops[key], **params)
        return outs
    return make_operands, program


def _run_numba(f, *args):
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return xf.jit(f)(*args)


def _assert_same(got, want, rtol):
    for key in want:
        g, w = np.asarray(got[key]), np.asarray(want[key])
        assert g.shape == w.shape and g.dtype == w.dtype, key
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, equal_nan=True, err_msg=key)
        assert (np.signbit(g) == np.signbit(w))[(g == 0) & (w == 0)].all(), key


@settings(max_examples=2)
@given(seed=st.integers(0, 2 ** 16))
def test_numba_agrees_with_the_interpreter(seed):
    make_operands, program = lowering_family(np.float64)
    ops = make_operands(np.random.default_rng(seed))
    _assert_same(_run_numba(program, ops), xf.jit(program, backend="interpreter")(ops), 1e-13)


def cnn_loss(params, x, y):
    """Two 3x3 convolutions (8 and 16 channels), relu, 2x2 max pooling, a dense layer and
    softmax cross-entropy; NHWC."""
    (w1, b1), (w2, b2), (w3, b3) = params
    dn = ("NHWC", "HWIO", "NHWC")
    h = xnp.maximum(lax.conv_general_dilated(x, w1, (1, 1), "VALID",
                                             dimension_numbers=dn) + b1, 0)
    h = xnp.maximum(lax.conv_general_dilated(h, w2, (1, 1), "SAME",
                                             dimension_numbers=dn) + b2, 0)
    h = max_pool(h, (2, 2), (2, 2))
    logits = h.reshape(h.shape[0], -1) @ w3 + b3
    return xnp.mean(xf.scipy.special.logsumexp(logits, axis=-1) - xnp.sum(logits * y, -1))


def cnn_data(dtype, batch=4, side=10):
    rng = np.random.default_rng(7)
    params = [(rng.standard_normal((3, 3, 1, 4)) / 3, np.zeros(4)),
              (rng.standard_normal((3, 3, 4, 8)) / 6, np.full(8, 0.1)),
              (rng.standard_normal((8 * ((side - 2) // 2) ** 2, 5)) / 10, np.zeros(5))]
    params = [(w.astype(dtype), b.astype(dtype)) for w, b in params]
    x = rng.standard_normal((batch, side, side, 1)).astype(dtype)
    y = np.eye(5, dtype=dtype)[rng.integers(0, 5, batch)]
    return params, x, y


def test_jitted_cnn_value_and_grad_in_float32():
    params, x, y = cnn_data(np.float32)
    f = xf.value_and_grad(cnn_loss)
    (value, grads), (want_value, want_grads) = _run_numba(f, params, x, y), f(params, x, y)
    leaves, want = xf.tree.leaves(grads), xf.tree.leaves(want_grads)
    assert np.asarray(value).dtype == np.float32
    assert all(g.dtype == np.float32 for g in leaves)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    for g, w in zip(leaves, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-6)


def test_cnn_gradient_against_finite_differences():
    params, x, y = cnn_data(np.float64, batch=2, side=8)
    check_grads(lambda p: cnn_loss(p, x, y), (params,), order=1, modes=("rev",))


# ----------------------------------------------------------------------------- peers

@pytest.mark.peers
@settings(max_examples=8)
@given(config=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv_agrees_with_jax(config, seed):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    lhs, rhs = operands(config, seed)
    args = (config["strides"], config["padding"], config["lhs_dilation"],
            config["rhs_dilation"])
    groups = (config["fg"], config["bg"])
    jax_args = (*args, jax.lax.ConvDimensionNumbers(*config["specs"]), *groups)
    args = (*args, config["specs"], *groups)
    want = np.asarray(jax.lax.conv_general_dilated(lhs, rhs, *jax_args))
    np.testing.assert_allclose(lax.conv_general_dilated(lhs, rhs, *args), want, rtol=1e-12,
                               atol=1e-12)
    if want.size:
        u = np.random.default_rng(seed).standard_normal(want.shape)
        ours = xf.vjp(lambda a, b: lax.conv_general_dilated(a, b, *args), lhs, rhs)[1](u)
        theirs = jax.vjp(lambda a, b: jax.lax.conv_general_dilated(a, b, *jax_args), lhs,
                         rhs)[1](u)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-10, atol=1e-10)


@pytest.mark.peers
@settings(max_examples=10)
@given(config=window_configs(), seed=st.integers(0, 2 ** 16),
       init=st.sampled_from(["identity", 0.5]))
def test_reduce_window_agrees_with_jax(config, seed, init):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = np.random.default_rng(seed).standard_normal(config["shape"])
    kind = config["kind"]
    start = IDENTITY[kind] if init == "identity" else init
    args = (config["window"], config["strides"], config["padding"], config["base"],
            config["dilation"])
    want = np.asarray(jax.lax.reduce_window(x, start, getattr(jax.lax, {"sum": "add"}.get(
        kind, kind)), *args))
    np.testing.assert_allclose(lax.reduce_window(x, start, COMPUTATION[kind], *args), want,
                               rtol=1e-12)


@pytest.mark.peers
def test_conv_transpose_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 5, 4, 3))
    for padding in ["SAME", "VALID", [(1, 2), (0, 1)]]:
        for flip, consistent in itertools.product([False, True], repeat=2):
            w = rng.standard_normal((3, 2, 4, 3) if flip else (3, 2, 3, 4))
            args = ((2, 3), padding)
            kw = dict(rhs_dilation=(1, 2), transpose_kernel=flip,
                      use_consistent_padding=consistent)
            np.testing.assert_allclose(lax.conv_transpose(x, w, *args, **kw), np.asarray(
                jax.lax.conv_transpose(x, w, *args, **kw)), rtol=1e-12, atol=1e-12)
