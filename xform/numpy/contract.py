"""Products and contractions of xform.numpy (dot, matmul, einsum, ...) and diagonals."""
from __future__ import annotations

import numpy as np

from xform.numpy._core import (broadcast_to_shape, cast, dtype_of, normalize_axis, numpy_function,
                               shape_of, wrap)
from xform.primitives import structural as st
from xform.primitives.linalg import dot_general
from xform.primitives.reductions import reduce_sum

__all__ = [
    "diag",
    "diagonal",
    "dot",
    "einsum",
    "inner",
    "kron",
    "matmul",
    "outer",
    "tensordot",
    "trace",
    "tril",
    "triu",
    "vdot",
]


def _promote(*xs):
    """Operands cast to numpy's common dtype (Python scalars count as arrays, as in np.dot)."""
    dt = np.result_type(*[dtype_of(x) for x in xs])
    return [cast(x, dt) for x in xs]


def _not_aligned(name, sa, sb, da, db):
    return ValueError(f"{name}: shapes {sa} and {sb} not aligned: {sa[da]} (dim {da}) != "
                      f"{sb[db]} (dim {db})")


@numpy_function(np.dot)
def dot(a, b, out=None):
    """Dot product with numpy's rules for every rank, as `numpy.dot`.

    >>> dot(np.ones((2, 3)), np.ones(3)).tolist()
    [3.0, 3.0]
    """
    if out is not None:
        raise NotImplementedError("xform.numpy.dot: out= is not supported")
    from xform.numpy.ufuncs import multiply
    a, b = _promote(a, b)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return multiply(a, b)
    da, db = len(sa) - 1, max(len(sb) - 2, 0)
    if sa[da] != sb[db]:
        raise _not_aligned("dot", sa, sb, da, db)
    return dot_general(a, b, ((da,), (db,)))


@numpy_function(np.matmul)
def matmul(x1, x2):
    """Matrix product with broadcast batch dimensions and 1-D promotion, as `numpy.matmul`.

    >>> matmul(np.ones((4, 2, 3)), np.ones((3, 5))).shape
    (4, 2, 5)
    """
    a, b = _promote(x1, x2)
    sa0, sb0 = shape_of(a), shape_of(b)
    for i, s in enumerate((sa0, sb0)):
        if not s:
            raise ValueError(f"matmul: input operand {i} does not have enough dimensions "
                             f"(shapes {sa0} and {sb0})")
    if len(sa0) == 1:
        a = st.reshape(a, (1, *sa0))
    if len(sb0) == 1:
        b = st.reshape(b, (*sb0, 1))
    sa, sb = shape_of(a), shape_of(b)
    if sa[-1] != sb[-2]:
        raise ValueError(f"matmul: shapes {sa0} and {sb0} not aligned: {sa[-1]} != {sb[-2]} "
                         "(last dimension of the first operand and second-to-last of the "
                         "second)")
    try:  # equal batch shapes (matrices: none) skip np.broadcast_shapes, which is slow
        batch = sa[:-2] if sa[:-2] == sb[:-2] else np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {sa0} and {sb0} do not "
                         "broadcast") from None
    nb = len(batch)
    if len(sb) == 2:
        out = dot_general(a, b, ((len(sa) - 1,), (0,)))
    elif len(sa) == 2:
        # (m, k) x (batch, k, n) gives (m, batch, n); move m next to n.
        out = st.moveaxis(dot_general(a, b, ((1,), (len(sb) - 2,))), 0, -2)
    else:
        a = broadcast_to_shape(a, (*batch, *sa[-2:]))
        b = broadcast_to_shape(b, (*batch, *sb[-2:]))
        bdims = tuple(range(nb))
        out = dot_general(a, b, ((nb + 1,), (nb,)), (bdims, bdims))
    drop = {nb} if len(sa0) == 1 else set()
    drop |= {nb + 1} if len(sb0) == 1 else set()
    shp = shape_of(out)
    return st.reshape(out, tuple(n for i, n in enumerate(shp) if i not in drop))


@numpy_function(np.vdot)
def vdot(a, b):
    """Dot product of the flattened arrays, as `numpy.vdot` (real arrays).

    >>> float(vdot(np.ones((2, 2)), np.ones(4)))
    4.0
    """
    a, b = _promote(a, b)
    sa, sb = shape_of(a), shape_of(b)
    na, nb = int(np.prod(sa, dtype=np.int64)), int(np.prod(sb, dtype=np.int64))
    if na != nb:
        raise ValueError(f"vdot: arrays of shapes {sa} and {sb} have different sizes")
    return dot_general(st.reshape(a, (na,)), st.reshape(b, (nb,)), ((0,), (0,)))


