"""Public testing helpers: `check_grads` compares derivatives against finite differences."""
from __future__ import annotations

import numpy as np

from xform import tree
from xform.api import jvp, vjp

_DEFAULT_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 2e-2}


def _inner(a, b) -> float:
    la, lb = tree.leaves(a), tree.leaves(b)
    return float(sum(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))
                     for x, y in zip(la, lb)))


def _random_like(x, rng):
    return tree.map(lambda v: rng.standard_normal(np.shape(v)).astype(np.asarray(v).dtype), x)


def _axpy(a, x, y):
    return tree.map(lambda u, v: (np.asarray(v) + a * np.asarray(u)).astype(np.asarray(v).dtype),
                    x, y)


def _close(a, b, atol, rtol, what):
    for x, y in zip(tree.leaves(a), tree.leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if not np.allclose(x, y, atol=atol, rtol=rtol):
            raise AssertionError(f"{what} mismatch:\n  got      {x}\n  expected {y}\n"
                                 f"  max abs diff {np.max(np.abs(x - y))}")


def _tol(args):
    dtypes = [np.asarray(x).dtype for x in tree.leaves(args)]
    return max(_DEFAULT_TOL.get(d, 1e-5) for d in dtypes) if dtypes else 1e-5


def check_jvp(f, args, atol=None, rtol=None, eps=None, seed=0):
    """Compare forward mode against central differences in one random direction."""
    rng = np.random.default_rng(seed)
    tol = _tol(args)
    atol, rtol = atol or tol, rtol or tol
    eps = eps or (1e-6 if tol < 1e-3 else 1e-3)
    v = _random_like(args, rng)
    _, t_out = jvp(f, args, v)
    plus, minus = f(*_axpy(eps, v, args)), f(*_axpy(-eps, v, args))
    fd = tree.map(lambda p, m: (np.asarray(p, np.float64) - np.asarray(m, np.float64)) / (2 * eps),
                  plus, minus)
    _close(t_out, fd, atol, rtol, "JVP vs finite differences")


def check_vjp(f, args, atol=None, rtol=None, eps=None, seed=0):
    """Check reverse mode by the identity <u, J v> = <J^T u, v>, J v from central differences."""
    rng = np.random.default_rng(seed)
    tol = _tol(args)
    atol, rtol = atol or tol, rtol or tol
    eps = eps or (1e-6 if tol < 1e-3 else 1e-3)
    out, f_vjp = vjp(f, *args)
    u = _random_like(out, rng)
    v = _random_like(args, rng)
    plus, minus = f(*_axpy(eps, v, args)), f(*_axpy(-eps, v, args))
    jv = tree.map(lambda p, m: (np.asarray(p, np.float64) - np.asarray(m, np.float64)) / (2 * eps),
                  plus, minus)
    lhs = _inner(u, jv)
    rhs = _inner(f_vjp(u), v)
    scale = max(1.0, abs(lhs), abs(rhs))
    if abs(lhs - rhs) > atol * scale + rtol * abs(lhs):
        raise AssertionError(f"VJP mismatch: <u, J v> = {lhs} by finite differences but "
                             f"<J^T u, v> = {rhs}")


def check_grads(f, args, order: int = 1, modes=("fwd", "rev"), atol=None, rtol=None,
                eps=None):
    """Check derivatives of `f` at `args` to `order`, in forward and/or reverse mode, against
    central finite differences (use float64 inputs).

    >>> import numpy as np, xform.numpy as xnp
    >>> check_grads(xnp.sin, (np.array([0.5, 1.0]),), order=2)
    """
    args = tuple(args)
    rng = np.random.default_rng(1)
    if "fwd" in modes:
        check_jvp(f, args, atol, rtol, eps)
        if order > 1:
            v = _random_like(args, rng)
            check_grads(lambda *a: jvp(f, a, v)[1], args, order - 1, ("fwd",), atol, rtol, eps)
    if "rev" in modes:
        check_vjp(f, args, atol, rtol, eps)
        if order > 1:
            u = _random_like(f(*args), rng)
            check_grads(lambda *a: vjp(f, *a)[1](u), args, order - 1, ("rev",), atol, rtol,
                        eps)
