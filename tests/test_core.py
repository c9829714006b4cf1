"""The IR, its printing, DCE/CSE, nested tracing, and the errors tracing reports."""
import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform.core import ConcretizationError, UnexpectedTracerError, eval_ir
from xform.transforms.simplify import cse, dce, simplify


def mlp_loss(params, x, y):
    h = x
    for w, b in params[:-1]:
        h = xnp.tanh(h @ w + b)
    w, b = params[-1]
    logits = h @ w + b
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - xnp.log(xnp.exp(logits).sum(axis=1, keepdims=True))
    return -(logp * y).sum() / x.shape[0]


def mlp_params(sizes, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype), np.zeros(n, dtype))
            for m, n in zip(sizes[:-1], sizes[1:])]


def test_ir_prints_one_equation_a_line_with_types():
    ir = xf.make_ir(lambda x, y: xnp.sin(x) * y)(np.ones(3, np.float32), np.float32(2))
    assert str(ir) == (
        "{ lambda a:f32[3] b:f32[] . let\n"
        "    c:f32[3] = sin a\n"
        "    d:f32[3] = mul c b\n"
        "  in (d) }")
    # Scalar constants stay 0-d and print by value; elementwise primitives broadcast them.
    ir = xf.make_ir(lambda x: xnp.tanh(x) * 2.0 + 1)(np.ones((500, 500)))
    assert str(ir) == (
        "{ lambda a:f64[500,500] . let\n"
        "    b:f64[500,500] = tanh a\n"
        "    c:f64[500,500] = mul b 2.0:f64[]\n"
        "    d:f64[500,500] = add c 1.0:f64[]\n"
        "  in (d) }")


def test_mlp_loss_ir_is_readable():
    params = mlp_params([4, 8, 8, 3])
    x = np.ones((5, 4), np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]
    ir = xf.make_ir(mlp_loss)(params, x, y)
    text = str(ir)
    lines = text.splitlines()
    assert len(lines) == len(ir.eqns) + 2
    assert sum("dot_general" in line for line in lines) == 3
    assert sum(" tanh " in line for line in lines) == 2
    assert "f64" not in text  # float32 stays float32 throughout
    assert np.allclose(eval_ir(ir, xf.tree.leaves((params, x, y)))[0], mlp_loss(params, x, y))


def test_dce_removes_dead_work():
    def f(x):
        _unused = xnp.exp(x) * 3.0
        return xnp.sin(x)
    ir = xf.make_ir(f)(1.0)
    assert len(ir.eqns) == 3
    small = dce(ir)
    assert [e.prim.name for e in small.eqns] == ["sin"]
    assert eval_ir(small, [0.5]) == eval_ir(ir, [0.5])


def test_cse_merges_repeated_work():
    def f(x):
        return xnp.sin(x) * xnp.cos(x) + xnp.sin(x) * xnp.cos(x)
    ir = xf.make_ir(f)(np.ones(3))
    names = [e.prim.name for e in ir.eqns]
    assert names.count("sin") == 2 and names.count("mul") == 2
    small = simplify(ir)
    names = [e.prim.name for e in small.eqns]
    assert names.count("sin") == 1 and names.count("cos") == 1 and names.count("mul") == 1
    x = np.linspace(0, 1, 3)
    assert np.allclose(eval_ir(small, [x])[0], eval_ir(ir, [x])[0])
    assert len(cse(ir).eqns) < len(ir.eqns)


def test_nested_tracing_inlines_inner_ir():
    def inner(x):
        return xnp.exp(x) + 1.0

    def outer(x):
        ir = xf.make_ir(inner)(x)          # traced inside a trace
        (y,) = eval_ir(ir, [x * 2.0])       # running an IR on tracers records it again
        return y * x

    ir = xf.make_ir(outer)(np.ones(2))
    names = [e.prim.name for e in ir.eqns]
    assert "exp" in names and names.index("exp") > names.index("mul")
    x = np.array([0.3, -1.0])
    assert np.allclose(eval_ir(ir, [x])[0], (np.exp(2 * x) + 1) * x)


def test_python_control_flow_on_concrete_values_runs_plainly():
    def f(x, n):
        for _ in range(n):
            x = xnp.sin(x)
        return x
    ir = xf.make_ir(f, static_argnums=1)(1.0, 3)
    assert [e.prim.name for e in ir.eqns] == ["sin"] * 3


def test_branching_on_abstract_value_is_a_clear_error():
    def f(x):
        return x if x > 0 else -x
    with pytest.raises(ConcretizationError, match="lax.cond.*static_argnums"):
        xf.make_ir(f)(1.0)


def test_escaped_tracer_is_reported():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0
    xf.make_ir(f)(1.0)
    with pytest.raises(UnexpectedTracerError, match="make_ir"):
        xnp.sin(leaked[0])


def test_unsupported_function_names_itself():
    with pytest.raises(NotImplementedError, match="fft"):
        xnp.fft(np.ones(4))


def test_shape_mismatch_is_reported_at_trace_time_with_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        xf.make_ir(lambda x, y: x + y)(np.ones(3), np.ones(4))


def test_float32_stays_float32_with_python_scalars():
    ir = xf.make_ir(lambda x: 2.5 * x + 1)(np.ones(3, np.float32))
    assert all(v.aval.dtype == np.float32 for e in ir.eqns for v in e.outputs)


def test_isclose_and_allclose_agree_with_numpy():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((3, 4)).astype(dtype)
        b = a + rng.choice([0.0, 1e-9, 1e-3], a.shape).astype(dtype)
        b[0, 0] = np.inf
        a[0, 0] = np.inf
        ir = xf.make_ir(lambda u, v: (xnp.isclose(u, v), xnp.allclose(u, v)))(a, b)
        close, allc = eval_ir(ir, [a, b])
        assert np.array_equal(close, np.isclose(a, b))
        assert bool(allc) == np.allclose(a, b) == xnp.allclose(a, b)
        assert xnp.allclose(a, a) and not xnp.allclose(a, a + 1)
