"""Misuse and edge inputs give a correct result or a clear error, never a silent wrong value
or a crash deep inside: constant outputs of nested jitted functions, array subclasses and
unusual dtypes at jit's boundary, repeated argnums, static arguments a function cannot take,
tangents and cotangents of the wrong shape, and special functions at their poles."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as ss

import xform as xf
import xform.numpy as xnp
import xform.scipy.special as xsp
from xform.backends import numba as numba_backend

# ----------------------------------------------------------------------------- nested jit


def test_jitted_function_with_constant_outputs_inside_jit_grad_and_vmap():
    """An inner jitted function whose outputs are constants: inlined into the outer compiled
    program, its constant outputs still reach the outer program's results (an IndexError
    before), also array constants, which are returned as fresh copies."""
    const = xf.jit(lambda x: 1.0)
    mixed = xf.jit(lambda x: (1.0, x, 2.0, np.arange(3.0)))

    def f(x):
        one, same, two, arr = mixed(x)
        return const(x) * x + two * same * x + xnp.sum(arr) * one

    def df(x):  # 1 + 4x
        return 1.0 + 4.0 * x
    for g in (xf.jit(f), f):
        assert g(2.0) == 2.0 + 8.0 + 3.0
    for d in (xf.grad(xf.jit(f)), xf.jit(xf.grad(f)), xf.grad(xf.grad(xf.jit(f)))):
        assert np.isclose(d(2.0), df(2.0)) or np.isclose(d(2.0), 4.0)
    np.testing.assert_allclose(xf.vmap(xf.grad(xf.jit(f)))(np.arange(3.0)),
                               df(np.arange(3.0)))
    np.testing.assert_allclose(xf.jit(xf.vmap(f))(np.arange(3.0)), [f(v) for v in range(3)])
    out = xf.jit(lambda x: mixed(x)[3] + 0 * x)(1.0)
    out[0] = 99.0
    assert xf.jit(lambda x: mixed(x)[3] + 0 * x)(1.0)[0] == 0.0


# ----------------------------------------------------------------------------- jit boundary

def f_small(x):
    return xnp.sin(x) * x


def test_jit_takes_xform_arrays_of_any_rank():
    """xform.numpy's arrays (an ndarray subclass), 0-d ones included, are plain arrays to jit."""
    x0 = xnp.sum(xnp.asarray([1.0, 2.0]))
    assert type(x0) is not np.ndarray and x0.ndim == 0
    f = xf.jit(xnp.exp)
    for _ in range(2):  # the first call and the cached one
        np.testing.assert_allclose(f(x0), np.exp(3.0), rtol=4e-16)
        np.testing.assert_allclose(f(xnp.ones(3)), np.exp(np.ones(3)), rtol=4e-16)
    g = xf.jit(xf.grad(f_small))
    np.testing.assert_allclose([g(x0), g(x0)], xf.grad(f_small)(3.0), rtol=4e-16)


def test_jit_of_big_endian_arrays_computes_in_native_order():
    """As numpy's ufuncs (and xform's eager functions) do: native-order results."""
    for dtype in (">f8", ">f4", ">i8"):
        x = np.arange(1, 4).astype(dtype)
        f = xf.jit(lambda x: x * x + x)
        for _ in range(2):
            got = f(x)
            want = xnp.add(xnp.multiply(x, x), x)
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype and got.dtype.isnative
        x0 = np.asarray(0.5, dtype)
        if dtype != ">i8":
            np.testing.assert_allclose(xf.jit(xf.grad(f_small))(x0), xf.grad(f_small)(0.5),
                                       rtol=1e-6)


