"""lax's dynamic slicing: windows of static size at start indices that may be traced.

As in JAX, a negative start counts from the end and every start is then clamped so that the
window fits inside the operand. Concrete starts become a plain slice; traced ones a gather
(dynamic_slice) or a scatter (dynamic_update_slice) at the window's indices, so derivatives,
batching (per-example starts too) and compilation come from those primitives.
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer, get_aval
from xform.lax_ops._strict import as_operand, result
from xform.lax_ops.structural import reshape
from xform.primitives import elementwise as ew
from xform.primitives.indexing import gather, scatter
from xform.primitives.sorting import iota_like
from xform.primitives.structural import broadcast_in_dim, concatenate, slice_

__all__ = [
    "dynamic_index_in_dim", "dynamic_slice", "dynamic_slice_in_dim", "dynamic_update_index_in_dim",
    "dynamic_update_slice", "dynamic_update_slice_in_dim",
]


def _start_list(start_indices, nd: int, name: str) -> list:
    """The start indices as one scalar per dimension (a traced 1-D array is split)."""
    if isinstance(start_indices, Tracer):
        if start_indices.ndim != 1:
            raise TypeError(f"lax.{name} needs a 1-D array or a sequence of start indices, "
                            f"got {start_indices.aval}")
        starts = [reshape(slice_(start_indices, (i,), (i + 1,)), ())
                  for i in range(start_indices.shape[0])]
    else:
        starts = list(start_indices)
    if len(starts) != nd:
        raise TypeError(f"lax.{name} needs one start index per dimension of the operand "
                        f"({nd}), got {len(starts)}")
    return starts


def _clamped_starts(shape, start_indices, sizes, allow_negative, name):
    """Each start wrapped (if negative and allowed) and clamped into [0, n - size]: Python
    ints where concrete, int64 scalars where traced."""
    starts = _start_list(start_indices, len(shape), name)
    allow = [allow_negative] * len(shape) if isinstance(allow_negative, bool) \
        else list(allow_negative)
    out = []
    for i, n, size, neg_ok in zip(starts, shape, sizes, allow):
        if not 0 <= size <= n:
            raise TypeError(f"lax.{name}: a window of size {tuple(sizes)} does not fit an "
                            f"operand of shape {tuple(shape)}")
        if isinstance(i, Tracer):
            if not np.issubdtype(get_aval(i).dtype, np.integer) or get_aval(i).shape != ():
                raise TypeError(f"lax.{name} needs integer scalar start indices, got {i.aval}")
            i = ew.convert(i, np.int64)
            if neg_ok:
                i = ew.select(ew.lt_p.bind1(i, np.int64(0)), ew.add(i, n), i)
            i = ew.max_p.bind1(ew.min_p.bind1(i, np.int64(n - size)), np.int64(0))
        else:
            if not np.issubdtype(np.asarray(i).dtype, np.integer) or np.ndim(i) != 0:
                raise TypeError(f"lax.{name} needs integer scalar start indices, got {i!r}")
            i = int(i)
            if neg_ok and i < 0:
                i += n
            i = min(max(i, 0), n - size)
        out.append(i)
    return out


def _window_indices(starts, sizes, k: int):
    """Indices (*sizes[:k], k) of the window at `starts` in the first k dimensions."""
    grid = (*sizes[:k], 1)
    columns = []
    for j in range(k):
        offsets = iota_like(grid, j)
        if isinstance(starts[j], Tracer):
            columns.append(ew.add(broadcast_in_dim(starts[j], grid, ()), offsets))
        else:
            columns.append(offsets + starts[j])
    return concatenate(columns, k)


def _indexed_dims(shape, sizes) -> int:
    """How many leading dimensions need indices: trailing ones taken whole (whose starts
    clamp to 0) do not."""
    partial = [j for j, (n, s) in enumerate(zip(shape, sizes)) if s != n]
    return partial[-1] + 1 if partial else 0


def dynamic_slice(operand, start_indices, slice_sizes, *, allow_negative_indices=True):
    """The window of static `slice_sizes` at `start_indices` (which may be traced; clamped to
    fit), as `jax.lax.dynamic_slice`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dynamic_slice(np.arange(10), (8,), (4,)).tolist()
    [6, 7, 8, 9]
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    sizes = tuple(int(s) for s in slice_sizes)
    if len(sizes) != len(shape):
        raise TypeError(f"lax.dynamic_slice needs one slice size per dimension of the operand "
                        f"of shape {shape}, got {sizes}")
    starts = _clamped_starts(shape, start_indices, sizes, allow_negative_indices,
                             "dynamic_slice")
    k = _indexed_dims(shape, sizes)
    if k == 0:
        return result(x)
    if not any(isinstance(s, Tracer) for s in starts):
        return result(slice_(x, starts, [a + s for a, s in zip(starts, sizes)]))
    return result(gather(x, _window_indices(starts, sizes, k)))


