"""Second-order derivatives through every higher-order primitive.

Each row of `CASES` computes a function through one higher-order primitive (cond, switch, scan,
fori_loop, while_loop, custom_jvp, custom_vjp, checkpoint, nested jit, and some nestings of
them) and names a reference: the same function written with plain Python loops and ifs and no
custom rules. Every second-order composition the primitive supports must give the Hessian of the
reference, and that Hessian is itself checked against float64 central differences of the
reference's gradient, so that a derivative wrong in both ways would still show.

`lax.cond` and `lax.switch` pick a branch in Python when their index is concrete, as it is under
eager differentiation, so their rows run under `jit`: there the primitive itself is
differentiated.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import lax


def jit(f):
    return xf.jit(f, backend="interpreter")


# ----------------------------------------------------------------------------- compositions

def _jvp_of_grad(f):
    """The Hessian one column at a time, as jvp of grad (forward-over-reverse, no vmap)."""
    def hess(x):
        return np.stack([xf.jvp(xf.grad(f), (x,), (e,))[1] for e in np.eye(x.size)], axis=-1)
    return hess


def _jvp_of_jvp(f):
    """The Hessian one entry at a time, as jvp of jvp (forward-over-forward, no vmap)."""
    def hess(x):
        basis = np.eye(x.size)

        def directional(e):
            return lambda y: xf.jvp(f, (y,), (e,))[1]
        return np.array([[xf.jvp(directional(ej), (x,), (ei,))[1] for ej in basis]
                         for ei in basis])
    return hess


COMPOSITIONS: dict[str, Callable] = {
    "hessian": xf.hessian,
    "jacfwd(jacrev)": lambda f: xf.jacfwd(xf.jacrev(f)),
    "jacrev(jacrev)": lambda f: xf.jacrev(xf.jacrev(f)),
    "jacrev(jacfwd)": lambda f: xf.jacrev(xf.jacfwd(f)),
    "jvp(grad)": _jvp_of_grad,
    "jacfwd(jacfwd)": lambda f: xf.jacfwd(xf.jacfwd(f)),
    "jvp(jvp)": _jvp_of_jvp,
}
ALL = tuple(COMPOSITIONS)
REVERSE = ("jacrev(jacrev)",)  # custom_vjp: forward mode is a documented error


# ----------------------------------------------------------------------------- custom rules

@xf.custom_jvp
def softplus(x):
    return xnp.log1p(xnp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t / (1.0 + xnp.exp(-x))


def plain_softplus(x):
    return xnp.log1p(xnp.exp(x))


@xf.custom_jvp
def sin_times(x, y):
    return xnp.sin(x) * y


@sin_times.defjvp
def _sin_times_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    return sin_times(x, y), xnp.cos(x) * y * tx + xnp.sin(x) * ty


def plain_sin_times(x, y):
    return xnp.sin(x) * y


@xf.custom_vjp
def tanh_vjp(x):
    return xnp.tanh(x)


def _tanh_fwd(x):
    y = tanh_vjp(x)
    return y, y


def _tanh_bwd(y, ct):
    return (ct * (1.0 - y * y),)


tanh_vjp.defvjp(_tanh_fwd, _tanh_bwd)


# ----------------------------------------------------------------------------- the functions

BRANCHES = [lambda v: xnp.sum(xnp.sin(v) * v[::-1]), lambda v: xnp.sum(xnp.exp(v) * v[0]),
            lambda v: xnp.sum(xnp.tanh(v * v[1]) * v)]


def cond(x):
    return lax.cond(xnp.sum(x) > 0, BRANCHES[0], BRANCHES[1], x)


def cond_ref(x):
    return BRANCHES[0](x) if xnp.sum(x) > 0 else BRANCHES[1](x)


def switch(x):
    return lax.switch(xnp.argmax(x), BRANCHES, x)


def switch_ref(x):
    return BRANCHES[int(xnp.argmax(x))](x)


def _rnn_step(act, x):
    """A step that reads `x` (a scan const), the carry and an x slice."""
    def step(c, xi):
        c = act(c * x[0] + xi) + 0.5 * c
        return c, c * xi
    return step


def scan(act, reverse=False):
    def f(x):
        c, ys = lax.scan(_rnn_step(act, x), x[1], x, reverse=reverse)
        return c + xnp.sum(ys * ys)
    return f


def scan_ref(act, reverse=False):
    def f(x):
        step, c, total = _rnn_step(act, x), x[1], 0.0
        for i in (reversed(range(x.size)) if reverse else range(x.size)):
            c, y = step(c, x[i])
            total = total + y * y
        return c + total
    return f


def _two_carry_step(times, x):
    """Two carries, ys from both, and a custom rule taking a carry and an x slice."""
    def step(carry, xi):
        a, b = carry
        return (times(a, xi) + b, b * x[2] + a * xi), times(b, a)
    return step


def scan_two_carries(x):
    (a, b), ys = lax.scan(_two_carry_step(sin_times, x), (x[0], 0.5), x, reverse=True)
    return a * b + xnp.sum(ys)


def scan_two_carries_ref(x):
    step, carry, total = _two_carry_step(plain_sin_times, x), (x[0], 0.5), 0.0
    for xi in x[::-1]:
        carry, y = step(carry, xi)
        total = total + y
    return carry[0] * carry[1] + total


def scan_of_cond(x):
    def step(c, xi):
        c = lax.cond(xi > 0, lambda c: softplus(c * xi), lambda c: c * c + xi, c)
        return c, c
    c, ys = lax.scan(step, x[0], x)
    return c + xnp.sum(ys)


def scan_of_cond_ref(x):
    c, total = x[0], 0.0
    for xi in x:
        c = plain_softplus(c * xi) if xi > 0 else c * c + xi
        total = total + c
    return c + total


def scan_of_jit(x):
    step = jit(lambda c, xi: (softplus(c * xi) + c * x[1], c))
    c, ys = lax.scan(step, x[0], x)
    return c * xnp.sum(ys)


def scan_of_jit_ref(x):
    c, total = x[0], 0.0
    for xi in x:
        c, y = plain_softplus(c * xi) + c * x[1], c
        total = total + y
    return c * total


def fori_loop(x):
    x = xnp.asarray(x)  # indexed by the traced loop counter
    return lax.fori_loop(0, x.size, lambda i, c: xnp.sin(c * x[i]) + c, x[0])


def fori_loop_ref(x):
    c = x[0]
    for i in range(x.size):
        c = xnp.sin(c * x[i]) + c
    return c


def _while_step(c, x):
    return xnp.sin(c) * x + c * x[::-1]


def while_loop(x):
    def body(state):
        i, c = state
        return i + 1, _while_step(c, x)
    return xnp.sum(lax.while_loop(lambda s: s[0] < 3, body, (0, x))[1])


def while_loop_ref(x):
    c = x
    for _ in range(3):
        c = _while_step(c, x)
    return xnp.sum(c)


def custom_jvp(x):
    return xnp.sum(softplus(x * x[::-1])) * sin_times(x[0], x[1])


def custom_jvp_ref(x):
    return xnp.sum(plain_softplus(x * x[::-1])) * plain_sin_times(x[0], x[1])


def custom_vjp(x):
    return xnp.sum(tanh_vjp(x * x[1]) * x)


def custom_vjp_ref(x):
    return xnp.sum(xnp.tanh(x * x[1]) * x)


def _inner(v):
    return xnp.sin(v) * xnp.sum(v * v)


def nested(wrap):
    """`_inner` through `wrap` (checkpoint or a jit), between differentiable work."""
    def f(x):
        return xnp.sum(wrap(_inner)(x * x[0]) * x)
    return f


X = np.array([0.4, -0.9, 0.7])


class Case(NamedTuple):
    fun: Callable  # through the higher-order primitive
    ref: Callable  # plain Python, no custom rules
    x: np.ndarray = X
    compositions: tuple = ALL
    slow: bool = False  # compositions other than the Hessian are marked slow (Numba compiles)


CASES = {
    "cond-true": Case(jit(cond), cond_ref),
    "cond-false": Case(jit(cond), cond_ref, -X),
    "switch": Case(jit(switch), switch_ref),
    "scan": Case(scan(xnp.tanh), scan_ref(xnp.tanh)),
    "scan-reverse": Case(scan(xnp.tanh, reverse=True), scan_ref(xnp.tanh, reverse=True)),
    "scan-custom_jvp": Case(scan(softplus), scan_ref(plain_softplus)),
    "scan-custom_jvp-reverse": Case(scan(softplus, reverse=True),
                                    scan_ref(plain_softplus, reverse=True)),
    "scan-custom_jvp-two-carries": Case(scan_two_carries, scan_two_carries_ref),
    "scan-cond-custom_jvp": Case(scan_of_cond, scan_of_cond_ref),
    "scan-jit-custom_jvp": Case(scan_of_jit, scan_of_jit_ref),
    "fori_loop": Case(fori_loop, fori_loop_ref),
    "while_loop": Case(while_loop, while_loop_ref),
    "custom_jvp": Case(custom_jvp, custom_jvp_ref),
    "custom_vjp": Case(custom_vjp, custom_vjp_ref, compositions=REVERSE),
    "checkpoint": Case(nested(xf.checkpoint), nested(lambda f: f)),
    "jit": Case(nested(jit), nested(lambda f: f)),
    "jit-numba": Case(nested(xf.jit), nested(lambda f: f)),
    "jit-numba-scan-custom_jvp": Case(xf.jit(scan(softplus)), scan_ref(plain_softplus),
                                      slow=True),
}


def _fd_hessian(f, x, eps=1e-5):
    """Central differences of xf.grad(f), column by column, in float64."""
    g = xf.grad(f)
    return np.stack([(np.asarray(g(x + eps * e)) - np.asarray(g(x - eps * e))) / (2 * eps)
                     for e in np.eye(x.size)], axis=-1)


def _rows():
    for name, case in CASES.items():
        for c in case.compositions:
            marks = [pytest.mark.slow] if case.slow and c != "hessian" else []
            yield pytest.param(name, c, id=f"{name}-{c}", marks=marks)


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("name", list(CASES))
def test_reference_hessian_matches_finite_differences(name):
    case = CASES[name]
    np.testing.assert_allclose(xf.hessian(case.ref)(case.x), _fd_hessian(case.ref, case.x),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(case.fun(case.x), case.ref(case.x), rtol=1e-12)


@pytest.mark.parametrize("name,composition", list(_rows()))
def test_second_order_matches_reference(name, composition):
    case = CASES[name]
    got = COMPOSITIONS[composition](case.fun)(case.x)
    np.testing.assert_allclose(got, xf.hessian(case.ref)(case.x), rtol=1e-10, atol=1e-10)


def test_unsupported_compositions_are_documented_errors():
    with pytest.raises(ValueError, match="max_steps"):
        xf.jit(xf.hessian(CASES["while_loop"].fun))(X)
    with pytest.raises(TypeError, match="custom_vjp"):
        xf.hessian(CASES["custom_vjp"].fun)(X)


# ----------------------------------------------------------------------------- several outputs

def scan_outputs(x):
    """A pair of outputs (the final carry and the stacked ys) of a scan with a custom rule."""
    return lax.scan(_rnn_step(softplus, x), x[1], x)


def scan_outputs_ref(x):
    step, c, ys = _rnn_step(plain_softplus, x), x[1], []
    for xi in x:
        c, y = step(c, xi)
        ys.append(y)
    return c, xnp.stack(ys)


def _fd_jacobian_of(jac, x, eps=1e-5):
    """Central differences of a Jacobian-valued function, per output leaf."""
    plus = [jac(x + eps * e) for e in np.eye(x.size)]
    minus = [jac(x - eps * e) for e in np.eye(x.size)]
    return tuple(np.stack([(np.asarray(p[k]) - np.asarray(m[k])) / (2 * eps)
                           for p, m in zip(plus, minus)], axis=-1) for k in range(len(plus[0])))


@pytest.mark.parametrize("composition", ["hessian", "jacfwd(jacrev)", "jacrev(jacrev)",
                                         "jacrev(jacfwd)", "jacfwd(jacfwd)"])
def test_second_order_of_several_outputs(composition):
    """The reported case: a scan whose body calls a custom_jvp function, with two outputs."""
    # The reference's forward-mode Jacobian is checked against finite differences first.
    want = _fd_jacobian_of(xf.jacfwd(scan_outputs_ref), X)
    np.testing.assert_allclose(xf.jacfwd(xf.jacfwd(scan_outputs_ref))(X)[1], want[1],
                               rtol=1e-6, atol=1e-6)
    got = COMPOSITIONS[composition](scan_outputs)(X)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