def test_jit_of_float16_runs_in_the_interpreter_with_one_warning(monkeypatch):
    """Numba has no float16 arithmetic: the program runs in the interpreter, float16 results
    as eager mode gives them, with one RuntimeWarning naming the reason."""
    monkeypatch.setattr(numba_backend, "_warned", set(), raising=False)
    x = np.linspace(0, 1, 5).astype(np.float16)
    f = xf.jit(lambda x: xnp.exp(x) * x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [f(x), f(x), xf.jit(xf.grad(lambda x: xnp.sum(xnp.exp(x) * x)))(x)]
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "float16" in messages[0] and "interpreter" in messages[0]
    np.testing.assert_array_equal(got[0], xnp.exp(x) * x)
    assert got[0].dtype == got[2].dtype == np.float16
    np.testing.assert_array_equal(got[2], xf.grad(lambda x: xnp.sum(xnp.exp(x) * x))(x))


# ----------------------------------------------------------------------------- argnums

def test_repeated_argnums_give_the_derivative_at_each_position():
    f = lambda x, y: x * x * y  # noqa: E731
    assert xf.grad(lambda x: x * x, argnums=(0, 0))(3.0) == (6.0, 6.0)
    assert xf.grad(f, argnums=(1, 0, 1))(3.0, 2.0) == (9.0, 12.0, 9.0)
    value, g = xf.value_and_grad(f, argnums=[0, 0])(3.0, 2.0)
    assert value == 18.0 and g == (12.0, 12.0)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for jac in (xf.jacfwd, xf.jacrev):
        a, b, c = jac(lambda x, y: x * y, argnums=(0, 1, 0))(x, y)
        np.testing.assert_array_equal(a, np.diag(y))
        np.testing.assert_array_equal(b, np.diag(x))
        np.testing.assert_array_equal(c, np.diag(y))


def test_static_arguments_a_function_cannot_take_raise_at_jit_time():
    with pytest.raises(ValueError, match=r"static_argnums=\(3,\).*takes only 1 positional"):
        xf.jit(lambda x: x * 2, static_argnums=3)
    with pytest.raises(ValueError, match="static_argnums.*-2"):
        xf.jit(lambda x: x * 2, static_argnums=(-2,))
    with pytest.raises(ValueError, match=r"static_argnames.*\['y'\].*does not take"):
        xf.jit(lambda x: x * 2, static_argnames="y")
    # *args and **kwargs take any position and name; defaults count as positions
    assert xf.jit(lambda *a: a[0] * a[3], static_argnums=3)(2.0, 0, 0, 5) == 10.0
    assert xf.jit(lambda x, **k: x * k["y"], static_argnames="y")(2.0, y=3) == 6.0
    assert xf.jit(lambda x, n=1: x * n, static_argnums=1)(2.0) == 2.0


# ----------------------------------------------------------------------------- tangents

def test_tangents_of_the_wrong_shape_or_dtype_raise_naming_the_expected_ones():
    x = np.ones(3, np.float32)
    _, f_jvp = xf.linearize(lambda x: x * 2, x)
    for call in (lambda: f_jvp(np.ones(4)), lambda: f_jvp(np.ones((2, 3))),
                 lambda: xf.jvp(lambda x: x * 2, (x,), (np.ones((2, 3)),))):
        with pytest.raises(TypeError, match=r"shape \(.*\).*primal of shape \(3,\) and dtype "
                                            "float32.*needs its primal's shape"):
            call()
    for call in (lambda: f_jvp(np.ones(3, int)),
                 lambda: xf.jvp(lambda x: x * 2, (x,), (np.ones(3, int),))):
        with pytest.raises(TypeError, match="dtype int64.*floating dtype"):
            call()


def test_float_tangents_take_the_primal_dtype():
    x = np.ones(3, np.float32)
    _, t = xf.jvp(lambda x: x * 2, (x,), (np.ones(3),))
    assert t.dtype == np.float32
    assert xf.linearize(lambda x: x * 2, x)[1](np.ones(3)).dtype == np.float32
    assert xf.jvp(xnp.sin, (np.float32(0.0),), (1.0,))[1].dtype == np.float32


# ----------------------------------------------------------------------------- messages

def test_jvp_primals_not_in_a_tuple():
    with pytest.raises(TypeError, match=r"tuples or lists.*got ndarray and ndarray.*"
                                        r"xf.jvp\(f, \(x,\), \(t,\)\)"):
        xf.jvp(lambda x: x, np.ones(3), np.ones(3))


def test_vjp_cotangent_of_the_wrong_shape():
    _, f_vjp = xf.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(TypeError, match=r"cotangent of shape \(4,\).*output of shape \(3,\)"):
        f_vjp(np.ones(4))


def test_jit_takes_lists_as_pytrees_like_jax():
    f = xf.jit(lambda xs: xs[0] + 2 * xs[1])
    assert f([1.0, 2.0]) == 5.0
    assert xf.grad(lambda xs: f(xs))([1.0, 2.0]) == [1.0, 2.0]


def test_grad_of_a_non_scalar_output():
    with pytest.raises(TypeError, match=r"single scalar output.*shapes \[\(3,\)\].*jacrev"):
        xf.grad(lambda x: x)(np.ones(3))


def test_grad_of_an_integer_input():
    with pytest.raises(TypeError, match="floating-point inputs.*int64.*1.0 instead of 1"):
        xf.grad(lambda x: x * x)(3)


def test_vmap_in_axes_out_of_range_and_inconsistent_sizes():
    with pytest.raises(ValueError, match=r"in_axes 2 is out of range.*shape \(3,\)"):
        xf.vmap(lambda x: x, in_axes=2)(np.ones(3))
    with pytest.raises(ValueError, match="inconsistent batch sizes.*argument 0 has size 3.*"
                                         "argument 1 has size 4"):
        xf.vmap(lambda x, y: x + y)(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="in_axes has 1 entries.*2 positional"):
        xf.vmap(lambda x, y: x + y, in_axes=(0,))(np.ones(3), np.ones(3))


# ----------------------------------------------------------------------------- poles

POLES = np.array([0.0, -0.0, -1.0, -3.0, 1.0, 2.5, -2.5])


def _same(got, want):
    got = np.asarray(got)
    rtol = 1e-6 if got.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, np.asarray(want, got.dtype), rtol=rtol)


