"""Linear algebra primitives: the general dot product and the matrix decompositions."""
from __future__ import annotations

import functools
import warnings

import numpy as np

from xform.core import Primitive, ShapedArray, UndefinedPrimal, Zero, batch_size, get_aval
from xform.primitives.elementwise import (abs_p, add, add_tangents, convert, div, eq, gt_p,
                                          mul, neg, select, stop_gradient_p, sub)
from xform.primitives.lowering import from_flat, permuted
from xform.primitives.reductions import reduce_max, reduce_prod, reduce_sum
from xform.primitives.structural import broadcast_in_dim, concatenate, moveaxis, slice_, transpose

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
    if not lb and len(lc) == 1 and lhs.ndim <= 2 and rhs.ndim <= 2:
        # A matrix or vector product: BLAS takes the transposed views without copies.
        a = lhs.T if lhs.ndim == 2 and lc[0] == 0 else lhs
        b = rhs.T if rhs.ndim == 2 and rc[0] == 1 else rhs
        return [np.asarray(np.dot(a, b))]
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


def _argsort(dims) -> list[int]:
    """np.argsort of a few distinct ints, in Python: numpy's costs microseconds on tiny lists."""
    return sorted(range(len(dims)), key=dims.__getitem__)


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
        src = [*lb, *lf, *(lc[j] for j in _argsort(rc))]
        ct_x = transpose(out, _argsort(src))
    if isinstance(y, UndefinedPrimal):
        out = dot_general(x, ct, (lf, ct_lfree), (lb, ct_batch))
        src = [*rb, *(rc[j] for j in _argsort(lc)), *rf]
        ct_y = transpose(out, _argsort(src))
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

# ----------------------------------------------------------------------------- shared helpers
#
# Every decomposition below works on stacks of matrices: operands are (..., m, n) with any
# number of leading batch dimensions, which is also what their `vmap` rules rely on (they move
# the batch dimension to the front and bind the same primitive again).


def _check_float(name, *avals):
    for a in avals:
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} needs float32 or float64 operands, got {a}; convert "
                            "integer inputs with .astype(float) (xnp.linalg does it for you)")
    if len({a.dtype for a in avals}) > 1:
        raise TypeError(f"{name} needs operands of equal dtype, got "
                        f"{', '.join(map(str, avals))}")


def _check_matrix(name, aval, square=True):
    if aval.ndim < 2:
        raise TypeError(f"{name} needs an array of rank >= 2 (a stack of matrices), got {aval}")
    if square and aval.shape[-1] != aval.shape[-2]:
        raise TypeError(f"{name} needs square matrices in the last two dimensions, got {aval}")


def _aval(x):
    return x.aval if isinstance(x, (UndefinedPrimal, Zero)) else get_aval(x)


def _mT(x):
    """Swap the last two dimensions."""
    nd = _aval(x).ndim
    return transpose(x, (*range(nd - 2), nd - 1, nd - 2))


def _matmul(x, y):
    """Batched matrix product (..., m, k) @ (..., k, n) with equal batch dimensions."""
    nd = _aval(x).ndim
    batch = tuple(range(nd - 2))
    return dot_general(x, y, ((nd - 1,), (nd - 2,)), (batch, batch))


def _const(value, aval, dims=None):
    """A concrete constant of `aval`'s dtype broadcast to its shape (`dims` as for
    broadcast_in_dim; by default the constant fills the trailing dimensions)."""
    value = np.asarray(value, dtype=aval.dtype)
    if dims is None:
        dims = tuple(range(aval.ndim - value.ndim, aval.ndim))
    return broadcast_in_dim(value, aval.shape, dims)


def _eye_like(aval):
    return _const(np.eye(aval.shape[-1], dtype=aval.dtype), aval)


def _diag_part(x):
    """The diagonal of square matrices: (..., n, n) -> (..., n)."""
    aval = _aval(x)
    return reduce_sum(mul(x, _eye_like(aval)), (aval.ndim - 1,))


def _trace(x):
    """The trace of square matrices: (..., n, n) -> (...)."""
    aval = _aval(x)
    return reduce_sum(_diag_part(x), (aval.ndim - 2,))


def _rows(v, n):
    """Vector (..., k) broadcast along rows to (..., n, k): element [i, j] = v[j]."""
    shape = _aval(v).shape
    nd = len(shape)
    return broadcast_in_dim(v, (*shape[:-1], n, shape[-1]), (*range(nd - 1), nd))


def _cols(v, n):
    """Vector (..., k) broadcast along columns to (..., k, n): element [i, j] = v[i]."""
    shape = _aval(v).shape
    nd = len(shape)
    return broadcast_in_dim(v, (*shape, n), tuple(range(nd)))


def _masked(x, mask):
    """`x` where the concrete boolean (n, m) `mask` holds, zero elsewhere."""
    aval = _aval(x)
    m = broadcast_in_dim(np.asarray(mask, bool), aval.shape, (aval.ndim - 2, aval.ndim - 1))
    return select(m, x, _const(0, aval))


