"""`scipy.linalg`-compatible functions for xform: triangular and Cholesky solves, LU with partial
pivoting, the matrix exponential, block diagonals, and scipy's signatures for the decompositions
of xform.numpy.linalg. Everything traces, differentiates, batches over leading dimensions
(scipy itself takes single matrices) and compiles."""
from __future__ import annotations

import math

import numpy as np

import xform.numpy as xnp
from xform.core import ShapedArray, concrete_or_none, get_aval, trace_closed
from xform.higher_order.control import scan_p
from xform.numpy import linalg as nla
from xform.numpy._core import cast, is_traced, lists_as_arrays, shape_of, wrap
from xform.numpy.linalg import LinAlgError
from xform.primitives import linalg as lp
from xform.primitives.elementwise import stop_gradient_p

__all__ = [
    "LinAlgError",
    "block_diag",
    "cho_factor",
    "cho_solve",
    "cholesky",
    "det",
    "eigh",
    "expm",
    "inv",
    "lu_factor",
    "lu_solve",
    "qr",
    "solve",
    "solve_triangular",
    "svd",
]


def _as_float(*xs):
    """Operands in scipy.linalg's computation dtype (float64 unless all are float32)."""
    xs = [np.asarray(x) if type(x) in (list, tuple) else x for x in xs]
    return nla._as_float(*xs)


def _check_square(name, a):
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: expected a square matrix (or a stack of them), got shape "
                         f"{shape}")


def _broadcast_batch(a, b, vector):
    """a (..., n, n) and b (..., n) or (..., n, k) with their batch dimensions broadcast; b as
    a matrix (a vector becomes one column)."""
    if vector:
        b = xnp.expand_dims(b, -1)
    batch = np.broadcast_shapes(shape_of(a)[:-2], shape_of(b)[:-2])
    a = xnp.broadcast_to(a, (*batch, *shape_of(a)[-2:]))
    b = xnp.broadcast_to(b, (*batch, *shape_of(b)[-2:]))
    return a, b


def _rhs(name, a, b):
    """(a, b as a matrix, whether b was a vector), after checking their sizes agree."""
    _check_square(name, a)
    n = shape_of(a)[-1]
    vector = len(shape_of(b)) == len(shape_of(a)) - 1 or len(shape_of(b)) == 1
    if len(shape_of(b)) == 0 or shape_of(b)[-1 if vector else -2] != n:
        raise ValueError(f"{name}: b of shape {shape_of(b)} does not match a of shape "
                         f"{shape_of(a)}")
    a, b = _broadcast_batch(a, b, vector)
    return a, b, vector


def _result(x, vector):
    return x[..., 0] if vector else x


def _trans(trans) -> bool:
    if trans in (0, "N"):
        return False
    if trans in (1, 2, "T", "C"):
        return True
    raise ValueError(f"trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")


# ----------------------------------------------------------------------------- triangular

@lists_as_arrays
def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """Solve a x = b (or aᵀ x = b with trans 1, 'T' or 'C') for triangular a, reading only its
    `lower` (default: upper) triangle, and not its diagonal when `unit_diagonal`.

    >>> solve_triangular(np.array([[2.0, 1.0], [0.0, 4.0]]), np.array([3.0, 4.0]))
    Array([1., 1.])
    """
    a, b = _as_float(a, b)
    a, b, vector = _rhs("solve_triangular", a, b)
    x = lp.triangular_solve(a, b, left_side=True, lower=lower, transpose_a=_trans(trans),
                            unit_diagonal=unit_diagonal)
    return _out(_result(x, vector), a, b)


def _out(x, *inputs):
    return x if is_traced(*inputs) else wrap(np.asarray(x))


# ----------------------------------------------------------------------------- Cholesky

