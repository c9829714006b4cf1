"""Index helpers of xform.numpy: r_, c_, s_, index_exp, mgrid, ogrid, ix_, and the index
arrays of triangles and diagonals.

`r_` and `c_` concatenate traced values (numpy's rules for slices, scalars, directive strings
and dtypes); the index arrays depend on shapes only, so they are constants.
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer
from xform.numpy._core import (
    cast,
    dtype_of,
    holds_tracer,
    lists_as_arrays,
    shape_of,
    stack_nested,
    wrap,
)
from xform.numpy.creation import array
from xform.numpy.shape import concatenate, reshape, transpose

__all__ = [
    "c_", "diag_indices", "diag_indices_from", "index_exp", "ix_", "mgrid", "ogrid", "r_",
    "s_", "tril_indices", "tril_indices_from", "triu_indices", "triu_indices_from",
]

s_ = np.s_
index_exp = np.index_exp


def _directive(item: str, axis: int, ndmin: int, trans1d: int):
    """numpy's "axis[,ndmin[,trans1d]]" directive string, read."""
    if item in ("r", "c"):
        raise NotImplementedError("xform.numpy's r_/c_: the matrix directives 'r' and 'c' are "
                                  "not supported on traced values")
    try:
        values = [int(v) for v in item.split(",")]
    except ValueError:
        raise ValueError(f"unknown special directive {item!r}") from None
    if len(values) > 3:
        raise ValueError(f"unknown special directive {item!r}")
    return tuple(values + [axis, ndmin, trans1d][len(values):])


def _range(item: slice, ndmin: int, trans1d: int) -> np.ndarray:
    """A slice item: arange(start, stop, step), or linspace with an imaginary step's count."""
    start = 0 if item.start is None else item.start
    step = 1 if item.step is None else item.step
    if isinstance(step, (complex, np.complexfloating)):
        out = np.linspace(start, item.stop, num=int(abs(step)))
    else:
        out = np.arange(start, item.stop, step)
    if ndmin > 1:
        out = np.array(out, ndmin=ndmin)
        if trans1d != -1:
            out = out.swapaxes(-1, trans1d)
    return out


def _upgraded(x, ndmin: int, trans1d: int):
    """An array item raised to `ndmin` dimensions, its own axes placed where trans1d says."""
    nd = len(shape_of(x))
    y = array(x, ndmin=ndmin)
    if trans1d != -1 and nd < ndmin:
        k2, k1 = ndmin - nd, trans1d
        if k1 < 0:
            k1 += k2 + 1
        axes = list(range(ndmin))
        y = transpose(y, axes[:k1] + axes[k2:] + axes[k1:k2])
    return y


class _AxisConcatenator:
    """`r_[...]`/`c_[...]`: slices become ranges, scalars and arrays are joined along an axis
    (numpy's objects of the same names, also for traced items)."""

    def __init__(self, name: str, axis: int, ndmin: int, trans1d: int):
        self.name = name
        self.axis, self.ndmin, self.trans1d = axis, ndmin, trans1d

    def __getitem__(self, key):
        if not holds_tracer(key if isinstance(key, tuple) else (key,)):
            return wrap(getattr(np, self.name)[key])
        key = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        objs, kinds = [], []
        for k, item in enumerate(key):
            if isinstance(item, str):
                if k != 0:
                    raise ValueError("special directives must be the first entry.")
                axis, ndmin, trans1d = _directive(item, axis, ndmin, trans1d)
                continue
            if isinstance(item, slice):
                obj = _range(item, ndmin, trans1d)
                objs.append(obj)
                kinds.append(obj.dtype)
            elif type(item) in (int, float, complex, bool) or isinstance(item, np.generic):
                objs.append(_upgraded(np.asarray(item), ndmin, trans1d))
                kinds.append(item)
            else:
                item = stack_nested(item) if isinstance(item, (list, tuple)) else item
                obj = _upgraded(item, ndmin, trans1d)
                objs.append(obj)
                kinds.append(dtype_of(obj))
        dt = np.result_type(*kinds)
        return concatenate([cast(o, dt) for o in objs], axis=axis)