def _symmetrize_lower(x):
    """The symmetric matrix whose lower triangle is x's: tril(x) + tril(x, -1)ᵀ.

    cholesky and eigh read only one triangle of their operand (as numpy does), so this is the
    exact derivative of what they compute, for any direction dA; on symmetric dA it is dA.
    """
    n = _aval(x).shape[-1]
    strict = _masked(x, np.tril(np.ones((n, n), bool), -1))
    return add(_masked(x, np.tril(np.ones((n, n), bool))), _mT(strict))


def _batched_vmap(prim):
    """Batching rule for primitives that accept leading batch dimensions on every operand:
    move each batch dimension to the front, broadcasting operands that are not batched."""
    def rule(args, bdims, **params):
        size = batch_size(args, bdims)
        aligned = []
        for a, d in zip(args, bdims):
            if d is None:
                shape = get_aval(a).shape
                aligned.append(broadcast_in_dim(a, (size, *shape),
                                                tuple(range(1, len(shape) + 1))))
            else:
                aligned.append(moveaxis(a, d, 0))
        outs = prim.bind(*aligned, **params)
        return outs, [0] * len(outs)
    return rule


# ----------------------------------------------------------------------------- triangular_solve

triangular_solve_p = Primitive("triangular_solve")


def triangular_solve(a, b, left_side=True, lower=True, transpose_a=False,
                     unit_diagonal=False):
    """Solve op(a) @ x = b (left_side) or x @ op(a) = b, where a is triangular (only its
    `lower` or upper triangle is read) and op(a) is a or aᵀ (`transpose_a`)."""
    return triangular_solve_p.bind1(a, b, left_side=bool(left_side), lower=bool(lower),
                                    transpose_a=bool(transpose_a),
                                    unit_diagonal=bool(unit_diagonal))


