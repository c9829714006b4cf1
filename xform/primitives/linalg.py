"""Linear algebra primitives: the general dot product and the matrix decompositions."""
from __future__ import annotations

import numpy as np

from xform.core import Primitive, ShapedArray, UndefinedPrimal, Zero, get_aval
from xform.primitives.elementwise import add_tangents
from xform.primitives.structural import moveaxis, transpose

# ----------------------------------------------------------------------------- dot_general

dot_general_p = Primitive("dot_general")


def dot_general(lhs, rhs, contract, batch=((), ())):
    """Contract `contract[0]` dims of lhs with `contract[1]` of rhs, batching over `batch`.
    Output dims: batch, then lhs free dims, then rhs free dims (each in increasing order)."""
    dims = (tuple(map(tuple, contract)), tuple(map(tuple, batch)))
    return dot_general_p.bind1(lhs, rhs, dimension_numbers=dims)


def _free(ndim, contract, batch):
    return [d for d in range(ndim) if d not in contract and d not in batch]


def _dot_general_impl(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    lf, rf = _free(lhs.ndim, lc, lb), _free(rhs.ndim, rc, rb)
    bshape = [lhs.shape[d] for d in lb]
    m = int(np.prod([lhs.shape[d] for d in lf], dtype=np.int64))
    n = int(np.prod([rhs.shape[d] for d in rf], dtype=np.int64))
    k = int(np.prod([lhs.shape[d] for d in lc], dtype=np.int64))
    bsize = int(np.prod(bshape, dtype=np.int64))
    a = np.transpose(lhs, (*lb, *lf, *lc)).reshape(bsize, m, k)
    b = np.transpose(rhs, (*rb, *rc, *rf)).reshape(bsize, k, n)
    out = a[0] @ b[0] if bsize == 1 else np.matmul(a, b)
    shape = (*bshape, *(lhs.shape[d] for d in lf), *(rhs.shape[d] for d in rf))
    return [np.asarray(out).reshape(shape)]


def _dot_general_abstract_eval(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"dot_general needs operands of equal dtype, got {lhs} and {rhs}")
    if (len(lc) != len(rc) or len(lb) != len(rb)
            or any(lhs.shape[a] != rhs.shape[b] for a, b in zip(lc, rc))
            or any(lhs.shape[a] != rhs.shape[b] for a, b in zip(lb, rb))):
        raise TypeError(f"dot_general cannot contract {lhs} (dims {lc}, batch {lb}) with "
                        f"{rhs} (dims {rc}, batch {rb}): the paired dimensions differ in size")
    lf, rf = _free(lhs.ndim, lc, lb), _free(rhs.ndim, rc, rb)
    shape = (*(lhs.shape[d] for d in lb), *(lhs.shape[d] for d in lf),
             *(rhs.shape[d] for d in rf))
    return [ShapedArray(shape, lhs.dtype)]


def _dot_general_jvp(primals, tangents, *, dimension_numbers):
    (x, y), (tx, ty) = primals, tangents
    out = dot_general_p.bind1(x, y, dimension_numbers=dimension_numbers)
    a = Zero(get_aval(out)) if isinstance(tx, Zero) else \
        dot_general_p.bind1(tx, y, dimension_numbers=dimension_numbers)
    b = Zero(get_aval(out)) if isinstance(ty, Zero) else \
        dot_general_p.bind1(x, ty, dimension_numbers=dimension_numbers)
    return [out], [add_tangents(a, b)]


def _dot_general_transpose(cts, x, y, *, dimension_numbers):
    (ct,) = cts
    (lc, rc), (lb, rb) = dimension_numbers
    xnd = (x.aval if isinstance(x, UndefinedPrimal) else get_aval(x)).ndim
    ynd = (y.aval if isinstance(y, UndefinedPrimal) else get_aval(y)).ndim
    lf, rf = _free(xnd, lc, lb), _free(ynd, rc, rb)
    nb = len(lb)
    ct_batch = tuple(range(nb))
    ct_lfree = tuple(range(nb, nb + len(lf)))
    ct_rfree = tuple(range(nb + len(lf), nb + len(lf) + len(rf)))
    ct_x = ct_y = None
    if isinstance(x, UndefinedPrimal):
        out = dot_general(ct, y, (ct_rfree, rf), (ct_batch, rb))
        src = [*lb, *lf, *(lc[j] for j in np.argsort(rc))]
        ct_x = transpose(out, np.argsort(src))
    if isinstance(y, UndefinedPrimal):
        out = dot_general(x, ct, (lf, ct_lfree), (lb, ct_batch))
        src = [*rb, *(rc[j] for j in np.argsort(lc)), *rf]
        ct_y = transpose(out, np.argsort(src))
    return [ct_x, ct_y]


def _dot_general_vmap(args, bdims, *, dimension_numbers):
    (x, y), (dx, dy) = args, bdims
    (lc, rc), (lb, rb) = dimension_numbers

    def shift(dims):
        return tuple(d + 1 for d in dims)
    if dx is not None and dy is not None:
        x, y = moveaxis(x, dx, 0), moveaxis(y, dy, 0)
        dims = ((shift(lc), shift(rc)), ((0, *shift(lb)), (0, *shift(rb))))
        return [dot_general_p.bind1(x, y, dimension_numbers=dims)], [0]
    if dx is not None:
        x = moveaxis(x, dx, -1)
        out = dot_general_p.bind1(x, y, dimension_numbers=dimension_numbers)
        return [out], [len(lb) + len(_free(np.ndim(x), lc, lb)) - 1]
    y = moveaxis(y, dy, -1)
    out = dot_general_p.bind1(x, y, dimension_numbers=dimension_numbers)
    return [out], [np.ndim(out) - 1]


dot_general_p.impl = _dot_general_impl
dot_general_p.abstract_eval = _dot_general_abstract_eval
dot_general_p.jvp = _dot_general_jvp
dot_general_p.transpose = _dot_general_transpose
dot_general_p.vmap = _dot_general_vmap
