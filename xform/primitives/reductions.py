"""Reductions (sum, max, min, prod, argmax, argmin) and cumulative sums and products."""
from __future__ import annotations

import numpy as np

from xform.core import Primitive, ShapedArray, Zero, get_aval, instantiate
from xform.primitives.elementwise import convert, div, eq, mul, select
from xform.primitives.lowering import Reduction, dtype_expr, from_flat, permuted, to_rows
from xform.primitives.structural import (broadcast_in_dim, concatenate, moveaxis, reshape, slice_,
                                         transpose)


def _reduced_aval(x, axes, dtype=None):
    if any(not 0 <= a < x.ndim for a in axes) or len(set(axes)) != len(axes):
        raise TypeError(f"reduction axes {axes} do not fit {x}")
    return ShapedArray([n for i, n in enumerate(x.shape) if i not in axes], dtype or x.dtype)


def _keep_broadcast(y, in_shape, axes):
    """Broadcast a reduced value back over the reduced axes of `in_shape`."""
    kept = tuple(i for i in range(len(in_shape)) if i not in axes)
    return broadcast_in_dim(y, in_shape, kept)


def _reduce_vmap(p):
    def rule(args, bdims, *, axes, **params):
        x = moveaxis(args[0], bdims[0], 0)
        return [p.bind1(x, axes=tuple(a + 1 for a in axes), **params)], [0]
    return rule


def reducer(name: str, impl) -> Primitive:
    p = Primitive(name)
    # numpy widens small integer sums and products to int64; the output keeps x's dtype.
    p.impl = lambda x, *, axes: [np.asarray(impl(x, axis=axes)).astype(np.asarray(x).dtype,
                                                                        copy=False)]
    p.abstract_eval = lambda x, *, axes: [_reduced_aval(x, axes)]
    p.vmap = _reduce_vmap(p)
    return p


# ----------------------------------------------------------------------------- sum

reduce_sum_p = reducer("reduce_sum", np.sum)


def reduce_sum(x, axes):
    axes = tuple(sorted(int(a) for a in axes))
    return reduce_sum_p.bind1(x, axes=axes) if axes else x


def _reduce_sum_jvp(primals, tangents, *, axes):
    (x,), (t,) = primals, tangents
    out = reduce_sum(x, axes)
    return [out], [Zero(get_aval(out)) if isinstance(t, Zero) else reduce_sum(t, axes)]


reduce_sum_p.jvp = _reduce_sum_jvp
reduce_sum_p.transpose = lambda cts, x, *, axes: [_keep_broadcast(cts[0], x.aval.shape, axes)]

# ----------------------------------------------------------------------------- max and min


