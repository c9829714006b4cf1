"""Sorting: `sort` permutes several operands of one shape along a dimension by the order of
the first `num_keys` of them (lexicographically, stably, NaN last as in numpy).

Its derivative sorts an iota along with the operands to learn the permutation and gathers the
tangents with it, so reverse mode is the transpose of that gather (a scatter-add); no rule of
its own is linear.
"""
from __future__ import annotations

import numpy as np

from xform.core import Primitive, Zero, batch_size, get_aval, is_float_dtype
from xform.primitives.indexing import gather
from xform.primitives.lowering import permuted, to_rows
from xform.primitives.structural import broadcast_in_dim, concatenate, moveaxis, reshape

sort_p = Primitive("sort")


def sort(*operands, dimension: int, num_keys: int = 1) -> list:
    """The operands reordered along `dimension` by the (stable, lexicographic) order of the
    first `num_keys` of them; a list of as many arrays."""
    return sort_p.bind(*operands, dimension=int(dimension), num_keys=int(num_keys))


def _permutation(keys, dimension):
    """numpy's stable argsort by several keys, the first most significant (NaN last)."""
    perm = np.argsort(keys[-1], axis=dimension, kind="stable")
    for key in reversed(keys[:-1]):
        order = np.argsort(np.take_along_axis(key, perm, dimension), axis=dimension,
                           kind="stable")
        perm = np.take_along_axis(perm, order, dimension)
    return perm


def _sort_impl(*operands, dimension, num_keys):
    operands = [np.asarray(x) for x in operands]
    perm = _permutation(operands[:num_keys], dimension)
    return [np.take_along_axis(x, perm, dimension) for x in operands]


def _sort_abstract_eval(*operands, dimension, num_keys):
    shape = operands[0].shape
    if any(x.shape != shape for x in operands):
        raise TypeError("sort needs operands of one shape, got "
                        + ", ".join(str(x) for x in operands))
    if not 0 <= dimension < len(shape):
        raise TypeError(f"sort dimension {dimension} does not fit operands of shape {shape}")
    if not 1 <= num_keys <= len(operands):
        raise TypeError(f"sort needs 1 <= num_keys <= {len(operands)} (the number of "
                        f"operands), got {num_keys}")
    if any(np.issubdtype(x.dtype, np.complexfloating) for x in operands[:num_keys]):
        raise TypeError("sort keys must be real: complex keys are not supported")
    return list(operands)


def iota_like(shape, dimension, dtype=np.int64):
    """The positions 0..n-1 along `dimension`, broadcast to `shape` (a constant)."""
    n = shape[dimension]
    along = np.arange(n, dtype=dtype).reshape([n if d == dimension else 1
                                               for d in range(len(shape))])
    return np.broadcast_to(along, shape)


def take_along(x, perm, dimension: int):
    """x reordered along `dimension` by the integer array `perm` of x's shape: a gather at
    full indices (the other positions from constants), so that its transpose is a scatter."""
    shape = get_aval(x).shape
    nd = len(shape)
    columns = [reshape(perm, (*shape, 1)) if d == dimension else
               iota_like((*shape, 1), d, get_aval(perm).dtype) for d in range(nd)]
    return gather(x, concatenate(columns, nd))


def _sort_jvp(primals, tangents, *, dimension, num_keys):
    shape = get_aval(primals[0]).shape
    *outs, perm = sort(*primals, iota_like(shape, dimension), dimension=dimension,
                       num_keys=num_keys)
    t_outs = [Zero(get_aval(o)) if isinstance(t, Zero) or not is_float_dtype(get_aval(o).dtype)
              else take_along(t, perm, dimension) for o, t in zip(outs, tangents)]
    return outs, t_outs


def _sort_vmap(args, bdims, *, dimension, num_keys):
    size = batch_size(args, bdims)
    moved = []
    for a, d in zip(args, bdims):
        if d is None:
            shape = get_aval(a).shape
            moved.append(broadcast_in_dim(a, (size, *shape), tuple(range(1, len(shape) + 1))))
        else:
            moved.append(moveaxis(a, d, 0))
    outs = sort(*moved, dimension=dimension + 1, num_keys=num_keys)
    return outs, [0] * len(outs)


def _sort_numba(em, ins, outs, *, dimension, num_keys):
    """Each operand as rows with `dimension` last; one permutation per row, refined key by
    key from the least significant (a stable merge sort each time), then every operand's
    rows taken in its order."""
    rows = [to_rows(em, x, dimension) for x in ins]
    _, moved, perm = rows[0]
    m, n = int(np.prod(moved[:-1], dtype=np.int64)), moved[-1]
    order = em.fresh("order")
    em.line(f"{order} = (np.arange({m * n}) % {max(n, 1)}).reshape(({m}, {n}))")
    for name, _, _ in reversed(rows[:num_keys]):
        em.line(f"{order} = {em.kernels.argsort_rows}({name}, {order})")
    inverse = tuple(int(i) for i in np.argsort(perm))
    for (name, _, _), o in zip(rows, outs):
        done = em.fresh("moved")
        em.line(f"{done} = {em.kernels.take_rows}({name}, {order}).reshape({moved!r})")
        em.line(f"{o.expr} = {permuted(done, inverse)}")


sort_p.impl = _sort_impl
sort_p.abstract_eval = _sort_abstract_eval
sort_p.jvp = _sort_jvp
sort_p.vmap = _sort_vmap
sort_p.numba = _sort_numba
