"""Shape manipulation of xform.numpy (reshape, transpose, stack, split, tile, pad, ...)."""
from __future__ import annotations

import itertools
import math

import numpy as np

from xform.core import Tracer
from xform.numpy._core import (broadcast_operands, broadcast_to_shape, cast, dtype_of, is_traced,
                               lists_as_arrays, normalize_axes, normalize_axis, numpy_function,
                               result_dtype, shape_of, stack_nested, wrap)
from xform.primitives import structural as st

__all__ = [
    "append",
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_arrays",
    "broadcast_to",
    "column_stack",
    "concatenate",
    "dsplit",
    "dstack",
    "expand_dims",
    "flip",
    "fliplr",
    "flipud",
    "hsplit",
    "hstack",
    "moveaxis",
    "ndim",
    "pad",
    "ravel",
    "rollaxis",
    "repeat",
    "reshape",
    "roll",
    "rot90",
    "row_stack",
    "shape",
    "size",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
    "vsplit",
    "vstack",
]


def _size(shp) -> int:
    return int(math.prod(shp))


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list, np.ndarray)) else (x,)


def _infer_shape(size: int, new_shape, old_shape) -> tuple[int, ...]:
    """`new_shape` with a single -1 replaced by the size that makes the element counts agree."""
    new_shape = tuple(int(d) for d in _as_tuple(new_shape))
    unknown = [i for i, d in enumerate(new_shape) if d == -1]
    if len(unknown) > 1:
        raise ValueError(f"can only specify one unknown dimension in shape {new_shape}")
    if any(d < -1 for d in new_shape):
        raise ValueError(f"negative dimensions are not allowed in shape {new_shape}")
    known = _size([d for d in new_shape if d != -1])
    if unknown:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of shape {old_shape} (size {size}) "
                             f"into shape {new_shape}")
        new_shape = tuple(size // known if d == -1 else d for d in new_shape)
    elif known != size:
        raise ValueError(f"cannot reshape array of shape {old_shape} (size {size}) "
                         f"into shape {new_shape}")
    return new_shape


def _reverse_axes(x):
    return st.transpose(x, tuple(reversed(range(len(shape_of(x))))))


@numpy_function(np.reshape)
def reshape(a, shape, order="C"):
    """`a` with a new shape (one entry may be -1), as `numpy.reshape`; order "C" or "F".

    >>> reshape(np.arange(6), (2, -1)).shape
    (2, 3)
    """
    old = shape_of(a)
    new = _infer_shape(_size(old), shape, old)
    if order == "F":
        return _reverse_axes(st.reshape(_reverse_axes(a), new[::-1]))
    if order not in ("C", "A"):
        raise ValueError(f"reshape: order must be 'C', 'F' or 'A', got {order!r}")
    return st.reshape(a, new)


@numpy_function(np.ravel)
def ravel(a, order="C"):
    """The elements of `a` as a 1-D array, as `numpy.ravel`.

    >>> ravel(np.ones((2, 3))).shape
    (6,)
    """
    if order == "F":
        a = _reverse_axes(a)
    elif order not in ("C", "A", "K"):
        raise ValueError(f"ravel: order must be 'C', 'F', 'A' or 'K', got {order!r}")
    return st.reshape(a, (_size(shape_of(a)),))


@numpy_function(np.transpose)
def transpose(a, axes=None):
    """Permute the axes of `a` (reverse them when `axes` is None), as `numpy.transpose`.

    >>> transpose(np.ones((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    nd = len(shape_of(a))
    if axes is None:
        return _reverse_axes(a)
    perm = tuple(normalize_axis(ax, nd) for ax in _as_tuple(axes))
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"axes {axes} don't match an array of shape {shape_of(a)}")
    return st.transpose(a, perm)


@numpy_function(np.swapaxes)
def swapaxes(a, axis1, axis2):
    """Interchange two axes, as `numpy.swapaxes`.

    >>> swapaxes(np.ones((2, 3, 4)), 0, -1).shape
    (4, 3, 2)
    """
    nd = len(shape_of(a))
    i, j = normalize_axis(axis1, nd, "axis1"), normalize_axis(axis2, nd, "axis2")
    perm = list(range(nd))
    perm[i], perm[j] = j, i
    return st.transpose(a, perm)


def _axis_tuple(axis, nd, name="axis"):
    axes = tuple(normalize_axis(ax, nd, name) for ax in _as_tuple(axis))
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {name} argument {axis}")
    return axes


@numpy_function(np.moveaxis)
def moveaxis(a, source, destination):
    """Move axes `source` to positions `destination`, as `numpy.moveaxis`.

    >>> moveaxis(np.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    nd = len(shape_of(a))
    src = _axis_tuple(source, nd, "source")
    dst = _axis_tuple(destination, nd, "destination")
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number of "
                         f"elements, got {source} and {destination}")
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return st.transpose(a, order)


@numpy_function(np.rollaxis)
def rollaxis(a, axis, start=0):
    """Move axis `axis` to sit before position `start`, as `numpy.rollaxis` (prefer
    `moveaxis`).

    >>> rollaxis(np.ones((2, 3, 4)), 2).shape
    (4, 2, 3)
    """
    nd = len(shape_of(a))
    ax = normalize_axis(axis, nd)
    pos = start + nd if start < 0 else start
    if not 0 <= pos <= nd:
        raise np.exceptions.AxisError(f"'start' arg requires {-nd} <= start < {nd + 1}, but "
                                      f"{start} was passed in")
    pos = pos - 1 if ax < pos else pos
    return a if ax == pos else moveaxis(a, ax, pos)


@numpy_function(np.expand_dims)
def expand_dims(a, axis):
    """Insert size-1 axes at positions `axis` (int or tuple), as `numpy.expand_dims`.

    >>> expand_dims(np.ones((2, 3)), (0, -1)).shape
    (1, 2, 3, 1)
    """
    old = shape_of(a)
    new_axes = _axis_tuple(axis, len(old) + len(_as_tuple(axis)))
    rest = iter(old)
    return st.reshape(a, tuple(1 if i in new_axes else next(rest)
                               for i in range(len(old) + len(new_axes))))


@numpy_function(np.squeeze)
def squeeze(a, axis=None):
    """Remove size-1 axes (all of them, or those named by `axis`), as `numpy.squeeze`.

    >>> squeeze(np.ones((1, 3, 1))).shape
    (3,)
    """
    old = shape_of(a)
    if axis is None:
        axes = tuple(i for i, n in enumerate(old) if n == 1)
    elif not old and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return a  # numpy lets a 0-d array name axis 0 (or -1) here
    else:
        axes = _axis_tuple(axis, len(old))
        if any(old[i] != 1 for i in axes):
            raise ValueError(f"cannot select an axis to squeeze out which has size not equal "
                             f"to one: axis {axis} of shape {old}")
    return st.reshape(a, tuple(n for i, n in enumerate(old) if i not in axes))


@numpy_function(np.broadcast_to)
def broadcast_to(array, shape):
    """`array` broadcast to `shape` with numpy's rules, as `numpy.broadcast_to`.

    >>> broadcast_to(np.arange(3), (2, 3)).shape
    (2, 3)
    """
    shape = tuple(int(d) for d in _as_tuple(shape))
    return broadcast_to_shape(array, shape)


@numpy_function(np.broadcast_arrays)
def broadcast_arrays(*args):
    """All arguments broadcast to their common shape, as `numpy.broadcast_arrays`.

    >>> [x.shape for x in broadcast_arrays(np.ones(3), np.ones((2, 1)))]
    [(2, 3), (2, 3)]
    """
    return tuple(broadcast_operands(*args))


def _operands(arrays):
    """A sequence of arrays as a list of arrays, each traced where it holds a traced value."""
    if isinstance(arrays, Tracer):
        return list(arrays)
    return [stack_nested(a) for a in arrays]


def concatenate(arrays, axis=0, out=None, *, dtype=None):
    """Join arrays along an existing axis (flattened when `axis` is None), as numpy.

    >>> concatenate([np.ones((2, 3)), np.zeros((1, 3))]).shape
    (3, 3)
    """
    if out is not None:
        raise NotImplementedError("xform.numpy.concatenate: out= is not supported")
    xs = _operands(arrays)
    if not is_traced(*xs):
        return wrap(np.concatenate(xs, axis=axis, dtype=dtype))
    if axis is None:
        xs, axis = [ravel(x) for x in xs], 0
    shapes = [shape_of(x) for x in xs]
    nd = len(shapes[0])
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    if any(len(s) != nd for s in shapes):
        raise ValueError("all the input arrays must have the same number of dimensions, got "
                         "shapes " + ", ".join(map(str, shapes)))
    ax = normalize_axis(axis, nd)
    if any(s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:] for s in shapes):
        raise ValueError(f"all the input array dimensions except for the concatenation axis "
                         f"{ax} must match exactly, got shapes " + ", ".join(map(str, shapes)))
    dt = np.dtype(dtype) if dtype is not None else result_dtype(*xs)
    return st.concatenate([cast(x, dt) for x in xs], ax)


