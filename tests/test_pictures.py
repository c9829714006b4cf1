"""Trace tables: the two textbook examples row by row, and agreement with jvp and grad."""
from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp


def f1(x1, x2):
    return xnp.cos(x1) + x1 * x2 - xnp.exp(x2)


def f2(x1, x2):
    return xnp.log(x1) + x1 * x2 - xnp.sin(x2)


def nfc(text: str) -> str:
    """Accented letters as one character where Unicode has one (ẋ), as the tables write them."""
    return unicodedata.normalize("NFC", text)


def _check_rows(rows, expected):
    assert len(rows) == len(expected), [r.var for r in rows]
    for row, (var, expr, value, rule, derivative) in zip(rows, expected):
        assert (row.var, row.expr, row.rule) == (var, expr, nfc(rule))
        assert float(row.value) == value, (var, row.value, value)
        assert float(row.derivative) == derivative, (var, row.derivative, derivative)


def test_forward_example_1_row_by_row():
    a, b = np.float64(2.0), np.float64(4.0)
    table = xf.trace_table(f1, "forward", wrt=0)(2.0, 4.0)
    v1, v2, v3 = np.cos(a), a * b, np.exp(b)
    t1 = 1.0 * -np.sin(a)
    t2 = 1.0 * b + a * 0.0
    t4 = t1 + t2
    _check_rows(table.rows, [
        ("v₋₁", "x₁", 2.0, "v̇₋₁ = ẋ₁", 1.0),
        ("v₀", "x₂", 4.0, "v̇₀ = ẋ₂", 0.0),
        ("v₁", "cos v₋₁", v1, "v̇₁ = −sin(v₋₁)·v̇₋₁", t1),
        ("v₂", "v₋₁·v₀", v2, "v̇₂ = v₀·v̇₋₁ + v₋₁·v̇₀", t2),
        ("v₃", "exp v₀", v3, "v̇₃ = exp(v₀)·v̇₀", 0.0),
        ("v₄", "v₁ + v₂", v1 + v2, "v̇₄ = v̇₁ + v̇₂", t4),
        ("v₅", "v₄ − v₃", v1 + v2 - v3, "v̇₅ = v̇₄ − v̇₃", t4 - 0.0),
        ("y", "v₅", v1 + v2 - v3, "ẏ = v̇₅", t4),
    ])
    assert float(table.derivative) == -np.sin(2.0) + 4.0
    assert table.derivative == xf.jvp(f1, (2.0, 4.0), (1.0, 0.0))[1]
    assert [r.primitive for r in table.rows[2:-1]] == ["cos", "mul", "exp", "add", "sub"]


def test_example_2_primal_trace_and_reverse_sweep():
    a, b = np.float64(2.0), np.float64(5.0)
    table = xf.trace_table(f2, "reverse")(2.0, 5.0)
    v1, v2, v3 = np.log(a), a * b, np.sin(b)
    assert [(r.var, r.expr) for r in table.rows] == [
        ("v₋₁", "x₁"), ("v₀", "x₂"), ("v₁", "ln v₋₁"), ("v₂", "v₋₁·v₀"), ("v₃", "sin v₀"),
        ("v₄", "v₁ + v₂"), ("v₅", "v₄ − v₃"), ("y", "v₅")]
    assert [float(r.value) for r in table.rows] == [2.0, 5.0, v1, v2, v3, v1 + v2,
                                                     v1 + v2 - v3, v1 + v2 - v3]
    steps = [(s.rule, float(s.value)) for s in table.steps]
    assert steps == [(nfc(rule), value) for rule, value in [
        ("v̄₅ = ȳ", 1.0),
        ("v̄₄ = v̄₅", 1.0),
        ("v̄₃ = −v̄₅", -1.0),
        ("v̄₁ = v̄₄", 1.0),
        ("v̄₂ = v̄₄", 1.0),
        ("v̄₀ = v̄₃·cos(v₀)", -np.cos(b)),
        ("v̄₋₁ = v̄₂·v₀", 5.0),
        ("v̄₀ = v̄₀ + v̄₂·v₋₁", -np.cos(b) + 2.0),
        ("v̄₋₁ = v̄₋₁ + v̄₁/v₋₁", 5.5),
        ("x̄₁ = v̄₋₁", 5.5),
        ("x̄₂ = v̄₀", 2.0 - np.cos(b)),
    ]]
    assert [float(d) for d in table.derivative] == [5.5, 2.0 - np.cos(5.0)]
    assert table.derivative == tuple(xf.grad(f2, (0, 1))(2.0, 5.0))
    # Each contribution is mapped back to the primal row it reaches.
    assert table.rows[1].rule == "v̄₀ = v̄₃·cos(v₀) + v̄₂·v₋₁"
    assert table.rows[0].rule == "v̄₋₁ = v̄₂·v₀ + v̄₁/v₋₁"


