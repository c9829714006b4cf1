"""Numba kernels of the windowed primitives: grouped convolutions and windowed reductions.

A convolution reads its input in a canonical layout, (N, S0, S1, S2, C) contiguous, through
one table per spatial dimension (see `xform.primitives.conv.source_table`: the input index each
tap of each window reads, -1 for padding and holes). It copies the taps of a block of output
positions into a small patch matrix, channels innermost so that each tap is one contiguous
run, and multiplies it with the kernel by GEMM: the blocks stay in cache, unlike a whole
im2col matrix. Windowed reductions go one windowed axis at a time (they are separable).
"""
import numba
import numpy as np

from xform.backends import cache_dir
from xform.backends.blas import gemm

_jit = numba.njit(cache=cache_dir() is not None, error_model="numpy", nogil=True)

# Elements of a patch block (a few hundred KB): the block is written, then read by GEMM.
_BLOCK = 1 << 16


@_jit
def arranged(x, perm):
    """x with its dimensions permuted (`perm` a tuple of int64) as a contiguous array.

    np.ascontiguousarray of a strided array makes Numba compile its error-message machinery
    (seconds) into the program; here that happens once, into the disk cache."""
    return np.ascontiguousarray(x.transpose(perm))


@_jit
def _copy(dst, at, src, start, count):
    # Unsigned indices: Numba then skips the negative-index check and the loop vectorises.
    for q in range(count):
        dst[np.uint64(at + q)] = src[np.uint64(start + q)]


@_jit
def _zero(dst, at, count):
    for q in range(count):
        dst[np.uint64(at + q)] = 0


@_jit
def _patch_rows(x, t0, t1, t2, by_batch, groups, g, r0, rows, out):
    """Rows r0 .. r0 + rows - 1 of group g's patch matrix into the first rows of `out`: a row
    per output position (batch, y0, y1, y2), its columns the taps (j0, j1, j2) times the
    group's channels. Taps of the last spatial dimension that read consecutive elements of
    every channel are copied as one run."""
    n_all, n0, n1, n2, c_all = x.shape
    nb = n_all // groups if by_batch else n_all
    ig = c_all if by_batch else c_all // groups
    n_off = g * nb if by_batch else 0
    c_off = 0 if by_batch else g * ig
    m0, k0 = t0.shape
    m1, k1 = t1.shape
    m2, k2 = t2.shape
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    cols = k0 * k1 * k2 * ig
    n, y = divmod(r0, m0 * m1 * m2)
    y0, rest = divmod(y, m1 * m2)
    y1, y2 = divmod(rest, m2)
    for row in range(rows):
        if row:  # the next output position, without divisions
            y2 += 1
            if y2 == m2:
                y2, y1 = 0, y1 + 1
                if y1 == m1:
                    y1, y0 = 0, y0 + 1
                    if y0 == m0:
                        y0, n = 0, n + 1
        first, last = t2[y2, 0], t2[y2, k2 - 1]
        run = ig == c_all and first >= 0 and last - first == k2 - 1
        at = row * cols
        for j0 in range(k0):
            s0 = t0[y0, j0]
            for j1 in range(k1):
                s1 = t1[y1, j1]
                if s0 < 0 or s1 < 0:
                    _zero(flat_out, at, k2 * ig)
                    at += k2 * ig
                    continue
                base = (((n_off + n) * n0 + s0) * n1 + s1) * n2
                if run:
                    _copy(flat_out, at, flat_x, (base + first) * c_all, k2 * c_all)
                    at += k2 * c_all
                    continue
                for j2 in range(k2):
                    s2 = t2[y2, j2]
                    if s2 < 0:
                        _zero(flat_out, at, ig)
                    else:
                        _copy(flat_out, at, flat_x, (base + s2) * c_all + c_off, ig)
                    at += ig


