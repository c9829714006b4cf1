"""Tools on the IR: the verifier, the flop counter and the compiled program's public face."""
from __future__ import annotations

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.core import IR, Eqn, Literal, ShapedArray, Var
from xform.primitives.elementwise import sin_p
from xform.transforms import verify
from xform.transforms.verify import IRError

# ----------------------------------------------------------------------------- the verifier


def loss(w, x):
    return xnp.mean(xnp.tanh(x @ w) ** 2) + lax.cond(w.sum() > 0, xnp.sum, xnp.prod, w)


W, X = np.linspace(-1, 1, 6).reshape(3, 2), np.linspace(0, 1, 12).reshape(4, 3)


def test_the_suite_verifies_every_ir():
    assert verify.ENABLED  # tests/conftest.py sets XFORM_VERIFY_IR=1


XS = np.stack([X, X + 1.0])
TRANSFORMED = {
    "plain": (loss, X), "grad": (xf.grad(loss), X), "hessian": (xf.hessian(loss), X),
    "jacfwd(grad)": (xf.jacfwd(xf.grad(loss)), X),
    "vmap(grad)": (xf.vmap(xf.grad(loss), in_axes=(None, 0)), XS),
    "jit(grad)": (xf.jit(xf.grad(loss)), X),
}


@pytest.mark.parametrize("name", list(TRANSFORMED))
def test_irs_of_transformations_verify(name):
    fun, x = TRANSFORMED[name]
    ir = xf.make_ir(fun)(W, x)
    assert verify.verify(ir) is ir and ir.eqns


def _ir(eqns, ins, outs):
    return IR(ins, eqns, outs)


def test_verifier_reports_a_wrong_output_type():
    a = Var(ShapedArray((3,), np.float64))
    b = Var(ShapedArray((4,), np.float64))
    with pytest.raises(IRError, match="equation 0 .sin.: outputs typed"):
        verify.verify(_ir([Eqn(sin_p, [a], [b], {})], [a], [b]))


def test_verifier_reports_use_before_definition_and_redefinition():
    a, b = Var(ShapedArray((), np.float64)), Var(ShapedArray((), np.float64))
    with pytest.raises(IRError, match="used before it is defined"):
        verify.verify(_ir([Eqn(sin_p, [b], [a], {})], [], [a]))
    with pytest.raises(IRError, match="defined twice"):
        verify.verify(_ir([Eqn(sin_p, [a], [a], {})], [a], [a]))


def test_verifier_reports_a_mistyped_literal_and_looks_into_nested_irs():
    a = Var(ShapedArray((), np.float64))
    lit = Literal(np.float32(1.0))
    lit.aval = ShapedArray((), np.float64)
    with pytest.raises(IRError, match="literal"):
        verify.verify(_ir([Eqn(sin_p, [lit], [a], {})], [], [a]))
    outer = xf.make_ir(lambda x: lax.cond(x > 0, xnp.sin, xnp.cos, x))(1.0)
    branch = outer.eqns[-1].params["branches"][0]
    branch.outs = [Var(ShapedArray((), np.float64))]  # an output nothing defines
    with pytest.raises(IRError, match="used before it is defined"):
        verify.verify(outer)


# ----------------------------------------------------------------------------- count_flops

def test_flops_of_products_and_elementwise_chains():
    a, b = np.ones((4, 3)), np.ones((3, 5))
    assert xf.count_flops(lambda a, b: a @ b)(a, b) == {"dot_general": 2 * 4 * 3 * 5}
    counts = xf.count_flops(lambda a: xnp.sum(xnp.tanh(a) * 2.0 + a))(a)
    assert counts == {"tanh": 12, "mul": 12, "add": 12, "reduce_sum": 12}
    assert counts.total == 48
    assert xf.count_flops(lambda a: a.astype(np.float32)[::2])(a).total == 0  # data movement
    assert xf.count_flops(lambda i: i * 3 + 1)(np.arange(5)).total == 0  # integer arithmetic