def stack(arrays, axis=0, out=None, *, dtype=None):
    """Join equally shaped arrays along a new axis, as `numpy.stack`.

    >>> stack([np.ones(3), np.zeros(3)], axis=1).shape
    (3, 2)
    """
    if out is not None:
        raise NotImplementedError("xform.numpy.stack: out= is not supported")
    xs = _operands(arrays)
    if not is_traced(*xs):
        return wrap(np.stack(xs, axis=axis, dtype=dtype))
    shapes = [shape_of(x) for x in xs]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("all input arrays must have the same shape, got shapes "
                         + ", ".join(map(str, shapes)))
    ax = normalize_axis(axis, len(shapes[0]) + 1)
    return concatenate([expand_dims(x, ax) for x in xs], ax, dtype=dtype)


def _atleast(x, n):
    if not is_traced(x):
        return wrap((np.atleast_1d, np.atleast_2d, np.atleast_3d)[n - 1](x))
    shp = shape_of(x)
    if len(shp) >= n:
        return x
    if n == 3 and len(shp) == 2:
        return st.reshape(x, (*shp, 1))
    if n == 3 and len(shp) == 1:
        return st.reshape(x, (1, *shp, 1))
    return st.reshape(x, (1,) * (n - len(shp)) + shp)


def _atleast_all(arys, n):
    out = tuple(_atleast(x, n) for x in arys)
    return out[0] if len(out) == 1 else out