@lists_as_arrays
def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of a symmetric positive-definite matrix: upper U with a = Uᵀ U by
    default (scipy's convention), lower L with a = L Lᵀ when `lower`.

    >>> cholesky(np.array([[4.0, 2.0], [2.0, 5.0]]))
    Array([[2., 1.],
           [0., 2.]])
    """
    (a,) = _as_float(a)
    _check_square("cholesky", a)
    factor = nla.cholesky(a)
    return factor if lower else xnp.swapaxes(factor, -1, -2)


@lists_as_arrays
def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(c, lower) for `cho_solve`: c holds the Cholesky factor in its `lower` (default: upper)
    triangle and zeros in the other (scipy leaves whatever was there).

    >>> c, low = cho_factor(np.array([[4.0, 2.0], [2.0, 5.0]]))
    >>> c
    Array([[2., 1.],
           [0., 2.]])
    """
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve a x = b given `cho_factor(a)`: two triangular solves.

    >>> cho_solve(cho_factor(np.array([[4.0, 2.0], [2.0, 5.0]])), np.array([6.0, 7.0]))
    Array([1., 1.])
    """
    c, lower = c_and_lower
    return _cho_solve(c, b, lower)


@lists_as_arrays
def _cho_solve(c, b, lower):
    c, b = _as_float(c, b)
    c, b, vector = _rhs("cho_solve", c, b)
    # a = L Lᵀ: solve L y = b, then Lᵀ x = y (with U = Lᵀ when the factor is upper).
    y = lp.triangular_solve(c, b, left_side=True, lower=lower, transpose_a=not lower)
    x = lp.triangular_solve(c, y, left_side=True, lower=lower, transpose_a=lower)
    return _out(_result(x, vector), c, b)


# ----------------------------------------------------------------------------- LU

@lists_as_arrays
def lu_factor(a, overwrite_a=False, check_finite=True):
    """(lu, piv): the LU decomposition with partial pivoting of a square matrix, as
    `scipy.linalg.lu_factor` (L below lu's diagonal, unit diagonal implied, U on and above it;
    row i was interchanged with row piv[i], int32). Differentiable in a.

    >>> lu, piv = lu_factor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> piv
    Array([1, 1], dtype=int32)
    """
    (a,) = _as_float(a)
    _check_square("lu_factor", a)
    lu, piv, _ = lp.lu(a)
    return _out(lu, a), _out(piv, a)


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solve a x = b (or aᵀ x = b with trans 1, 'T' or 'C') given `lu_factor(a)`.

    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> lu_solve(lu_factor(a), np.array([5.0, 11.0]))
    Array([1., 2.])
    """
    lu, piv = lu_and_piv
    return _lu_solve(lu, piv, b, _trans(trans))


def _permutation(piv, n):
    """The row permutation that LAPACK's pivots (applied in order) make: one-hot swaps, so that
    it works on traced and batched pivots alike."""
    positions = np.arange(n, dtype=np.int32)
    perm = xnp.broadcast_to(positions, shape_of(piv))
    for i in range(n):
        j = piv[..., i:i + 1]
        at_j = xnp.sum(xnp.where(positions == j, perm, 0), -1, keepdims=True)
        at_i = perm[..., i:i + 1]
        perm = xnp.where(positions == i, at_j, xnp.where(positions == j, at_i, perm))
    return perm


@lists_as_arrays
def _lu_solve(lu, piv, b, transposed):
    lu, b = _as_float(lu, b)
    lu, b, vector = _rhs("lu_solve", lu, b)
    n = shape_of(lu)[-1]
    perm = _permutation(xnp.asarray(piv), n)
    # One-hot permutation matrix P with P a = L U.
    p_mat = cast(xnp.expand_dims(perm, -1) == np.arange(n), xnp.result_type(lu))
    p_mat = xnp.broadcast_to(p_mat, shape_of(lu))
    if not transposed:
        y = lp.triangular_solve(lu, p_mat @ b, left_side=True, lower=True, unit_diagonal=True)
        x = lp.triangular_solve(lu, y, left_side=True, lower=False)
    else:  # aᵀ = Uᵀ Lᵀ P
        y = lp.triangular_solve(lu, b, left_side=True, lower=False, transpose_a=True)
        z = lp.triangular_solve(lu, y, left_side=True, lower=True, transpose_a=True,
                                unit_diagonal=True)
        x = xnp.swapaxes(p_mat, -1, -2) @ z
    return _out(_result(x, vector), lu, b)


# ----------------------------------------------------------------------------- expm

def _pade13_coefficients():
    """The coefficients of the numerator of the [13/13] Padé approximant of exp (the
    denominator's are the same with alternating signs): (2m - j)! m! / ((2m)! j! (m - j)!)."""
    m = 13
    f = math.factorial
    return [f(2 * m - j) * f(m) / (f(2 * m) * f(j) * f(m - j)) for j in range(m + 1)]


_PADE13 = _pade13_coefficients()
_THETA13 = 5.371920351148152  # the largest 1-norm for which [13/13] is accurate (Higham 2005)
_MAX_SQUARINGS = 64


def _pade13(a):
    """The [13/13] Padé approximant (V - U)⁻¹ (V + U) of exp(a), U odd and V even in a."""
    b = _PADE13
    eye = xnp.broadcast_to(xnp.eye(shape_of(a)[-1], dtype=xnp.result_type(a)), shape_of(a))
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
             + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = (a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2)
         + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye)
    return lp.solve(v - u, v + u)


