"""Indexing primitives: gather, scatter_add (each other's transposes) and scatter (set).

`idx` is an integer array of shape (*batch, k) whose last axis indexes the first k dimensions of
the operand: gather returns shape (*batch, *operand.shape[k:]). xform.numpy reduces every numpy
advanced-indexing expression to this form.
"""
from __future__ import annotations

import numpy as np

from xform.core import (Primitive, ShapedArray, UndefinedPrimal, Zero, batch_size, concrete_or_none,
                        get_aval, instantiate)
from xform.primitives.elementwise import eq, select
from xform.primitives.lowering import from_flat
from xform.primitives.structural import broadcast_in_dim, concatenate, moveaxis


def _index_tuple(idx):
    idx = np.asarray(idx)
    return tuple(idx[..., i] for i in range(idx.shape[-1]))


def _check_idx(x, idx, name):
    if not np.issubdtype(idx.dtype, np.integer) or idx.ndim < 1 or idx.shape[-1] > x.ndim:
        raise TypeError(f"{name} needs integer indices of shape (..., k) with k <= {x.ndim}, "
                        f"got {idx} for operand {x}")


# ----------------------------------------------------------------------------- gather

gather_p = Primitive("gather")


def gather(x, idx):
    return gather_p.bind1(x, idx)


def _gather_abstract_eval(x, idx):
    _check_idx(x, idx, "gather")
    return [ShapedArray((*idx.shape[:-1], *x.shape[idx.shape[-1]:]), x.dtype)]


def _gather_jvp(primals, tangents):
    (x, idx), (t, _) = primals, tangents
    out = gather(x, idx)
    return [out], [Zero(get_aval(out)) if isinstance(t, Zero) else gather(t, idx)]


def _gather_transpose(cts, x, idx):
    (ct,) = cts
    zeros = np.zeros(x.aval.shape, x.aval.dtype)
    return [scatter_add(zeros, idx, ct), None]


def _batch_indices(idx, size, idx_bdim):
    """Prepend the batch position to every index so a batched operand can be indexed at 0."""
    iaval = get_aval(idx)
    if idx_bdim is None:
        idx = broadcast_in_dim(idx, (size, *iaval.shape), tuple(range(1, iaval.ndim + 1)))
    else:
        idx = moveaxis(idx, idx_bdim, 0)
    shape = get_aval(idx).shape
    iota = np.arange(size, dtype=iaval.dtype).reshape((size,) + (1,) * (len(shape) - 1))
    iota = np.broadcast_to(iota, (*shape[:-1], 1))
    return concatenate([iota, idx], len(shape) - 1)


def _gather_vmap(args, bdims):
    (x, idx), (dx, di) = args, bdims
    if dx is None:
        return [gather(x, moveaxis(idx, di, 0))], [0]
    x = moveaxis(x, dx, 0)
    return [gather(x, _batch_indices(idx, np.shape(x)[0], di))], [0]


gather_p.impl = lambda x, idx: [np.asarray(x)[_index_tuple(idx)]]
gather_p.abstract_eval = _gather_abstract_eval
gather_p.jvp = _gather_jvp
gather_p.transpose = _gather_transpose
gather_p.vmap = _gather_vmap

# ----------------------------------------------------------------------------- scatter_add

scatter_add_p = Primitive("scatter_add")


def scatter_add(x, idx, updates):
    return scatter_add_p.bind1(x, idx, updates)


def _scatter_abstract_eval(x, idx, updates, name="scatter"):
    _check_idx(x, idx, name)
    want = (*idx.shape[:-1], *x.shape[idx.shape[-1]:])
    if updates.shape != want or updates.dtype != x.dtype:
        raise TypeError(f"{name} into {x} at indices {idx} needs updates of shape {want} and "
                        f"dtype {x.dtype}, got {updates}")
    return [x]


def _scatter_add_impl(x, idx, updates):
    out = np.array(x, copy=True)
    np.add.at(out, _index_tuple(idx), updates)
    return [out]


def _scatter_add_jvp(primals, tangents):
    (x, idx, u), (tx, _, tu) = primals, tangents
    out = scatter_add(x, idx, u)
    if isinstance(tx, Zero) and isinstance(tu, Zero):
        return [out], [Zero(get_aval(out))]
    return [out], [scatter_add(instantiate(tx), idx, instantiate(tu))]


def _scatter_add_transpose(cts, x, idx, u):
    (ct,) = cts
    return [ct if isinstance(x, UndefinedPrimal) else None, None,
            gather(ct, idx) if isinstance(u, UndefinedPrimal) else None]


def _scatter_vmap(p):
    def rule(args, bdims):
        (x, idx, u), (dx, di, du) = args, bdims
        size = batch_size(args, bdims)
        if dx is None:
            shape = get_aval(x).shape
            x = broadcast_in_dim(x, (size, *shape), tuple(range(1, len(shape) + 1)))
        else:
            x = moveaxis(x, dx, 0)
        idx = _batch_indices(idx, size, di)
        if du is None:
            shape = get_aval(u).shape
            u = broadcast_in_dim(u, (size, *shape), tuple(range(1, len(shape) + 1)))
        else:
            u = moveaxis(u, du, 0)
        return [p.bind1(x, idx, u)], [0]
    return rule