@lists_as_arrays
def atleast_1d(*arys):
    """Each input viewed with at least one dimension, as `numpy.atleast_1d`.

    >>> atleast_1d(1.0).shape
    (1,)
    """
    return _atleast_all(arys, 1)


@lists_as_arrays
def atleast_2d(*arys):
    """Each input viewed with at least two dimensions, as `numpy.atleast_2d`.

    >>> atleast_2d(np.ones(3)).shape
    (1, 3)
    """
    return _atleast_all(arys, 2)


@lists_as_arrays
def atleast_3d(*arys):
    """Each input viewed with at least three dimensions, as `numpy.atleast_3d`.

    >>> atleast_3d(np.ones((2, 3))).shape
    (2, 3, 1)
    """
    return _atleast_all(arys, 3)


def hstack(tup, *, dtype=None):
    """Stack arrays column-wise (along axis 1, or 0 for 1-D arrays), as `numpy.hstack`.

    >>> hstack([np.ones(2), np.zeros(3)]).shape
    (5,)
    """
    xs = [_atleast(x, 1) for x in _operands(tup)]
    return concatenate(xs, 0 if xs and len(shape_of(xs[0])) == 1 else 1, dtype=dtype)


def vstack(tup, *, dtype=None):
    """Stack arrays row-wise (along axis 0, after `atleast_2d`), as `numpy.vstack`.

    >>> vstack([np.ones(3), np.zeros(3)]).shape
    (2, 3)
    """
    return concatenate([_atleast(x, 2) for x in _operands(tup)], 0, dtype=dtype)


def dstack(tup):
    """Stack arrays depth-wise (along axis 2, after `atleast_3d`), as `numpy.dstack`.

    >>> dstack([np.ones(3), np.zeros(3)]).shape
    (1, 3, 2)
    """
    return concatenate([_atleast(x, 3) for x in _operands(tup)], 2)


def _split_points(n, indices_or_sections, equal):
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extra = divmod(n, sections)
        if equal and extra:
            raise ValueError(f"array split does not result in an equal division: {n} elements "
                             f"into {sections} sections")
        sizes = [each + 1] * extra + [each] * (sections - extra)
        return [0, *np.cumsum(sizes).tolist()]
    return [0, *(int(i) for i in indices_or_sections), n]


def _split(ary, indices_or_sections, axis, equal):
    nd = len(shape_of(ary))
    ax = normalize_axis(axis, nd)
    points = _split_points(shape_of(ary)[ax], indices_or_sections, equal)
    lead = (slice(None),) * ax
    return [ary[(*lead, slice(a, b))] for a, b in itertools.pairwise(points)]


