"""Numba kernels that generated programs call for what is not a fused loop or a numpy call.

Each kernel works on a canonical layout (rows of a contiguous 2-D array) that the primitive's
lowering rule arranges with transposes and reshapes, so one compiled kernel serves every rank.
"""
import numba
import numpy as np

from xform.backends import cache_dir
from xform.backends.blas import gemm  # noqa: F401 (generated code calls K.gemm)
# Generated code calls the special functions as K.<name> too.
from xform.backends.special_kernels import (betainc, digamma, erf_inv, erfcx,  # noqa: F401
                                            i0e, i1e, igamma, igamma_grad_a, igammac,
                                            ndtri, polygamma)
from xform.backends.window_kernels import (arranged, conv_gemm, conv_loops,  # noqa: F401
                                           window_reduce, window_select)
from xform.primitives.debug import run_registered as _run_registered

# Disk-cached unless the user turned xform's cache off (Numba keeps these files beside this
# module, or under NUMBA_CACHE_DIR).
_jit = numba.njit(cache=cache_dir() is not None, error_model="numpy", nogil=True)


@_jit
def host_callback(key, batch_ndim, dtypes, *args):
    """Run the host callback registered as `key` (xf.debug.print) on `args`, leaving native
    code (a function of its own: an object-mode block inline in a branch trips Numba)."""
    with numba.objmode():
        _run_registered(key, batch_ndim, dtypes, *args)

@_jit
def argmax_rows(x, largest):
    """Index of the largest (or smallest) entry of each row; the first NaN wins, as in numpy."""
    out = np.empty(x.shape[0], np.int64)
    for r in range(x.shape[0]):
        best = 0
        for c in range(x.shape[1]):
            v = x[r, c]
            if v != v:
                best = c
                break
            if (v > x[r, best]) if largest else (v < x[r, best]):
                best = c
        out[r] = best
    return out


@_jit
def cumulate_rows(x, product, reverse):
    """Running sum (or product) along each row, from the end when `reverse`."""
    out = np.empty_like(x)
    n = x.shape[1]
    if n == 0:
        return out
    for r in range(x.shape[0]):
        c = n - 1 if reverse else 0
        acc = x[r, c]
        out[r, c] = acc
        for step in range(1, n):
            c = n - 1 - step if reverse else step
            acc = acc * x[r, c] if product else acc + x[r, c]
            out[r, c] = acc
    return out


@_jit
def _sorts_before(a, b):
    """Whether `a` sorts strictly before `b`: numpy's order, NaN after everything."""
    return a < b or (b != b and a == a)


@_jit
def argsort_rows(x, order):
    """`order` (positions into the rows of `x`) with each row stably sorted by the values of
    `x` it points at: a bottom-up merge sort, so equal values keep their order. (Plain loops
    and scalar copies: slices and stepped ranges here triple Numba's compile time.)"""
    out = order.copy()
    n = out.shape[1]
    buf = np.empty(n, out.dtype)
    for r in range(out.shape[0]):
        width = 1
        while width < n:
            lo = 0
            while lo < n:
                mid = min(lo + width, n)
                hi = min(lo + 2 * width, n)
                i = lo
                j = mid
                for k in range(lo, hi):
                    if j < hi and (i >= mid or _sorts_before(x[r, out[r, j]], x[r, out[r, i]])):
                        buf[k] = out[r, j]
                        j += 1
                    else:
                        buf[k] = out[r, i]
                        i += 1
                lo += 2 * width
            for k in range(n):
                out[r, k] = buf[k]
            width *= 2
    return out


@_jit
def take_rows(x, order):
    """Row r of the result is row r of `x` at the positions `order[r]`."""
    out = np.empty(order.shape, x.dtype)
    for r in range(order.shape[0]):
        for c in range(order.shape[1]):
            out[r, c] = x[r, order[r, c]]
    return out