def test_flops_of_an_mlp_and_its_gradient():
    def mlp(params, x):
        (w1, b1), (w2, b2) = params
        return xnp.sum(xnp.tanh(x @ w1 + b1) @ w2 + b2)
    n, d, h, o = 8, 5, 7, 3
    params = [(np.ones((d, h)), np.ones(h)), (np.ones((h, o)), np.ones(o))]
    x = np.ones((n, d))
    forward = xf.count_flops(mlp)(params, x)
    assert forward["dot_general"] == 2 * n * d * h + 2 * n * h * o
    assert forward["tanh"] == n * h and forward["reduce_sum"] == n * o
    backward = xf.count_flops(xf.grad(mlp))(params, x)
    # Forward products, then the gradients of both weights and of the hidden layer.
    assert backward["dot_general"] == forward["dot_general"] + 2 * n * d * h + 4 * n * h * o


def test_flops_look_inside_control_flow_and_calls():
    x = np.ones(4)
    body = xf.count_flops(lambda x: xnp.sin(x) * x)(x).total
    assert xf.count_flops(lambda x: lax.fori_loop(0, 5, lambda i, c: xnp.sin(c) * c, x))(
        x).total == 5 * body
    # a while loop counts the trips it makes: 1 -> 2 -> 4 -> 8 -> 16 (four doublings)
    doubling = xf.count_flops(lambda x: lax.while_loop(lambda c: c[0] < 10, lambda c: c * 2.0,
                                                       x))(x)
    assert doubling["mul"] == 4 * 4 and doubling["lt"] == 5
    taken = xf.count_flops(lambda x: lax.cond(x[0] > 0, lambda v: xnp.sum(xnp.exp(v)),
                                              lambda v: v[0], x))(x)
    assert taken == {"exp": 4, "reduce_sum": 4, "gt": 1}
    assert xf.count_flops(xf.jit(lambda x: xnp.sin(x) * x))(x).total == body
    assert xf.count_flops(xf.checkpoint(lambda x: xnp.sin(x) * x))(x).total == body
    scanned = xf.count_flops(lambda x: lax.scan(lambda c, v: (c + v, c * v), 0.0, x))(x)
    assert scanned == {"add": 4, "mul": 4}
    assert xf.count_flops(xf.vmap(lambda x: xnp.sin(x) * x))(np.ones((3, 4))).total == 3 * body


def test_flops_of_decompositions_follow_the_usual_leading_terms():
    a = np.eye(6) * 2.0
    assert xf.count_flops(xnp.linalg.cholesky)(a)["cholesky"] == 6 ** 3 // 3
    assert xf.count_flops(xnp.linalg.solve)(a, np.ones(6))["solve"] == \
        2 * 6 ** 3 // 3 + 2 * 6 * 6
    assert xf.count_flops(lambda a: xnp.linalg.eigh(a)[0])(a)["eigh"] == 9 * 6 ** 3


# ----------------------------------------------------------------------------- lower

def f(x, y):
    return {"s": xnp.sum(xnp.sin(x) * y), "t": xnp.tanh(x)}


def test_lower_shows_the_ir_and_the_source_named_alike():
    lowered = xf.jit(f).lower(np.ones(3), 2.0)
    assert str(lowered.ir) == str(xf.make_ir(f, simplified=True)(np.ones(3), 2.0))
    printed = [line.strip() for line in str(lowered.ir).splitlines()[1:-1]]
    comments = [line.strip()[2:] for line in lowered.source.splitlines()
                if line.strip().startswith("# ") and " = " in line]
    assert all(p in comments for p in printed), (printed, comments)
    assert "def kernel(" in lowered.source


def test_compile_compiles_before_the_first_call():
    from xform.backends import numba as nb
    lowered = xf.jit(lambda x: xnp.cos(x) * 3.0 + 0.25).lower(np.ones(5))
    compiled = lowered.compile()
    before = dict(nb.stats)
    got = compiled(np.linspace(0, 1, 5))
    np.testing.assert_allclose(got, np.cos(np.linspace(0, 1, 5)) * 3.0 + 0.25, rtol=1e-15)
    assert nb.stats == before  # nothing was left to compile or load at the call


def test_lower_on_the_interpreter_and_inside_a_transformation():
    lowered = xf.jit(f, backend="interpreter").lower(np.ones(3), 2.0)
    got = lowered.compile()(np.ones(3), 2.0)
    np.testing.assert_allclose(got["s"], 3 * np.sin(1.0) * 2.0)
    with pytest.raises(TypeError, match="lower"):
        xf.grad(lambda y: xf.jit(lambda x: x * y).lower(1.0).ir and y)(1.0)