@lists_as_arrays
def expm(A):
    """The matrix exponential, by scaling and squaring with the [13/13] Padé approximant
    (Higham 2005): exp(A) = r(A / 2^s)^(2^s), s the least with ||A / 2^s||_1 <= 5.37.
    Differentiable; batched over leading dimensions. The number of squarings comes from the
    values when they are known (also under grad); under jit or vmap it is chosen inside the
    program, up to 64 squarings.

    >>> expm(np.zeros((2, 2)))
    Array([[1., 0.],
           [0., 1.]])
    """
    (a,) = _as_float(A)
    _check_square("expm", a)
    norm = xnp.max(xnp.sum(xnp.abs(a), -2), -1)  # the 1-norm of each matrix
    if is_traced(norm):
        norm = stop_gradient_p.bind1(norm)
    needed = xnp.ceil(xnp.log2(xnp.maximum(norm / _THETA13, 1)))
    known = concrete_or_none(needed)
    if known is not None:
        s = int(np.max(np.where(np.isfinite(known), known, _MAX_SQUARINGS), initial=0))
        s = min(s, _MAX_SQUARINGS)
        r = _pade13(a / 2.0 ** s)
        for _ in range(s):
            r = r @ r
        return _out(r, a)
    needed = xnp.minimum(xnp.where(xnp.isfinite(needed), needed, _MAX_SQUARINGS),
                         _MAX_SQUARINGS)
    scale = cast(2.0 ** -needed, xnp.result_type(a))
    return _square_steps(_pade13(a * scale[..., None, None]), needed)


def _square_steps(r, needed):
    """r squared `needed` times (per matrix) in one loop of _MAX_SQUARINGS steps, each
    squaring where its index is below `needed` (a scan, so that reverse mode goes through)."""
    def step(r, i):
        return [xnp.where((i < needed)[..., None, None], r @ r, r)]
    index = ShapedArray((), np.dtype(np.int64))
    body, consts = trace_closed(step, [get_aval(r), index], "expm")
    (r,) = scan_p.bind(*consts, r, np.arange(_MAX_SQUARINGS), body_ir=body,
                       length=_MAX_SQUARINGS, reverse=False, n_consts=len(consts), n_carry=1)
    return r


# ----------------------------------------------------------------------------- block_diag

def _block(x):
    """A block of block_diag as a 2-d array (0-d: 1 x 1, 1-d: one row)."""
    shape = shape_of(x)
    if len(shape) > 2:
        raise ValueError(f"block_diag: arguments must have at most 2 dimensions, got shape "
                         f"{shape}")
    return xnp.reshape(x, (1,) * (2 - len(shape)) + tuple(shape))


def block_diag(*arrs):
    """The block diagonal matrix of the arguments (each at most 2-d), as
    `scipy.linalg.block_diag`.

    >>> block_diag(np.ones((1, 1)), 2 * np.ones((1, 2)))
    Array([[1., 0., 0.],
           [0., 2., 2.]])
    """
    if not arrs:
        return wrap(np.empty((1, 0)))
    blocks = [_block(xnp.asarray(a)) for a in arrs]
    dtype = xnp.result_type(*blocks)
    widths = [shape_of(b)[1] for b in blocks]
    total = sum(widths)
    rows, start = [], 0
    for b, w in zip(blocks, widths):
        rows.append(xnp.pad(cast(b, dtype), ((0, 0), (start, total - start - w))))
        start += w
    return xnp.concatenate(rows, 0)


# ----------------------------------------------------------------------------- scipy signatures

