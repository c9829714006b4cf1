"""`xform.numpy.linalg`: numpy.linalg's functions, traceable and differentiable.

On plain inputs each function calls `numpy.linalg` directly; on traced values it binds the
linear-algebra primitives of `xform.primitives.linalg` after numpy's dtype rules (integers become
float64, float32 stays float32) and broadcasting of batch dimensions.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from xform.core import concrete_or_none, get_aval
from xform.numpy._core import (cast, is_traced, normalize_axis, numpy_function, unsupported,
                               wrap)
from xform.primitives import elementwise as ew
from xform.primitives import linalg as lp
from xform.primitives.reductions import reduce_max, reduce_min, reduce_sum
from xform.primitives.structural import broadcast_in_dim, reshape, transpose

__all__ = [
    "EighResult",
    "LinAlgError",
    "QRResult",
    "SVDResult",
    "SlogdetResult",
    "cholesky",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "lstsq",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
]

LinAlgError = np.linalg.LinAlgError

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


# ----------------------------------------------------------------------------- helpers

def _linalg_dtype(*xs) -> np.dtype:
    """numpy.linalg's computation dtype: float64 unless every operand is float32."""
    dtypes = [get_aval(x).dtype for x in xs]
    for d in dtypes:
        if np.issubdtype(d, np.complexfloating):
            raise NotImplementedError("xform.numpy.linalg does not support complex arrays")
        if d == np.float16:
            raise TypeError("array type float16 is unsupported in linalg; use float32")
    if all(d == np.float32 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _as_float(*xs):
    """Traced or plain operands converted to numpy.linalg's computation dtype."""
    xs = [x if is_traced(x) else np.asarray(x) for x in xs]
    dtype = _linalg_dtype(*xs)
    return [cast(x, dtype) for x in xs]


def _check_stack(name, a, square=True):
    shape = get_aval(a).shape
    if len(shape) < 2:
        raise LinAlgError(f"{name}: {len(shape)}-dimensional array given. Array must be at "
                          "least two-dimensional")
    if square and shape[-1] != shape[-2]:
        raise LinAlgError(f"{name}: last 2 dimensions of the array must be square, got shape "
                          f"{shape}")


def _swap_last(a):
    nd = get_aval(a).ndim
    return transpose(a, (*range(nd - 2), nd - 1, nd - 2))


def _full(shape, value, dtype):
    return broadcast_in_dim(np.asarray(value, dtype), tuple(shape), ())


# ----------------------------------------------------------------------------- norm

def _safe_sqrt_sum_squares(x, axes):
    """sqrt(sum(x²)) whose derivative at x == 0 is 0 rather than nan."""
    aval = get_aval(x)
    s = reduce_sum(ew.mul(x, x), axes)
    shape = get_aval(s).shape
    zero, one = _full(shape, 0, aval.dtype), _full(shape, 1, aval.dtype)
    is_zero = ew.eq(s, zero)
    return ew.select(is_zero, zero, ew.sqrt_p.bind1(ew.select(is_zero, one, s)))


def _vector_norm(x, ord, axis):
    aval = get_aval(x)
    axes = (axis,)
    if ord is None or ord == 2:
        return _safe_sqrt_sum_squares(x, axes)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")  # noqa: TRY004 (numpy's)
    ax = ew.abs_p.bind1(x)
    if ord == np.inf:
        return reduce_max(ax, axes)
    if ord == -np.inf:
        return reduce_min(ax, axes)
    if ord == 0:
        nonzero = ew.ne_p.bind1(x, _full(aval.shape, 0, aval.dtype))
        return reduce_sum(cast(nonzero, aval.dtype), axes)
    if ord == 1:
        return reduce_sum(ax, axes)
    s = reduce_sum(ew.pow_p.bind1(ax, _full(aval.shape, ord, aval.dtype)), axes)
    return ew.pow_p.bind1(s, _full(get_aval(s).shape, 1.0 / ord, aval.dtype))


def _singular_values(x, row, col):
    """Singular values of the matrices spanned by axes (row, col), other axes in order."""
    nd = get_aval(x).ndim
    rest = [i for i in range(nd) if i not in (row, col)]
    (s,) = lp.svd(transpose(x, (*rest, row, col)), compute_uv=False)
    return s


def _matrix_norm(x, ord, row, col):
    if ord is None or ord == "fro":
        return _safe_sqrt_sum_squares(x, (row, col))
    if ord == "nuc":
        s = _singular_values(x, row, col)
        return reduce_sum(s, (get_aval(s).ndim - 1,))
    if ord in (2, -2):
        s = _singular_values(x, row, col)
        last = (get_aval(s).ndim - 1,)
        return reduce_max(s, last) if ord == 2 else reduce_min(s, last)
    if ord in (1, -1, np.inf, -np.inf):
        ax = ew.abs_p.bind1(x)
        # ord ±1: largest/smallest column sum; ord ±inf: largest/smallest row sum.
        summed, kept = (row, col) if ord in (1, -1) else (col, row)
        sums = reduce_sum(ax, (summed,))
        kept = kept - 1 if kept > summed else kept
        return reduce_max(sums, (kept,)) if ord in (1, np.inf) else reduce_min(sums, (kept,))
    raise ValueError(f"Invalid norm order {ord!r} for matrices")


@numpy_function(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm, as `numpy.linalg.norm`. The 2-norm has gradient 0 at 0.

    >>> import numpy as np, xform.numpy as xnp
    >>> float(xnp.linalg.norm(np.array([3.0, 4.0])))
    5.0
    """
    (x,) = _as_float(x)
    nd = get_aval(x).ndim
    if axis is None:
        if ord is None:
            axes = tuple(range(nd))
            out = _safe_sqrt_sum_squares(x, axes)
            return reshape(out, (1,) * nd) if keepdims else out
        if nd not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(normalize_axis(a, nd) for a in axes)
    if len(axes) == 1:
        out = _vector_norm(x, ord, axes[0])
    elif len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("Duplicate axes given.")
        out = _matrix_norm(x, ord, *axes)
    else:
        raise ValueError("Improper number of dimensions to norm.")
    if keepdims:
        shape = get_aval(x).shape
        out = reshape(out, tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return out


# ----------------------------------------------------------------------------- solve, inv, det

@numpy_function(np.linalg.solve)
def solve(a, b):
    """Solve a @ x = b, as `numpy.linalg.solve` (b is a vector only when it is 1-D; batch
    dimensions broadcast).

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    Array([1. , 0.5])
    """
    a, b = _as_float(a, b)
    _check_stack("solve", a)
    ashape, bshape = get_aval(a).shape, get_aval(b).shape
    n = ashape[-1]
    vector = len(bshape) == 1
    if vector:
        if bshape[0] != n:
            raise ValueError(f"solve: b of shape {bshape} does not match a of shape {ashape}")
        b = reshape(b, (n, 1))
        bshape = (n, 1)
    if bshape[-2] != n:
        raise ValueError(f"solve: b of shape {bshape} does not match a of shape {ashape} "
                         "(b's second-to-last dimension must equal a's size)")
    try:
        batch = np.broadcast_shapes(ashape[:-2], bshape[:-2])
    except ValueError:
        raise ValueError(f"solve: the batch dimensions of a {ashape} and b {bshape} do not "
                         "broadcast") from None
    a = _broadcast_batch(a, batch)
    b = _broadcast_batch(b, batch)
    x = lp.solve(a, b)
    return reshape(x, (*batch, n)) if vector else x


def _broadcast_batch(x, batch):
    shape = get_aval(x).shape
    target = (*batch, *shape[-2:])
    if shape == target:
        return x
    lead = len(target) - len(shape)
    return broadcast_in_dim(x, target, tuple(range(lead, len(target))))


@numpy_function(np.linalg.inv)
def inv(a):
    """Inverse of a square matrix (or a stack of them), as `numpy.linalg.inv`.

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.inv(np.array([[2.0, 0.0], [0.0, 4.0]]))
    Array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    (a,) = _as_float(a)
    _check_stack("inv", a)
    return lp.inv(a)


@numpy_function(np.linalg.det)
def det(a):
    """Determinant of a square matrix (or a stack of them), as `numpy.linalg.det`.

    >>> import numpy as np, xform.numpy as xnp
    >>> round(float(xnp.linalg.det(np.array([[2.0, 1.0], [1.0, 3.0]]))), 9)
    5.0
    """
    (a,) = _as_float(a)
    _check_stack("det", a)
    return lp.det(a)


@numpy_function(np.linalg.slogdet)
def slogdet(a):
    """`(sign, logabsdet)` of a square matrix (or a stack of them), as `numpy.linalg.slogdet`.

    >>> import numpy as np, xform.numpy as xnp
    >>> sign, logabsdet = xnp.linalg.slogdet(np.array([[2.0, 1.0], [1.0, 3.0]]))
    >>> float(sign), round(float(logabsdet), 6)
    (1.0, 1.609438)
    """
    (a,) = _as_float(a)
    _check_stack("slogdet", a)
    return SlogdetResult(*lp.slogdet(a))


# ----------------------------------------------------------------------------- decompositions

@numpy_function(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    """Cholesky factor of a symmetric positive-definite matrix, as `numpy.linalg.cholesky`:
    lower L with a = L Lᵀ reading a's lower triangle (upper=True: U = Lᵀ from the upper one).

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.cholesky(np.array([[4.0, 2.0], [2.0, 5.0]]))
    Array([[2., 0.],
           [1., 2.]])
    """
    (a,) = _as_float(a)
    _check_stack("cholesky", a)
    if upper:
        return _swap_last(lp.cholesky(_swap_last(a)))
    return lp.cholesky(a)


@numpy_function(np.linalg.eigh)
def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, as `numpy.linalg.eigh`;
    returns `(eigenvalues, eigenvectors)`. Derivatives assume distinct eigenvalues.

    >>> import numpy as np, xform.numpy as xnp
    >>> w, v = xnp.linalg.eigh(np.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> w
    Array([1., 2.])
    """
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    (a,) = _as_float(a)
    _check_stack("eigh", a)
    return EighResult(*lp.eigh(a, lower=UPLO == "L"))


@numpy_function(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """Eigenvalues (ascending) of a symmetric matrix, as `numpy.linalg.eigvalsh`.

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.eigvalsh(np.array([[2.0, 0.0], [0.0, 1.0]]))
    Array([1., 2.])
    """
    return eigh(a, UPLO).eigenvalues


@numpy_function(np.linalg.qr)
def qr(a, mode="reduced"):
    """QR decomposition, as `numpy.linalg.qr`. Traced inputs support mode 'reduced', 'r', and
    'complete' when the matrices are not taller than wide (then it equals 'reduced').

    >>> import numpy as np, xform.numpy as xnp
    >>> q, r = xnp.linalg.qr(np.array([[3.0, 1.0], [4.0, 2.0]]))
    >>> bool(np.allclose(q @ r, [[3.0, 1.0], [4.0, 2.0]]))
    True
    """
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"Unrecognized mode '{mode}'")
    (a,) = _as_float(a)
    _check_stack("qr", a, square=False)
    m, n = get_aval(a).shape[-2:]
    if mode == "raw" or (mode == "complete" and m > n):
        raise NotImplementedError(
            f"xnp.linalg.qr(mode='{mode}') is not supported on traced values"
            + (" for matrices taller than wide" if mode == "complete" else "")
            + "; use mode='reduced'")
    q, r = lp.qr(a)
    return r if mode == "r" else QRResult(q, r)


@numpy_function(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular value decomposition, as `numpy.linalg.svd`: `(U, S, Vh)` or just `S`.
    Traced inputs need full_matrices=False (unless the matrices are square). Derivatives of
    U and Vh assume distinct singular values.

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.svd(np.array([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
    Array([4., 3.])
    """
    (a,) = _as_float(a)
    _check_stack("svd", a, square=False)
    if not compute_uv:
        return lp.svd(a, compute_uv=False)[0]
    m, n = get_aval(a).shape[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            "xnp.linalg.svd(full_matrices=True) of non-square matrices is only supported on "
            "concrete arrays; pass full_matrices=False under transformations")
    if hermitian:
        raise NotImplementedError(
            "xnp.linalg.svd(hermitian=True, compute_uv=True) is not supported on traced values; "
            "pass hermitian=False (or use xnp.linalg.eigh)")
    return SVDResult(*lp.svd(a))


# ----------------------------------------------------------------------------- built on svd


def _matmul(a, b):
    from xform.numpy.contract import matmul
    return matmul(a, b)


def _invert_large(s, rcond, dt):
    """1/s where s exceeds rcond times its row's largest value, else 0 (s: (..., k))."""
    nd = get_aval(s).ndim
    cutoff = ew.mul(cast(rcond, dt), reduce_max(s, (nd - 1,)))
    cutoff = broadcast_in_dim(cutoff, get_aval(s).shape, tuple(range(nd - 1)))
    large = ew.gt_p.bind1(s, cutoff)
    one, zero = np.ones((), dt), np.zeros((), dt)
    return ew.select(large, ew.div(one, ew.select(large, s, one)), zero), large


def _pseudo_inverse(a, rcond):
    """V diag(1/s) Uᵀ of a (stack of) matrices, small singular values dropped; also s and
    which singular values were kept."""
    u, s, vh = lp.svd(a)
    dt = get_aval(a).dtype
    s_inv, large = _invert_large(s, rcond, dt)
    shape = get_aval(u).shape
    ut = _swap_last(u)
    scaled = ew.mul(broadcast_in_dim(s_inv, get_aval(ut).shape, tuple(range(len(shape) - 1))),
                    ut)
    return _matmul(_swap_last(vh), scaled), s, large


class _NotGiven:
    """The default of an argument whose absence means something else than None."""

    def __repr__(self):
        return "<not given>"


_NOT_GIVEN = _NotGiven()


@numpy_function(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=_NOT_GIVEN):
    """The Moore-Penrose pseudo-inverse (of a stack of matrices) from the SVD, singular
    values at most `rcond` (or `rtol`) times the largest dropped, as `numpy.linalg.pinv`.

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.pinv(np.array([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    (a,) = _as_float(a)
    _check_stack("pinv", a, square=False)
    shape = get_aval(a).shape
    m, n = shape[-2:]
    if rcond is None:
        rcond = 1e-15 if rtol is _NOT_GIVEN else (
            max(m, n) * np.finfo(get_aval(a).dtype).eps if rtol is None else rtol)
    elif rtol is not _NOT_GIVEN:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    if m == 0 or n == 0:
        return np.zeros((*shape[:-2], n, m), get_aval(a).dtype)
    return _pseudo_inverse(a, rcond)[0]


@numpy_function(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """The least-squares solution x of a @ x = b (b a vector or matrix), with the residual
    sums of squares, the rank of `a` and its singular values, as `numpy.linalg.lstsq`.
    Singular values at most `rcond` times the largest are dropped. On traced values the
    residuals are given whenever `a` is taller than wide (numpy leaves them empty for a
    rank-deficient `a`, which only a concrete rank can tell).

    >>> import numpy as np, xform.numpy as xnp
    >>> x, res, rank, s = xnp.linalg.lstsq(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
    ...                                    np.array([1.0, 1.0, 3.0]))
    >>> np.round(x, 6).tolist(), int(rank)
    ([1.333333, 1.333333], 2)
    """
    a, b = _as_float(a, b)
    ashape, bshape = get_aval(a).shape, get_aval(b).shape
    if len(ashape) != 2 or len(bshape) not in (1, 2):
        raise LinAlgError(f"lstsq needs a 2-D a and a 1-D or 2-D b, got shapes {ashape} and "
                          f"{bshape}")
    m, n = ashape
    if bshape[0] != m:
        raise LinAlgError("Incompatible dimensions")
    dt = get_aval(a).dtype
    if rcond is None:
        rcond = np.finfo(dt).eps * max(m, n)
    pinv_a, s, large = _pseudo_inverse(a, rcond)
    x = _matmul(pinv_a, b)
    rank = reduce_sum(ew.convert(large, np.intp), (0,))
    if m <= n or concrete_or_none(rank) not in (None, n):
        residuals = np.zeros(0, dt)
    else:
        r = ew.sub(_matmul(a, x), b)
        residuals = reduce_sum(ew.mul(r, r), (0,))
        if len(bshape) == 1:
            residuals = reshape(residuals, (1,))
    return x, residuals, rank, s


@numpy_function(np.linalg.matrix_rank)
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """The number of singular values above `tol` (by default the largest times
    max(m, n) * eps, or times `rtol`), for a matrix or a stack, as
    `numpy.linalg.matrix_rank`; an integer array, zero derivative.

    >>> import numpy as np, xform.numpy as xnp
    >>> int(xnp.linalg.matrix_rank(np.array([[1.0, 2.0], [2.0, 4.0]])))
    1
    """
    (a,) = _as_float(A)
    shape = get_aval(a).shape
    if len(shape) < 2:
        from xform.numpy.reductions import any as any_
        return ew.convert(any_(ew.ne_p.bind1(a, np.zeros((), get_aval(a).dtype))), np.intp)
    (s,) = lp.svd(a, compute_uv=False)
    dt = get_aval(s).dtype
    nd = get_aval(s).ndim
    if tol is None:
        scale = max(shape[-2:]) * np.finfo(dt).eps if rtol is None else rtol
        top = reduce_max(s, (nd - 1,)) if shape[-1] and shape[-2] else np.zeros(shape[:-2], dt)
        tol = ew.mul(top, cast(scale, dt))
    tol = broadcast_in_dim(cast(tol, dt), get_aval(s).shape, tuple(range(nd - 1)))
    return reduce_sum(ew.convert(ew.gt_p.bind1(s, tol), np.intp), (nd - 1,))


@numpy_function(np.linalg.matrix_power)
def matrix_power(a, n):
    """a @ a @ ... @ a (`n` factors) of a square matrix or stack, by repeated squaring;
    the inverse's power for negative `n`, the identity for 0, as
    `numpy.linalg.matrix_power`.

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.matrix_power(np.array([[1.0, 1.0], [0.0, 1.0]]), 3).tolist()
    [[1.0, 3.0], [0.0, 1.0]]
    """
    if not isinstance(n, (int, np.integer)):
        raise TypeError("exponent must be an integer")
    _check_stack("matrix_power", a)
    shape = get_aval(a).shape
    if n == 0:
        eye = np.eye(shape[-1], dtype=get_aval(a).dtype)
        return np.broadcast_to(eye, shape).copy()
    if n < 0:
        a, n = inv(a), -n
    if n <= 3:
        out = a
        for _ in range(n - 1):
            out = _matmul(out, a)
        return out
    z = result = None
    while n > 0:
        z = a if z is None else _matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else _matmul(result, z)
    return result


def _chain_order(shapes):
    """The cheapest parenthesisation of a chain of matrix products (dynamic programming over
    sub-chains): split[i][j] is where the product of matrices i..j splits."""
    k = len(shapes)
    dims = [shapes[0][0]] + [s[1] for s in shapes]
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = float("inf")
            for c in range(i, j):
                q = cost[i][c] + cost[c + 1][j] + dims[i] * dims[c + 1] * dims[j + 1]
                if q < cost[i][j]:
                    cost[i][j], split[i][j] = q, c
    return split


def multi_dot(arrays, *, out=None):
    """The product of a chain of matrices (the first and last may be vectors) in the
    cheapest order, as `numpy.linalg.multi_dot`.

    >>> import numpy as np, xform.numpy as xnp
    >>> xnp.linalg.multi_dot([np.ones(2), np.eye(2), np.ones((2, 3))]).tolist()
    [2.0, 2.0, 2.0]
    """
    from xform.numpy.shape import _operands, atleast_2d
    if out is not None:
        raise NotImplementedError("xform.numpy.linalg.multi_dot: out= is not supported")
    xs = _operands(arrays)
    if not is_traced(*xs):
        return wrap(np.linalg.multi_dot(xs))
    if len(xs) < 2:
        raise ValueError("Expecting at least two arrays.")
    first_1d, last_1d = get_aval(xs[0]).ndim == 1, get_aval(xs[-1]).ndim == 1
    xs[0] = atleast_2d(xs[0])
    if last_1d:
        xs[-1] = reshape(xs[-1], (get_aval(xs[-1]).shape[0], 1))
    if any(get_aval(x).ndim != 2 for x in xs):
        raise ValueError("multi_dot: every array but the first and last must be 2-D")
    split = _chain_order([get_aval(x).shape for x in xs])

    def product(i, j):
        if i == j:
            return xs[i]
        return _matmul(product(i, split[i][j]), product(split[i][j] + 1, j))
    res = product(0, len(xs) - 1)
    shape = get_aval(res).shape
    return reshape(res, tuple(d for d, drop in zip(shape, (first_1d, last_1d)) if not drop))


def __getattr__(name):
    if hasattr(np.linalg, name) and not name.startswith("_"):
        return unsupported(f"linalg.{name}")
    raise AttributeError(f"module 'xform.numpy.linalg' has no attribute '{name}'")