@numpy_function(np.split)
def split(ary, indices_or_sections, axis=0):
    """Split into equal sections (an int) or at the given indices, as `numpy.split`.

    >>> [p.shape for p in split(np.arange(6), [1, 4])]
    [(1,), (3,), (2,)]
    """
    return _split(ary, indices_or_sections, axis, equal=True)


@numpy_function(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    """Like `split`, but an int number of sections need not divide the axis evenly.

    >>> [p.shape for p in array_split(np.arange(5), 2)]
    [(3,), (2,)]
    """
    return _split(ary, indices_or_sections, axis, equal=False)


@numpy_function(np.tile)
def tile(A, reps):
    """`A` repeated `reps` times along each axis, as `numpy.tile`.

    >>> tile(np.arange(3), (2, 2)).shape
    (2, 6)
    """
    reps = tuple(int(r) for r in _as_tuple(reps))
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: negative repetitions {reps}")
    shp = shape_of(A)
    d = max(len(reps), len(shp))
    shp = (1,) * (d - len(shp)) + shp
    reps = (1,) * (d - len(reps)) + reps
    interleaved = tuple(n for pair in zip(reps, shp) for n in pair)
    x = st.broadcast_in_dim(st.reshape(A, shp), interleaved, tuple(range(1, 2 * d, 2)))
    return st.reshape(x, tuple(r * n for r, n in zip(reps, shp)))


@numpy_function(np.repeat)
def repeat(a, repeats, axis=None):
    """Repeat each element `repeats` times (an int or concrete per-element counts) along
    `axis` (of the flattened array when None), as `numpy.repeat`.

    >>> repeat(np.arange(3), [1, 0, 2]).tolist()
    [0, 2, 2]
    """
    if is_traced(repeats):
        raise TypeError("repeat needs concrete `repeats`: traced counts would give a "
                        "data-dependent output shape")
    x = a
    if axis is None or not shape_of(a):
        # numpy repeats a 0-d array as if it were 1-D, whatever the axis.
        x, axis = ravel(a), 0 if axis is None else axis
    shp = shape_of(x)
    ax = normalize_axis(axis, len(shp))
    n = shp[ax]
    r = np.asarray(repeats)
    if not np.issubdtype(r.dtype, np.integer):
        raise TypeError(f"repeat: repeats must be integers, got dtype {r.dtype}")
    if (r < 0).any():
        raise ValueError("repeat: negative repeats are not allowed")
    if r.size == 1:
        k = int(r.reshape(()))
        stretched = (*shp[:ax + 1], k, *shp[ax + 1:])
        dims = tuple(i if i <= ax else i + 1 for i in range(len(shp)))
        x = st.broadcast_in_dim(x, stretched, dims)
        return st.reshape(x, (*shp[:ax], n * k, *shp[ax + 1:]))
    if r.shape != (n,):
        raise ValueError(f"repeat: repeats of shape {r.shape} do not match axis {ax} of an "
                         f"array of shape {shp}")
    return x[(*(slice(None),) * ax, np.repeat(np.arange(n), r))]


@numpy_function(np.flip)
def flip(m, axis=None):
    """Reverse the order of elements along `axis` (all axes when None), as `numpy.flip`.

    >>> flip(np.arange(3)).tolist()
    [2, 1, 0]
    """
    return st.rev(m, normalize_axes(axis, len(shape_of(m))))


def _slice_axis(x, ax, start, stop):
    shp = shape_of(x)
    lo, hi = [0] * len(shp), list(shp)
    lo[ax], hi[ax] = start, stop
    return st.slice_(x, lo, hi)


@numpy_function(np.roll)
def roll(a, shift, axis=None):
    """Shift elements cyclically along `axis` (of the flattened array when None), as numpy.

    >>> roll(np.arange(4), 1).tolist()
    [3, 0, 1, 2]
    """
    shp = shape_of(a)
    if axis is None:
        return st.reshape(roll(ravel(a), shift, 0), shp)
    shifts: dict[int, int] = {}
    for s, ax in np.broadcast(np.asarray(shift, dtype=np.int64), np.asarray(axis)):
        ax = normalize_axis(int(ax), len(shp))
        shifts[ax] = shifts.get(ax, 0) + int(s)
    x = a
    for ax, s in shifts.items():
        n = shp[ax]
        if n and s % n:
            s %= n
            x = st.concatenate([_slice_axis(x, ax, n - s, n), _slice_axis(x, ax, 0, n - s)], ax)
    return x


def _take_runs(x, idx, ax):
    """x[..., idx, ...] along `ax` for a concrete index vector, as slices, reversals and
    broadcasts of its runs (steps of +1, -1 or 0) joined by one concatenate."""
    pieces, i, m = [], 0, len(idx)
    while i < m:
        step = int(idx[i + 1] - idx[i]) if i + 1 < m else 1
        step = step if step in (-1, 0, 1) else 1
        j = i + 1
        while j < m and idx[j] - idx[j - 1] == step:
            j += 1
        lo, hi = min(idx[i], idx[j - 1]), max(idx[i], idx[j - 1]) + 1
        piece = _slice_axis(x, ax, lo, hi)
        if step == -1:
            piece = st.rev(piece, (ax,))
        elif step == 0:
            shp = shape_of(piece)
            piece = st.broadcast_in_dim(piece, (*shp[:ax], j - i, *shp[ax + 1:]),
                                        tuple(range(len(shp))))
        pieces.append(piece)
        i = j
    return st.concatenate(pieces, ax)


_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


@numpy_function(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    """Pad an array, as `numpy.pad`; traced values support the modes "constant" (with
    `constant_values`), "edge", "reflect", "symmetric" and "wrap".

    >>> pad(np.arange(3), (1, 2), mode="edge").tolist()
    [0, 0, 1, 2, 2, 2]
    """
    cv = kwargs.get("constant_values", 0)
    shp = shape_of(array)
    nd = len(shp)
    widths = np.asarray(pad_width)
    if not np.issubdtype(widths.dtype, np.integer):
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    try:
        widths = np.broadcast_to(widths, (nd, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit an array of shape "
                         f"{shp}") from None
    if (widths < 0).any():
        raise ValueError(f"pad: negative pad widths {pad_width!r}")
    if mode == "constant" or mode == "empty":
        if set(kwargs) - {"constant_values"} or (mode == "empty" and kwargs):
            raise TypeError(f"pad: unsupported keyword arguments {sorted(kwargs)} for "
                            f"mode {mode!r}")
        return _pad_constant(array, widths, cv)
    if mode not in _INDEX_MODES:
        raise NotImplementedError(f"xform.numpy.pad: mode {mode!r} is not supported on traced "
                                  f"values; supported modes: constant, {', '.join(_INDEX_MODES)}")
    if kwargs.get("reflect_type", "even") != "even" or set(kwargs) - {"reflect_type"}:
        raise NotImplementedError(f"xform.numpy.pad: options {kwargs} are not supported on "
                                  "traced values")
    x = array
    for ax, (before, after) in enumerate(widths.tolist()):
        if before or after:
            # numpy's own padding of 0..n-1 gives the source index of every output position.
            idx = np.pad(np.arange(shp[ax]), (before, after), mode=mode)
            x = _take_runs(x, idx, ax)
    return x


def _pad_constant(x, widths, cv):
    dt = dtype_of(x)
    nd = len(shape_of(x))
    if isinstance(cv, Tracer) or np.ndim(cv) == 0:
        if shape_of(cv) != ():
            raise ValueError(f"pad: traced constant_values must be a scalar, got shape "
                             f"{shape_of(cv)}")
        return st.pad(x, cast(cv, dt), widths[:, 0], widths[:, 1])
    values = np.broadcast_to(np.asarray(cv), (nd, 2)).astype(dt)
    for ax in range(nd):
        for side in (0, 1):
            if widths[ax, side]:
                lo, hi = [0] * nd, [0] * nd
                (lo if side == 0 else hi)[ax] = int(widths[ax, side])
                x = st.pad(x, values[ax, side], lo, hi)
    return x


@lists_as_arrays
def shape(a):
    """The shape of `a` as a tuple, as `numpy.shape`.

    >>> shape(np.ones((2, 3)))
    (2, 3)
    """
    return tuple(shape_of(a))


@lists_as_arrays
def ndim(a):
    """The number of dimensions of `a`, as `numpy.ndim`.

    >>> ndim(np.ones((2, 3)))
    2
    """
    return len(shape_of(a))


@lists_as_arrays
def size(a, axis=None):
    """The number of elements of `a` (along `axis` if given), as `numpy.size`.

    >>> size(np.ones((2, 3)))
    6
    """
    shp = shape_of(a)
    if axis is None:
        return _size(shp)
    return shp[normalize_axis(axis, len(shp))]


@lists_as_arrays
def append(arr, values, axis=None):
    """`values` appended to `arr` along `axis` (both flattened when None), as `numpy.append`.

    >>> append(np.array([1.0, 2.0]), [[3.0]]).tolist()
    [1.0, 2.0, 3.0]
    """
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


@numpy_function(np.flipud)
def flipud(m):
    """`m` reversed along axis 0, as `numpy.flipud`.

    >>> flipud(np.array([[1, 2], [3, 4]])).tolist()
    [[3, 4], [1, 2]]
    """
    if len(shape_of(m)) < 1:
        raise ValueError("Input must be >= 1-d.")
    return st.rev(m, (0,))


@numpy_function(np.fliplr)
def fliplr(m):
    """`m` reversed along axis 1, as `numpy.fliplr`.

    >>> fliplr(np.array([[1, 2], [3, 4]])).tolist()
    [[2, 1], [4, 3]]
    """
    if len(shape_of(m)) < 2:
        raise ValueError("Input must be >= 2-d.")
    return st.rev(m, (1,))


@numpy_function(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    """`m` rotated by 90 degrees `k` times in the plane of `axes` (from the first axis
    towards the second), as `numpy.rot90`.

    >>> rot90(np.array([[1, 2], [3, 4]])).tolist()
    [[2, 4], [1, 3]]
    """
    nd = len(shape_of(m))
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    a, b = normalize_axis(axes[0], nd, "axes"), normalize_axis(axes[1], nd, "axes")
    if a == b:
        raise ValueError("Axes must be different.")
    k = int(k) % 4
    if k == 0:
        return m
    if k == 2:
        return st.rev(m, (a, b))
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    if k == 1:
        return st.transpose(st.rev(m, (b,)), perm)
    return st.rev(st.transpose(m, perm), (b,))


def _split_along(ary, indices_or_sections, axis, name, min_dims):
    if len(shape_of(ary)) < min_dims:
        raise ValueError(f"{name} only works on arrays of {min_dims} or more dimensions")
    return _split(ary, indices_or_sections, axis, equal=True)


@numpy_function(np.hsplit)
def hsplit(ary, indices_or_sections):
    """`split` along axis 1 (axis 0 for 1-D arrays), as `numpy.hsplit`.

    >>> [p.tolist() for p in hsplit(np.arange(4), 2)]
    [[0, 1], [2, 3]]
    """
    axis = 0 if len(shape_of(ary)) == 1 else 1
    return _split_along(ary, indices_or_sections, axis, "hsplit", 1)


@numpy_function(np.vsplit)
def vsplit(ary, indices_or_sections):
    """`split` along axis 0 of an array of at least 2 dimensions, as `numpy.vsplit`.

    >>> [p.shape for p in vsplit(np.ones((4, 2)), 2)]
    [(2, 2), (2, 2)]
    """
    return _split_along(ary, indices_or_sections, 0, "vsplit", 2)


@numpy_function(np.dsplit)
def dsplit(ary, indices_or_sections):
    """`split` along axis 2 of an array of at least 3 dimensions, as `numpy.dsplit`.

    >>> [p.shape for p in dsplit(np.ones((1, 2, 4)), [1])]
    [(1, 2, 1), (1, 2, 3)]
    """
    return _split_along(ary, indices_or_sections, 2, "dsplit", 3)


def column_stack(tup):
    """1-D arrays as columns (and 2-D ones as they are) joined along axis 1, as
    `numpy.column_stack`.

    >>> column_stack([np.ones(2), np.zeros(2)]).tolist()
    [[1.0, 0.0], [1.0, 0.0]]
    """
    xs = _operands(tup)
    cols = [st.reshape(x, (shape_of(x)[0] if shape_of(x) else 1, 1))
            if len(shape_of(x)) < 2 else x for x in xs]
    return concatenate(cols, axis=1)


def row_stack(tup, *, dtype=None):
    """`vstack` under its older name (numpy deprecates it; JAX keeps it).

    >>> row_stack([np.ones(2), np.zeros(2)]).shape
    (2, 2)
    """
    return vstack(tup, dtype=dtype)
