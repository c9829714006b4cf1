"""Colourings of a sparsity pattern, for Jacobians and Hessians evaluated in compressed form.

Columns that share no row can be seeded together in one jvp: the compressed product J·S has a
column per colour, and each non-zero J[i, j] is read back from column colour(j) of row i
(a distance-2 colouring of the columns in the bipartite row/column graph). Rows that share no
column are likewise seeded together in one vjp. For a symmetric Hessian, a star colouring
(no path on four vertices in two colours) needs fewer colours: each off-diagonal entry is read
from whichever of its two rows has its other endpoint's colour only once.

All colourings are greedy in the natural order, which is optimal for banded patterns; a
banded pattern is coloured at once by `column mod (bandwidth + 1)` when that meets the lower
bound (the most non-zeros in a row), so a stencil over 10⁵ columns takes milliseconds.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _banded(p: sp.csr_matrix) -> np.ndarray | None:
    """`j mod (b + 1)` if it needs no more colours than the densest row, else None."""
    counts = np.diff(p.indptr)
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return np.zeros(p.shape[1], np.int64)
    first = p.indices[p.indptr[rows]]
    last = p.indices[p.indptr[rows + 1] - 1]
    width = int((last - first).max()) + 1
    return np.arange(p.shape[1]) % width if width <= counts.max() else None


def column_colouring(pattern) -> np.ndarray:
    """A colour per column such that no two columns of one colour share a row.

    >>> import numpy as np
    >>> column_colouring(np.eye(3, dtype=bool) | np.eye(3, k=1, dtype=bool)).tolist()
    [0, 1, 0]
    """
    p = sp.csr_matrix(pattern, dtype=bool)
    p.sort_indices()
    banded = _banded(p)
    if banded is not None:
        return banded
    col_ptr, col_rows = _lists(p.tocsc())
    row_ptr, row_cols = _lists(p)
    colours = [-1] * p.shape[1]
    seen = [-1] * (p.shape[1] + 1)
    for j in range(p.shape[1]):
        for r in col_rows[col_ptr[j]:col_ptr[j + 1]]:
            for c in row_cols[row_ptr[r]:row_ptr[r + 1]]:
                if colours[c] >= 0:
                    seen[colours[c]] = j
        k = 0
        while seen[k] == j:
            k += 1
        colours[j] = k
    return np.asarray(colours, np.int64)


def row_colouring(pattern) -> np.ndarray:
    """A colour per row such that no two rows of one colour share a column."""
    return column_colouring(sp.csr_matrix(pattern, dtype=bool).T)


def _lists(m) -> tuple[list, list]:
    m.sort_indices()
    return m.indptr.tolist(), m.indices.tolist()


def star_colouring(pattern) -> np.ndarray:
    """A star colouring of a symmetric pattern (greedy, after Gebremedhin, Manne and Pothen,
    "What color is your Jacobian?", 2005): a distance-1 colouring in which every path on four
    vertices uses at least three colours, so `symmetric_entries` recovers every entry.

    >>> import numpy as np
    >>> arrow = np.eye(4, dtype=bool); arrow[0] = arrow[:, 0] = True
    >>> star_colouring(arrow).tolist()
    [0, 1, 1, 1]
    """
    p = sp.csr_matrix(pattern, dtype=bool)
    p = (p + p.T).tocsr()
    p.setdiag(False)
    p.eliminate_zeros()
    ptr, adj = _lists(p)
    n = p.shape[0]
    colours = [-1] * n
    forbidden = [-1] * (n + 1)
    for v in range(n):
        for w in adj[ptr[v]:ptr[v + 1]]:
            cw = colours[w]
            if cw >= 0:
                forbidden[cw] = v
            for x in adj[ptr[w]:ptr[w + 1]]:
                cx = colours[x]
                if x == v or cx < 0:
                    continue
                if cw < 0 or any(colours[y] == cw for y in adj[ptr[x]:ptr[x + 1]] if y != w):
                    forbidden[cx] = v
        k = 0
        while forbidden[k] == v:
            k += 1
        colours[v] = k
    return np.asarray(colours, np.int64)


def seeds(colours: np.ndarray, dtype) -> np.ndarray:
    """The (colours, n) seed matrix: row k is the indicator of the columns of colour k."""
    s = np.zeros((int(colours.max(initial=-1)) + 1, colours.size), dtype)
    s[colours, np.arange(colours.size)] = 1
    return s


def _entries(pattern: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
    return rows, pattern.indices


def _reader(pattern: sp.csr_matrix, flat: np.ndarray):
    """The function building a CSR matrix with `pattern`'s structure whose k-th stored entry
    is element flat[k] of the (flattened) compressed matrix it is given."""
    indices, indptr, shape = pattern.indices, pattern.indptr, pattern.shape

    def read(compressed) -> sp.csr_matrix:
        data = np.take(np.asarray(compressed), flat)
        return sp.csr_matrix((data, indices.copy(), indptr.copy()), shape=shape)
    return read


def from_columns(pattern: sp.csr_matrix, colours):
    """The decompression of a column colouring: a function from the compressed Jacobian
    (colours x rows: row k is J·s_k, for the seeds s_k of `seeds`) to the CSR matrix with
    `pattern`'s structure (J[i, j] is entry (colour(j), i))."""
    rows, cols = _entries(pattern)
    return _reader(pattern, colours[cols] * pattern.shape[0] + rows)


def from_rows(pattern: sp.csr_matrix, colours):
    """The same for a row colouring, from colours x columns (row k is s_kᵀ·J)."""
    rows, cols = _entries(pattern)
    return _reader(pattern, colours[rows] * pattern.shape[1] + cols)


def _unique_in_row(pattern: sp.csr_matrix, colours) -> np.ndarray:
    """Per entry (i, j): whether j is the only column of colour(j) in row i."""
    rows, cols = _entries(pattern)
    keys = rows * (int(colours.max(initial=0)) + 1) + colours[cols]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse] == 1


def star_recoverable(pattern: sp.csr_matrix, colours) -> bool:
    """Whether `symmetric_entries` can read every entry of the symmetric `pattern`."""
    rows, cols = _entries(pattern)
    unique = _unique_in_row(pattern, colours)
    mirror = sp.csr_matrix((unique.astype(np.int8) + 1, (rows, cols)), pattern.shape)
    # entry (i, j) is readable from row i, or from row j as (j, i)
    from_j = np.asarray(mirror[cols, rows]).ravel() == 2
    return bool(np.all(unique | from_j))


def symmetric_entries(pattern: sp.csr_matrix, colours):
    """The decompression of a star colouring of a symmetric `pattern`: from colours x n
    (row k is H·s_k) to the CSR matrix, H[i, j] read from row i where j's colour is unique
    in row i, else as H[j, i]."""
    rows, cols = _entries(pattern)
    n = pattern.shape[0]
    flat = np.where(_unique_in_row(pattern, colours), colours[cols] * n + rows,
                    colours[rows] * n + cols)
    return _reader(pattern, flat)