def test_gamma_family_at_poles_matches_scipy():
    """gammaln, gamma, digamma, polygamma at 0, -0 and the negative integers: scipy's inf,
    -inf or NaN, for Python floats, numpy scalars and arrays, eagerly and compiled."""
    fns = {"gammaln": xsp.gammaln, "gamma": xsp.gamma, "digamma": xsp.digamma,
           **{f"polygamma{n}": (lambda n: lambda x: xsp.polygamma(n, x))(n) for n in (1, 2)}}
    refs = {"gammaln": ss.gammaln, "gamma": ss.gamma, "digamma": ss.digamma,
            "polygamma1": lambda x: ss.polygamma(1, x), "polygamma2": lambda x: ss.polygamma(2, x)}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no interpreter fallback
        compiled = xf.jit(lambda x: {k: f(x) for k, f in fns.items()})
        for x in (POLES, POLES.astype(np.float32)):
            got = compiled(x)
            for k, f in fns.items():
                _same(f(x), refs[k](x))
                _same(got[k], refs[k](x))
        for v in (0.0, -0.0, -1.0, np.float64(-2.0), np.float32(-0.0)):
            for k, f in fns.items():
                _same(f(v), refs[k](v))


def test_derivatives_at_poles_with_python_floats():
    """No ZeroDivisionError from Python-float arithmetic in the rules: inf or NaN as numpy
    gives at the same point as a float64."""
    fns = [xnp.log, xnp.log1p, xnp.arctanh, xnp.reciprocal, xnp.log2, xnp.log10, xnp.sqrt,
           xsp.logit, xsp.gammaln, xsp.digamma, lambda x: x ** -1, lambda x: xsp.xlogy(x, x)]
    with np.errstate(all="ignore"):
        for f in fns:
            for x in (0.0, -0.0, -1.0, 1.0):
                for d in (xf.grad(f), xf.grad(xf.grad(f))):
                    np.testing.assert_array_equal(d(x), d(np.float64(x)))
    assert xf.grad(xsp.digamma)(0.0) == np.inf


# ----------------------------------------------------------------------------- logaddexp

INF = np.inf
# d/dx, d/dy of logaddexp(x, y): the softmax weights; at equal infinities the limit along
# x = y (JAX 0.10 gives (1, 1) at (inf, inf), NaN at (-inf, -inf) and e at (1, inf)).
LOGADDEXP_GRADS = [((INF, INF), (0.5, 0.5)), ((-INF, -INF), (0.5, 0.5)), ((INF, -INF), (1, 0)),
                   ((-INF, INF), (0, 1)), ((INF, 1.0), (1, 0)), ((1.0, INF), (0, 1)),
                   ((-INF, 1.0), (0, 1)), ((1.0, -INF), (1, 0)), ((1.0, 1.0), (0.5, 0.5))]


@pytest.mark.parametrize("args,want", LOGADDEXP_GRADS)
def test_logaddexp_gradient_at_infinities(args, want):
    for fn in (xnp.logaddexp, xnp.logaddexp2):
        g = xf.grad(fn, argnums=(0, 1))
        assert g(*args) == want and g(*map(np.float64, args)) == want
    assert xf.grad(lambda x: xnp.logaddexp(x, x))(args[0]) == 1.0


def test_static_positions_a_call_leaves_out_raise_unless_they_have_defaults():
    f = xf.jit(lambda *args: args[0] * 2.0, static_argnums=(2,))  # no positions to check
    with pytest.raises(ValueError, match="static_argnums=.2,. names positions beyond"):
        f(1.0, 2.0)
    assert f(1.0, 2.0, "tag") == 2.0

    def scaled(x, n=2):
        return x * n
    g = xf.jit(scaled, static_argnums=(1,))
    assert g(3.0) == 6.0 and g(3.0, 4) == 12.0
