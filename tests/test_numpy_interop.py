"""Traced values meeting plain Python and plain numpy: never a silent constant.

- Nested lists and tuples holding traced values are accepted wherever xform.numpy and
  xform.scipy take an array, exactly as `xnp.asarray` of them (derivatives and batches flow).
- numpy applied to a traced value either is differentiated (the operator ufuncs that
  `ndarray + x` calls) or raises a TypeError naming the xform.numpy function to use;
  `np.asarray`, `float()`, `int()` and `complex()` of a traced value raise under every
  transformation, while `bool()` (Python control flow on concrete values) keeps working.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_numpy import PARAMS, assert_same, examples

import xform as xf
import xform.numpy as xnp
import xform.scipy.special as xsp
from xform import lax
from xform.core import ConcretizationError, TracerConversionError
from xform.test_util import check_grads

# ----------------------------------------------------------------------------- lists


def as_lists(x):
    """A traced array as nested Python lists of its traced elements (rows if it is large)."""
    if np.ndim(x) == 0:
        return x
    if np.size(x) > 16:
        return [x[i] for i in range(len(x))]
    return [as_lists(x[i]) for i in range(len(x))]


def _floating(a) -> bool:
    return np.asarray(a).dtype.kind == "f"


DIRECT = [p for p in PARAMS if p.values[0].direct]


@pytest.mark.parametrize("case", DIRECT)
@settings(max_examples=3)
@given(data=st.data())
def test_nested_lists_of_tracers_act_as_arrays(case, data):
    """fn(lists of traced elements) == fn(traced array), values and derivatives (jvp)."""
    for args, kw, _ in examples(case, data):
        # (An empty list carries no dtype: numpy reads it as float64.)
        listed = [_floating(a) and np.size(a) > 0 and np.ndim(a) > 0 for a in args]
        if not any(listed):
            continue
        rng = np.random.default_rng(0)
        tangents = [rng.standard_normal(np.shape(a)).astype(np.asarray(a).dtype)
                    if _floating(a) else np.zeros(np.shape(a), np.asarray(a).dtype)
                    for a in args]

        def from_lists(*a):
            return case.fn(*[as_lists(x) if f else x for x, f in zip(a, listed)], **kw)

        with np.errstate(all="ignore"):
            want = xf.jvp(lambda *a: case.fn(*a, **kw), args, tangents)
            got = xf.jvp(from_lists, args, tangents)
        assert_same(got, want, case.rtol)


def _public(module):
    return [(n, getattr(module, n)) for n in module.__all__
            if inspect.isfunction(getattr(module, n))]


# Functions taking a sequence of arrays convert each element (tested below).
SEQUENCE_FUNCTIONS = {"array", "asarray", "concatenate", "stack", "hstack", "vstack", "dstack",
                      "column_stack", "row_stack", "select", "piecewise", "multi_dot"}


@pytest.mark.parametrize("module", ["xform.numpy.ufuncs", "xform.numpy.reductions",
                                    "xform.numpy.shape", "xform.numpy.contract",
                                    "xform.numpy.creation", "xform.numpy.linalg",
                                    "xform.numpy.sorting", "xform.numpy.statistics",
                                    "xform.numpy.nanfunctions", "xform.numpy.selection",
                                    "xform.numpy.convolution",
                                    "xform.numpy.differences", "xform.numpy.index_tricks",
                                    "xform.numpy.dtypes", "xform.scipy.special"])
def test_every_function_accepts_nested_lists(module):
    module = importlib.import_module(module)
    missing = [n for n, f in _public(module) if n not in SEQUENCE_FUNCTIONS
               and not getattr(f, "accepts_nested_tracers", False)]
    assert not missing, f"not decorated with @lists_as_arrays: {missing}"


def test_the_reported_cases():
    assert xf.grad(lambda x: xnp.sum([x, 2 * x]))(0.3) == pytest.approx(3.0)
    assert xf.grad(lambda x: xnp.mean([x, 2 * x]))(0.3) == pytest.approx(1.5)
    assert xf.grad(lambda x: xnp.prod([x, 2 * x]))(0.3) == pytest.approx(1.2)
    w = np.array([2.0, 5.0])
    assert xf.grad(lambda x: xnp.dot([x, 1.0], w))(0.3) == pytest.approx(2.0)
    assert xf.grad(lambda x: xnp.linalg.norm([x, 4.0]))(3.0) == pytest.approx(0.6)
    assert xf.grad(lambda x: xsp.logsumexp([x, x]))(0.3) == pytest.approx(1.0)
    assert xf.grad(lambda x: xnp.maximum([x, 0.0], 0.1).sum())(0.3) == pytest.approx(1.0)
    assert xf.grad(lambda x: xnp.where([True, False], [x, 1.0], 0.0).sum())(0.3) == 1.0


@pytest.mark.parametrize("fn", [
    lambda x: xnp.concatenate([[x, 1.0], [2.0 * x]]),
    lambda x: xnp.stack([[x, x], [1.0, x * x]]),
    lambda x: xnp.hstack([[x], (2.0, x)]),
    lambda x: xnp.vstack([[x, 1.0], [x, x]]),
    lambda x: xnp.dstack([[x, 1.0], [x, x]]),
    lambda x: xnp.array([[x, 1.0], (2.0, x * x)]),
    lambda x: xnp.asarray(((x,), (x * 3.0,)), dtype=np.float64),
    lambda x: xnp.column_stack([[x, 1.0], (2.0, x)]),
    lambda x: xnp.row_stack([[x, 1.0], [x, x]]),
    lambda x: xnp.select([[True, False]], [[x, 1.0]], [x * x, 2.0]),
    lambda x: xnp.piecewise([x, 2.0 * x], [[True, False]], [lambda v: v * v, 3.0]),
    lambda x: xnp.linalg.multi_dot([[x, 1.0], [[x, 2.0], [1.0, x]], [1.0, x]]),
])
def test_sequence_functions_take_nested_lists_of_tracers(fn):
    check_grads(fn, (0.7,), order=2)
    np.testing.assert_allclose(xf.jit(fn, backend="interpreter")(0.7), fn(0.7))
    np.testing.assert_allclose(xf.vmap(fn)(np.array([0.7, 0.2]))[1], fn(0.2))


def test_ragged_nested_lists_are_a_clear_error():
    with pytest.raises(ValueError, match="ragged"):
        xf.grad(lambda x: xnp.sum([[x, x], [x]]))(1.0)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_list_inputs_match_finite_differences(n, seed):
    """check_grads (both modes, to second order) of functions fed lists of traced elements."""
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(0.2, 1.5, n), rng.standard_normal(n)
    fns = [
        lambda x: xnp.sum(as_lists(x)) * xnp.prod([x[0], 2.0]),
        lambda x: xnp.dot(as_lists(x), w) + xnp.linalg.norm([x[0], 1.0, x[-1]]),
        lambda x: xsp.logsumexp([x[0], x[-1], 0.5]) * xnp.mean(as_lists(x * x)),
        lambda x: xnp.concatenate([as_lists(x), [x[0] * x[-1]]]),
        lambda x: xnp.where([True] * n, as_lists(xnp.sin(x)), 0.0),
        lambda x: xnp.maximum(as_lists(x), [0.5] * n) + xnp.hypot([x[0]], [x[-1]]),
    ]
    for f in fns:
        check_grads(f, (x,), order=2)


# ----------------------------------------------------------------------------- numpy

def _vjp_ones(f, x):
    y, f_vjp = xf.vjp(f, x)
    return f_vjp(xf.tree.map(np.ones_like, y))


def _under(transform, f):
    """`f` run on a traced value under `transform` (its output made differentiable)."""
    x = np.array([0.5, 1.5])
    return {
        "grad": lambda: xf.grad(lambda x: xnp.sum(f(x)))(x),
        "jvp": lambda: xf.jvp(f, (x,), (x,)),
        "jacfwd": lambda: xf.jacfwd(f)(x),
        "jacrev": lambda: xf.jacrev(f)(x),
        "vjp": lambda: _vjp_ones(f, x),
        "linearize": lambda: xf.linearize(f, x)[1](x),
        "hessian": lambda: xf.hessian(lambda x: xnp.sum(f(x)))(x),
        "vmap": lambda: xf.vmap(f)(np.stack([x, x])),
        "jit": lambda: xf.jit(f, backend="interpreter")(x),
        "scan": lambda: lax.scan(lambda c, xi: (c, f(xi)), 0.0, np.stack([x, x])),
        "cond": lambda: lax.cond(True, f, f, x),
    }[transform]


TRANSFORMS = ["grad", "jvp", "jacfwd", "jacrev", "vjp", "linearize", "hessian", "vmap", "jit",
              "scan", "cond"]

NUMPY_CALLS = [
    ("np.sin", lambda x: np.sin(x), "xnp.sin"),
    ("np.exp", lambda x: np.exp(x) * 2.0, "xnp.exp"),
    ("np.dot", lambda x: np.dot(x, x), "xnp.dot"),
    ("np.sum", lambda x: np.sum(x), "xnp.sum"),
    ("np.where", lambda x: np.where(x > 1.0, x, 0.0), "xnp.where"),
    ("np.clip", lambda x: np.clip(x, 0.0, 1.0), "xnp.clip"),
    ("np.sort", lambda x: np.sort(x), "xnp.sort"),
    ("np.concatenate", lambda x: np.concatenate([x, x]), "xnp.concatenate"),
    ("np.stack", lambda x: np.stack([x, x]), "xnp.stack"),
    ("np.linalg.norm", lambda x: np.linalg.norm(x), "xnp.linalg.norm"),
    ("np.add.reduce", lambda x: np.add.reduce(x), "xnp.sum"),
    ("np.asarray", lambda x: np.asarray(x), "xnp.asarray"),
    ("np.array", lambda x: np.array([x, x]), "xnp.asarray"),
    ("np.sum-of-list", lambda x: np.sum([x, x]), "xnp.asarray"),
]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name,f,hint", NUMPY_CALLS, ids=[c[0] for c in NUMPY_CALLS])
def test_numpy_on_a_traced_value_is_a_clear_error(name, f, hint, transform):
    with pytest.raises(TypeError, match=hint.replace(".", r"\.")):
        _under(transform, f)()


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_numpy_operators_on_traced_values_are_differentiated(transform):
    a = np.array([2.0, -1.0])

    def f(x):
        return a * x + a / (x + 3.0) - np.add(a, x) ** 2 + (a @ x) * np.ones(2)

    def ref(x):
        return xnp.asarray(a) * x + a / (x + 3.0) - (x + a) ** 2 + xnp.dot(a, x) * 1.0
    got, want = _under(transform, f)(), _under(transform, ref)()
    for g, w in zip(xf.tree.leaves(got), xf.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_in_place_numpy_update_with_a_traced_value_is_a_clear_error():
    def f(x):
        acc = np.zeros(2)
        acc += x
        return acc
    with pytest.raises(TypeError, match="a = a \\+ x"):
        xf.grad(lambda x: f(x).sum())(np.ones(2))


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("convert", [float, int, complex, lambda x: x.item()],
                         ids=["float", "int", "complex", "item"])
def test_python_scalar_conversion_of_a_traced_value_raises(convert, transform):
    with pytest.raises(TypeError, match="stop_gradient|abstract|differs across"):
        _under(transform, lambda x: x * convert(x[0]))()


def test_stop_gradient_makes_a_constant_on_purpose():
    assert xf.grad(lambda x: x * float(xf.stop_gradient(x)))(3.0) == 3.0


def test_python_control_flow_on_concrete_values_still_works():
    def f(x):
        if x > 0:
            return x * x
        return -x
    assert xf.grad(f)(3.0) == 6.0
    assert xf.grad(lambda x: x * 2 if bool(x) else x)(1.0) == 2.0


def test_shape_queries_of_numpy_work_on_traced_values():
    def f(x):
        assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
        assert np.size(x, 1) == 3 and np.result_type(x, 1.0) == np.float64
        return xnp.sum(x)
    xf.grad(f)(np.ones((2, 3)))
    xf.vmap(f)(np.ones((4, 2, 3)))


def test_errors_are_tracer_conversion_errors():
    with pytest.raises(TracerConversionError):
        xf.grad(lambda x: np.sin(x))(1.0)
    with pytest.raises(ConcretizationError):
        xf.jit(lambda x: float(x))(1.0)


# ----------------------------------------------------------------------------- indexing

T = xnp.asarray(np.arange(5.0) ** 2)
M = xnp.asarray(np.arange(12.0).reshape(3, 4))


def test_indexing_a_concrete_array_with_a_traced_integer():
    np.testing.assert_array_equal(xf.jit(lambda i: T[i])(2), 4.0)
    np.testing.assert_array_equal(xf.vmap(lambda i: T[i])(np.array([0, 3, -1])), [0, 9, 16])
    _, ys = lax.scan(lambda c, i: (c + T[i], T[i] * 2), 0.0, np.arange(4))
    np.testing.assert_array_equal(ys, 2 * np.arange(4.0) ** 2)
    np.testing.assert_array_equal(xf.jit(lambda i, j: M[i, j])(2, 1), 9.0)
    np.testing.assert_array_equal(xf.jit(lambda i: M[i, 1:])(1), [5.0, 6.0, 7.0])
    assert xf.grad(lambda x, i: (M[i] * x).sum())(1.0, 2) == 38.0


def test_indexing_a_plain_numpy_array_with_a_traced_integer_says_what_to_do():
    with pytest.raises(TypeError, match=r"xnp\.asarray\(array\)"):
        xf.jit(lambda i: np.arange(5.0)[i])(2)


def test_item_assignment_on_a_tracer_names_at_set():
    def f(x):
        x[0] = 1.0
        return x
    with pytest.raises(TypeError, match=r"\.at\[idx\]\.set"):
        xf.jit(f)(np.ones(3))

