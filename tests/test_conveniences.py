"""JAX's conveniences: tree_util, devices and block_until_ready, eval_shape, linear_transpose,
debug.print/callback under every transformation (and compiled), config.update,
custom_jvp.defjvps, and checkpoint policies."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import lax, tree_util
from xform.backends import numba as numba_backend
from xform.core import IR
from xform.test_util import check_grads


def _numba(f, *args):
    """xf.jit(f)(*args) compiled by Numba; a fallback to the interpreter fails."""
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return xf.jit(f)(*args)


# ----------------------------------------------------------------------------- tree_util

def test_tree_util_has_jax_names():
    tree = {"a": (1, 2), "b": [3, None]}
    leaves, treedef = tree_util.tree_flatten(tree)
    assert leaves == [1, 2, 3] and tree_util.tree_unflatten(treedef, leaves) == tree
    assert tree_util.tree_leaves(tree) == [1, 2, 3]
    assert tree_util.tree_structure(tree) == treedef
    assert tree_util.tree_map(lambda x, y: x + y, tree, tree) == {"a": (2, 4), "b": [6, None]}
    assert tree_util.tree_map(len, {"a": [1, 2]}, is_leaf=lambda x: isinstance(x, list)) \
        == {"a": 2}
    assert tree_util.tree_reduce(lambda a, b: a * b, tree, 10) == 60
    assert tree_util.tree_all([True, (1, None)]) and not tree_util.tree_all([True, 0])
    assert tree_util.treedef_is_leaf(tree_util.tree_structure(1.0))
    assert tree_util.all_leaves([1.0, np.ones(2)]) and not tree_util.all_leaves([(1,)])
    transposed = tree_util.tree_transpose(tree_util.tree_structure([0, 0]),
                                          tree_util.tree_structure({"x": 0, "y": 0}),
                                          [{"x": 1, "y": 2}, {"x": 3, "y": 4}])
    assert transposed == {"x": [1, 3], "y": [2, 4]}
    assert xf.tree_util is tree_util


def test_registered_nodes_and_partial_pass_through_transformations():
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

    tree_util.register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))

    @tree_util.register_pytree_node_class
    class Scaled:
        def __init__(self, value, factor):
            self.value, self.factor = value, factor

        def tree_flatten(self):
            return (self.value,), self.factor

        @classmethod
        def tree_unflatten(cls, factor, children):
            return cls(children[0], factor)

    def f(p, s):
        return xnp.sum(p.a * p.b) * s.factor + xnp.sum(s.value)
    x = np.arange(3.0)
    g = xf.grad(f)(Pair(x, 2 * x), Scaled(x, 3.0))
    np.testing.assert_allclose(g.a, 6 * x)
    out = xf.jit(lambda s: Scaled(s.value * s.factor, s.factor), backend="interpreter")(
        Scaled(x, 2.0))
    assert out.factor == 2.0 and out.value.tolist() == [0.0, 2.0, 4.0]

    scale = tree_util.Partial(lambda w, v: w * v, np.array([1.0, 2.0]))
    assert scale(3.0).tolist() == [3.0, 6.0]
    np.testing.assert_allclose(xf.jit(lambda p, v: p(v), backend="interpreter")(scale, 2.0),
                               [2.0, 4.0])
    g = xf.grad(lambda p: xnp.sum(p(1.0)))(scale)
    assert isinstance(g, tree_util.Partial) and g.args[0].tolist() == [1.0, 1.0]
    assert xf.vmap(lambda p: p(2.0))(tree_util.Partial(scale.func, np.eye(2))).shape == (2, 2)


# ----------------------------------------------------------------------------- devices

def test_devices_and_block_until_ready():
    (cpu,) = xf.devices()
    assert xf.local_devices() == [cpu] and cpu.platform == "cpu" and cpu.id == 0
    assert xf.device_count() == xf.local_device_count() == 1
    assert xf.default_backend() == "cpu"
    x = xnp.sin(np.arange(3.0))
    assert x.block_until_ready() is x
    tree = {"a": x, "b": (np.ones(2), 3.0)}
    assert xf.block_until_ready(tree) is tree
    put = xf.device_put(tree, cpu)
    assert isinstance(put["a"], xnp.Array) and put["b"][1].block_until_ready() == 3.0
    assert xf.device_put(np.float32(1.0)).dtype == np.float32
    got = xf.device_get(put)
    assert type(got["a"]) is np.ndarray and got["b"][1] == 3.0
    assert xf.jit(lambda v: xf.device_put(v) * 2, backend="interpreter")(1.0) == 2.0
    with pytest.raises(ValueError, match="CPU"):
        xf.device_put(x, "gpu:0")
    with pytest.raises(RuntimeError, match="CPU"):
        xf.devices("gpu")


# ----------------------------------------------------------------------------- eval_shape

def test_eval_shape_traces_without_computing():
    big = xf.ShapeDtypeStruct((10 ** 6, 10 ** 6), np.float32)  # far too big to compute with

    def f(a, b, scale=2.0):
        return {"prod": a @ b.T * scale, "sum": (xnp.sum(a, 0), a.dtype)}

    with pytest.raises(TypeError):
        xf.eval_shape(f, big, big)  # a dtype leaf is not an array
    out = xf.eval_shape(lambda a, b: {"prod": a @ b.T, "sum": [xnp.sum(a, 0)]}, big,
                        xf.ShapeDtypeStruct((3, 10 ** 6), np.float32))
    assert out == {"prod": xf.ShapeDtypeStruct((10 ** 6, 3), np.float32),
                   "sum": [xf.ShapeDtypeStruct((10 ** 6,), np.float32)]}
    assert out["prod"].ndim == 2 and out["prod"].size == 3 * 10 ** 6
    assert repr(out["sum"][0]) == "ShapeDtypeStruct(shape=(1000000,), dtype=float32)"
    got = xf.eval_shape(lambda x, s=1.0: (x[:2] * s, x.astype(np.int32)), np.ones(4), s=2.0)
    assert got == (xf.ShapeDtypeStruct((2,), np.float64), xf.ShapeDtypeStruct((4,), np.int32))
    called = []
    xf.eval_shape(lambda x: xf.debug.callback(called.append, x) or x, np.ones(2))
    assert not called


# ----------------------------------------------------------------------------- linear_transpose

def test_linear_transpose_against_matrices_and_vjp():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))

    def f(x, y):
        return {"u": a @ x + 2.0 * y[:3], "v": xnp.cumsum(x)[::-1]}
    x, y = rng.standard_normal(4), rng.standard_normal(5)
    f_t = xf.linear_transpose(f, x, xf.ShapeDtypeStruct((5,), np.float64))
    ct = {"u": rng.standard_normal(3), "v": rng.standard_normal(4)}
    got = f_t(ct)
    want = xf.vjp(f, x, y)[1](ct)
    assert isinstance(got, tuple) and len(got) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    np.testing.assert_allclose(got[0], a.T @ ct["u"] + np.cumsum(ct["v"])[::-1])
    # Usable under transformations: jit, vmap, and differentiable (it is linear itself).
    np.testing.assert_allclose(xf.jit(f_t, backend="interpreter")(ct)[0], got[0])
    batch = {"u": np.stack([ct["u"]] * 2), "v": np.stack([ct["v"]] * 2)}
    np.testing.assert_allclose(xf.vmap(f_t)(batch)[1][1], got[1])
    g_t = xf.linear_transpose(lambda v: a @ v, np.zeros(4, np.float32))
    assert g_t(np.ones(3, np.float32))[0].dtype == np.float32


@pytest.mark.parametrize("fun,message", [
    (lambda x: xnp.sin(x), "applies `sin`"),
    (lambda x: x * x, "multiplies"),
    (lambda x: xnp.dot(x, x), "multiplies"),
    (lambda x: 1.0 / x, "divides"),
    (lambda x: x + 1.0, "affine"),
])
def test_linear_transpose_rejects_nonlinear_functions(fun, message):
    with pytest.raises(TypeError, match=message):
        xf.linear_transpose(fun, np.zeros(3))


def test_linear_transpose_of_integers_and_bad_cotangents():
    with pytest.raises(TypeError, match="floating"):
        xf.linear_transpose(lambda x: x, np.zeros(3, np.int32))
    f_t = xf.linear_transpose(lambda x: (x, 2 * x), np.zeros(2))
    with pytest.raises(TypeError, match="structure"):
        f_t(np.ones(2))
    with pytest.raises(TypeError, match="cotangent"):
        f_t((np.ones(3), np.ones(2)))


# ----------------------------------------------------------------------------- debug.print

def _lines(capsys):
    return capsys.readouterr().out.splitlines()


def test_debug_print_eager_jit_and_grad(capsys):
    def f(x):
        xf.debug.print("x={} total={t:.2f}", x, t=xnp.sum(x))
        return xnp.sum(xnp.sin(x))
    x = np.array([1.0, 2.0])
    f(x)
    assert _lines(capsys) == ["x=[1. 2.] total=3.00"]
    _numba(f, x)
    _numba(f, x)  # every call prints, also from the compiled program
    assert _lines(capsys) == ["x=[1. 2.] total=3.00"] * 2
    g = xf.grad(f)(x)
    np.testing.assert_allclose(g, np.cos(x))
    assert _lines(capsys) == ["x=[1. 2.] total=3.00"]  # the primal, once
    xf.jvp(f, (x,), (x,))
    assert _lines(capsys) == ["x=[1. 2.] total=3.00"]
    xf.debug.print("no arguments {}", 1.5)
    assert _lines(capsys) == ["no arguments 1.5"]


def test_debug_print_under_vmap_prints_each_example_in_order(capsys):
    def f(x, y):
        xf.debug.print("{} {}", x, y)
        return x * y
    xs = np.arange(6.0).reshape(3, 2)
    xf.vmap(f, in_axes=(0, None))(xs, 7.0)
    want = ["[0. 1.] 7.0", "[2. 3.] 7.0", "[4. 5.] 7.0"]
    assert _lines(capsys) == want
    _numba(xf.vmap(f, in_axes=(0, None)), xs, 7.0)
    assert _lines(capsys) == want
    xf.vmap(xf.vmap(f), in_axes=(1, None))(xs, np.array([1.0, 2.0, 3.0]))
    assert _lines(capsys) == ["0.0 1.0", "2.0 2.0", "4.0 3.0", "1.0 1.0", "3.0 2.0", "5.0 3.0"]


def _program(x):
    """Prints from a scan body, a cond branch, a while loop, a vmapped function and a
    gradient."""
    def body(carry, xi):
        xf.debug.print("step {} {}", carry, xi)
        return carry + xi, carry * xi
    total, _ = lax.scan(body, x[0], x[1:])
    branch = lax.cond(total > 0, lambda v: xf.debug.print("positive {}", v) or v,
                      lambda v: -v, total)
    count = lax.while_loop(lambda i: i < 2, lambda i: xf.debug.print("trip {}", i) or i + 1, 0)
    rows = xf.vmap(lambda r: xf.debug.print("row {}", r) or r * 2)(xnp.reshape(x, (2, 2)))
    g = xf.grad(lambda v: xf.debug.print("primal {}", v) or xnp.sum(v ** 2))(x)
    return branch, rows, g, count


def test_debug_print_inside_control_flow_compiled_and_interpreted(capsys):
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    want = ["step 1.0 2.0", "step 3.0 3.0", "step 6.0 4.0", "positive 10.0", "trip 0",
            "trip 1", "row [1. 2.]", "row [3. 4.]", "primal [1. 2. 3. 4.]"]
    xf.jit(_program, backend="interpreter")(x)
    assert _lines(capsys) == want
    out = _numba(_program, x)
    assert _lines(capsys) == want
    assert [np.asarray(o).dtype for o in out] == [np.float32] * 3 + [np.int64]
    ir = xf.make_ir(_program, simplified=True)(x)
    assert "debug_callback" in str(ir)


def test_simplification_keeps_every_print(capsys):
    def f(x):
        xf.debug.print("a {}", x)
        xf.debug.print("a {}", x)  # the same equation twice: both happen
        return x * 0.0
    ir = xf.make_ir(f, simplified=True)(1.0)
    assert [e.prim.name for e in ir.eqns].count("debug_callback") == 2
    xf.jit(f, backend="interpreter")(1.0)
    assert _lines(capsys) == ["a 1.0", "a 1.0"]
    # Its value unused, the print stays in derivative programs' forward pass.
    xf.jit(xf.grad(f), backend="interpreter")(2.0)
    assert _lines(capsys) == ["a 2.0", "a 2.0"]

    def g(x):  # prints of constants, and a loop whose results are unused, run at every call
        lax.scan(lambda c, _: (xf.debug.print("s {}", c) or c + 1, None), 0, None, length=2)
        xf.debug.print("const {}", 3)
        return x
    jitted = xf.jit(g, backend="interpreter")
    jitted(1.0)
    jitted(1.0)
    assert _lines(capsys) == ["s 0", "s 1", "const 3"] * 2


def test_debug_callback_gets_pytrees_of_arrays():
    seen = []
    xf.jit(lambda d: xf.debug.callback(lambda t, n: seen.append((t, n)), d, n="k") or 0.0,
           backend="interpreter")({"a": np.ones(2), "b": (np.float32(2.0),)})
    (tree, name), = seen
    assert name == "k" and tree["a"].tolist() == [1.0, 1.0] and tree["b"][0].dtype == np.float32
    with pytest.raises(TypeError, match="format string"):
        xf.debug.print(1.0)
    with pytest.raises(TypeError, match="callable"):
        xf.debug.callback(1.0)


# ----------------------------------------------------------------------------- config

def test_config_update():
    xf.config.update("jax_enable_x64", True)
    assert xf.config.jax_enable_x64 and xf.config.x64_enabled
    with pytest.raises(NotImplementedError, match="float32"):
        xf.config.update("jax_enable_x64", False)
    with pytest.warns(UserWarning, match="no effect"):
        xf.config.update("jax_platform_name", "cpu")
    with pytest.raises(AttributeError, match="Unrecognized config option"):
        xf.config.update("jax_enable_x32", True)


# ----------------------------------------------------------------------------- defjvps

def test_custom_jvp_defjvps():
    @xf.custom_jvp
    def f(x, y):
        return xnp.sin(x) * y

    f.defjvps(lambda t, ans, x, y: xnp.cos(x) * y * t, lambda t, ans, x, y: xnp.sin(x) * t)
    x, y = np.array([0.3, 1.2]), np.array([2.0, -1.0])
    check_grads(f, (x, y), order=2)
    np.testing.assert_allclose(xf.grad(lambda a: xnp.sum(f(a, y)))(x), np.cos(x) * y)

    @xf.custom_jvp
    def g(x, n):
        return x * n

    g.defjvps(lambda t, ans, x, n: t * n, None)  # no derivative with respect to n
    assert float(xf.grad(g, argnums=1)(2.0, 3.0)) == 0.0
    assert float(xf.grad(g)(2.0, 3.0)) == 3.0

    @xf.custom_jvp
    def h(x):
        return x

    h.defjvps(lambda t, ans, x: t, lambda t, ans, x: t)
    with pytest.raises(TypeError, match="2 rules"):
        xf.grad(h)(1.0)
    k = xf.custom_jvp(lambda x, n: x * n, nondiff_argnums=(1,))
    with pytest.raises(TypeError, match="nondiff_argnums"):
        k.defjvps(lambda t, ans, x: t)


# ----------------------------------------------------------------------------- checkpoint

P = xf.checkpoint_policies


def _mlp(w1, w2, x):
    return xnp.sum(xnp.tanh(w2 @ xnp.tanh(w1 @ x)) ** 2)


def _backward_ir(f, *args) -> IR:
    """The IR of the (last) remat equation in grad(f): the recomputing backward pass."""
    ir = xf.make_ir(xf.grad(f, argnums=(0, 1)), simplified=True)(*args)
    return [e for e in ir.eqns if e.prim.name == "remat"][-1].params["ir"]


def _count(ir: IR, name: str) -> int:
    return [e.prim.name for e in ir.eqns].count(name)


POLICIES = [None, P.nothing_saveable, P.everything_saveable, P.dots_saveable,
            P.dots_with_no_batch_dims_saveable, lambda prim, *avals, **params: prim.name == "tanh"]


@pytest.mark.parametrize("k", range(len(POLICIES)))
def test_checkpoint_policies_keep_values_and_derivatives(k):
    rng = np.random.default_rng(1)
    args = rng.standard_normal((4, 3)), rng.standard_normal((2, 4)), rng.standard_normal(3)
    f = xf.checkpoint(_mlp, policy=POLICIES[k])
    want = xf.grad(_mlp, argnums=(0, 1, 2))(*args)
    for got in (xf.grad(f, argnums=(0, 1, 2))(*args),
                xf.jit(xf.grad(f, argnums=(0, 1, 2)), backend="interpreter")(*args)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12)
    check_grads(f, args, order=2)
    np.testing.assert_allclose(xf.vmap(xf.grad(f, argnums=2), in_axes=(None, None, 0))(
        *args[:2], np.stack([args[2]] * 2))[1], want[2], rtol=1e-12)


def test_what_checkpoint_policies_recompute():
    rng = np.random.default_rng(2)
    args = rng.standard_normal((4, 3)), rng.standard_normal((2, 4)), rng.standard_normal(3)
    nothing = _backward_ir(xf.checkpoint(_mlp), *args)
    dots = _backward_ir(xf.checkpoint(_mlp, policy=P.dots_saveable), *args)
    everything = _backward_ir(xf.checkpoint(_mlp, policy=P.everything_saveable), *args)
    # Two products forward and three transposed ones backward, when nothing is saved; the
    # forward products are saved under dots_saveable (the tanh recomputed from them), and
    # nothing is recomputed when everything is saved.
    assert _count(nothing, "dot_general") == 5 and _count(nothing, "tanh") == 2
    assert _count(dots, "dot_general") == 3 and _count(dots, "tanh") == 2
    assert _count(everything, "dot_general") == 3 and _count(everything, "tanh") == 0
    assert "dots_saveable" in str(xf.make_ir(xf.grad(xf.checkpoint(
        _mlp, policy=P.dots_saveable)))(*args))
    with pytest.raises(TypeError, match="policy"):
        xf.checkpoint(_mlp, policy="dots")


def test_checkpoint_policy_compiled_in_float32():
    rng = np.random.default_rng(3)
    args = [a.astype(np.float32) for a in (rng.standard_normal((4, 3)),
                                           rng.standard_normal((2, 4)),
                                           rng.standard_normal(3))]
    f = xf.grad(xf.checkpoint(_mlp, policy=P.dots_saveable), argnums=(0, 1))
    got = _numba(f, *args)
    want = xf.grad(_mlp, argnums=(0, 1))(*args)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.peers
def test_against_jax_conveniences():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    a = np.random.default_rng(4).standard_normal((3, 4))
    ours = xf.linear_transpose(lambda x: a @ x, np.zeros(4))(np.arange(3.0))
    theirs = jax.linear_transpose(lambda x: jnp.asarray(a) @ x, jnp.zeros(4))(jnp.arange(3.0))
    np.testing.assert_allclose(ours[0], theirs[0])
    spec = xf.eval_shape(lambda x: {"y": x.T @ x}, xf.ShapeDtypeStruct((5, 2), np.float32))
    jspec = jax.eval_shape(lambda x: {"y": x.T @ x}, jax.ShapeDtypeStruct((5, 2), jnp.float32))
    assert spec["y"].shape == jspec["y"].shape and spec["y"].dtype == jspec["y"].dtype
    args = (np.ones((4, 3)), np.ones((2, 4)), np.ones(3))
    for pol, jpol in [(P.dots_saveable, jax.checkpoint_policies.dots_saveable),
                      (P.everything_saveable, jax.checkpoint_policies.everything_saveable)]:
        got = xf.grad(xf.checkpoint(_mlp, policy=pol))(*args)
        want = jax.grad(jax.checkpoint(functools.partial(_jax_mlp, jnp), policy=jpol))(*args)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def _jax_mlp(jnp, w1, w2, x):
    return jnp.sum(jnp.tanh(w2 @ jnp.tanh(w1 @ x)) ** 2)


def test_doctests():
    import doctest
    import importlib
    for name in ("xform.debug", "xform.staging", "xform.tree_util", "xform.devices",
                 "xform.config", "xform.nn.functions", "xform.example_libraries.stax",
                 "xform.example_libraries.optimizers"):
        failures, _ = doctest.testmod(importlib.import_module(name))
        assert not failures, name