@lists_as_arrays
def inv(a, overwrite_a=False, check_finite=True):
    """The inverse of a square matrix, as `scipy.linalg.inv`.

    >>> inv(np.array([[2.0, 0.0], [0.0, 4.0]]))
    Array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return nla.inv(a)


@lists_as_arrays
def det(a, overwrite_a=False, check_finite=True):
    """The determinant of a square matrix, as `scipy.linalg.det`.

    >>> round(float(det(np.array([[2.0, 1.0], [1.0, 3.0]]))), 9)
    5.0
    """
    return nla.det(a)


_ASSUME = {None: "gen", "gen": "gen", "general": "gen", "sym": "gen", "symmetric": "gen",
           "her": "gen", "hermitian": "gen", "pos": "pos", "positive definite": "pos"}


@lists_as_arrays
def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    """Solve a x = b (aᵀ x = b when `transposed`), as `scipy.linalg.solve`: by LU, or by
    Cholesky with assume_a='pos' (reading the `lower` or upper triangle of a).

    >>> solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    Array([1. , 0.5])
    """
    if assume_a not in _ASSUME:
        raise ValueError(f"solve: assume_a must be one of {sorted(k for k in _ASSUME if k)} or "
                         f"None, got {assume_a!r}")
    a, b = _as_float(a, b)
    _check_square("solve", a)
    if _ASSUME[assume_a] == "pos":
        return cho_solve(cho_factor(a if lower else xnp.swapaxes(a, -1, -2), lower=True), b)
    if transposed:
        a = xnp.swapaxes(a, -1, -2)
    a, b, vector = _rhs("solve", a, b)
    return _out(_result(lp.solve(a, b), vector), a, b)


@lists_as_arrays
def eigh(a, b=None, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):  # noqa: A002
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, reading its `lower`
    (default) or upper triangle, as `scipy.linalg.eigh`: `w` with `eigvals_only`, else
    `(w, v)`. With `b` (symmetric positive definite), the generalized problem a v = w b v,
    reduced by b's Cholesky factor (eigenvectors normalized so that vᵀ b v = I). Derivatives
    assume distinct eigenvalues.

    >>> eigh(np.array([[2.0, 0.0], [0.0, 1.0]]), eigvals_only=True)
    Array([1., 2.])
    """
    if type != 1 or subset_by_index is not None or subset_by_value is not None:
        raise NotImplementedError("xform.scipy.linalg.eigh supports type=1 and no subsets")
    uplo = "L" if lower else "U"
    if b is None:
        w, v = nla.eigh(a, UPLO=uplo)
    else:
        a, b = _as_float(a, b)
        chol = nla.cholesky(b if lower else xnp.swapaxes(b, -1, -2))
        full = _symmetric(a, lower)
        # L⁻¹ a L⁻ᵀ has the eigenvalues w; its eigenvectors u give v = L⁻ᵀ u.
        left = lp.triangular_solve(chol, full, left_side=True, lower=True)
        c = lp.triangular_solve(chol, left, left_side=False, lower=True, transpose_a=True)
        w, u = nla.eigh(c)
        v = lp.triangular_solve(chol, u, left_side=True, lower=True, transpose_a=True)
        w, v = _out(w, a, b), _out(v, a, b)
    return w if eigvals_only else (w, v)


def _symmetric(a, lower):
    """The symmetric matrix given by a's lower (or upper) triangle."""
    tri = xnp.tril(a) if lower else xnp.triu(a)
    return tri + xnp.swapaxes(tri, -1, -2) - tri * xnp.eye(shape_of(a)[-1], dtype=bool)


@lists_as_arrays
def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """QR decomposition with scipy's modes: 'full' (Q square; traced inputs need matrices no
    taller than wide), 'economic' (reduced), 'r' (returns the tuple `(R,)`).

    >>> q, r = qr(np.array([[3.0, 1.0], [4.0, 2.0]]))
    >>> bool(np.allclose(q @ r, [[3.0, 1.0], [4.0, 2.0]]))
    True
    """
    if pivoting:
        raise NotImplementedError("xform.scipy.linalg.qr does not support pivoting=True")
    modes = {"full": "complete", "economic": "reduced", "r": "r", "raw": "raw"}
    if mode not in modes:
        raise ValueError(f"qr: mode must be one of {sorted(modes)}, got {mode!r}")
    out = nla.qr(a, mode=modes[mode])
    return (out,) if mode == "r" else tuple(out)


@lists_as_arrays
def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    """Singular value decomposition, as `scipy.linalg.svd`: `(U, s, Vh)` or `s`. Traced
    inputs need full_matrices=False unless the matrices are square.

    >>> svd(np.array([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
    Array([4., 3.])
    """
    out = nla.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out