scatter_add_p.impl = _scatter_add_impl
scatter_add_p.abstract_eval = lambda x, idx, u: _scatter_abstract_eval(x, idx, u, "scatter_add")
scatter_add_p.jvp = _scatter_add_jvp
scatter_add_p.transpose = _scatter_add_transpose
scatter_add_p.vmap = _scatter_vmap(scatter_add_p)

# ----------------------------------------------------------------------------- scatter (set)

scatter_p = Primitive("scatter")


def scatter(x, idx, updates):
    """x with the indexed positions replaced by `updates` (the last write wins on repeats)."""
    return scatter_p.bind1(x, idx, updates)


def _scatter_impl(x, idx, updates):
    out = np.array(x, copy=True)
    out[_index_tuple(idx)] = updates
    return [out]


def _scatter_jvp(primals, tangents):
    (x, idx, u), (tx, _, tu) = primals, tangents
    out = scatter(x, idx, u)
    if isinstance(tx, Zero) and isinstance(tu, Zero):
        return [out], [Zero(get_aval(out))]
    return [out], [scatter(instantiate(tx), idx, instantiate(tu))]


def _scatter_transpose(cts, x, idx, u):
    (ct,) = cts
    uaval = u.aval if isinstance(u, UndefinedPrimal) else get_aval(u)
    ct_x = scatter(ct, idx, np.zeros(uaval.shape, uaval.dtype)) \
        if isinstance(x, UndefinedPrimal) else None
    ct_u = None
    if isinstance(u, UndefinedPrimal):
        ct_u = gather(ct, idx)
        landed = _landed(idx, get_aval(ct).shape)
        if concrete_or_none(landed) is None or not np.all(landed):
            mask = broadcast_in_dim(landed, uaval.shape, tuple(range(get_aval(landed).ndim)))
            ct_u = select(mask, ct_u, np.zeros(uaval.shape, uaval.dtype))
    return [ct_x, None, ct_u]


def _landed(idx, shape):
    """Which updates a scatter keeps: where indices repeat, only the write that wins lands, so
    only it gets a cotangent. Found by scattering the updates' ids the same way."""
    batch, k = get_aval(idx).shape[:-1], get_aval(idx).shape[-1]
    ids = np.arange(int(np.prod(batch, dtype=np.int64)), dtype=np.int64).reshape(batch)
    slots = scatter(np.full(shape[:k], -1, np.int64), idx, ids)
    return eq(gather(slots, idx), ids)


scatter_p.impl = _scatter_impl
scatter_p.abstract_eval = _scatter_abstract_eval
scatter_p.jvp = _scatter_jvp
scatter_p.transpose = _scatter_transpose
scatter_p.vmap = _scatter_vmap(scatter_p)

# ----------------------------------------------------------------------------- Numba lowerings


def _rows_of_operand(em, x, k):
    """`x` as a contiguous 2-D array: its first k dims flattened into rows. Also returns the
    sizes of those dims as source for the kernels: a tuple of typed ints, not of literals,
    so that one compiled kernel serves every shape."""
    shape = x.aval.shape
    rows = em.fresh("rows")
    m = int(np.prod(shape[:k], dtype=np.int64))
    n = int(np.prod(shape[k:], dtype=np.int64))
    em.line(f"{rows} = np.ascontiguousarray({x.expr}).reshape(({m}, {n}))")
    return rows, f"({''.join(f'np.int64({d}), ' for d in shape[:k])})", n


def _index_rows(em, idx):
    shape = idx.aval.shape
    name = em.fresh("index")
    b = int(np.prod(shape[:-1], dtype=np.int64))
    em.line(f"{name} = np.ascontiguousarray({idx.expr}).reshape(({b}, {shape[-1]}))")
    return name


def _gather_numba(em, ins, outs):
    (x, idx), (o,) = ins, outs
    rows, dims, _ = _rows_of_operand(em, x, idx.aval.shape[-1])
    flat = em.fresh("picked")
    em.line(f"{flat} = {em.kernels.gather_rows}({rows}, {_index_rows(em, idx)}, {dims})"
            ".ravel()")
    from_flat(em, o, flat)


def _scatter_numba(accumulate):
    def rule(em, ins, outs):
        (x, idx, u), (o,) = ins, outs
        rows, dims, n = _rows_of_operand(em, x, idx.aval.shape[-1])
        b = int(np.prod(idx.aval.shape[:-1], dtype=np.int64))
        updates = (f"np.full(({b}, {n}), {u.expr})" if u.aval.shape == () else
                   f"np.ascontiguousarray({u.expr}).reshape(({b}, {n}))")
        # The flag as a typed bool, not a literal: one compiled kernel serves both rules.
        em.line(f"{o.expr} = {em.kernels.scatter_rows}({rows}, {_index_rows(em, idx)}, "
                f"{dims}, {updates}, np.bool_({accumulate})).reshape({x.aval.shape!r})")
    return rule


gather_p.numba = _gather_numba
scatter_add_p.numba = _scatter_numba(True)
scatter_p.numba = _scatter_numba(False)
