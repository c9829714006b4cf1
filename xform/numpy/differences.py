"""Differences and cross products of xform.numpy: diff, ediff1d, cross (slices and
elementwise arithmetic, so linear and cheap to differentiate)."""
from __future__ import annotations

import numpy as np

from xform.numpy._core import (
    broadcast_operands,
    cast,
    dtype_of,
    loop_dtypes,
    normalize_axis,
    numpy_function,
    shape_of,
)
from xform.numpy.shape import broadcast_to, concatenate, moveaxis, ravel
from xform.primitives import structural as st

__all__ = ["cross", "diff", "ediff1d", "gradient"]


def _along(x, axis, start, stop):
    shape = shape_of(x)
    lo, hi = [0] * len(shape), list(shape)
    lo[axis], hi[axis] = start, stop
    return st.slice_(x, lo, hi)


def _edge(value, x, axis):
    """`prepend`/`append` of diff: broadcast to x's shape with one element along axis."""
    if len(shape_of(value)) == 0:
        shape = list(shape_of(x))
        shape[axis] = 1
        return broadcast_to(value, tuple(shape))
    return value


@numpy_function(np.diff)
def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The `n`-th discrete difference along `axis` (booleans: not-equal), after joining
    `prepend` and `append`, as `numpy.diff`.

    >>> diff(np.array([1.0, 4.0, 9.0, 16.0]), 2).tolist()
    [2.0, 2.0]
    """
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    nd = len(shape_of(a))
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    ax = normalize_axis(axis, nd)
    x = a
    pieces = [_edge(prepend, x, ax)] if prepend is not None else []
    pieces += [x] + ([_edge(append, x, ax)] if append is not None else [])
    if len(pieces) > 1:
        x = concatenate(pieces, axis=ax)
    boolean = dtype_of(x) == np.bool_
    for _ in range(n):
        m = shape_of(x)[ax]
        hi, lo = _along(x, ax, min(1, m), m), _along(x, ax, 0, max(m - 1, 0))
        x = (hi != lo) if boolean else hi - lo
    return x


def _gradient_along(x, ax, h, edge_order):
    """Central differences inside, one-sided ones of `edge_order` at both ends."""
    n = shape_of(x)[ax]
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, at least "
                         f"(edge_order + 1) = {edge_order + 1} elements are required")
    at = [_along(x, ax, i, i + 1) for i in (0, 1, 2, n - 3, n - 2, n - 1) if 0 <= i < n]
    if edge_order == 1:
        first, last = at[1] - at[0], at[-1] - at[-2]
    else:
        first = -1.5 * at[0] + 2.0 * at[1] - 0.5 * at[2]
        last = 0.5 * at[-3] - 2.0 * at[-2] + 1.5 * at[-1]
    inner = (_along(x, ax, 2, n) - _along(x, ax, 0, n - 2)) * 0.5
    return concatenate([first, inner, last], axis=ax) / h


@numpy_function(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """Second-order central differences of `f` along each axis (one-sided at the ends, of
    `edge_order` 1 or 2), with uniform scalar spacings `varargs`, as `numpy.gradient`: one
    array for one axis, else a tuple.

    >>> gradient(np.array([1.0, 4.0, 9.0, 16.0])).tolist()
    [3.0, 4.0, 6.0, 7.0]
    """
    nd = len(shape_of(f))
    axes = tuple(range(nd)) if axis is None else tuple(
        normalize_axis(a, nd) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    if len(varargs) > 1 and len(varargs) != len(axes):
        raise TypeError("invalid number of arguments")
    spacings = list(varargs) * len(axes) if len(varargs) == 1 else list(varargs) or \
        [1.0] * len(axes)
    if any(np.ndim(h) != 0 for h in spacings):
        raise NotImplementedError("xform.numpy.gradient takes scalar spacings only; "
                                  "coordinate arrays are not supported")
    dt = dtype_of(f)
    x = f if np.issubdtype(dt, np.inexact) else cast(f, np.float64)
    outs = tuple(_gradient_along(x, ax, h, edge_order) for ax, h in zip(axes, spacings))
    return outs[0] if len(outs) == 1 else outs


@numpy_function(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """The differences of consecutive elements of the flattened array, with `to_begin` and
    `to_end` joined at the ends, as `numpy.ediff1d`.

    >>> ediff1d(np.array([1.0, 2.0, 4.0]), to_begin=0.0).tolist()
    [0.0, 1.0, 2.0]
    """
    x = ravel(ary)
    dt = dtype_of(x)
    d = diff(x) if shape_of(x)[0] else x
    parts = [ravel(cast(v, dt)) for v in (to_begin,) if v is not None] + [d] + \
        [ravel(cast(v, dt)) for v in (to_end,) if v is not None]
    return concatenate(parts) if len(parts) > 1 else d


@numpy_function(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of (arrays of) 3-vectors, or the z component of 2-vectors, along
    the given axes, as `numpy.cross`.

    >>> cross(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, normalize_axis(axisa, len(shape_of(a)), "axisa"), -1)
    b = moveaxis(b, normalize_axis(axisb, len(shape_of(b)), "axisb"), -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product (dimension must be 2 or 3)")
    dt = loop_dtypes(np.multiply, a, b)[-1]
    a, b = cast(a, dt), cast(b, dt)

    def comp(v, i):
        return v[..., i] if i < shape_of(v)[-1] else None

    a0, a1, a2 = (comp(a, i) for i in range(3))
    b0, b1, b2 = (comp(b, i) for i in range(3))
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    zero = np.zeros((), dt)
    a2 = zero if a2 is None else a2
    b2 = zero if b2 is None else b2
    x = a1 * b2 - a2 * b1
    y = a2 * b0 - a0 * b2
    out = st.concatenate([st.reshape(c, (*shape_of(c), 1))
                          for c in broadcast_operands(x, y, z)], len(shape_of(z)))
    return moveaxis(out, -1, normalize_axis(axisc, len(shape_of(out)), "axisc"))
