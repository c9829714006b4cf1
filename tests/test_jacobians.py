"""Jacobian-producing transforms on functions with several outputs, against finite differences.

Every transform that assembles derivatives of a pytree of outputs (`jacrev`, `jacfwd`, `hessian`,
`vjp`, `linearize`, `grad` with `argnums` tuples) runs on tuple, list, dict and nested outputs,
plainly and with the function computed inside each higher-order primitive (`jit`, `cond`,
`switch`, `scan`, `custom_jvp`, `custom_vjp`, `checkpoint`), and under `jit` and `vmap` of the
transform. References are central differences in float64, so a block put in the wrong place
(a scrambled Jacobian) fails whatever the transforms agree on among themselves.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import lax, tree
from xform.test_util import check_grads

EPS = 1e-6

# ----------------------------------------------------------------------------- functions

OUTPUTS = {
    "tuple": lambda x: (xnp.sin(x), 2.0 * x[:2]),
    "list": lambda x: [x * x, xnp.sum(x ** 3)],
    "dict": lambda x: {"a": xnp.exp(x), "b": x[0] * x[1:]},
    "nested": lambda x: ({"a": x[:2] ** 3, "b": [xnp.sum(xnp.cos(x)), xnp.outer(x, x[:2])]},
                         (xnp.tanh(x),)),
}


def _via_custom_jvp(f):
    @xf.custom_jvp
    def g(x):
        return f(x)

    @g.defjvp
    def g_jvp(primals, tangents):
        return xf.jvp(f, primals, tangents)
    return g


def _via_custom_vjp(f):
    @xf.custom_vjp
    def g(x):
        return f(x)

    def fwd(x):
        out, f_vjp = xf.vjp(f, x)
        return out, x

    def bwd(x, ct):
        return xf.vjp(f, x)[1](ct)
    g.defvjp(fwd, bwd)
    return g


def _via_scan(f):
    def g(x):
        _, ys = lax.scan(lambda c, _: (c, f(c)), x, None, length=2)
        return tree.map(lambda y: y[1], ys)
    return g


# Each wraps f into a function with the same outputs computed through a higher-order primitive.
CONTEXTS = {
    "plain": lambda f: f,
    "jit": lambda f: xf.jit(f, backend="interpreter"),
    "cond": lambda f: lambda x: lax.cond(xnp.sum(x) > -1e9, f, lambda x: f(x * 1.0), x),
    "switch": lambda f: lambda x: lax.switch(1, [lambda x: f(-x), f], x),
    "scan": _via_scan,
    "custom_jvp": _via_custom_jvp,
    "custom_vjp": _via_custom_vjp,
    "checkpoint": xf.checkpoint,
}
FORWARD_OK = {c for c in CONTEXTS if c != "custom_vjp"}  # custom_vjp defines reverse mode only


# ----------------------------------------------------------------------------- references

def fd_jacobian(f, args, argnums=0):
    """JAX's Jacobian layout from central differences: the output pytree, each leaf holding
    out.shape + in.shape blocks (a tuple of them when `argnums` is a tuple)."""
    many = isinstance(argnums, tuple)
    nums = argnums if many else (argnums,)
    out_leaves, out_tree = tree.flatten(f(*args))
    blocks = [[] for _ in out_leaves]
    for i in nums:
        x = np.asarray(args[i], np.float64)
        cols = []
        for k in range(x.size):
            step = np.zeros(x.size)
            step[k] = EPS
            step = step.reshape(x.shape)
            at = [list(args), list(args)]
            at[0][i], at[1][i] = x + step, x - step
            plus, minus = (tree.leaves(f(*a)) for a in at)
            cols.append([(np.asarray(p) - np.asarray(m)) / (2 * EPS)
                         for p, m in zip(plus, minus)])
        for j, o in enumerate(out_leaves):
            shape = np.shape(o)
            col = np.stack([c[j] for c in cols], axis=-1) if cols else np.zeros((*shape, 0))
            blocks[j].append(col.reshape(shape + x.shape))
    return tree.unflatten(out_tree, [tuple(b) if many else b[0] for b in blocks])


def assert_tree_close(got, want, tol=1e-6):
    """Same pytree structure, and per leaf the same shape and values."""
    assert tree.structure(got) == tree.structure(want), (tree.structure(got),
                                                         tree.structure(want))
    for g, w in zip(tree.leaves(got), tree.leaves(want)):
        assert np.shape(g) == np.shape(w), (np.shape(g), np.shape(w))
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=tol, atol=tol)


X = np.array([0.3, -0.7, 1.1])


def _rows(forward: bool):
    return [pytest.param(o, c, id=f"{o}-{c}") for o in OUTPUTS for c in CONTEXTS
            if not forward or c in FORWARD_OK]


# ----------------------------------------------------------------------------- Jacobians

@pytest.mark.parametrize("out,ctx", _rows(forward=False))
def test_jacrev_of_multiple_outputs(out, ctx):
    f = CONTEXTS[ctx](OUTPUTS[out])
    assert_tree_close(xf.jacrev(f)(X), fd_jacobian(OUTPUTS[out], (X,)))


@pytest.mark.parametrize("out,ctx", _rows(forward=True))
def test_jacfwd_of_multiple_outputs(out, ctx):
    f = CONTEXTS[ctx](OUTPUTS[out])
    assert_tree_close(xf.jacfwd(f)(X), fd_jacobian(OUTPUTS[out], (X,)))


@pytest.mark.parametrize("out,ctx", _rows(forward=False))
def test_hessian_of_multiple_outputs(out, ctx):
    f = CONTEXTS[ctx](OUTPUTS[out])
    # jacfwd of the plain function is checked against finite differences above.
    want = fd_jacobian(xf.jacfwd(OUTPUTS[out]), (X,))
    assert_tree_close(xf.hessian(f)(X), want, tol=1e-5)


@pytest.mark.parametrize("out,ctx", _rows(forward=False))
def test_vjp_of_multiple_outputs(out, ctx):
    f = CONTEXTS[ctx](OUTPUTS[out])
    y, f_vjp = xf.vjp(f, X)
    rng = np.random.default_rng(0)
    ct = tree.map(lambda o: rng.standard_normal(np.shape(o)), y)
    jac = fd_jacobian(OUTPUTS[out], (X,))
    want = sum(np.tensordot(c, j, axes=np.ndim(c)) for c, j in zip(tree.leaves(ct),
                                                                   tree.leaves(jac)))
    (got,) = f_vjp(ct)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("out,ctx", _rows(forward=True))
def test_linearize_of_multiple_outputs(out, ctx):
    f = CONTEXTS[ctx](OUTPUTS[out])
    y, f_jvp = xf.linearize(f, X)
    t = np.array([0.5, -1.0, 2.0])
    want = tree.map(lambda j: j @ t, fd_jacobian(OUTPUTS[out], (X,)))
    assert_tree_close(f_jvp(t), want)
    assert_tree_close(y, OUTPUTS[out](X), tol=1e-12)


@pytest.mark.parametrize("transform", [xf.jacrev, xf.jacfwd])
@pytest.mark.parametrize("out", list(OUTPUTS))
def test_jacobians_under_jit_and_vmap(transform, out):
    f = OUTPUTS[out]
    assert_tree_close(xf.jit(transform(f), backend="interpreter")(X), fd_jacobian(f, (X,)))
    batch = np.stack([X, 0.5 * X, -X])
    got = xf.vmap(transform(f))(batch)
    for k, x in enumerate(batch):
        assert_tree_close(tree.map(lambda g: g[k], got), fd_jacobian(f, (x,)))


def test_jacrev_of_multiple_outputs_compiled():
    f = OUTPUTS["nested"]
    assert_tree_close(xf.jit(xf.jacrev(f))(X), fd_jacobian(f, (X,)))
    assert_tree_close(xf.jacrev(xf.jit(f))(X), fd_jacobian(f, (X,)))


def test_the_reported_case():
    j1, j2 = xf.jacrev(lambda x: (x, 2 * x))(np.ones(2))
    np.testing.assert_array_equal(j1, np.eye(2))
    np.testing.assert_array_equal(j2, 2 * np.eye(2))


# ----------------------------------------------------------------------------- argnums

def two_args(x, y):
    return {"p": x * y[0], "q": (xnp.sum(x ** 2) * y, xnp.sin(y[1]))}


Y = np.array([1.3, 0.4])


@pytest.mark.parametrize("transform", [xf.jacrev, xf.jacfwd])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0)])
def test_jacobians_with_argnums(transform, argnums):
    got = transform(two_args, argnums=argnums)(X, Y)
    assert_tree_close(got, fd_jacobian(two_args, (X, Y), argnums))


@pytest.mark.parametrize("argnums", [1, (0, 1)])
def test_hessian_with_argnums(argnums):
    def scalar(x, y):
        return xnp.sum(xnp.sin(x) * y[0]) + xnp.prod(y) * x[0]
    want = fd_jacobian(xf.jacfwd(scalar, argnums=argnums), (X, Y), argnums)
    assert_tree_close(xf.hessian(scalar, argnums=argnums)(X, Y), want, tol=1e-5)


def test_grad_with_argnums_tuple_and_pytree_args():
    def loss(p, y):
        return xnp.sum(p["w"] * y) + p["b"][0] ** 2
    p = {"w": X, "b": [np.array(0.5)]}
    gp, gy = xf.grad(loss, argnums=(0, 1))(p, X)
    np.testing.assert_allclose(gp["w"], X)
    np.testing.assert_allclose(gp["b"][0], 1.0)
    np.testing.assert_allclose(gy, X)


# ----------------------------------------------------------------------------- properties

@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 4), m=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_multi_output_derivatives_match_finite_differences(n, m, seed):
    """check_grads (both modes, second order) on a random-shaped multi-output function."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    w = rng.standard_normal((m, n))

    def f(x):
        return {"lin": w @ x, "sq": [x * x, xnp.sum(xnp.sin(x))], "t": (xnp.tanh(w @ x),)}
    check_grads(f, (x,), order=2)
    assert_tree_close(xf.jacrev(f)(x), fd_jacobian(f, (x,)))
    assert_tree_close(xf.jacfwd(f)(x), fd_jacobian(f, (x,)))