def _triangular_solve_impl(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    a, b = np.asarray(a), np.asarray(b)
    if not left_side:
        # x op(a) = b  <=>  op(a)ᵀ xᵀ = bᵀ
        b = np.swapaxes(b, -1, -2)
        transpose_a = not transpose_a
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
        lower = not lower
    n = a.shape[-1]
    tri = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        tri[..., range(n), range(n)] = 1
    if n and np.isfinite(tri).all() and np.all(np.diagonal(tri, 0, -2, -1) != 0):
        # LAPACK on the triangle: no pivot is zero, and substitution in Python is slow.
        x = np.linalg.solve(tri, b).astype(b.dtype, copy=False)
        return [np.swapaxes(x, -1, -2) if not left_side else x]
    x = np.zeros(b.shape, dtype=b.dtype)
    # Substitution row by row; batch dimensions and right-hand-side columns are vectorised.
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in (range(n) if lower else range(n - 1, -1, -1)):
            lo, hi = (0, i) if lower else (i + 1, n)
            r = b[..., i, :]
            if hi > lo:
                r = r - np.matmul(a[..., i:i + 1, lo:hi], x[..., lo:hi, :])[..., 0, :]
            x[..., i, :] = r if unit_diagonal else r / a[..., i, i, None]
    if not left_side:
        x = np.swapaxes(x, -1, -2)
    return [x]


def _triangular_solve_abstract_eval(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    _check_float("triangular_solve", a, b)
    _check_matrix("triangular_solve", a)
    if b.ndim != a.ndim:
        raise TypeError(f"triangular_solve needs a and b of equal rank, got {a} and {b}")
    n = a.shape[-1]
    k = b.shape[-2] if left_side else b.shape[-1]
    if b.shape[:-2] != a.shape[:-2] or k != n:
        side = "rows" if left_side else "columns"
        raise TypeError(f"triangular_solve: b's batch dimensions must equal a's and its {side} "
                        f"must match a's size, got a {a} and b {b}")
    return [b]


def _triangle_mask(n, lower, unit_diagonal):
    mask = np.tril(np.ones((n, n), bool), -1 if unit_diagonal else 0)
    return mask if lower else mask.T


def _triangular_solve_jvp(primals, tangents, *, left_side, lower, transpose_a,
                          unit_diagonal):
    (a, b), (ta, tb) = primals, tangents
    params = {"left_side": left_side, "lower": lower, "transpose_a": transpose_a,
              "unit_diagonal": unit_diagonal}
    x = triangular_solve_p.bind1(a, b, **params)
    if isinstance(ta, Zero) and isinstance(tb, Zero):
        return [x], [Zero(get_aval(x))]
    if isinstance(ta, Zero):
        rhs = tb
    else:
        # Only the triangle the solve reads contributes: d(op(a)) is masked the same way.
        ta = _masked(ta, _triangle_mask(get_aval(a).shape[-1], lower, unit_diagonal))
        op_ta = _mT(ta) if transpose_a else ta
        term = _matmul(op_ta, x) if left_side else _matmul(x, op_ta)
        rhs = neg(term) if isinstance(tb, Zero) else sub(tb, term)
    return [x], [triangular_solve_p.bind1(a, rhs, **params)]


def _triangular_solve_transpose(cts, a, b, *, left_side, lower, transpose_a, unit_diagonal):
    (ct,) = cts
    if isinstance(a, UndefinedPrimal):
        raise NotImplementedError("triangular_solve is linear only in b, not in a")
    if isinstance(ct, Zero):
        return [None, Zero(b.aval)]
    return [None, triangular_solve_p.bind1(a, ct, left_side=left_side, lower=lower,
                                           transpose_a=not transpose_a,
                                           unit_diagonal=unit_diagonal)]


triangular_solve_p.impl = _triangular_solve_impl
triangular_solve_p.abstract_eval = _triangular_solve_abstract_eval
triangular_solve_p.jvp = _triangular_solve_jvp
triangular_solve_p.transpose = _triangular_solve_transpose
triangular_solve_p.vmap = _batched_vmap(triangular_solve_p)

# ----------------------------------------------------------------------------- cholesky

cholesky_p = Primitive("cholesky")


def cholesky(a):
    """Lower Cholesky factor L of symmetric positive-definite a = L Lᵀ (reads a's lower
    triangle, like numpy)."""
    return cholesky_p.bind1(a)


def _cholesky_impl(a):
    a = np.asarray(a)
    return [np.linalg.cholesky(a).astype(a.dtype, copy=False)]


def _square_abstract_eval(name):
    def rule(a):
        _check_float(name, a)
        _check_matrix(name, a)
        return [a]
    return rule


def _cholesky_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    L = cholesky(a)
    if isinstance(t, Zero):
        return [L], [Zero(get_aval(L))]
    # dL = L Φ(L⁻¹ dA L⁻ᵀ), Φ keeping the lower triangle with a halved diagonal.
    t = _symmetrize_lower(t)
    tmp = triangular_solve(L, t, left_side=True, lower=True)
    inner = triangular_solve(L, tmp, left_side=False, lower=True, transpose_a=True)
    aval = get_aval(a)
    n = aval.shape[-1]
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return [L], [_matmul(L, mul(inner, _const(phi, aval)))]


cholesky_p.impl = _cholesky_impl
cholesky_p.abstract_eval = _square_abstract_eval("cholesky")
cholesky_p.jvp = _cholesky_jvp
cholesky_p.vmap = _batched_vmap(cholesky_p)

# ----------------------------------------------------------------------------- solve

solve_p = Primitive("solve")


def solve(a, b):
    """x with a @ x = b for square a (..., n, n) and b (..., n, k) of equal batch shape."""
    return solve_p.bind1(a, b)


def _solve_impl(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return [np.linalg.solve(a, b).astype(b.dtype, copy=False)]


def _solve_abstract_eval(a, b):
    _check_float("solve", a, b)
    _check_matrix("solve", a)
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise TypeError(f"solve needs b of shape (..., {a.shape[-1]}, k) with a's batch "
                        f"dimensions, got a {a} and b {b}")
    return [b]


def _solve_jvp(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    x = solve(a, b)
    if isinstance(ta, Zero) and isinstance(tb, Zero):
        return [x], [Zero(get_aval(x))]
    # dx = a⁻¹ (db − da x)
    if isinstance(ta, Zero):
        rhs = tb
    else:
        term = _matmul(ta, x)
        rhs = neg(term) if isinstance(tb, Zero) else sub(tb, term)
    return [x], [solve(a, rhs)]


def _solve_transpose(cts, a, b):
    (ct,) = cts
    if isinstance(a, UndefinedPrimal):
        raise NotImplementedError("solve is linear only in b, not in a")
    if isinstance(ct, Zero):
        return [None, Zero(b.aval)]
    return [None, solve(_mT(a), ct)]


solve_p.impl = _solve_impl
solve_p.abstract_eval = _solve_abstract_eval
solve_p.jvp = _solve_jvp
solve_p.transpose = _solve_transpose
solve_p.vmap = _batched_vmap(solve_p)


def inv(a):
    """Matrix inverse of a stack of square matrices, as solve(a, I) (a composite)."""
    return solve(a, _eye_like(get_aval(a)))


# ----------------------------------------------------------------------------- det, slogdet

det_p = Primitive("det")


def det(a):
    """Determinant of a stack of square matrices: (..., n, n) -> (...)."""
    return det_p.bind1(a)


def _det_impl(a):
    a = np.asarray(a)
    return [np.asarray(np.linalg.det(a), dtype=a.dtype)]


def _det_abstract_eval(a):
    _check_float("det", a)
    _check_matrix("det", a)
    return [ShapedArray(a.shape[:-2], a.dtype)]


def _lu_parts(a):
    """LU of `a` (a[perm] = L U) for the det and slogdet rules: the packed factors, det(P) of
    the row permutation and P itself as a float matrix (P A = L U)."""
    packed, pivots, perm = lu(a)
    aval = get_aval(a)
    n = aval.shape[-1]
    index = ShapedArray(get_aval(pivots).shape, np.dtype(np.int32))
    swapped = eq(pivots, _const(np.arange(n, dtype=np.int32), index))
    flips = select(swapped, _const(1, get_aval(pivots)), _const(-1, get_aval(pivots)))
    sign = reduce_prod(convert(flips, aval.dtype), (aval.ndim - 2,))
    return packed, sign, _permutation_matrix(perm, aval)


def _permutation_matrix(perm, aval):
    """The float matrix P of the row permutation `perm`: (P A)[i] = A[perm[i]]."""
    shape = aval.shape
    rows = broadcast_in_dim(perm, shape, tuple(range(len(shape) - 1)))
    cols = _const(np.arange(shape[-1], dtype=np.int32), ShapedArray(shape, np.dtype(np.int32)))
    return convert(eq(rows, cols), aval.dtype)


def _lu_inverse(packed, p_mat):
    """U⁻¹ L⁻¹ P (= A⁻¹ when P A = L U), with L the unit lower factor packed below `packed`'s
    diagonal and U its upper triangle."""
    y = triangular_solve(packed, p_mat, lower=True, unit_diagonal=True)
    return triangular_solve(packed, y, lower=False)


def _per_matrix(x, aval):
    """A (...) array broadcast over the matrices of `aval` (..., n, n)."""
    return broadcast_in_dim(x, aval.shape, tuple(range(aval.ndim - 2)))


def _adjugate(a):
    """adj(A) = det(A) A⁻¹, also where A is singular, with derivatives there too.

    For a fixed generic update B = A − U Vᵀ of rank k = min(n, 2) and C = I + Vᵀ B⁻¹ U,
    adj(A) = det(B) (det(C) B⁻¹ − B⁻¹ U adj(C) Vᵀ B⁻¹) (Woodbury's formula times
    det(A) = det(B) det(C), an identity of polynomials). B is invertible when rank A ≥ n − k
    (but for a negligible set of A: U and V are generic), so the derivatives of every order
    follow from those of the LU factors of B, at regular and singular A alike. When B is
    singular up to rounding, A has more than k null directions: adj(A) and its derivative
    are 0 (its higher derivatives, nonzero at rank n − 3, come out 0 too)."""
    aval = get_aval(a)
    n, nd = aval.shape[-1], aval.ndim
    k = min(n, 2)
    if k == 0:
        return a
    size = reduce_max(abs_p.bind1(stop_gradient_p.bind1(a)), (nd - 2, nd - 1))
    scalar = get_aval(size)
    size = select(gt_p.bind1(size, _const(0, scalar)), size, _const(1, scalar))
    g, h = _update_columns(n, k, aval.dtype)
    tall = ShapedArray((*aval.shape[:-1], k), aval.dtype)
    u, v = mul(_const(g, tall), _per_matrix(size, tall)), _const(h, tall)
    b = sub(a, _matmul(u, _mT(v)))
    # An exactly singular B (a zero pivot) is swapped for I, whose result is discarded: the
    # derivatives of its LU factors would not be finite.
    pivots = _diag_part(lu(stop_gradient_p.bind1(b))[0])
    exactly = _per_matrix(eq(reduce_prod(pivots, (nd - 2,)), _const(0, scalar)), aval)
    # det(B) and B⁻¹ from P B = L U (a det or solve here would make Taylor mode exponential).
    packed, sign, p_mat = _lu_parts(select(exactly, _eye_like(aval), b))
    det_b = mul(sign, reduce_prod(_diag_part(packed), (nd - 2,)))
    b_inv = _lu_inverse(packed, p_mat)
    bu, vb = _matmul(b_inv, u), _matmul(_mT(v), b_inv)
    c = add(_eye_like(ShapedArray((*aval.shape[:-2], k, k), aval.dtype)), _matmul(_mT(v), bu))
    if k == 1:
        det_c, adj_c = reduce_sum(c, (nd - 2, nd - 1)), _const(1, get_aval(c))
    else:  # 2 × 2: det C = (tr(C)² − tr(C²)) / 2, adj(C) = tr(C) I − C
        tr_c = _trace(c)
        det_c = mul(sub(mul(tr_c, tr_c), _pair_trace(c, c)), 0.5)
        adj_c = sub(mul(_per_matrix(tr_c, get_aval(c)), _eye_like(get_aval(c))), c)
    # = det(B) B⁻¹ (det(C) I − U adj(C) Vᵀ B⁻¹), with the fewest products of two varying
    # factors (each costs a convolution in Taylor mode).
    inner = sub(mul(_per_matrix(det_c, aval), _eye_like(aval)), _matmul(_matmul(u, adj_c), vb))
    adj = mul(_per_matrix(det_b, aval), _matmul(b_inv, inner))
    # B singular up to rounding: ‖B‖ ‖B⁻¹‖ beyond what a regular B can give at this precision.
    spread = mul(*(reduce_max(abs_p.bind1(stop_gradient_p.bind1(x)), (nd - 2, nd - 1))
                   for x in (b, b_inv)))
    singular = _per_matrix(gt_p.bind1(spread, _const(0.01 / np.finfo(aval.dtype).eps, scalar)),
                           aval)
    zero = _const(0, aval)
    return select(singular, zero, select(exactly, zero, adj))


@functools.lru_cache(maxsize=64)
def _update_columns(n, k, dtype):
    """U and V (n × k, before scaling) of the adjugate's update: fixed, and generic enough
    that A − U Vᵀ is invertible for the rank-deficient matrices met in practice."""
    rng = np.random.default_rng(1000 + n)
    columns = rng.standard_normal((2, n, k)).astype(dtype) / np.sqrt(k)
    columns.flags.writeable = False  # shared by every trace
    return columns


def _pair_trace(x, t):
    """tr(x t) = Σ xᵀ ∘ t, linear in t with no matrix product."""
    nd = get_aval(t).ndim
    return reduce_sum(mul(_mT(x), t), (nd - 2, nd - 1))


def _det_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    d = det(a)
    if isinstance(t, Zero):
        return [d], [Zero(get_aval(d))]
    # d det(A) = tr(adj(A) dA): adj(A) is a polynomial in A, defined at singular A too.
    adj = _concrete_adjugate(a, d) if isinstance(a, np.ndarray) else None
    return [d], [_pair_trace(_adjugate(a) if adj is None else adj, t)]


def _concrete_adjugate(a, d):
    """adj(A) = det(A) A⁻¹ by LAPACK for a concrete stack of matrices that are all well
    conditioned (as fast as that formula, and as accurate there); None otherwise."""
    if a.size == 0:
        return None
    with np.errstate(all="ignore"):
        try:
            a_inv = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            return None
        spread = np.abs(a).max(axis=(-2, -1)) * np.abs(a_inv).max(axis=(-2, -1))
    if not np.all(spread < np.finfo(a.dtype).eps ** -0.5):  # NaN too
        return None
    return (np.asarray(d)[..., None, None] * a_inv).astype(a.dtype, copy=False)


det_p.impl = _det_impl
det_p.abstract_eval = _det_abstract_eval
det_p.jvp = _det_jvp
det_p.vmap = _batched_vmap(det_p)

slogdet_p = Primitive("slogdet")


def slogdet(a):
    """(sign, log|det|) of a stack of square matrices: two arrays of shape (...)."""
    return slogdet_p.bind(a)


def _slogdet_impl(a):
    a = np.asarray(a)
    sign, logabsdet = np.linalg.slogdet(a)
    return [np.asarray(sign, dtype=a.dtype), np.asarray(logabsdet, dtype=a.dtype)]


def _slogdet_abstract_eval(a):
    _check_float("slogdet", a)
    _check_matrix("slogdet", a)
    out = ShapedArray(a.shape[:-2], a.dtype)
    return [out, out]


def _slogdet_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    sign, logabsdet = slogdet(a)
    if isinstance(t, Zero):
        return [sign, logabsdet], [Zero(get_aval(sign)), Zero(get_aval(logabsdet))]
    # d log|det A| = tr(A⁻¹ dA), A⁻¹ = U⁻¹ L⁻¹ P from P A = L U: at a singular A it is not
    # finite (as in JAX), rather than an error. The sign is piecewise constant.
    packed, _, p_mat = _lu_parts(a)
    return [sign, logabsdet], [Zero(get_aval(sign)), _pair_trace(_lu_inverse(packed, p_mat), t)]


slogdet_p.impl = _slogdet_impl
slogdet_p.abstract_eval = _slogdet_abstract_eval
slogdet_p.jvp = _slogdet_jvp
slogdet_p.vmap = _batched_vmap(slogdet_p)

# ----------------------------------------------------------------------------- eigh

eigh_p = Primitive("eigh")


def eigh(a, lower=True):
    """(w, v): eigenvalues in ascending order and eigenvectors (columns) of symmetric a,
    reading its lower (or upper) triangle like numpy.linalg.eigh."""
    return eigh_p.bind(a, lower=bool(lower))


def _eigh_impl(a, *, lower):
    a = np.asarray(a)
    w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
    return [w.astype(a.dtype, copy=False), v.astype(a.dtype, copy=False)]


def _eigh_abstract_eval(a, *, lower):
    _check_float("eigh", a)
    _check_matrix("eigh", a)
    return [ShapedArray(a.shape[:-1], a.dtype), a]


def _eigh_jvp(primals, tangents, *, lower):
    (a,), (t,) = primals, tangents
    w, v = eigh(a, lower)
    if isinstance(t, Zero):
        return [w, v], [Zero(get_aval(w)), Zero(get_aval(v))]
    aval = get_aval(a)
    n = aval.shape[-1]
    dA = _symmetrize_lower(t if lower else _mT(t))
    vt_dA_v = _matmul(_mT(v), _matmul(dA, v))
    dw = _diag_part(vt_dA_v)
    # F_ij = 1 / (w_j − w_i) off the diagonal, 0 on it (the diagonal is kept finite first so
    # that no inf ever reaches a product).
    diff = sub(_rows(w, n), _cols(w, n))
    eye = _const(np.eye(n, dtype=bool), ShapedArray(aval.shape, np.bool_))
    safe = select(eye, _const(1, aval), diff)
    F = select(eye, _const(0, aval), div(_const(1, aval), safe))
    dv = _matmul(v, mul(F, vt_dA_v))
    return [w, v], [dw, dv]


eigh_p.impl = _eigh_impl
eigh_p.abstract_eval = _eigh_abstract_eval
eigh_p.jvp = _eigh_jvp
eigh_p.vmap = _batched_vmap(eigh_p)

# ----------------------------------------------------------------------------- qr

qr_p = Primitive("qr")


def qr(a):
    """Reduced QR of a stack of (m, n) matrices: Q (m, k) with orthonormal columns and upper
    triangular R (k, n), k = min(m, n); numpy's sign conventions."""
    return qr_p.bind(a)


def _qr_impl(a):
    a = np.asarray(a)
    q, r = np.linalg.qr(a, mode="reduced")
    return [q.astype(a.dtype, copy=False), r.astype(a.dtype, copy=False)]


def _qr_abstract_eval(a):
    _check_float("qr", a)
    _check_matrix("qr", a, square=False)
    *batch, m, n = a.shape
    k = min(m, n)
    return [ShapedArray((*batch, m, k), a.dtype), ShapedArray((*batch, k, n), a.dtype)]


def _qr_jvp_tall(q, r, t):
    """JVP of the reduced QR for m >= n: with C = Qᵀ dA R⁻¹ and Ω = tril(C, −1) − tril(C, −1)ᵀ,
    dQ = dA R⁻¹ − Q (C − Ω) and dR = (C − Ω) R."""
    n = get_aval(r).shape[-1]
    dA_rinv = triangular_solve(r, t, left_side=False, lower=False)
    c = _matmul(_mT(q), dA_rinv)
    low = _masked(c, np.tril(np.ones((n, n), bool), -1))
    c_minus_omega = sub(c, sub(low, _mT(low)))
    dq = sub(dA_rinv, _matmul(q, c_minus_omega))
    dr = _matmul(c_minus_omega, r)
    return dq, dr


def _qr_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    q, r = qr(a)
    if isinstance(t, Zero):
        return [q, r], [Zero(get_aval(q)), Zero(get_aval(r))]
    *batch, m, n = get_aval(a).shape
    if m >= n:
        dq, dr = _qr_jvp_tall(q, r, t)
        return [q, r], [dq, dr]
    # Wide: a = [x | y] with x square; q, r1 = qr(x) and r2 = qᵀ y.
    nd = len(batch) + 2
    lead = (0,) * len(batch)

    def cols(z, lo, hi):
        return slice_(z, (*lead, 0, lo), (*batch, m, hi))
    r1 = slice_(r, (*lead, 0, 0), (*batch, m, m))
    y, dx, dy = cols(a, m, n), cols(t, 0, m), cols(t, m, n)
    dq, dr1 = _qr_jvp_tall(q, r1, dx)
    dr2 = add(_matmul(_mT(dq), y), _matmul(_mT(q), dy))
    return [q, r], [dq, concatenate([dr1, dr2], nd - 1)]


qr_p.impl = _qr_impl
qr_p.abstract_eval = _qr_abstract_eval
qr_p.jvp = _qr_jvp
qr_p.vmap = _batched_vmap(qr_p)

# ----------------------------------------------------------------------------- svd

svd_p = Primitive("svd")


def svd(a, compute_uv=True):
    """Thin SVD of a stack of (m, n) matrices with numpy's conventions: [u, s, vh] with
    a = u diag(s) vh, s descending (k = min(m, n) values); with compute_uv=False just [s]."""
    return svd_p.bind(a, compute_uv=bool(compute_uv))


def _svd_impl(a, *, compute_uv):
    a = np.asarray(a)
    if not compute_uv:
        return [np.linalg.svd(a, compute_uv=False).astype(a.dtype, copy=False)]
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return [x.astype(a.dtype, copy=False) for x in (u, s, vh)]


def _svd_abstract_eval(a, *, compute_uv):
    _check_float("svd", a)
    _check_matrix("svd", a, square=False)
    *batch, m, n = a.shape
    k = min(m, n)
    s = ShapedArray((*batch, k), a.dtype)
    if not compute_uv:
        return [s]
    return [ShapedArray((*batch, m, k), a.dtype), s, ShapedArray((*batch, k, n), a.dtype)]


def _svd_jvp(primals, tangents, *, compute_uv):
    (a,), (t,) = primals, tangents
    u, s, vh = svd(a)
    outs = [u, s, vh] if compute_uv else [s]
    if isinstance(t, Zero):
        return outs, [Zero(get_aval(o)) for o in outs]
    aval = get_aval(a)
    *batch, m, n = aval.shape
    k = min(m, n)
    v = _mT(vh)
    dS = _matmul(_mT(u), _matmul(t, v))
    ds = _diag_part(dS)
    if not compute_uv:
        return outs, [ds]
    # F_ij = 1 / (s_j² − s_i²) off the diagonal, 0 on it (distinct singular values).
    kk = ShapedArray((*batch, k, k), aval.dtype)
    s_row, s_col = _rows(s, k), _cols(s, k)
    eye = _const(np.eye(k, dtype=bool), ShapedArray(kk.shape, np.bool_))
    diffs = mul(add(s_row, s_col), sub(s_row, s_col))
    F = select(eye, _const(0, kk), div(_const(1, kk), select(eye, _const(1, kk), diffs)))
    dSS = mul(dS, s_row)   # dS_ij s_j
    SdS = mul(s_col, dS)   # s_i dS_ij
    du = _matmul(u, mul(F, add(dSS, _mT(dSS))))
    dv = _matmul(v, mul(F, add(SdS, _mT(SdS))))
    if m != n:
        # The part of dA outside the span of the thin factors moves the longer factor; a zero
        # singular value contributes nothing there (1/s taken as 0).
        zero = eq(s, _const(0, get_aval(s)))
        s_inv = select(zero, _const(0, get_aval(s)),
                       div(_const(1, get_aval(s)), select(zero, _const(1, get_aval(s)), s)))
        if m > n:
            dAv = _matmul(t, v)
            du = add(du, mul(sub(dAv, _matmul(u, _matmul(_mT(u), dAv))), _rows(s_inv, m)))
        else:
            dAu = _matmul(_mT(t), u)
            dv = add(dv, mul(sub(dAu, _matmul(v, _matmul(vh, dAu))), _rows(s_inv, n)))
    return outs, [du, ds, _mT(dv)]


svd_p.impl = _svd_impl
svd_p.abstract_eval = _svd_abstract_eval
svd_p.jvp = _svd_jvp
svd_p.vmap = _batched_vmap(svd_p)

# ----------------------------------------------------------------------------- lu

lu_p = Primitive("lu")


def lu(a):
    """LU decomposition with partial pivoting of a stack of square matrices: [lu, pivots,
    permutation] with a[..., permutation, :] = L U, L unit lower triangular (below lu's
    diagonal) and U upper triangular (on and above it); pivots are LAPACK's (row i was swapped
    with row pivots[i], in order), both int32."""
    return lu_p.bind(a)


def _lu_impl(a):
    from scipy.linalg import LinAlgWarning, lu_factor
    a = np.asarray(a)
    *batch, n, _ = a.shape
    flat = a.reshape(int(np.prod(batch, dtype=np.int64)), n, n)
    out = np.empty_like(flat)
    pivots = np.empty(flat.shape[:2], np.int32)
    perm = np.empty_like(pivots)
    with warnings.catch_warnings():
        # A zero pivot is a valid factorization (as LAPACK's, and the Numba kernel's).
        warnings.simplefilter("ignore", LinAlgWarning)
        for s in range(flat.shape[0] if n else 0):
            out[s], pivots[s] = lu_factor(flat[s], check_finite=False)
            perm[s] = _swaps_to_permutation(pivots[s].tolist())
    shape = (*batch, n)
    return [out.reshape(a.shape), pivots.reshape(shape), perm.reshape(shape)]


def _swaps_to_permutation(pivots):
    """The row order after swapping row i with row pivots[i] for i = 0, 1, ..."""
    perm = list(range(len(pivots)))
    for i, j in enumerate(pivots):
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def _lu_abstract_eval(a):
    _check_float("lu", a)
    _check_matrix("lu", a)
    index = ShapedArray(a.shape[:-1], np.dtype(np.int32))
    return [a, index, index]


def _lu_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    outs = lu(a)
    packed, _, perm = outs
    zeros = [Zero(get_aval(o)) for o in outs]
    if isinstance(t, Zero):
        return outs, zeros
    # P A = L U with P fixed, so L⁻¹ P dA U⁻¹ = L⁻¹ dL + dU U⁻¹: its strictly lower part is
    # L⁻¹ dL and the rest dU U⁻¹.
    aval = get_aval(a)
    n = aval.shape[-1]
    strict = np.tril(np.ones((n, n), bool), -1)
    lower = add(_masked(packed, strict), _eye_like(aval))
    upper = _masked(packed, ~strict)
    p_mat = _permutation_matrix(perm, aval)
    x = triangular_solve(lower, _matmul(p_mat, t), left_side=True, lower=True,
                         unit_diagonal=True)
    x = triangular_solve(upper, x, left_side=False, lower=False)
    dlu = add(_matmul(lower, _masked(x, strict)), _matmul(_masked(x, ~strict), upper))
    return outs, [dlu, zeros[1], zeros[2]]


lu_p.impl = _lu_impl
lu_p.abstract_eval = _lu_abstract_eval
lu_p.jvp = _lu_jvp
lu_p.vmap = _batched_vmap(lu_p)

# ----------------------------------------------------------------------------- Numba lowerings


def _dot_general_numba(em, ins, outs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    (x, y), (o,) = ins, outs
    blas = x.aval.dtype in (np.float32, np.float64)
    if blas and not lb and len(lc) == 1 and x.aval.ndim <= 2 and y.aval.ndim <= 2:
        # A matrix or vector product: one GEMM call, vectors as one-row or one-column
        # matrices.
        k = x.aval.shape[lc[0]]
        a, b = x.expr, y.expr
        transpose = [x.aval.ndim == 2 and lc[0] == 0, y.aval.ndim == 2 and rc[0] == 1]
        m = x.aval.shape[1 - lc[0]] if x.aval.ndim == 2 else 1
        n = y.aval.shape[1 - rc[0]] if y.aval.ndim == 2 else 1
        if x.aval.ndim == 1:
            a = f"np.ascontiguousarray({a}).reshape((1, {k}))"
        if y.aval.ndim == 1:
            b = f"np.ascontiguousarray({b}).reshape(({k}, 1))"
        # np.bool_(...) is typed bool, not a literal: one compiled gemm serves every flag.
        product = (f"{em.kernels.gemm}({a}, {b}, {em.alloc((m, n), o.aval.dtype)}, "
                   f"np.bool_({transpose[0]}), np.bool_({transpose[1]}))")
        if o.aval.shape == ():
            product += "[0, 0]"
        elif o.aval.shape != (m, n):
            product += f".reshape({o.aval.shape!r})"
        em.line(f"{o.expr} = {product}")
        return
    xs, ys = x.aval.shape, y.aval.shape
    lf, rf = _free(len(xs), lc, lb), _free(len(ys), rc, rb)
    size = lambda dims, shape: int(np.prod([shape[d] for d in dims], dtype=np.int64))  # noqa
    bsz, m, k, n = size(lb, xs), size(lf, xs), size(lc, xs), size(rf, ys)
    a3, b3, o3 = em.fresh("lhs"), em.fresh("rhs"), em.fresh("prod")
    for name, v, perm, shape in [(a3, x, (*lb, *lf, *lc), (bsz, m, k)),
                                 (b3, y, (*rb, *rc, *rf), (bsz, k, n))]:
        if v.aval.ndim == 0:  # a scalar operand (a Numba scalar, not an array)
            em.line(f"{name} = np.full({shape!r}, {v.expr})")
        else:
            em.line(f"{name} = np.ascontiguousarray({permuted(v.expr, perm)})"
                    f".reshape({shape!r})")
    if blas:
        em.line(f"{o3} = {em.alloc((bsz, m, n), o.aval.dtype)}")
        em.line(f"for b in range({bsz}):")
        em.line(f"    {em.kernels.gemm}({a3}[b], {b3}[b], {o3}[b], np.bool_(False), "
                "np.bool_(False))")
    else:
        em.line(f"{o3} = {em.kernels.matmul_batched}({a3}, {b3})")
    if o.aval.shape == ():
        em.line(f"{o.expr} = {o3}[0, 0, 0]")
    else:
        em.line(f"{o.expr} = {o3}.reshape({o.aval.shape!r})")


dot_general_p.numba = _dot_general_numba


def _stack(em, x) -> str:
    """Emit `x` (..., m, n) as a contiguous (B, m, n) stack of matrices, the form the
    decomposition kernels take."""
    *batch, m, n = x.aval.shape
    size = int(np.prod(batch, dtype=np.int64))
    name = em.fresh("stack")
    em.line(f"{name} = np.ascontiguousarray({x.expr}).reshape(({size}, {m}, {n}))")
    return name


def _call_stacked(em, kernel, stacks, outs, flags=()):
    """Emit `kernel(*stacks, *flags)` and assign its results, reshaped, to `outs` (None for a
    result that is not wanted). The boolean flags go in as np.bool_ values: a bare `True`
    would make Numba compile the kernel once for every combination of literal flags."""
    results = [em.fresh("res") for _ in outs]
    args = ", ".join([*stacks, *(f"np.bool_({bool(f)})" for f in flags)])
    em.line(f"{', '.join(results)} = {getattr(em.kernels, kernel)}({args})")
    for o, r in zip(outs, results):
        if o is not None:
            from_flat(em, o, r)


def _triangular_solve_numba(em, ins, outs, *, left_side, lower, transpose_a, unit_diagonal):
    stacks = [_stack(em, x) for x in ins]
    _call_stacked(em, "triangular_solve_stack", stacks, outs,
                  (left_side, lower, transpose_a, unit_diagonal))


def _stacked_numba(kernel):
    """The lowering of a parameterless decomposition: `kernel` on stacks of its operands."""
    def rule(em, ins, outs):
        _call_stacked(em, kernel, [_stack(em, x) for x in ins], outs)
    return rule


def _eigh_numba(em, ins, outs, *, lower):
    _call_stacked(em, "eigh_stack", [_stack(em, ins[0])], outs, (lower,))


def _svd_numba(em, ins, outs, *, compute_uv):
    wanted = outs if compute_uv else [None, outs[0], None]
    _call_stacked(em, "svd_stack", [_stack(em, ins[0])], wanted)


triangular_solve_p.numba = _triangular_solve_numba
cholesky_p.numba = _stacked_numba("cholesky_stack")
solve_p.numba = _stacked_numba("solve_stack")
det_p.numba = _stacked_numba("det_stack")
slogdet_p.numba = _stacked_numba("slogdet_stack")
eigh_p.numba = _eigh_numba
qr_p.numba = _stacked_numba("qr_stack")
svd_p.numba = _svd_numba
lu_p.numba = _stacked_numba("lu_stack")