def _extremum_jvp(p):
    def jvp(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        out = p.bind1(x, axes=axes)
        if isinstance(t, Zero):
            return [out], [Zero(get_aval(out))]
        shape = get_aval(x).shape
        # Ties share the derivative equally, so the rule is symmetric under permutations.
        hit = convert(eq(x, _keep_broadcast(out, shape, axes)), get_aval(x).dtype)
        count = reduce_sum(hit, axes)
        return [out], [div(reduce_sum(mul(t, hit), axes), count)]
    return jvp


reduce_max_p = reducer("reduce_max", np.max)
reduce_max_p.jvp = _extremum_jvp(reduce_max_p)
reduce_min_p = reducer("reduce_min", np.min)
reduce_min_p.jvp = _extremum_jvp(reduce_min_p)


def reduce_max(x, axes):
    return reduce_max_p.bind1(x, axes=tuple(sorted(axes)))


def reduce_min(x, axes):
    return reduce_min_p.bind1(x, axes=tuple(sorted(axes)))


# ----------------------------------------------------------------------------- prod

reduce_prod_p = reducer("reduce_prod", np.prod)


def reduce_prod(x, axes):
    return reduce_prod_p.bind1(x, axes=tuple(sorted(axes)))


def _to_last_flat(x, axes):
    """Move `axes` to the end and flatten them into one: shape (*kept, n)."""
    shape = get_aval(x).shape
    kept = [i for i in range(len(shape)) if i not in axes]
    moved = transpose(x, (*kept, *axes))
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    return reshape(moved, (*(shape[i] for i in kept), n))


def _exclusive_cumprod(x, reverse=False):
    """Products of all earlier (or later) elements along the last axis, exactly (no division)."""
    shape = get_aval(x).shape
    n = shape[-1]
    c = cumprod(x, len(shape) - 1, reverse)
    ones = np.ones((*shape[:-1], 1), get_aval(x).dtype)
    lead = (0,) * len(shape)
    if reverse:
        return concatenate([slice_(c, (*lead[:-1], 1), shape), ones], len(shape) - 1)
    return concatenate([ones, slice_(c, lead, (*shape[:-1], n - 1))], len(shape) - 1)


def _reduce_prod_jvp(primals, tangents, *, axes):
    (x,), (t,) = primals, tangents
    out = reduce_prod(x, axes)
    if isinstance(t, Zero):
        return [out], [Zero(get_aval(out))]
    xf = _to_last_flat(x, axes)
    others = mul(_exclusive_cumprod(xf), _exclusive_cumprod(xf, reverse=True))
    last = get_aval(xf).ndim - 1
    return [out], [reduce_sum(mul(_to_last_flat(t, axes), others), (last,))]


reduce_prod_p.jvp = _reduce_prod_jvp

# ----------------------------------------------------------------------------- argmax / argmin


def _arg_reducer(name, impl):
    p = Primitive(name)
    p.impl = lambda x, *, axis, index_dtype: [np.asarray(impl(x, axis=axis), index_dtype)]
    p.abstract_eval = lambda x, *, axis, index_dtype: [_reduced_aval(x, (axis,), index_dtype)]

    def jvp(primals, tangents, **params):
        out = p.bind1(*primals, **params)
        return [out], [Zero(get_aval(out))]

    def vmap(args, bdims, *, axis, index_dtype):
        x = moveaxis(args[0], bdims[0], 0)
        return [p.bind1(x, axis=axis + 1, index_dtype=index_dtype)], [0]
    p.jvp, p.vmap = jvp, vmap
    return p


argmax_p = _arg_reducer("argmax", np.argmax)
argmin_p = _arg_reducer("argmin", np.argmin)

# ----------------------------------------------------------------------------- cumulative


def _cumulative(name, impl):
    p = Primitive(name)

    def run(x, *, axis, reverse):
        x = np.asarray(x)
        if reverse:
            return [np.flip(impl(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)]
        return [impl(x, axis=axis, dtype=x.dtype)]
    p.impl = run
    p.abstract_eval = lambda x, *, axis, reverse: [x]

    def vmap(args, bdims, *, axis, reverse):
        x = moveaxis(args[0], bdims[0], 0)
        return [p.bind1(x, axis=axis + 1, reverse=reverse)], [0]
    p.vmap = vmap
    return p


cumsum_p = _cumulative("cumsum", np.cumsum)
cumprod_p = _cumulative("cumprod", np.cumprod)


def cumsum(x, axis: int, reverse: bool = False):
    return cumsum_p.bind1(x, axis=int(axis), reverse=bool(reverse))


def cumprod(x, axis: int, reverse: bool = False):
    return cumprod_p.bind1(x, axis=int(axis), reverse=bool(reverse))


def _cumsum_jvp(primals, tangents, *, axis, reverse):
    (x,), (t,) = primals, tangents
    out = cumsum(x, axis, reverse)
    return [out], [Zero(get_aval(out)) if isinstance(t, Zero) else cumsum(t, axis, reverse)]


cumsum_p.jvp = _cumsum_jvp
cumsum_p.transpose = lambda cts, x, *, axis, reverse: [cumsum(cts[0], axis, not reverse)]


def _cumprod_jvp(primals, tangents, *, axis, reverse):
    # d out_i = sum_{j<=i} t_j prod_{k<=i, k!=j} x_k, computed exactly (no division by x):
    # row j of an (n, n) matrix holds x with x_j replaced by 1; its cumprod gives every term.
    (x,), (t,) = primals, tangents
    out = cumprod(x, axis, reverse)
    if isinstance(t, Zero):
        return [out], [Zero(get_aval(out))]
    aval = get_aval(x)
    nd, n = aval.ndim, aval.shape[axis]
    xl, tl = moveaxis(x, axis, -1), moveaxis(instantiate(t), axis, -1)
    lead = get_aval(xl).shape[:-1]
    rows = broadcast_in_dim(xl, (*lead, n, n), (*range(nd - 1), nd))
    diag = np.eye(n, dtype=bool)
    ones = np.ones((*lead, n, n), aval.dtype)
    c = cumprod(select(broadcast_in_dim(diag, (*lead, n, n), (nd - 1, nd)), ones, rows),
                nd, reverse)
    tri = np.triu(np.ones((n, n), bool)) if not reverse else np.tril(np.ones((n, n), bool))
    terms = select(broadcast_in_dim(tri, (*lead, n, n), (nd - 1, nd)),
                   mul(c, broadcast_in_dim(tl, (*lead, n, n), (*range(nd - 1), nd - 1))),
                   np.zeros((*lead, n, n), aval.dtype))
    return [out], [moveaxis(reduce_sum(terms, (nd - 1,)), -1, axis)]


cumprod_p.jvp = _cumprod_jvp

# ----------------------------------------------------------------------------- Numba lowerings


def _arg_numba(largest):
    def rule(em, ins, outs, *, axis, index_dtype):
        (x,), (o,) = ins, outs
        rows, _, _ = to_rows(em, x, axis)
        flat = em.fresh("idx")
        em.line(f"{flat} = {em.kernels.argmax_rows}({rows}, np.bool_({largest}))"
                f".astype({dtype_expr(index_dtype)})")
        from_flat(em, o, flat)
    return rule


def _cumulative_numba(product):
    def rule(em, ins, outs, *, axis, reverse):
        (x,), (o,) = ins, outs
        rows, moved, perm = to_rows(em, x, axis)
        inverse = tuple(int(i) for i in np.argsort(perm))
        done = em.fresh("moved")
        em.line(f"{done} = {em.kernels.cumulate_rows}({rows}, np.bool_({product}), "
                f"np.bool_({reverse})).reshape({moved!r})")
        em.line(f"{o.expr} = {permuted(done, inverse)}")
    return rule


reduce_sum_p.numba = Reduction("sum")
reduce_max_p.numba = Reduction("max")
reduce_min_p.numba = Reduction("min")
reduce_prod_p.numba = Reduction("prod")
argmax_p.numba = _arg_numba(True)
argmin_p.numba = _arg_numba(False)
cumsum_p.numba = _cumulative_numba(False)
cumprod_p.numba = _cumulative_numba(True)