@_jit
def conv_gemm(x, t0, t1, t2, by_batch, w, out):
    """A grouped convolution of float32 or float64 operands: out[g] (rows, Og) = patches of
    group g (rows, K*Ig) @ w[g].T, w being (G, Og, K*Ig); groups split the batch when
    `by_batch`, else the channels."""
    groups, rows, _ = out.shape
    cols = w.shape[2]
    block = max(64, _BLOCK // max(cols, 1))
    buf = np.empty((min(block, rows), cols), x.dtype)
    for g in range(groups):
        for r0 in range(0, rows, block):
            count = min(rows, r0 + block) - r0
            _patch_rows(x, t0, t1, t2, by_batch, groups, g, r0, count, buf)
            gemm(buf[:count], w[g], out[g, r0:r0 + count], np.bool_(False), np.bool_(True))
    return out


@_jit
def conv_loops(x, t0, t1, t2, by_batch, w, out):
    """conv_gemm for integer operands (no BLAS): products summed in loops, wrapping around
    as numpy's do."""
    groups, rows, og = out.shape
    buf = np.empty((1, w.shape[2]), x.dtype)
    for g in range(groups):
        for r in range(rows):
            _patch_rows(x, t0, t1, t2, by_batch, groups, g, r, 1, buf)
            for o in range(og):
                out[g, r, o] = 0
                for c in range(w.shape[2]):
                    out[g, r, o] += buf[0, c] * w[g, o, c]
    return out


@_jit
def window_reduce(x, out, kind, k, s, r, lo, a, init):
    """out (outer, m, inner): the sum (kind 0), max (1) or min (2) over windows along the
    middle axis of x (outer, n, inner), dilated by `a`, padded by `lo` in front, read by `k`
    taps `r` apart every `s`. Taps combine in order, as numpy's add, maximum and minimum
    would: NaN propagates and of equal values the later one wins (0.0 against -0.0)."""
    n, m, inner = x.shape[1], out.shape[1], x.shape[2]
    for o in range(x.shape[0]):
        for y in range(m):
            acc = out[o, y]
            for i in range(inner):
                acc[i] = init
            for j in range(k):
                p = y * s + j * r - lo
                if p < 0 or p % a != 0 or p // a >= n:
                    continue
                src = x[o, p // a]
                if kind == 0:
                    for i in range(inner):
                        acc[i] += src[i]
                elif kind == 1:
                    for i in range(inner):
                        c = acc[i]
                        if c == c and not c > src[i]:
                            acc[i] = src[i]
                else:
                    for i in range(inner):
                        c = acc[i]
                        if c == c and not c < src[i]:
                            acc[i] = src[i]
    return out


@_jit
def window_select(x, values, out, largest, scatter, k, s, r, lo, a):
    """Along the middle axis of x (outer, n, inner), windows as in window_reduce each select
    the first tap holding their max (or min, unless `largest`; NaN above all numbers) among the
    taps that read x. Gathers values (outer, n, inner) at the selected taps into out (outer,
    m, inner), 0 where a window selects nothing; or, when `scatter`, adds values (outer, m,
    inner) into out (outer, n, inner) at the selected taps."""
    n, inner = x.shape[1], x.shape[2]
    m = values.shape[1] if scatter else out.shape[1]
    if scatter:
        out[:] = 0
    best = np.empty(inner, x.dtype)
    where = np.empty(inner, np.int64)
    for o in range(x.shape[0]):
        for y in range(m):
            where[:] = -1
            for j in range(k):
                p = y * s + j * r - lo
                if p < 0 or p % a != 0 or p // a >= n:
                    continue
                q = p // a
                for i in range(inner):
                    v, c = x[o, q, i], best[i]
                    if where[i] < 0 or (c == c and (v != v or (v > c if largest else v < c))):
                        best[i], where[i] = v, q
            for i in range(inner):
                if scatter:
                    if where[i] >= 0:
                        out[o, where[i], i] += values[o, y, i]
                else:
                    out[o, y, i] = values[o, where[i], i] if where[i] >= 0 else 0
    return out