def test_example_2_forward_needs_a_pass_per_input():
    d1 = xf.trace_table(f2, "forward", wrt=0)(2.0, 5.0).derivative
    d2 = xf.trace_table(f2, "forward", wrt=1)(2.0, 5.0).derivative
    assert (float(d1), float(d2)) == (5.5, 2.0 - np.cos(5.0))


def test_printed_layouts():
    table = xf.trace_table(f1)(2.0, 4.0)
    text = str(table)
    assert "v₁ = cos v₋₁" in text and "v̇₁ = −sin(v₋₁)·v̇₋₁" in text and "= -0.909297" in text
    md = table.to_markdown()
    assert md.count("\n| ") == 9 and "| v₁ = cos v₋₁ | = -0.416147 |" in md
    html = table._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 9
    rev = xf.trace_table(f2, "reverse")(2.0, 5.0)
    assert "Reverse adjoint trace" in str(rev) and rev.to_markdown().count("**") == 4
    assert rev._repr_html_().count("<table>") == 2


def _programs():
    w = np.array([[0.5, -1.0], [2.0, 0.25], [1.5, -0.5]])
    return [
        (lambda x, y: xnp.sum(xnp.tanh(x) * xnp.sqrt(y) / (1.0 + x ** 2)),
         (np.array([0.3, -0.7, 1.2]), np.array([1.0, 2.0, 3.0]))),
        (lambda x, y: xnp.sum((x @ w) ** 3) + xnp.mean(xnp.exp(-y) ** y),
         (np.array([0.2, 0.4, -0.3]), np.array([0.5, 1.5]))),
        (lambda x, y: xnp.max(xnp.sin(x)) - xnp.log1p(y[0]) * x[1],
         (np.array([0.1, 1.1, 0.6]), np.array([0.5, 2.0]))),
    ]


