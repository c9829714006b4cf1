"""Taylor mode for users: `jet` (JAX's calling convention), directional derivatives of any order
in one pass, Taylor coefficients, and the Hessian diagonal and Laplacian built on them.

Cost and program size grow as O(k^2) in the order k (see `xform.transforms.taylor`), where
nesting `grad` k times grows them about 3^k-fold.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from xform import tree
from xform.api import vmap
from xform.core import get_aval, is_float_dtype
from xform.primitives.elementwise import mul
from xform.primitives.reductions import reduce_sum
from xform.primitives.structural import broadcast_in_dim, concatenate, reshape, slice_
from xform.transforms.taylor import jet_flat

__all__ = ["derivatives", "hessian_diag", "jet", "laplacian", "taylor_coefficients"]


def _factorials(k: int, shape, dtype, inverse: bool):
    f = np.array([math.factorial(j) for j in range(1, k + 1)], dtype=np.float64)
    f = (1.0 / f if inverse else f).astype(dtype).reshape((k,) + (1,) * len(shape))
    return np.ascontiguousarray(np.broadcast_to(f, (k, *shape)))


def _stack(terms, like):
    """Series terms (a list of arrays shaped like the primal `like`) stacked on a new axis 0."""
    aval = get_aval(like)
    rows = []
    for t in terms:
        ta = get_aval(t)
        if ta.shape != aval.shape:
            raise ValueError(f"jet: a series term has shape {ta.shape} but its primal has shape "
                             f"{aval.shape}; each term needs its primal's shape")
        t = t if ta.dtype == aval.dtype else np.asarray(t, aval.dtype)
        rows.append(broadcast_in_dim(t, (1, *aval.shape), tuple(range(1, len(aval.shape) + 1))))
    return concatenate(rows, 0)


def _unstack(s, k: int):
    shape = get_aval(s).shape[1:]
    return [reshape(slice_(s, (j,) + (0,) * len(shape), (j + 1, *shape)), shape)
            for j in range(k)]


def jet(fun: Callable, primals, series):
    """Taylor-mode propagation with JAX's `jax.experimental.jet.jet` convention: `series[i]`
    lists the derivatives x_1, ..., x_k of input i along a curve x(t) = x_0 + x_1 t +
    x_2 t^2/2! + ...; the result is `(fun(*primals), series_out)`, `series_out` holding the
    derivatives of the output along that curve (a list of k arrays per output leaf).

    >>> import xform as xf, xform.numpy as xnp
    >>> y, (y1, y2) = xf.jet(lambda x: x ** 3, (2.0,), ((1.0, 0.0),))
    >>> float(y), float(y1), float(y2)
    (8.0, 12.0, 12.0)
    """
    if not (isinstance(primals, (tuple, list)) and isinstance(series, (tuple, list))):
        raise TypeError("jet: primals and series must be tuples or lists with one entry per "
                        "positional argument, e.g. xf.jet(f, (x,), ([x1, x2],))")
    if len(primals) != len(series):
        raise TypeError(f"jet got {len(primals)} primals but {len(series)} series")
    orders = {len(s) for s in series}
    if len(orders) > 1:
        raise ValueError(f"jet: every input needs the same number of series terms, got "
                         f"{sorted(orders)}")
    k = orders.pop() if orders else 0
    leaves, in_tree = tree.flatten(list(primals))
    per_leaf = []
    for p, terms in zip(primals, series):
        n_leaves = len(tree.leaves(p))
        flat_terms = [tree.leaves(t) for t in terms]
        if any(len(t) != n_leaves for t in flat_terms):
            raise TypeError("jet: each series term must have its primal's tree structure")
        per_leaf += [[t[i] for t in flat_terms] for i in range(n_leaves)]
    stacked = []
    for p, terms in zip(leaves, per_leaf):
        aval = get_aval(p)
        if not k or not is_float_dtype(aval.dtype):
            stacked.append(None)
            continue
        stacked.append(mul(_stack(terms, p), _factorials(k, aval.shape, aval.dtype, True)))
    out_tree = []

    def flat_fun(*flat):
        out_leaves, treedef = tree.flatten(fun(*tree.unflatten(in_tree, list(flat))))
        out_tree.append(treedef)
        return out_leaves
    outs, out_series = jet_flat(flat_fun, leaves, stacked, k)
    terms_out = []
    for o, s in zip(outs, out_series):
        aval = get_aval(o)
        if s is None:
            terms_out.append([np.zeros(aval.shape, aval.dtype) for _ in range(k)])
        else:
            terms_out.append(_unstack(mul(s, _factorials(k, aval.shape, aval.dtype, False)), k))
    return tree.unflatten(out_tree[0], outs), tree.unflatten(out_tree[0], terms_out)


def _coefficients(fun, order, x, direction, scale: bool):
    aval = get_aval(x)
    if not is_float_dtype(aval.dtype):
        raise TypeError(f"derivatives need a floating-point x, got dtype {aval.dtype}")
    v = np.ones(aval.shape, aval.dtype) if direction is None else direction
    if get_aval(v).shape != aval.shape:
        raise ValueError(f"the direction has shape {get_aval(v).shape} but x has shape "
                         f"{aval.shape}")
    v = v if get_aval(v).dtype == aval.dtype else np.asarray(v, aval.dtype)
    s = concatenate([broadcast_in_dim(v, (1, *aval.shape), tuple(range(1, aval.ndim + 1))),
                     np.zeros((order - 1, *aval.shape), aval.dtype)], 0)
    out_tree = []

    def flat_fun(x):
        leaves, treedef = tree.flatten(fun(x))
        out_tree.append(treedef)
        return leaves
    outs, series = jet_flat(flat_fun, [x], [s], order)
    stacked = []
    for o, sr in zip(outs, series):
        oa = get_aval(o)
        if sr is None:
            sr = np.zeros((order, *oa.shape), oa.dtype)
        elif scale:
            sr = mul(sr, _factorials(order, oa.shape, oa.dtype, False))
        stacked.append(concatenate(
            [broadcast_in_dim(o, (1, *oa.shape), tuple(range(1, oa.ndim + 1))), sr], 0))
    return tree.unflatten(out_tree[0], stacked)


def _check_order(order):
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"the order must be a positive integer, got {order!r}")


def derivatives(fun: Callable, order: int) -> Callable:
    """`derivatives(fun, k)(x, direction=None)`: the directional derivatives
    d^j/dt^j fun(x + t v) at t = 0 for j = 0..k, stacked on a new leading axis, in one
    Taylor-mode pass (`v` defaults to ones, so for a scalar x they are fun's derivatives).

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.derivatives(xnp.exp, 3)(0.0).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    _check_order(order)
    return lambda x, direction=None: _coefficients(fun, order, x, direction, True)


def taylor_coefficients(fun: Callable, order: int) -> Callable:
    """`taylor_coefficients(fun, k)(x, direction=None)`: the coefficients c_j of
    fun(x + t v) = sum_j c_j t^j for j = 0..k (the derivatives divided by j!), stacked.

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.taylor_coefficients(xnp.exp, 3)(0.0).tolist()  # 1, 1, 1/2, 1/6
    [1.0, 1.0, 0.5, 0.16666666666666666]
    """
    _check_order(order)
    return lambda x, direction=None: _coefficients(fun, order, x, direction, False)


def _second_directional(fun, x):
    aval = get_aval(x)
    basis = np.eye(aval.size, dtype=aval.dtype).reshape((aval.size, *aval.shape))

    def along(v):
        c = _coefficients(fun, 2, x, v, False)
        if get_aval(c).shape != (3,):
            raise TypeError(f"hessian_diag and laplacian need a scalar function, got output "
                            f"shape {get_aval(c).shape[1:]}")
        return reshape(mul(_unstack(c, 3)[2], np.asarray(2, aval.dtype)), ())
    return vmap(along)(basis)


def hessian_diag(fun: Callable) -> Callable:
    """The diagonal of the Hessian of a scalar `fun`, shaped like x: one order-2 Taylor pass
    per input element, batched with vmap (never the full Hessian).

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> xf.hessian_diag(lambda x: xnp.sum(x ** 3))(np.array([1.0, 2.0])).tolist()
    [6.0, 12.0]
    """
    return lambda x: reshape(_second_directional(fun, x), get_aval(x).shape)


def laplacian(fun: Callable) -> Callable:
    """The Laplacian (trace of the Hessian) of a scalar `fun` at x, from `hessian_diag`.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> float(xf.laplacian(lambda x: xnp.sum(x ** 2))(np.ones(3)))
    6.0
    """
    def lap(x):
        d = _second_directional(fun, x)
        return reduce_sum(d, (0,))
    return lap