@_jit
def _row_of(idx, b, dims):
    r = 0
    for j in range(idx.shape[1]):
        i = idx[b, j]
        n = dims[j]
        if i < 0:
            i += n
        if i < 0 or i >= n:
            raise IndexError("index out of bounds")
        r = r * n + i
    return r


@_jit
def gather_rows(x, idx, dims):
    """Rows of `x` (leading dims `dims` flattened) picked by the index tuples in `idx`."""
    out = np.empty((idx.shape[0], x.shape[1]), x.dtype)
    for b in range(idx.shape[0]):
        out[b, :] = x[_row_of(idx, b, dims), :]
    return out


@_jit
def scatter_rows(x, idx, dims, updates, accumulate):
    """A copy of `x` with rows replaced by (or incremented by) `updates`; last write wins."""
    out = x.copy()
    for b in range(idx.shape[0]):
        r = _row_of(idx, b, dims)
        if accumulate:
            out[r, :] += updates[b, :]
        else:
            out[r, :] = updates[b, :]
    return out


@_jit
def matmul_batched(a, b):
    """(B, M, K) @ (B, K, N) for dtypes BLAS does not cover (integers, booleans)."""
    out = np.zeros((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    for n in range(a.shape[0]):
        for i in range(a.shape[1]):
            for k in range(a.shape[2]):
                aik = a[n, i, k]
                for j in range(b.shape[2]):
                    out[n, i, j] += aik * b[n, k, j]
    return out


# Linear algebra on stacks of matrices: (B, m, n) contiguous arrays; the decompositions make one
# LAPACK call (mostly through np.linalg) per matrix. Numba's np.linalg rejects non-finite
# matrices with LinAlgError where numpy mostly returns NaNs, so these kernels check first and
# give that matrix NaN results.


@_jit
def triangular_solve_stack(a, b, left_side, lower, transpose_a, unit_diagonal):
    """Solve op(a) x = b (left_side) or x op(a) = b for each triangular a of a (B, n, n) stack
    by substitution, reading only a's `lower` (or upper) triangle, and not its diagonal when
    `unit_diagonal`; op(a) is aᵀ when `transpose_a`."""
    # x op(a) = b  <=>  op(a)ᵀ xᵀ = bᵀ: solve for xᵀ, in a contiguous copy of bᵀ that is
    # updated a whole row at a time (the inner loop over right-hand sides vectorises).
    sol = np.ascontiguousarray(b if left_side else b.transpose((0, 2, 1))).copy()
    trans = transpose_a != (not left_side)
    forward = lower != trans  # op(a)'s nonzero triangle is the lower one: go top-down
    n, k = a.shape[1], sol.shape[2]
    for s in range(a.shape[0]):
        for step in range(n):
            i = step if forward else n - 1 - step
            lo, hi = (0, i) if forward else (i + 1, n)
            for j in range(lo, hi):
                aij = a[s, j, i] if trans else a[s, i, j]
                for c in range(k):
                    sol[s, i, c] -= aij * sol[s, j, c]
            if not unit_diagonal:
                for c in range(k):
                    sol[s, i, c] = sol[s, i, c] / a[s, i, i]
    return sol if left_side else np.ascontiguousarray(sol.transpose((0, 2, 1)))


@_jit
def _triangle_is_finite(m, lower):
    """Whether the lower (or upper) triangle of the square matrix `m` is all finite."""
    for i in range(m.shape[0]):
        for j in range(i + 1) if lower else range(i, m.shape[0]):
            if not np.isfinite(m[i, j]):
                return False
    return True


@_jit
def cholesky_stack(a):
    """Lower Cholesky factors of a (B, n, n) stack, reading each matrix's lower triangle."""
    out = np.empty_like(a)
    for s in range(a.shape[0]):
        if _triangle_is_finite(a[s], True):
            out[s] = np.linalg.cholesky(a[s])  # reads the lower triangle, as numpy does
        else:
            out[s] = np.nan
    return out


@_jit
def lu_stack(a):
    """LU decomposition with partial pivoting of each matrix of a (B, n, n) stack, as LAPACK's
    getrf: the packed factors (B, n, n), the pivots and the row permutation (B, n) (int32)."""
    lu = a.copy()
    n = a.shape[1]
    pivots = np.empty(a.shape[:2], np.int32)
    perm = np.empty(a.shape[:2], np.int32)
    for s in range(a.shape[0]):
        m = lu[s]
        for i in range(n):
            perm[s, i] = i
        for k in range(n):
            p, best = k, abs(m[k, k])
            for i in range(k + 1, n):
                if abs(m[i, k]) > best:
                    p, best = i, abs(m[i, k])
            pivots[s, k] = p
            if p != k:
                for j in range(n):
                    m[k, j], m[p, j] = m[p, j], m[k, j]
                perm[s, k], perm[s, p] = perm[s, p], perm[s, k]
            if m[k, k] != 0:
                for i in range(k + 1, n):
                    m[i, k] /= m[k, k]
            for i in range(k + 1, n):
                for j in range(k + 1, n):
                    m[i, j] -= m[i, k] * m[k, j]
    return lu, pivots, perm


@_jit
def solve_stack(a, b):
    """x with a x = b for each matrix of a (B, n, n) stack and b (B, n, k)."""
    out = np.empty_like(b)
    for s in range(a.shape[0]):
        if np.isfinite(a[s]).all() and np.isfinite(b[s]).all():
            out[s] = np.linalg.solve(a[s], b[s])
        else:
            out[s] = np.nan
    return out


@_jit
def det_stack(a):
    """Determinants of a (B, n, n) stack, as a (B,) array."""
    out = np.empty(a.shape[0], a.dtype)
    for s in range(a.shape[0]):
        out[s] = np.linalg.det(a[s]) if np.isfinite(a[s]).all() else np.nan
    return out


@_jit
def slogdet_stack(a):
    """(sign, log|det|) of each matrix of a (B, n, n) stack, as two (B,) arrays."""
    sign = np.empty(a.shape[0], a.dtype)
    logabsdet = np.empty(a.shape[0], a.dtype)
    for s in range(a.shape[0]):
        if np.isfinite(a[s]).all():
            sign[s], logabsdet[s] = np.linalg.slogdet(a[s])
        else:
            sign[s] = logabsdet[s] = np.nan
    return sign, logabsdet


# LAPACK's symmetric eigensolver ?syevd through Numba's helper library (which finds the routine
# in scipy and manages the workspace). np.linalg.eigh in Numba always reads the lower triangle,
# and the upper and lower paths of LAPACK give eigenvectors of different signs, so numpy's
# UPLO="U" is matched only by calling the routine with uplo "U" itself.
_xxxevd = numba.types.ExternalFunction("numba_ez_xxxevd", numba.types.intc(
    numba.types.char, numba.types.char, numba.types.char, numba.types.intp,
    numba.types.voidptr, numba.types.intp, numba.types.voidptr))


@_jit
def _eigh(m, lower):
    """(w, v) of the symmetric matrix `m` read from its lower (or upper) triangle."""
    n = m.shape[0]
    w = np.empty(n, m.dtype)
    # A C-ordered mᵀ is m in the column-major order LAPACK reads; it is overwritten by vᵀ.
    vt = np.empty((n, n), m.dtype)
    vt[:, :] = m.T
    kind = ord("d") if m.itemsize == 8 else ord("s")
    info = _xxxevd(kind, ord("V"), ord("L") if lower else ord("U"), n, vt.ctypes, n, w.ctypes)
    if info != 0:
        raise np.linalg.LinAlgError("Eigenvalues did not converge")
    return w, vt.T


@_jit
def eigh_stack(a, lower):
    """Ascending eigenvalues (B, n) and eigenvectors (B, n, n) of a stack of symmetric
    matrices given by their lower (or upper) triangles."""
    w = np.empty(a.shape[:2], a.dtype)
    v = np.empty_like(a)
    for s in range(a.shape[0] if a.shape[1] else 0):
        if _triangle_is_finite(a[s], lower):
            w[s], v[s] = _eigh(a[s], lower)
        else:
            w[s] = np.nan
            v[s] = np.nan
    return w, v


@_jit
def qr_stack(a):
    """Reduced QR of each matrix of a (B, m, n) stack: Q (B, m, k) and R (B, k, n)."""
    k = min(a.shape[1], a.shape[2])
    q = np.empty((a.shape[0], a.shape[1], k), a.dtype)
    r = np.empty((a.shape[0], k, a.shape[2]), a.dtype)
    for s in range(a.shape[0] if k else 0):  # with k = 0 every result is empty
        if np.isfinite(a[s]).all():
            q[s], r[s] = np.linalg.qr(a[s])
        else:
            q[s] = np.nan
            r[s] = np.nan
    return q, r


@_jit
def svd_stack(a):
    """Thin SVD of each matrix of a (B, m, n) stack: U (B, m, k), S (B, k), Vh (B, k, n).
    A non-finite matrix raises LinAlgError, as in numpy."""
    k = min(a.shape[1], a.shape[2])
    u = np.empty((a.shape[0], a.shape[1], k), a.dtype)
    sv = np.empty((a.shape[0], k), a.dtype)
    vh = np.empty((a.shape[0], k, a.shape[2]), a.dtype)
    for s in range(a.shape[0] if k else 0):  # with k = 0 every result is empty
        u[s], sv[s], vh[s] = np.linalg.svd(a[s], False)
    return u, sv, vh


@_jit
def fill_partials(p, value):
    """Set the partial results `p` of a fused reduction to its initial `value` (a call: a loop
    of its own in every generated program would cost compile time)."""
    for j in range(len(p)):
        p[j] = value


@_jit
def reduce_partials(p, kind):
    """Reduce the partial results `p` of a fused reduction (one per position in a block of the
    innermost axis, see xform.backends.codegen) pairwise, overwriting them: kind 0 sums,
    1 multiplies, 2 keeps the largest and 3 the smallest (NaN wins; of equal values the
    later)."""
    n = len(p)
    while n > 1:
        half = (n + 1) // 2
        for j in range(n - half):
            a, b = p[j], p[j + half]
            if kind == 0:
                p[j] = a + b
            elif kind == 1:
                p[j] = a * b
            elif kind == 2:
                p[j] = b if b >= a or b != b else a
            else:
                p[j] = b if b <= a or b != b else a
        n = half
    return p[0]


_THREEFRY_ROTATIONS = np.array([13, 15, 26, 6, 17, 29, 16, 24], np.uint32)


@_jit
def threefry2x32(k1, k2, x1, x2):
    """The threefry2x32 hash (20 rounds) of xform.primitives.bits, element by element; each
    argument is a uint32 vector of the result's length or of length 1 (broadcast)."""
    n = max(len(k1), len(k2), len(x1), len(x2))
    out1 = np.empty(n, np.uint32)
    out2 = np.empty(n, np.uint32)
    thirty_two = np.uint32(32)
    for i in range(n):
        a, b = k1[i if len(k1) > 1 else 0], k2[i if len(k2) > 1 else 0]
        keys = (a, b, np.uint32(a ^ b ^ np.uint32(0x1BD11BDA)))
        v0 = np.uint32(x1[i if len(x1) > 1 else 0] + keys[0])
        v1 = np.uint32(x2[i if len(x2) > 1 else 0] + keys[1])
        for block in range(5):
            for j in range(4):
                r = _THREEFRY_ROTATIONS[4 * (block % 2) + j]
                v0 = np.uint32(v0 + v1)
                v1 = np.uint32(np.uint32((v1 << r) | (v1 >> (thirty_two - r))) ^ v0)
            v0 = np.uint32(v0 + keys[(block + 1) % 3])
            v1 = np.uint32(v1 + keys[(block + 2) % 3] + np.uint32(block + 1))
        out1[i] = v0
        out2[i] = v1
    return out1, out2
