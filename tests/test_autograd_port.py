"""What porting autograd code by changing imports needs from xform: `check_grads` and
`combo_check` in autograd's calling form, a clear error for complex inputs in forward mode,
and the numpy/scipy functions autograd's tests use (`gradient`, `rollaxis`, `angle`,
`iscomplex`, `isreal`, `real_if_close`, `signbit` at -0.0, `special.psi/rgamma/gammasgn/
erfcinv`, `multivariate_normal.entropy`, `xnp.random`): values against numpy/scipy,
derivatives, vmap against a loop, and one Numba program against the interpreter."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as ss
import scipy.stats as sst

import xform as xf
import xform.numpy as xnp
import xform.scipy.special as xs
import xform.scipy.stats as xst
from xform.test_util import check_grads, combo_check


# ----------------------------------------------------------------------------- test_util

def test_check_grads_in_autograds_form():
    a, b = np.array([0.3, -1.2, 0.7]), np.array([1.1, 0.4, -0.5])
    assert check_grads(xnp.dot)(a, b) is None
    check_grads(lambda x, y, scale=1.0: xnp.sin(x * y) * scale, argnum=1)(a, b, scale=2.0)
    check_grads(xnp.dot, (0, 1), modes=["rev"], order=1)(a, b)
    check_grads(xnp.tanh, modes=["fwd"])(0.4)
    seen = []
    combo_check(lambda x, axis=None: seen.append(axis) or xnp.sum(x ** 3, axis=axis), [0])(
        [a, np.ones((2, 3))], axis=[None, 0])
    assert seen.count(0) >= 2 and seen.count(None) >= 2


def test_check_grads_in_autograds_form_catches_a_wrong_derivative():
    @xf.custom_jvp
    def f(x):
        return xnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return xnp.sin(x), 1.01 * xnp.cos(x) * t

    for modes in (["fwd"], ["rev"]):
        with pytest.raises(AssertionError):
            check_grads(f, modes=modes, order=1)(np.array([0.3, 1.0]))


def test_forward_mode_rejects_complex_inputs():
    z = np.array([0.4 + 0.3j])
    with pytest.raises(TypeError, match="complex"):
        xf.jvp(xnp.abs, (z,), (np.ones(1, complex),))


# ----------------------------------------------------------------------------- numpy

def _gradient_cases(x):
    return [((), {}), ((0.5,), {"axis": 1}), ((), {"edge_order": 2}),
            ((2.0, 0.5), {"axis": (0, -1)})]


def test_gradient_matches_numpy_and_differentiates():
    x = np.random.default_rng(0).standard_normal((4, 5))
    for args, kw in _gradient_cases(x):
        got, want = xnp.gradient(xf.stop_gradient(x), *args, **kw), np.gradient(x, *args, **kw)
        for g, w in zip(*(v if isinstance(v, tuple) else (v,) for v in (got, want))):
            np.testing.assert_allclose(g, w, rtol=1e-14)
        check_grads(lambda v: xnp.gradient(v, *args, **kw), (x,), order=1)
    assert xf.grad(lambda v: xnp.sum(xnp.gradient(v) ** 2))(np.arange(5.0)).tolist() == \
        [-3.0, 1.0, 0.0, -1.0, 3.0]
    with pytest.raises(ValueError, match="too small"):
        xnp.gradient(xf.stop_gradient(np.ones(2)), edge_order=2)


def test_rollaxis_matches_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    for axis in range(-3, 3):
        for start in range(-3, 4):
            np.testing.assert_array_equal(xnp.rollaxis(xf.stop_gradient(a), axis, start),
                                          np.rollaxis(a, axis, start))
    with pytest.raises(np.exceptions.AxisError):
        xnp.rollaxis(xf.stop_gradient(a), 0, 5)


def test_real_valued_complex_helpers():
    x = np.array([-1.5, 2.0, -0.0, 0.0, np.inf, -np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = xf.vmap(lambda v: (xnp.angle(v), xnp.angle(v, deg=True), xnp.signbit(v)))(x)
    np.testing.assert_array_equal(got[0], np.angle(x))
    np.testing.assert_array_equal(got[1], np.angle(x, deg=True))
    np.testing.assert_array_equal(got[2], np.signbit(x))
    assert xf.grad(lambda v: xnp.sum(xnp.angle(v) + xnp.real_if_close(v)))(x[:4]).tolist() == \
        [1.0] * 4
    assert not xnp.iscomplex(xf.stop_gradient(x)).any()
    assert xnp.isreal(xf.stop_gradient(x)).all()
    assert xf.grad(lambda v: v ** 2 if xnp.iscomplex(v) else 3.0 * v)(2.0) == 3.0
    with pytest.raises(NotImplementedError, match="complex"):
        xf.make_ir(xnp.angle)(np.array([1j]))


def test_numpy_random_is_numpys_sampler():
    assert xnp.random is np.random


# ----------------------------------------------------------------------------- scipy

def test_special_additions_match_scipy():
    x = np.array([0.0, -0.0, -1.0, -0.5, -1.5, 2.0, np.inf, -np.inf, np.nan, 0.3, -2.7, 7.5])
    np.testing.assert_allclose(xs.gammasgn(x), ss.gammasgn(x), equal_nan=True)
    np.testing.assert_allclose(xs.rgamma(x), ss.rgamma(x), rtol=1e-13, equal_nan=True)
    y = np.array([0.0, 1e-300, 1e-10, 0.3, 1.0, 1.7, 2.0 - 1e-12, 2.0, 2.5])
    np.testing.assert_allclose(xs.erfcinv(y), ss.erfcinv(y), rtol=1e-12, equal_nan=True)
    assert xs.psi is xs.digamma
    z = np.array([0.4, 1.3, 2.9])
    check_grads(xs.rgamma, (z,), order=2)
    check_grads(xs.erfcinv, (np.array([0.2, 0.9, 1.6]),), order=2)
    np.testing.assert_array_equal(xf.grad(lambda v: xnp.sum(xs.gammasgn(v)))(z), 0.0)


def test_mvn_entropy_matches_scipy_and_differentiates():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 3))
    cov, mean = a @ a.T + np.eye(3), rng.standard_normal(3)
    mvn = xst.multivariate_normal
    np.testing.assert_allclose(mvn.entropy(mean, cov), sst.multivariate_normal.entropy(mean, cov),
                               rtol=1e-13)
    np.testing.assert_allclose(mvn.entropy(None, 2.0), sst.multivariate_normal.entropy(None, 2.0),
                               rtol=1e-13)
    sym = lambda c: mvn.entropy(mean, 0.5 * (c + c.T))  # noqa: E731
    check_grads(sym, (cov,), order=2)


# ----------------------------------------------------------------------------- transforms

def test_vmap_and_jit_of_the_additions():
    rng = np.random.default_rng(4)
    xs_ = rng.uniform(0.2, 1.8, (3, 6))
    cov = np.eye(2) * 1.5

    def program(x):
        return (xnp.gradient(x), xnp.rollaxis(x.reshape(2, 3), 1), xnp.angle(x - 1.0),
                xnp.signbit(x - 1.0), xs.gammasgn(x - 1.0))

    def special(x):
        return (xs.rgamma(x), xs.erfcinv(x), xs.psi(x),
                xst.multivariate_normal.entropy(x[:2], cov.astype(x.dtype) * x[0]))

    both = lambda x: program(x) + special(x)  # noqa: E731
    batched = xf.vmap(both)(xs_)
    for i, row in enumerate(xs_):
        for b, r in zip(batched, both(xf.stop_gradient(row))):
            np.testing.assert_allclose(b[i], r, rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        compiled = xf.jit(program)(xs_[0])
    interpreted = xf.jit(program, backend="interpreter")(xs_[0])
    for c, r in zip(compiled, interpreted):
        np.testing.assert_allclose(c, r, rtol=1e-12)
    f32 = xf.jit(both, backend="interpreter")(xs_[0].astype(np.float32))
    assert [np.asarray(v).dtype for v in f32] == [np.float32] * 3 + [np.bool_] + [np.float32] * 5


def test_argnum_is_autograds_name_for_argnums():
    def f(x, y):
        return xnp.sum(x * y ** 2)
    assert xf.grad(f, argnum=1)(2.0, 3.0) == 12.0
    assert xf.value_and_grad(f, argnum=1)(2.0, 3.0) == (18.0, 12.0)
    assert xf.hessian(f, argnum=1)(2.0, 3.0) == 4.0
    assert xf.jacfwd(f, argnum=0)(2.0, 3.0) == xf.jacrev(f, argnum=0)(2.0, 3.0) == 9.0


def test_derivative_helpers_under_autograd_and_jax_names():
    import doctest

    import xform.derivative_helpers as helpers
    assert doctest.testmod(helpers).failed == 0
    x, v = np.array([0.3, -1.2, 2.0]), np.array([1.0, 2.0, -0.5])

    def f(x):
        return xnp.sum(xnp.sin(x) * x ** 2)
    dense = xf.hessian(f)(x) @ v
    np.testing.assert_allclose(xf.hessian_vector_product(f)(x, v), dense, rtol=1e-13)
    np.testing.assert_allclose(xf.hvp(f, (x,), (v,)), dense, rtol=1e-13)
    np.testing.assert_allclose(xf.elementwise_grad(xnp.tanh)(x), 1 - np.tanh(x) ** 2,
                               rtol=1e-14)
    np.testing.assert_allclose(xf.elementwise_grad(lambda a, b: a * b, 1)(x, v), x)
    assert "sin" in str(xf.make_jaxpr(f)(x))
    with xnp.errstate(divide="ignore"):
        assert xnp.seterr is np.seterr