@numpy_function(np.inner)
def inner(a, b):
    """Sum product over the last axes, as `numpy.inner`.

    >>> inner(np.ones((2, 3)), np.ones((4, 3))).shape
    (2, 4)
    """
    from xform.numpy.ufuncs import multiply
    a, b = _promote(a, b)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise _not_aligned("inner", sa, sb, len(sa) - 1, len(sb) - 1)
    return dot_general(a, b, ((len(sa) - 1,), (len(sb) - 1,)))


@numpy_function(np.outer)
def outer(a, b, out=None):
    """Outer product of the flattened arrays, as `numpy.outer`.

    >>> outer(np.ones(2), np.ones(3)).shape
    (2, 3)
    """
    if out is not None:
        raise NotImplementedError("xform.numpy.outer: out= is not supported")
    from xform.numpy.shape import ravel, reshape
    from xform.numpy.ufuncs import multiply
    return multiply(reshape(ravel(a), (-1, 1)), ravel(b))


@numpy_function(np.tensordot)
def tensordot(a, b, axes=2):
    """Sum products over the given axes (`axes` an int N or a pair of axis lists), as
    `numpy.tensordot`.

    >>> tensordot(np.ones((2, 3, 4)), np.ones((3, 4, 5))).shape
    (2, 5)
    """
    a, b = _promote(a, b)
    sa, sb = shape_of(a), shape_of(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(len(sa), len(sb)):
            raise ValueError(f"tensordot: axes={n} does not fit shapes {sa} and {sb}")
        axes_a, axes_b = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        axes_a, axes_b = ((tuple(x) if isinstance(x, (list, tuple)) else (x,)) for x in axes)
        axes_a = tuple(normalize_axis(x, len(sa)) for x in axes_a)
        axes_b = tuple(normalize_axis(x, len(sb)) for x in axes_b)
    if len(axes_a) != len(axes_b) or any(sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(f"tensordot: shape-mismatch for sum: axes {axes_a} of shape {sa} and "
                         f"axes {axes_b} of shape {sb}")
    return dot_general(a, b, (axes_a, axes_b))


# ----------------------------------------------------------------------------- einsum


def _parse_einsum(subscripts, shapes):
    """Operand and output labels: letters, plus ints -E..-1 for the (right-aligned)
    dimensions an ellipsis stands for."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    if "->" in rhs:
        raise ValueError(f"einsum: subscripts {subscripts!r} contain more than one '->'")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts in {subscripts!r} for "
                         f"{len(shapes)} operands")

    def letters(s, where):
        if any(not c.isalpha() for c in s):
            raise ValueError(f"einsum: invalid subscript in {where!r} of {subscripts!r}")
        return list(s)

    labels, n_ellipsis = [], 0
    for term, shp in zip(terms, shapes):
        head, dots, tail = term.partition("...")
        head, tail = letters(head, term), letters(tail, term)
        n = len(shp) - len(head) - len(tail)
        if (not dots and n != 0) or n < 0:
            raise ValueError(f"einsum: subscripts {term!r} do not match an operand of shape "
                             f"{shp}")
        n_ellipsis = max(n_ellipsis, n)
        labels.append(head + list(range(-n, 0)) + tail)
    ell = list(range(-n_ellipsis, 0))
    if not arrow:
        counts = {}
        for lab in labels:
            for c in lab:
                if isinstance(c, str):
                    counts[c] = counts.get(c, 0) + 1
        return labels, ell + sorted(c for c, k in counts.items() if k == 1)
    head, dots, tail = rhs.partition("...")
    if n_ellipsis and not dots:
        raise ValueError(f"einsum: output subscripts of {subscripts!r} need '...' for the "
                         "dimensions the operands' ellipses stand for")
    out = letters(head, rhs) + ell + letters(tail, rhs)
    known = {c for lab in labels for c in lab}
    if len(set(out)) != len(out) or any(c not in known for c in out):
        raise ValueError(f"einsum: output subscripts {rhs!r} repeat a label or use one that "
                         "no operand has")
    return labels, out


def _label_sizes(labels, shapes, subscripts):
    sizes = {}
    for lab, shp in zip(labels, shapes):
        for c, n in zip(lab, shp):
            if n != 1 and sizes.get(c, 1) not in (1, n):
                raise ValueError(f"einsum: operands of shapes {', '.join(map(str, shapes))} "
                                 f"disagree on the size of dimension {c!r} in {subscripts!r}")
            sizes[c] = n if n != 1 else sizes.get(c, 1)
    return sizes


def _prepare(x, lab, sizes):
    """Take the diagonal of repeated labels and drop size-1 dimensions that broadcast."""
    while len(set(lab)) != len(lab):
        c = next(c for c in lab if lab.count(c) > 1)
        i, j = [k for k, d in enumerate(lab) if d == c][:2]
        shp = shape_of(x)
        if shp[i] != shp[j]:
            raise ValueError(f"einsum: repeated label {c!r} on dimensions of different sizes "
                             f"in an operand of shape {shp}")
        rest = [k for k in range(len(lab)) if k not in (i, j)]
        x = _diag_last2(st.transpose(x, (*rest, i, j)), 0)
        lab = [lab[k] for k in rest] + [c]
    shp = shape_of(x)
    keep = [k for k, c in enumerate(lab) if not (shp[k] == 1 and sizes[c] != 1)]
    return st.reshape(x, tuple(shp[k] for k in keep)), [lab[k] for k in keep]


def _sum_unneeded(x, lab, needed):
    axes = [k for k, c in enumerate(lab) if c not in needed]
    return reduce_sum(x, axes), [c for c in lab if c in needed]


def _sublist_subscripts(first, rest):
    """numpy's sublist form einsum(a, [0, 1], b, [1, 2], [0, 2]) as a subscripts string
    and its operands (labels are ints below 52, or Ellipsis)."""
    args = [first, *rest]
    operands, sublists = args[0::2], args[1::2]
    output = None
    if len(operands) > len(sublists):
        output = operands.pop()
        if operands and len(operands) != len(sublists):
            raise ValueError("einsum: the sublist form alternates operands and sublists")
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def term(sub):
        out = []
        for label in sub:
            if label is Ellipsis:
                out.append("...")
            elif isinstance(label, (int, np.integer)) and 0 <= label < len(letters):
                out.append(letters[int(label)])
            else:
                raise ValueError(f"einsum: subscript {label!r} in the sublist form must be an "
                                 f"int in [0, 52) or Ellipsis")
        return "".join(out)
    spec = ",".join(term(sub) for sub in sublists)
    if output is not None:
        spec += "->" + term(output)
    return spec, operands


@numpy_function(np.einsum)
def einsum(subscripts, *operands, out=None, optimize=False):
    """Einstein summation, as `numpy.einsum`: implicit or explicit output, '...', repeated
    labels (diagonals, traces); several operands are contracted pairwise, left to right.

    >>> einsum("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4))).shape
    (2, 4)
    """
    if out is not None:
        raise NotImplementedError("xform.numpy.einsum: out= is not supported")
    if not isinstance(subscripts, str):
        subscripts, operands = _sublist_subscripts(subscripts, operands)
    ops = _promote(*operands)
    shapes = [shape_of(x) for x in ops]
    labels, out_lab = _parse_einsum(subscripts, shapes)
    sizes = _label_sizes(labels, shapes, subscripts)
    prepared = [_prepare(x, lab, sizes) for x, lab in zip(ops, labels)]
    acc, acc_lab = prepared[0]
    for k in range(1, len(prepared)):
        b, b_lab = prepared[k]
        later = set(out_lab).union(*(lab for _, lab in prepared[k + 1:]))
        acc, acc_lab = _sum_unneeded(acc, acc_lab, later | set(b_lab))
        b, b_lab = _sum_unneeded(b, b_lab, later | set(acc_lab))
        common = [c for c in acc_lab if c in b_lab]
        batch = [c for c in common if c in later]
        summed = [c for c in common if c not in later]
        acc = dot_general(acc, b, ([acc_lab.index(c) for c in summed],
                                   [b_lab.index(c) for c in summed]),
                          ([acc_lab.index(c) for c in batch], [b_lab.index(c) for c in batch]))
        acc_lab = batch + [c for c in acc_lab if c not in common] + \
            [c for c in b_lab if c not in common]
    acc, acc_lab = _sum_unneeded(acc, acc_lab, set(out_lab))
    return st.transpose(acc, [acc_lab.index(c) for c in out_lab])


# ----------------------------------------------------------------------------- diagonals


def _diag_last2(x, offset):
    """The `offset` diagonal of the last two axes, as a new last axis: a strided slice of
    the flattened pair of axes, so it stays linear and cheap to differentiate."""
    shp = shape_of(x)
    lead, (n, m) = shp[:-2], shp[-2:]
    if offset >= 0:
        length, start = max(0, min(n, m - offset)), offset
    else:
        length, start = max(0, min(n + offset, m)), -offset * m
    flat = st.reshape(x, (*lead, n * m))
    if length == 0:
        start = limit = 0
    else:
        limit = start + (length - 1) * (m + 1) + 1
    zeros = (0,) * len(lead)
    return st.slice_(flat, (*zeros, start), (*lead, limit), (*(1,) * len(lead), m + 1))


@numpy_function(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    """The `offset` diagonal of the `axis1`/`axis2` planes, as a last axis (as numpy).

    >>> diagonal(np.arange(9).reshape(3, 3), 1).tolist()
    [1, 5]
    """
    shp = shape_of(a)
    if len(shp) < 2:
        raise ValueError(f"diagonal requires an array of at least two dimensions, got shape "
                         f"{shp}")
    i, j = normalize_axis(axis1, len(shp), "axis1"), normalize_axis(axis2, len(shp), "axis2")
    if i == j:
        raise ValueError("axis1 and axis2 cannot be the same")
    rest = [k for k in range(len(shp)) if k not in (i, j)]
    return _diag_last2(st.transpose(a, (*rest, i, j)), int(offset))


@numpy_function(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """Sum along a diagonal, as `numpy.trace`.

    >>> float(trace(np.eye(3)))
    3.0
    """
    if out is not None:
        raise NotImplementedError("xform.numpy.trace: out= is not supported")
    from xform.numpy.reductions import sum as sum_
    return sum_(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


@numpy_function(np.diag)
def diag(v, k=0):
    """The `k`-th diagonal of a 2-D array, or a 2-D array with 1-D `v` on it, as numpy.

    >>> diag(np.array([1, 2])).tolist()
    [[1, 0], [0, 2]]
    """
    shp = shape_of(v)
    if len(shp) == 2:
        return diagonal(v, k)
    if len(shp) != 1:
        raise ValueError(f"diag: input must be 1-d or 2-d, got shape {shp}")
    length, k = shp[0], int(k)
    n = length + abs(k)
    dt = dtype_of(v)
    if length == 0:
        return wrap(np.zeros((n, n), dt))
    # Interior padding by n places consecutive elements n + 1 apart in the flattened matrix.
    start = k if k >= 0 else -k * n
    hi = n * n - (start + (length - 1) * (n + 1) + 1)
    return st.reshape(st.pad(v, np.zeros((), dt), (start,), (hi,), (n,)), (n, n))


def _masked(m, k, lower):
    from xform.numpy.ufuncs import where
    shp = shape_of(m)
    if not shp:
        raise ValueError("tril/triu need an array of at least one dimension")
    mask = np.tri(*shp[-2:], k=k, dtype=bool) if lower else \
        ~np.tri(*shp[-2:], k=k - 1, dtype=bool)
    return where(mask, m, np.zeros((), dtype_of(m)))


@numpy_function(np.tril)
def tril(m, k=0):
    """Zero the elements above the `k`-th diagonal of the last two axes, as `numpy.tril`.

    >>> tril(np.ones((2, 2))).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    return _masked(m, k, lower=True)


@numpy_function(np.triu)
def triu(m, k=0):
    """Zero the elements below the `k`-th diagonal of the last two axes, as `numpy.triu`.

    >>> triu(np.ones((2, 2))).tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """
    return _masked(m, k, lower=False)


@numpy_function(np.kron)
def kron(a, b):
    """Kronecker product, as `numpy.kron`.

    >>> kron(np.eye(2), np.ones((2, 2))).shape
    (4, 4)
    """
    from xform.numpy.ufuncs import multiply
    a, b = _promote(a, b)
    sa, sb = shape_of(a), shape_of(b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a = st.reshape(a, tuple(d for n in sa for d in (n, 1)))
    b = st.reshape(b, tuple(d for n in sb for d in (1, n)))
    return st.reshape(multiply(a, b), tuple(x * y for x, y in zip(sa, sb)))
