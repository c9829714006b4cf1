"""Reductions fused into compiled loops (xform/backends/codegen.py), against numpy.

A reduction over the innermost axis accumulates in independent partial results so that its
loop vectorises; these tests pin its values (NaN and inf included, empty and size-1 axes, float32
and float64), its determinism, and which loops get partials. Each test compiles one program.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0]


def _body(ops, x):
    """Vectorisable math (tanh, exp): reductions of it get partials from 16 elements on."""
    return ops.tanh(x) * ops.exp(-x * x) + x


def _reductions(ops, a, b, column, empty, trig):
    """Fused reductions over every kind of axis: `a` (float64) and `b` (float32) over more
    than one block of partials, `column` and `trig` size-1 axes, `empty` a zero-length axis,
    `trig` sin, whose fast loop reruns exactly for a huge argument. Each loop with partials
    costs about half a second of compile time."""
    ya, yb, ye = a * a - a, b * b - b, empty * empty
    return (
        ops.sum(ya), ops.sum(ya, axis=-1), ops.sum(ya, axis=0), ops.max(ya, axis=(0, 2)),
        ops.min(ya, axis=-1), ops.prod(1.0 + ya / 128.0, axis=-1), ops.mean(ya, axis=(1, 2)),
        ops.sum(yb), ops.max(yb, axis=-1), ops.sum(column * column), ops.sum(ye, axis=(1, 2)),
        ops.prod(ye), ops.sum(ops.sin(trig), axis=-1), ops.max(ops.sin(trig)))


SHAPES = {"a": ((2, 3, 300), np.float64), "b": ((4, 300), np.float32),
          "column": ((1100, 1), np.float64), "empty": ((2, 0, 40), np.float64),
          "trig": ((1, 1100), np.float64)}


def _inputs(seed: int, specials: list[tuple[int, int, int]]) -> dict:
    rng = np.random.default_rng(seed)
    args = {}
    for k, (name, (shape, dtype)) in enumerate(SHAPES.items()):
        flat = rng.uniform(-3.0, 3.0, shape).reshape(-1)
        for which, position, value in specials:
            if which == k and flat.size:
                flat[position % flat.size] = SPECIALS[value]
        args[name] = flat.reshape(shape).astype(dtype)
    args["trig"][0, seed % 1100] = 1e6 * (1 + seed % 7)  # beyond the fast sine's reduction
    return args


def _finite_abs(y):
    return np.where(np.isfinite(y), np.abs(y), 0.0)


# `_reductions` through these gives, for each output, the same reduction of the magnitudes of
# the finite values reduced: what bounds its rounding error.
BOUNDS = SimpleNamespace(
    tanh=np.tanh, exp=np.exp, sin=np.sin,
    sum=lambda y, axis=None: np.sum(_finite_abs(y), axis),
    mean=lambda y, axis=None: np.mean(_finite_abs(y), axis),
    prod=lambda y, axis=None: np.prod(_finite_abs(y), axis),
    max=lambda y, axis=None: np.max(_finite_abs(y), axis),
    min=lambda y, axis=None: np.max(_finite_abs(y), axis))


def _close(got, want, scale, rtol):
    """`got` has the dtype and shape of `want`, NaN and inf where it has them, and differs
    from it elsewhere by at most `rtol` times `scale`."""
    want = np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    got, want = got.astype(np.float64), want.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    infinite = np.isinf(want)
    np.testing.assert_array_equal(got[infinite], want[infinite])
    finite = np.isfinite(want)
    assert np.all(np.abs(got[finite] - want[finite]) <= rtol * scale[finite] + 1e-300)


_program = xf.jit(lambda *args: _reductions(xnp, *args))


@settings(max_examples=15)
@given(st.integers(0, 10 ** 6),
       st.lists(st.tuples(st.integers(0, len(SHAPES) - 1), st.integers(0, 10 ** 4),
                          st.integers(0, len(SPECIALS) - 1)), max_size=6))
def test_fused_reductions_match_numpy(seed, specials):
    args = _inputs(seed, specials)
    got = _program(*args.values())
    again = _program(*args.values())
    with np.errstate(all="ignore"):
        want = _reductions(np, **args)
        scales = _reductions(BOUNDS, **args)
    for g, w, scale, a in zip(got, want, scales, again):
        np.testing.assert_array_equal(g, a)  # the same bits on every call
        _close(g, w, np.asarray(scale, np.float64), 1e-5 if g.dtype == np.float32 else 1e-13)


def test_full_sum_is_accurate():
    """Partials summed pairwise: an order of magnitude closer to the exact sum than a serial
    loop (3.4e-17 of the sum of magnitudes on these values)."""
    x = np.random.default_rng(1).uniform(-3.0, 3.0, 10 ** 6)
    y = _body(np, x)
    got = xf.jit(lambda x: xnp.sum(_body(xnp, x)))(x)
    assert abs(got - math.fsum(y)) <= 1e-17 * np.sum(np.abs(y))


@pytest.mark.parametrize("shape, axis, partials", [
    ((10 ** 6,), None, True), ((1000, 1000), -1, True), ((1000, 1000), None, True),
    ((1000, 1000), 0, False), ((1000, 10), -1, False), ((1000, 10), None, False),
    ((1000,), None, False)])
def test_which_loops_accumulate_partials(shape, axis, partials):
    """Innermost-axis reductions of vector math get partials (blocks of 256 on long axes);
    a reduction keeping the innermost axis vectorises without them, and on short rows or
    short loops the partials cost more than they save."""
    source = xf.jit(lambda x: xnp.sum(_body(xnp, x), axis=axis)).lower(np.ones(shape)).source
    assert ("for lj in range(" in source) == partials
    assert ("for lb in range(" in source) == (partials and shape[-1] > 256)


@pytest.mark.slow
@settings(max_examples=10)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=3), st.data())
def test_fused_reductions_any_shape(shape, data):
    axes = data.draw(st.sets(st.integers(0, len(shape) - 1)))
    axis = tuple(sorted(axes)) or None
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = np.random.default_rng(len(axes)).uniform(-3.0, 3.0, shape).astype(dtype)

    def f(ops, x):
        y = _body(ops, x)
        nonempty = x.size and all(shape[k] for k in (axes or range(len(shape))))
        extremes = (ops.max(y, axis=axis), ops.min(y, axis=axis)) if nonempty else ()
        return (ops.sum(y, axis=axis), ops.prod(1.0 + y / 64.0, axis=axis)) + extremes
    got = xf.jit(lambda x: f(xnp, x))(x)
    want = f(np, x)
    for g, w in zip(got, want):
        w = np.asarray(w, dtype=g.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-4 if dtype == np.float32 else 1e-11,
                                   atol=1e-4 if dtype == np.float32 else 1e-11)


@pytest.mark.slow
def test_integer_and_boolean_partials():
    rng = np.random.default_rng(0)
    ints, flags = rng.integers(-10 ** 6, 10 ** 6, (3, 400)), rng.uniform(size=(3, 400)) > 0.01

    def f(ops, ints, flags):
        return (ops.sum(ints, axis=-1), ops.min(ints), ops.max(ints * 2, axis=-1),
                ops.prod(ints % 3 + 1, axis=-1), ops.any(flags, axis=-1), ops.all(flags),
                ops.sum(flags, axis=-1), ops.sum(ints.astype(np.int32), axis=-1))
    for got, want in zip(xf.jit(lambda *a: f(xnp, *a))(ints, flags), f(np, ints, flags)):
        assert got.dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_partials_loop_vectorises():
    from xform.backends.codegen import generate
    x = np.ones(10 ** 6)
    source, consts, buffers = generate(xf.jit(lambda x: xnp.sum(_body(xnp, x))).lower(x).ir)
    namespace = {"CACHE": False}
    exec(compile(source, "<generated>", "exec"), namespace)
    kernel = namespace["kernel"]
    kernel(*consts, *(np.empty(s, d) for s, d in buffers), x)
    llvm = "".join(kernel.inspect_llvm().values())
    assert " x double>" in llvm
