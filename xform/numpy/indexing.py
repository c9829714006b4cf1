"""numpy indexing (`x[idx]`) and functional updates (`x.at[idx].set(v)`) for traced values.

Basic indices (ints, slices, None, ...) become slice/rev/reshape primitives. Advanced indices
(integer arrays, boolean masks) become one gather from the flattened array at the flat positions
numpy would read: the concrete part of those positions is computed by numpy itself, so every
indexing form follows numpy's rules exactly; traced integer indices add their part on top.
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer, get_aval
from xform.numpy._core import broadcast_to_shape, cast, is_traced, shape_of, wrap
from xform.primitives.elementwise import add, mul, select
from xform.primitives.indexing import gather, scatter, scatter_add
from xform.primitives.structural import broadcast_in_dim, concatenate, reshape, rev, slice_


def _expand(idx, ndim):
    """The index as a tuple with Ellipsis expanded and boolean masks turned into int arrays."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    for i in idx:
        if isinstance(i, Tracer) and i.dtype == np.bool_:
            raise IndexError("a boolean mask that is traced selects a data-dependent number of "
                             "elements, which cannot be traced; use xnp.where(mask, x, 0) or "
                             "compute the mask from concrete values")
        if not isinstance(i, Tracer) and not isinstance(i, (slice, type(None), type(Ellipsis))) \
                and np.asarray(i).dtype == np.bool_:
            out.extend(np.nonzero(np.asarray(i)))
        elif isinstance(i, list):
            out.append(np.asarray(i))
        else:
            out.append(i)
    used = sum(1 for i in out if i is not None and i is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices for an array of dimension {ndim}")
    n_ellipsis = sum(1 for i in out if i is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_ellipsis:
        k = next(j for j, i in enumerate(out) if i is Ellipsis)  # not ==: arrays compare
        # An Ellipsis standing for no dimension is kept: it still separates advanced indices
        # (numpy then moves their dimensions to the front).
        out[k:k + 1] = [slice(None)] * (ndim - used) or [Ellipsis]
    else:
        out += [slice(None)] * (ndim - used)
    return out


def _is_advanced(i):
    return isinstance(i, (Tracer, np.ndarray)) or (
        not isinstance(i, (slice, type(None), type(Ellipsis), int, np.integer)))


def _basic_getitem(x, idx):
    """Apply ints, slices and None (no advanced indices) with structural primitives."""
    shape = shape_of(x)
    start, limit, strides, flips, out_shape = [], [], [], [], []
    dim = 0
    for i in idx:
        if i is Ellipsis:
            continue
        if i is None:
            out_shape.append(1)
            continue
        n = shape[dim]
        if isinstance(i, slice):
            a, b, s = i.indices(n)
            rng = range(a, b, s)
            if s < 0:
                flips.append(dim)
                a, s = (rng[-1] if len(rng) else 0), -s
            start.append(a)
            limit.append(a + (len(rng) - 1) * s + 1 if len(rng) else a)
            strides.append(s)
            out_shape.append(len(rng))
        else:
            k = int(i)
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis {dim} with size {n}")
            k %= n
            start.append(k)
            limit.append(k + 1)
            strides.append(1)
        dim += 1
    y = slice_(x, start, limit, strides)
    y = rev(y, flips)
    return reshape(y, out_shape)


def _advanced_layout(idx):
    """Where numpy puts the broadcast dims of the advanced indices: index of the first
    advanced entry among output dims, or 0 when the advanced entries are not adjacent."""
    adv = [k for k, i in enumerate(idx) if _is_advanced(i) or (
        isinstance(i, (int, np.integer)) and any(_is_advanced(j) for j in idx))]
    if adv != list(range(adv[0], adv[-1] + 1)):
        return 0
    return sum(1 for i in idx[:adv[0]] if isinstance(i, slice) or i is None)


def _positions(shape, idx):
    """Flat positions read by x[idx] (an int64 array or a traced one) and the result shape."""
    traced = {k: i for k, i in enumerate(idx) if isinstance(i, Tracer)}
    probe = tuple(np.zeros(i.shape, np.int64) if k in traced else i for k, i in enumerate(idx))
    flat = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    pos = flat[probe]
    if not traced:
        return pos, pos.shape
    adv_shapes = [np.shape(i) for i in idx if _is_advanced(i) or isinstance(i, (int, np.integer))
                  if i is not None and not isinstance(i, slice)]
    bshape = np.broadcast_shapes(*adv_shapes)
    start = _advanced_layout(idx)
    bdims = tuple(range(start, start + len(bshape)))
    strides = np.cumprod((*shape[1:], 1)[::-1])[::-1]
    total = pos
    for k, i in traced.items():
        if not np.issubdtype(i.dtype, np.integer):
            raise IndexError(f"arrays used as indices must be of integer type, got {i.dtype}")
        dim = sum(1 for j in idx[:k] if j is not None and j is not Ellipsis)
        n = shape[dim]
        i = cast(i, np.int64)
        # Negative indices count from the end; out-of-range traced indices are clamped.
        i = select(i < 0, add(i, np.full(i.shape, n, np.int64)), i)
        i = broadcast_to_shape(_clamp(i, n), bshape)
        contrib = mul(i, np.full(bshape, int(strides[dim]), np.int64))
        total = add(broadcast_in_dim(contrib, pos.shape, bdims), total)
    return total, pos.shape


def _clamp(i, n):
    from xform.primitives.elementwise import max_p, min_p
    shape = get_aval(i).shape
    return min_p.bind1(max_p.bind1(i, np.zeros(shape, np.int64)), np.full(shape, n - 1, np.int64))


def _leading_scalars(items) -> int:
    """k when the index is k traced integer scalars followed by whole dimensions (`x[i]`,
    `x[i, j, :]`), else 0."""
    k = 0
    while k < len(items) and isinstance(items[k], Tracer) and items[k].ndim == 0 \
            and np.issubdtype(items[k].dtype, np.integer):
        k += 1
    whole = all(isinstance(i, slice) and i == slice(None) for i in items[k:])
    return k if whole else 0


def _take_leading(x, shape, scalars):
    """x[i, j, ...] for traced scalars: one gather of the sub-array they select, rather than
    of every element's flat position (a loop-carried `batches[i]` copies one contiguous
    block)."""
    starts = []
    for i, n in zip(scalars, shape):
        i = cast(i, np.int64)
        i = select(i < 0, add(i, np.int64(n)), i)
        starts.append(reshape(_clamp(i, n), (1,)))
    return gather(x, concatenate(starts, 0) if len(starts) > 1 else starts[0])


def getitem(x, idx):
    """`x[idx]` for a traced `x` (or traced indices), following numpy's indexing rules."""
    shape = shape_of(x)
    items = _expand(idx, len(shape))
    if not any(_is_advanced(i) for i in items):
        return _basic_getitem(x, items)
    k = _leading_scalars(items)
    if k:
        return _take_leading(x, shape, items[:k])
    pos, out_shape = _positions(shape, items)
    size = int(np.prod(shape, dtype=np.int64))
    flat_x = reshape(x, (size,))
    return gather(flat_x, reshape(pos, (*out_shape, 1)))


class IndexUpdateHelper:
    """`x.at` — pick the positions to update with `x.at[idx]`."""

    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return IndexUpdateRef(self.x, idx)


class IndexUpdateRef:
    """`x.at[idx]`: functional updates returning a new array; `x` is never modified."""

    __slots__ = ("x", "idx")

    def __init__(self, x, idx):
        self.x, self.idx = x, idx

    def get(self):
        return self.x[self.idx]

    def set(self, values):
        return self._apply("set", values)

    def add(self, values):
        return self._apply("add", values)

    def multiply(self, values):
        return self._apply("multiply", values)

    def min(self, values):
        return self._apply("min", values)

    def max(self, values):
        return self._apply("max", values)

    def _apply(self, mode, values):
        x, idx = self.x, self.idx
        if not is_traced(x, values, *(idx if isinstance(idx, tuple) else (idx,))):
            out = np.array(x, copy=True)
            if mode == "set":
                out[idx] = values
            else:
                ufunc = {"add": np.add, "multiply": np.multiply, "min": np.minimum,
                         "max": np.maximum}[mode]
                ufunc.at(out, idx, values)
            return wrap(out)
        return _traced_update(x, idx, values, mode)


def _traced_update(x, idx, values, mode):
    shape = shape_of(x)
    dtype = get_aval(x).dtype if isinstance(x, Tracer) else np.asarray(x).dtype
    pos, out_shape = _positions(shape, _expand(idx, len(shape)))
    size = int(np.prod(shape, dtype=np.int64))
    flat_x = reshape(x if isinstance(x, Tracer) else np.asarray(x), (size,))
    pos = reshape(pos, (*out_shape, 1))
    values = broadcast_to_shape(cast(values, dtype), out_shape)
    if mode == "add":
        out = scatter_add(flat_x, pos, values)
    elif mode == "set":
        out = scatter(flat_x, pos, values)
    else:
        if not isinstance(pos, Tracer) and len(np.unique(pos)) != pos.size:
            raise NotImplementedError(
                f"x.at[idx].{mode}() with repeated indices is not supported on traced values; "
                "combine the repeated updates first")
        from xform.numpy.ufuncs import maximum, minimum, multiply
        op = {"multiply": multiply, "min": minimum, "max": maximum}[mode]
        out = scatter(flat_x, pos, op(gather(flat_x, pos), values))
    return reshape(out, shape)
