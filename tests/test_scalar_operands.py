"""Elementwise primitives with a 0-d operand: it broadcasts against the others, as a scalar.

Scalar constants stay 0-d in the IR (they print by value and compile to scalars), so every
binary elementwise primitive and select take 0-d operands beside n-d ones. Each is checked
against numpy's broadcasting, differentiated to second order against finite differences in
both modes (the 0-d operand's cotangent is the sum over the broadcast), batched under vmap
(batched and unbatched scalars) against a loop, and compiled by Numba against the interpreter.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform.backends import numba as numba_backend
from xform.core import registry
from xform.test_util import check_grads

FLOAT = ["add", "sub", "mul", "div", "pow", "max", "min", "atan2", "rem"]
OTHER = ["floordiv", "and", "or", "xor", "eq", "ne", "lt", "le", "gt", "ge"]
LAYOUTS = {"scalar-right": ((3, 2), ()), "scalar-left": ((), (3, 2))}


def operands(name, layout, rng):
    sx, sy = LAYOUTS[layout]
    if name in ("and", "or", "xor"):
        return rng.random(sx) < 0.5, rng.random(sy) < 0.5
    x = rng.uniform(0.5, 2.0, sx)
    y = rng.uniform(0.5, 2.0, sy) * (1 if name in ("pow", "div", "rem", "floordiv") else
                                     rng.choice([-1, 1], sy))
    return x, y


def bind(name, *args):
    return registry[name].bind1(*args)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", FLOAT + OTHER)
def test_values_follow_numpy_broadcasting(name, layout):
    x, y = operands(name, layout, np.random.default_rng(0))
    want = registry[name].impl(np.broadcast_to(x, np.broadcast_shapes(x.shape, y.shape)),
                               np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape)))[0]
    got = xf.jit(lambda x, y: bind(name, x, y), backend="interpreter")(x, y)
    np.testing.assert_array_equal(got, want)
    assert xf.make_ir(lambda x, y: bind(name, x, y))(x, y).eqns[0].outputs[0].aval.shape == (3, 2)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", FLOAT)
def test_derivatives_with_a_scalar_operand(name, layout):
    x, y = operands(name, layout, np.random.default_rng(1))
    check_grads(lambda x, y: bind(name, x, y), (x, y), order=2)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_select_with_scalar_branches(layout):
    rng = np.random.default_rng(2)
    pred = rng.random((3, 2)) < 0.5
    a, b = operands("add", layout, rng)
    check_grads(lambda a, b: registry["select"].bind1(pred, a, b), (a, b), order=2)
    np.testing.assert_array_equal(registry["select"].bind1(pred, a, b), np.where(pred, a, b))


@pytest.mark.parametrize("batched", ["x", "y", "both"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", ["add", "mul", "pow", "max", "lt", "select"])
def test_vmap_with_a_scalar_operand(name, layout, batched):
    rng = np.random.default_rng(3)
    x, y = operands("pow" if name == "pow" else "add", layout, rng)
    xs, ys = np.stack([x, x + 0.25]), np.stack([y, y * 0.5])
    pred = rng.random((3, 2)) < 0.5

    def f(x, y):
        return registry["select"].bind1(pred, x, y) if name == "select" else bind(name, x, y)
    in_axes = {"x": (0, None), "y": (None, 0), "both": (0, 0)}[batched]
    args = (xs if in_axes[0] == 0 else x, ys if in_axes[1] == 0 else y)
    got = xf.vmap(f, in_axes=in_axes)(*args)
    want = np.stack([f(args[0][k] if in_axes[0] == 0 else args[0],
                       args[1][k] if in_axes[1] == 0 else args[1]) for k in range(2)])
    np.testing.assert_array_equal(got, want)


def test_compiled_with_scalar_operands():
    """One program with every primitive above on a scalar operand, on both backends."""
    rng = np.random.default_rng(4)
    pairs = {f"{name}-{layout}": operands(name, layout, rng) for name in FLOAT + OTHER
             for layout in LAYOUTS}
    pred = rng.random((3, 2)) < 0.5

    def program(pairs):
        outs = {key: bind(key.split("-")[0], *xy) for key, xy in pairs.items()}
        outs["select"] = registry["select"].bind1(pred, 2.0 * np.ones(()),
                                                  pairs["add-scalar-left"][1])
        return outs
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to the interpreter
        got = xf.jit(program)(pairs)
    want = xf.jit(program, backend="interpreter")(pairs)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-14, err_msg=k)


def test_logaddexp_with_a_scalar_keeps_no_array_constants():
    """Its derivative used to carry full-size constant arrays (the broadcast scalar and the
    0.5 of equal infinities) into the compiled program."""
    ir = xf.make_ir(xf.grad(lambda z: xnp.sum(xnp.logaddexp(0.0, z))),
                    simplified=True)(np.ones(1000))
    assert "const:" not in str(ir)