r_ = _AxisConcatenator("r_", 0, 1, -1)
c_ = _AxisConcatenator("c_", -1, 2, 0)


class _Grid:
    """`mgrid[...]`/`ogrid[...]`: numpy's (their slice bounds are always concrete)."""

    def __init__(self, name: str):
        self.name = name

    def __getitem__(self, key):
        out = getattr(np, self.name)[key]
        return tuple(map(wrap, out)) if isinstance(out, (tuple, list)) else wrap(out)


mgrid = _Grid("mgrid")
ogrid = _Grid("ogrid")


@lists_as_arrays
def ix_(*args):
    """Open-mesh index arrays from 1-D sequences (boolean masks must be concrete), as
    `numpy.ix_`.

    >>> [i.shape for i in ix_([0, 1], [2, 3, 4])]
    [(2, 1), (1, 3)]
    """
    n = len(args)
    out = []
    for k, a in enumerate(args):
        if not isinstance(a, Tracer):
            a = np.asarray(a)
            a = np.nonzero(a)[0] if a.dtype == np.bool_ else a
        if len(shape_of(a)) != 1:
            raise ValueError("Cross index must be 1 dimensional")
        if isinstance(a, Tracer) and a.dtype == np.bool_:
            raise TypeError("ix_ of a traced boolean mask would have a data-dependent shape")
        out.append(reshape(a, [-1 if d == k else 1 for d in range(n)]))
    return tuple(out)


def _indices(fn, *args):
    return tuple(wrap(i) for i in fn(*args))


@lists_as_arrays
def triu_indices(n, k=0, m=None):
    """The (row, column) indices of the upper triangle of an (n, m) array, from diagonal
    `k`, as `numpy.triu_indices`.

    >>> [i.tolist() for i in triu_indices(2)]
    [[0, 0, 1], [0, 1, 1]]
    """
    return _indices(np.triu_indices, n, k, m)


@lists_as_arrays
def tril_indices(n, k=0, m=None):
    """The (row, column) indices of the lower triangle of an (n, m) array, up to diagonal
    `k`, as `numpy.tril_indices`.

    >>> [i.tolist() for i in tril_indices(2)]
    [[0, 1, 1], [0, 0, 1]]
    """
    return _indices(np.tril_indices, n, k, m)


@lists_as_arrays
def diag_indices(n, ndim=2):
    """The indices of the main diagonal of an n x ... x n array of `ndim` dimensions, as
    `numpy.diag_indices`.

    >>> [i.tolist() for i in diag_indices(2)]
    [[0, 1], [0, 1]]
    """
    return _indices(np.diag_indices, n, ndim)


def _square_2d(arr, name):
    shape = shape_of(arr)
    if len(shape) != 2:
        raise ValueError(f"{name}: input array must be 2-d, got shape {shape}")
    return shape


@lists_as_arrays
def triu_indices_from(arr, k=0):
    """`triu_indices` for the shape of the 2-D `arr` (which may be traced).

    >>> [i.tolist() for i in triu_indices_from(np.ones((2, 3)), 1)]
    [[0, 0, 1], [1, 2, 2]]
    """
    n, m = _square_2d(arr, "triu_indices_from")
    return triu_indices(n, k, m)


@lists_as_arrays
def tril_indices_from(arr, k=0):
    """`tril_indices` for the shape of the 2-D `arr` (which may be traced).

    >>> [i.tolist() for i in tril_indices_from(np.ones((2, 2)))]
    [[0, 1, 1], [0, 0, 1]]
    """
    n, m = _square_2d(arr, "tril_indices_from")
    return tril_indices(n, k, m)


@lists_as_arrays
def diag_indices_from(arr):
    """`diag_indices` for the square (hyper-cubic) `arr`, which may be traced.

    >>> [i.tolist() for i in diag_indices_from(np.ones((2, 2)))]
    [[0, 1], [0, 1]]
    """
    shape = shape_of(arr)
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError(f"diag_indices_from: input array must be at least 2-d with all "
                         f"dimensions equal, got shape {shape}")
    return diag_indices(shape[0], len(shape))