@pytest.mark.parametrize("k", range(3))
def test_agrees_with_jvp_and_grad(k):
    f, args = _programs()[k]
    seed = (np.linspace(-1, 1, args[0].size), np.ones_like(args[1]))
    fwd = xf.trace_table(f, "forward", seed=seed)(*args)
    np.testing.assert_allclose(fwd.derivative, xf.jvp(f, args, seed)[1], rtol=1e-13)
    rev = xf.trace_table(f, "reverse")(*args)
    for got, want in zip(rev.derivative, xf.grad(f, (0, 1))(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    only_y = xf.trace_table(f, "reverse", wrt=1, order="program")(*args)
    np.testing.assert_allclose(only_y.derivative, xf.grad(f, 1)(*args), rtol=1e-13)
    assert only_y.steps[-1].adjoint == nfc("x̄₂")


def test_arrays_show_shape_and_summary():
    table = xf.trace_table(lambda x: xnp.sum(xnp.sin(x)))(np.linspace(0.0, 1.0, 10))
    text = str(table)
    assert "f64[10] mean 0.5, range [0, 1]" in text
    assert "v₁ = sin v₀" in text and "reduce_sum" in text
    assert table.rows[1].value.shape == (10,)


def test_higher_order_primitives_are_one_row_unless_expanded():
    inner = xf.jit(lambda x: xnp.sin(x) * 2.0, backend="interpreter")

    def f(x):
        return xf.lax.cond(x > 0, lambda a: inner(a) * 3.0, lambda a: -a, x)

    collapsed = xf.trace_table(f)(0.5)
    assert [r.primitive for r in collapsed.rows if r.primitive] == [
        "gt", "convert_element_type", "cond"]
    assert collapsed.rows[-2].rule == "v̇₃ = ∂v₃/∂v₀·v̇₀"
    expanded = xf.trace_table(f, expand=True)(0.5)
    assert [r.primitive for r in expanded.rows if r.primitive] == [
        "gt", "sin", "convert_element_type", "mul", "mul"]
    want = 6.0 * np.cos(0.5)
    assert float(collapsed.derivative) == float(expanded.derivative) == want
    rev = xf.trace_table(f, "reverse", expand=True)(0.5)
    assert float(rev.derivative) == want


def test_loops_stay_one_row():
    def f(c):
        return xf.lax.scan(lambda c, x: (c * x, c), c, np.arange(1.0, 4.0))[0]
    table = xf.trace_table(f, "reverse", expand=True)(2.0)
    assert [r.primitive for r in table.rows if r.primitive] == ["scan", "scan"]
    assert float(table.derivative) == 6.0


def test_integer_values_have_no_tangent():
    def f(x, n):
        return x * n.astype(np.float64)
    table = xf.trace_table(f)(3.0, np.int32(2))
    assert table.rows[1].rule == nfc("v̇₀ = ẋ₂") and float(table.rows[1].derivative) == 0.0
    assert float(table.derivative) == 2.0
    assert float(xf.trace_table(f, "reverse")(3.0, np.int32(2)).derivative[0]) == 2.0
    for mode in ("forward", "reverse"):
        with pytest.raises(TypeError, match="argument 1 has dtype int32"):
            xf.trace_table(f, mode, wrt=1)(3.0, np.int32(2))


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "sideways"}, "mode must be"),
    ({"wrt": 5}, "wrt=5"),
    ({"order": "random"}, "order must be"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xf.trace_table(f1, **kwargs)(2.0, 4.0)


def test_seed_shape_is_checked():
    with pytest.raises(ValueError, match="seed must have the structure"):
        xf.trace_table(f1, seed=(np.ones(2), 0.0))(2.0, 4.0)


def test_custom_rules_stay_one_row_and_keep_their_derivative():
    @xf.custom_jvp
    def soft(x):
        return xnp.log1p(xnp.exp(x))

    @soft.defjvp
    def soft_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return soft(x), t * 0.5  # deliberately not the true derivative

    def f(x):
        return soft(x) + xf.checkpoint(lambda a: xnp.sin(a) * a)(x)

    table = xf.trace_table(f, expand=True)(1.0)
    assert [r.primitive for r in table.rows if r.primitive] == [
        "custom_jvp_call", "sin", "mul", "add"]
    want = 0.5 + np.cos(1.0) * 1.0 + np.sin(1.0)
    assert float(table.derivative) == pytest.approx(want, rel=1e-15)
    assert float(xf.trace_table(f, "reverse", expand=True)(1.0).derivative) == pytest.approx(
        float(xf.grad(f)(1.0)), rel=1e-15)


def test_docstring_examples():
    import doctest

    import xform.pictures.table
    assert doctest.testmod(xform.pictures.table).failed == 0


@settings(max_examples=25, deadline=None)
@given(st.floats(0.1, 10.0), st.floats(-10.0, 10.0))
def test_tables_give_the_derivatives_of_jvp_and_grad(x1, x2):
    rev = xf.trace_table(f2, "reverse")(x1, x2)
    assert rev.derivative == tuple(xf.grad(f2, (0, 1))(x1, x2))
    for k in (0, 1):
        seed = (float(k == 0), float(k == 1))
        assert xf.trace_table(f1, wrt=k)(x1, x2).derivative == xf.jvp(f1, (x1, x2), seed)[1]