def dynamic_update_slice(operand, update, start_indices, *, allow_negative_indices=True):
    """`operand` with the window at `start_indices` (which may be traced; clamped so that
    `update` fits) replaced by `update`, as `jax.lax.dynamic_update_slice`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dynamic_update_slice(np.zeros(5), np.ones(2), (4,)).tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0]
    """
    x, u = as_operand(operand), as_operand(update)
    shape, sizes = get_aval(x).shape, get_aval(u).shape
    if get_aval(u).dtype != get_aval(x).dtype or len(sizes) != len(shape):
        raise TypeError(f"lax.dynamic_update_slice needs an update of the operand's dtype and "
                        f"rank, got {get_aval(u)} for {get_aval(x)}")
    starts = _clamped_starts(shape, start_indices, sizes, allow_negative_indices,
                             "dynamic_update_slice")
    k = _indexed_dims(shape, sizes)
    if k == 0:
        return result(u)
    return result(scatter(x, _window_indices(starts, sizes, k), u))


def _in_dim(shape, axis, value, fill):
    out = [fill] * len(shape)
    out[axis] = value
    return out


def dynamic_slice_in_dim(operand, start_index, slice_size: int, axis: int = 0, *,
                         allow_negative_indices=True):
    """`slice_size` elements from `start_index` (which may be traced) along `axis`, as
    `jax.lax.dynamic_slice_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dynamic_slice_in_dim(np.arange(6).reshape(2, 3), 1, 2, axis=1).tolist()
    [[1, 2], [4, 5]]
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    axis = axis % len(shape)
    return dynamic_slice(x, _in_dim(shape, axis, start_index, 0),
                         [slice_size if d == axis else n for d, n in enumerate(shape)],
                         allow_negative_indices=allow_negative_indices)


def dynamic_index_in_dim(operand, index, axis: int = 0, keepdims: bool = True, *,
                         allow_negative_indices=True):
    """The slice at `index` (which may be traced) along `axis`, as
    `jax.lax.dynamic_index_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dynamic_index_in_dim(np.arange(6).reshape(2, 3), -1, 1, False).tolist()
    [2, 5]
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    axis = axis % len(shape)
    out = dynamic_slice_in_dim(x, index, 1, axis, allow_negative_indices=allow_negative_indices)
    return out if keepdims else reshape(out, shape[:axis] + shape[axis + 1:])


def dynamic_update_slice_in_dim(operand, update, start_index, axis: int, *,
                                allow_negative_indices=True):
    """`operand` with `update` written from `start_index` (which may be traced) along
    `axis`, as `jax.lax.dynamic_update_slice_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dynamic_update_slice_in_dim(np.zeros(4), np.ones(1), 2, 0).tolist()
    [0.0, 0.0, 1.0, 0.0]
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    axis = axis % len(shape)
    return dynamic_update_slice(x, update, _in_dim(shape, axis, start_index, 0),
                                allow_negative_indices=allow_negative_indices)


def dynamic_update_index_in_dim(operand, update, index, axis: int, *,
                                allow_negative_indices=True):
    """`operand` with the slice at `index` (which may be traced) along `axis` replaced by
    `update` (with or without that axis), as `jax.lax.dynamic_update_index_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dynamic_update_index_in_dim(np.zeros((2, 2)), np.ones(2), 1, 0).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    x, u = as_operand(operand), as_operand(update)
    shape = get_aval(x).shape
    axis = axis % len(shape)
    if get_aval(u).ndim == len(shape) - 1:
        u = reshape(u, (*get_aval(u).shape[:axis], 1, *get_aval(u).shape[axis:]))
    return dynamic_update_slice_in_dim(x, u, index, axis,
                                       allow_negative_indices=allow_negative_indices)
