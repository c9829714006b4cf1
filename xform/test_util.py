"""Public testing helpers: `check_grads` compares derivatives against finite differences."""
from __future__ import annotations

import itertools

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


def check_grads(f, args=None, order=None, modes=("fwd", "rev"), atol=None, rtol=None,
                eps=None, *, argnum=None):
    """Check derivatives of `f` to `order`, in forward and/or reverse mode, against central
    finite differences (use float64 inputs), called as in JAX or as in autograd.

    - JAX's: `check_grads(f, args, order=1, modes=("fwd", "rev"))` checks at the tuple `args`.
    - autograd's: `check_grads(f, argnum=0, modes=["fwd", "rev"], order=2)` returns a checker
      called as `checker(*args, **kwargs)`; it checks in the argument(s) `argnum` (an int or a
      tuple of ints, also accepted as the second positional argument), the others and the
      keyword arguments held fixed.

    >>> import numpy as np, xform.numpy as xnp
    >>> check_grads(xnp.sin, (np.array([0.5, 1.0]),), order=2)
    >>> check_grads(xnp.dot, argnum=1)(np.ones(3), np.array([0.5, 1.0, 2.0]))
    """
    if args is None or _is_argnum(args):
        nums = argnum if args is None else args
        return _checker(f, 0 if nums is None else nums, 2 if order is None else order, modes,
                        atol, rtol, eps)
    _check_at(f, tuple(args), 1 if order is None else order, modes, atol, rtol, eps)


def _is_argnum(x) -> bool:
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)
    return is_int(x) or (isinstance(x, (tuple, list)) and len(x) > 0
                         and all(is_int(v) for v in x))


def _checker(f, argnum, order, modes, atol, rtol, eps):
    nums = tuple(argnum) if isinstance(argnum, (tuple, list)) else (argnum,)

    def check(*args, **kwargs):
        def g(*xs):
            full = list(args)
            for i, x in zip(nums, xs):
                full[i] = x
            return f(*full, **kwargs)
        _check_at(g, tuple(args[i] for i in nums), order, modes, atol, rtol, eps)
    return check


def combo_check(fun, argnum=0, **check_kwargs):
    """autograd's `combo_check`: `combo_check(fun, argnum, modes=..., order=...)(*arg_lists,
    **kwarg_lists)` runs `check_grads` at every combination of one value from each list.

    >>> import numpy as np, xform.numpy as xnp
    >>> combo_check(xnp.sum, [0])([np.ones(3), np.ones((2, 2))], axis=[None, 0])
    """
    def run(*arg_lists, **kwarg_lists):
        keys = list(kwarg_lists)
        for args in itertools.product(*arg_lists):
            for values in itertools.product(*(kwarg_lists[k] for k in keys)):
                check_grads(fun, argnum=argnum, **check_kwargs)(*args,
                                                               **dict(zip(keys, values)))
    return run


def _check_at(f, args, order, modes, atol, rtol, eps):
    rng = np.random.default_rng(1)
    if "fwd" in modes:
        check_jvp(f, args, atol, rtol, eps)
        if order > 1:
            v = _random_like(args, rng)
            _check_at(lambda *a: jvp(f, a, v)[1], args, order - 1, ("fwd",), atol, rtol, eps)
    if "rev" in modes:
        check_vjp(f, args, atol, rtol, eps)
        if order > 1:
            u = _random_like(f(*args), rng)
            _check_at(lambda *a: vjp(f, *a)[1](u), args, order - 1, ("rev",), atol, rtol, eps)
